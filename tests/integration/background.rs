//! Long-running `sparkq` processes for the waiting tests: a child whose
//! output is collected as it comes, signals sent with `kill`, and waits on
//! conditions with deadlines (never fixed sleeps).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Project, sparkq_bin};

/// A project's runtime folder (locks, FIFOs, done flags), inside the
/// runtime base folder the project's commands get (see [`Project`]).
pub struct Runtime {
    base: PathBuf,
    dir: PathBuf,
}

impl Runtime {
    /// The runtime folder of `project`, where its watchers keep their files.
    pub fn of(project: &Project) -> Runtime {
        let config = sparkq::config::Config::load(&project.path().join("sparkq.yml")).expect("config");
        let base = project.runtime_base().to_owned();
        let dir = sparkq::runtime::RuntimeDir::under(&base, false, &config.root, &config.project_name)
            .dir()
            .to_owned();
        Runtime { base, dir }
    }

    /// The project's runtime folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The folder holding every project's runtime folder (`$SPARKQ_RUNTIME_DIR`).
    pub fn base(&self) -> &Path {
        &self.base
    }

    pub fn lock(&self, stream: &str) -> PathBuf {
        self.path().join(format!("{stream}.lock"))
    }

    pub fn fifo(&self, stream: &str) -> PathBuf {
        self.path().join(format!("{stream}.pipe"))
    }

    pub fn flag(&self, stream: &str) -> PathBuf {
        self.path().join(format!("{stream}.done"))
    }

    /// The pid in a stream's lock, if any.
    pub fn lock_pid(&self, stream: &str) -> Option<u32> {
        std::fs::read_to_string(self.lock(stream))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// `sparkq ARGS` in `project` (which brings its runtime base along).
    pub fn command(&self, project: &Project, args: &[&str]) -> Command {
        project.command(args)
    }

    /// A shell in `project` with `sparkq` on its PATH and the project's
    /// runtime folder as `$RT`, running `script`.
    pub fn shell(&self, project: &Project, script: &str) -> Command {
        let bin_dir = Path::new(sparkq_bin()).parent().expect("bin dir");
        let path = format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = Command::new("sh");
        cmd.args(["-c", script])
            .current_dir(project.path())
            .env("PATH", path)
            .env("RT", self.path())
            .env("SPARKQ_RUNTIME_DIR", self.base())
            .env_remove("SPARKQ_CONFIG")
            .env("NO_COLOR", "1");
        cmd
    }
}

/// A child process whose stdout and stderr are gathered in the background.
pub struct Bg {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn gather(mut from: impl Read + Send + 'static) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = Arc::clone(&text);
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .expect("sink")
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (text, reader)
}

impl Bg {
    /// Starts `cmd` with piped output and no stdin.
    pub fn spawn(cmd: Command) -> Bg {
        Bg::spawn_with_input(cmd, None)
    }

    /// Starts `cmd` with piped output and `input` (if any) on its stdin.
    pub fn spawn_with_input(mut cmd: Command, input: Option<&str>) -> Bg {
        cmd.stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        if let Some(input) = input {
            use std::io::Write;
            // Stdin stays open with the child, so a terminal on the other
            // end does not see end of input and hang up.
            child
                .stdin
                .as_mut()
                .expect("stdin")
                .write_all(input.as_bytes())
                .expect("write stdin");
        }
        let (stdout, out_reader) = gather(child.stdout.take().expect("stdout"));
        let (stderr, err_reader) = gather(child.stderr.take().expect("stderr"));
        Bg {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout").clone()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("stderr").clone()
    }

    /// Waits until stderr contains `needle` `times` times.
    pub fn wait_for_log(&self, needle: &str, times: usize, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        while self.stderr().matches(needle).count() < times {
            assert!(
                Instant::now() < deadline,
                "timed out after {secs} s waiting for {times}x {needle:?} in the log:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Sends `signal` (TERM, INT, KILL...) with the `kill` command.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_some()
    }

    /// Waits for the process to exit, at most `secs` seconds.
    pub fn wait_exit(&mut self, secs: u64) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The output ends when the pipes close: read it all.
                for reader in self.readers.drain(..) {
                    reader.join().expect("output reader");
                }
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "process did not exit within {secs} s\nstdout:\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Bg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a child of `parent` named `name` is asleep (blocked), from /proc.
pub fn has_sleeping_child(parent: u32, name: &str) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .any(|stat| {
            // pid (comm) state ppid ...
            let Some((head, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let mut fields = rest.split_whitespace();
            head.ends_with(&format!("({name}"))
                && fields.next() == Some("S")
                && fields.next() == Some(parent.to_string().as_str())
        })
}
