//! The `sparkq` binary: parse the command line, run it, report errors as
//! `Error: ...` on stderr with exit 1 (clap's usage errors exit 2).

use std::process::ExitCode;

use sparkq::cli;

fn main() -> ExitCode {
    let args = cli::parse_args();
    match cli::run(args) {
        Ok(code) => code,
        Err(err) if cli::is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("Error: {}", cli::error_message(&err));
            ExitCode::FAILURE
        }
    }
}
