//! Asking questions: the question on stderr, the answer from stdin, asked
//! again after a bad answer so that one typo never throws away the answers
//! given before it. An empty answer, or the end of input, takes the default.

use std::io::{BufRead, Write};

/// Reads answers line by line from `input`.
pub(super) struct Prompter<R> {
    input: R,
}

impl Prompter<std::io::StdinLock<'static>> {
    /// A prompter reading stdin.
    pub(super) fn stdin() -> Self {
        Prompter {
            input: std::io::stdin().lock(),
        }
    }
}

impl<R: BufRead> Prompter<R> {
    /// Asks `question` until `parse` accepts the answer; an empty answer or
    /// the end of input means `default`, which must parse.
    pub(super) fn ask<T>(
        &mut self,
        question: &str,
        default: &str,
        parse: impl Fn(&str) -> Result<T, String>,
    ) -> anyhow::Result<T> {
        loop {
            eprint!("{question} [{default}]: ");
            std::io::stderr().flush()?;
            let mut line = String::new();
            let answer = if self.input.read_line(&mut line)? == 0 {
                eprintln!();
                default
            } else if line.trim().is_empty() {
                default
            } else {
                line.trim()
            };
            match parse(answer) {
                Ok(value) => return Ok(value),
                Err(why) if answer == default => anyhow::bail!("the default '{default}' is not valid: {why}"),
                Err(why) => eprintln!("  {why}; try again (Enter keeps '{default}')."),
            }
        }
    }
}

/// Any text.
pub(super) fn text(answer: &str) -> Result<String, String> {
    Ok(answer.to_owned())
}

/// A whole number of seconds, 1 or more.
pub(super) fn seconds(answer: &str) -> Result<u64, String> {
    answer
        .parse()
        .ok()
        .filter(|s| *s > 0)
        .ok_or_else(|| format!("'{answer}' is not a number of seconds (1 or more)"))
}

/// A TCP port, 1-65535.
pub(super) fn port(answer: &str) -> Result<u16, String> {
    answer
        .parse()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("'{answer}' is not a port (1-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_answer_is_asked_again_and_the_end_of_input_takes_the_default() {
        let mut p = Prompter {
            input: "abc\n0\n600\n\n".as_bytes(),
        };
        assert_eq!(p.ask("Timeout", "30", seconds).unwrap(), 600);
        assert_eq!(p.ask("Timeout", "30", seconds).unwrap(), 30, "empty line");
        assert_eq!(p.ask("Port", "8420", port).unwrap(), 8420, "end of input");
        let mut p = Prompter {
            input: "x\n".as_bytes(),
        };
        assert!(
            p.ask("Port", "nope", port).is_err(),
            "a bad default is an error, not a loop"
        );
    }
}
