//! The servers a benchmark measures: `sparkq run --port 0` spawned from a
//! given binary, and the table that puts two binaries side by side.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A binary to measure, with the label its numbers are printed under.
pub(crate) struct Bin {
    pub(crate) label: &'static str,
    pub(crate) path: PathBuf,
}

impl Bin {
    /// `SPARKQ_BEFORE_BIN` (if set) as "before", then `SPARKQ_BIN` (default:
    /// the release build) as "after", or as "this" when it is alone.
    pub(crate) fn from_env() -> Vec<Bin> {
        // Absolute: servers run in their project's folder.
        let absolute = |p: PathBuf| std::fs::canonicalize(&p).unwrap_or(p);
        let this = absolute(
            std::env::var_os("SPARKQ_BIN")
                .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sparkq")), PathBuf::from),
        );
        match std::env::var_os("SPARKQ_BEFORE_BIN") {
            Some(before) => vec![
                Bin {
                    label: "before",
                    path: absolute(PathBuf::from(before)),
                },
                Bin {
                    label: "after",
                    path: this,
                },
            ],
            None => vec![Bin {
                label: "this",
                path: this,
            }],
        }
    }
}

/// The runtime base (`$SPARKQ_RUNTIME_DIR`) of the commands run in the
/// project at `root`: a folder inside the throw-away project, so nothing the
/// bench runs lands in the user's own runtime base.
pub(crate) fn runtime_base(root: &Path) -> std::path::PathBuf {
    root.join(".sparkq-runtime")
}

/// A running server; dropping it stops it (SIGTERM, then waits).
pub(crate) struct Served {
    child: Child,
    port: u16,
}

impl Served {
    /// Starts `bin run --port 0` in the project at `root` and waits until it
    /// has written the port it got into the spool's lock file and answers.
    pub(crate) fn start(bin: &Bin, root: &Path) -> Served {
        let child = Command::new(&bin.path)
            .args(["run", "--port", "0"])
            .current_dir(root)
            .env("SPARKQ_RUNTIME_DIR", runtime_base(root))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", bin.path.display()));
        let lock = root.join("spool/.sparkq.lock");
        let started = Instant::now();
        let mut served = Served { child, port: 0 };
        loop {
            if let Some(port) = port_in(&lock, served.child.id()) {
                served.port = port;
                let health = std::net::TcpStream::connect(("127.0.0.1", port));
                if health.is_ok() {
                    return served;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "{} did not start serving within a minute",
                bin.path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The port server `pid` wrote into its lock file, once it has.
fn port_in(lock: &Path, pid: u32) -> Option<u16> {
    let text = std::fs::read_to_string(lock).ok()?;
    let holder: serde_json::Value = serde_json::from_str(&text).ok()?;
    if holder["pid"].as_u64()? != u64::from(pid) {
        return None;
    }
    let url = holder["url"].as_str()?;
    url.trim_end_matches('/').rsplit(':').next()?.parse().ok()
}

/// The closing table: one row per measure, one column per binary, and
/// after ÷ before when there are two.
pub(crate) struct Summary {
    labels: Vec<&'static str>,
    rows: Vec<(String, &'static str, Vec<f64>)>,
}

impl Summary {
    pub(crate) fn new(bins: &[Bin]) -> Summary {
        Summary {
            labels: bins.iter().map(|b| b.label).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, what: &str, unit: &'static str, values: Vec<f64>) {
        self.rows.push((what.to_owned(), unit, values));
    }

    pub(crate) fn print(&self) {
        println!();
        let mut head = format!("{:<46}", "summary (medians)");
        for label in &self.labels {
            head.push_str(&format!(" {label:>12}"));
        }
        if self.labels.len() == 2 {
            head.push_str(&format!(" {:>14}", "after/before"));
        }
        println!("{head}");
        for (what, unit, values) in &self.rows {
            let mut line = format!("{:<46}", format!("{what} ({unit})"));
            for v in values {
                line.push_str(&format!(" {v:>12.3}"));
            }
            if let [before, after] = values[..] {
                line.push_str(&format!(" {:>13.2}x", after / before));
            }
            println!("{line}");
        }
    }
}
