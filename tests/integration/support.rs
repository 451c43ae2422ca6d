//! A temp project and a fluent way to run the real binary in it:
//! `project.sparkq(["claim", "--stream", "a"]).success().json()`.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A task to write straight into the spool with [`Project::put_task`].
#[derive(Debug, Clone)]
pub struct PastTask {
    pub stream: String,
    pub tool: String,
    pub worker: String,
    pub payload: Value,
    /// The summary if it succeeded, the error if it failed.
    pub note: String,
    pub failed: bool,
    pub stdout: String,
    /// How long ago it was created.
    pub created_ago: Duration,
    /// When it was claimed after creation and, once finished, how long it
    /// ran; `None` while queued.
    pub ran: Option<(Duration, Option<Duration>)>,
}

impl PastTask {
    /// A task of `stream` created `created_ago`, claimed a second later by
    /// `w1` and succeeded after `run`.
    pub fn done(stream: &str, created_ago: Duration, run: Duration) -> PastTask {
        PastTask {
            stream: stream.to_owned(),
            tool: "run-bash".to_owned(),
            worker: "w1".to_owned(),
            payload: serde_json::json!({"script_path": "scripts/x.sh"}),
            note: "all good".to_owned(),
            failed: false,
            stdout: String::new(),
            created_ago,
            ran: Some((Duration::from_secs(1), Some(run))),
        }
    }
}

/// The binary under test.
pub fn sparkq_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sparkq")
}

/// A command running the binary under test with this suite's runtime base
/// (`$SPARKQ_RUNTIME_DIR`, see [`suite_runtime_base`]), for tests that run
/// `sparkq` outside a [`Project`].
pub fn sparkq_command() -> Command {
    let mut cmd = Command::new(sparkq_bin());
    cmd.env("SPARKQ_RUNTIME_DIR", suite_runtime_base());
    cmd
}

/// The runtime base of commands run outside a [`Project`]: a private
/// folder in Cargo's scratch space for tests (`target/tmp`), so what a
/// one-shot command keeps there (its config cache entry) never lands in,
/// or trims, the user's own runtime base.
pub fn suite_runtime_base() -> &'static Path {
    static BASE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BASE.get_or_init(|| {
        use std::os::unix::fs::DirBuilderExt;
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("sparkq-runtime");
        std::fs::create_dir_all(env!("CARGO_TARGET_TMPDIR")).expect("create target/tmp");
        match std::fs::DirBuilder::new().mode(0o700).create(&base) {
            Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
                panic!("create {}: {e}", base.display())
            }
            _ => base,
        }
    })
}

/// A project in a fresh temp folder, set up with `sparkq setup --yes`.
///
/// Every command run in it gets a runtime base folder of its own
/// (`$SPARKQ_RUNTIME_DIR`), so no test ever sees, wakes or stops a watcher
/// of the user's or of another test.
pub struct Project {
    dir: tempfile::TempDir,
    runtime_base: tempfile::TempDir,
}

impl Project {
    /// An empty project (default config).
    pub fn new() -> Project {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime_base = tempfile::tempdir().expect("runtime base dir");
        let project = Project { dir, runtime_base };
        project.sparkq(["setup", "--yes"]).success();
        project
    }

    /// A project with session `s1` and an active stream `name` in it.
    pub fn with_stream(name: &str) -> Project {
        let project = Project::new();
        project.sparkq(["session", "create", "s1"]).success();
        project
            .sparkq([
                "stream",
                "create",
                name,
                "--session",
                "s1",
                "--instructions",
                "Do the thing.",
            ])
            .success();
        project
    }

    /// The project folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The folder this project's commands get as `$SPARKQ_RUNTIME_DIR`.
    pub fn runtime_base(&self) -> &Path {
        self.runtime_base.path()
    }

    /// The spool folder.
    pub fn spool(&self) -> PathBuf {
        self.path().join("spool")
    }

    /// A stream's state folder (`pending`, `claimed`, `done`, `failed`).
    pub fn state_dir(&self, stream: &str, state: &str) -> PathBuf {
        self.spool().join("streams").join(stream).join(state)
    }

    /// The file names in a stream's state folder, sorted, without the
    /// `.keep` file that keeps the folder in git.
    pub fn files(&self, stream: &str, state: &str) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.state_dir(stream, state))
            .map(|d| d.filter_map(|e| e.ok()?.file_name().into_string().ok()).collect())
            .unwrap_or_default();
        names.retain(|n| n != sparkq::queue::KEEP_FILE);
        names.sort();
        names
    }

    /// Makes the running task `id` of `stream` look claimed `secs` ago, as
    /// a worker that went quiet would leave it; written atomically, so a
    /// command reading the spool meanwhile never sees half a file.
    pub fn age_claim(&self, stream: &str, id: &str, secs: u64) {
        let path = self.state_dir(stream, "claimed").join(format!("{id}.json"));
        let mut task: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let past = std::time::SystemTime::now() - Duration::from_secs(secs);
        task["started_at"] = humantime::format_rfc3339_micros(past).to_string().into();
        let temp = path.with_file_name(format!(".{id}.aged.tmp"));
        std::fs::write(&temp, serde_json::to_vec_pretty(&task).unwrap()).unwrap();
        std::fs::rename(&temp, &path).unwrap();
    }

    /// Writes `task` straight into its stream's folder, with the times it
    /// names, as a night of work would have left it; returns its id. The
    /// stream (and its session `s1`) must exist. Written atomically.
    pub fn put_task(&self, task: &PastTask) -> String {
        let created = std::time::SystemTime::now() - task.created_ago;
        let at = |t: std::time::SystemTime| Value::from(humantime::format_rfc3339_micros(t).to_string());
        let id = sparkq::model::TaskId::generate_at(sparkq::model::Timestamp::from_system(created));
        let started = task.ran.map(|(wait, _)| created + wait);
        let finished = task
            .ran
            .and_then(|(wait, run)| run.map(|run| created + wait + run));
        let (folder, status) = match (task.failed, started, finished) {
            (_, None, _) => ("pending", "queued"),
            (_, Some(_), None) => ("claimed", "running"),
            (false, Some(_), Some(_)) => ("done", "succeeded"),
            (true, Some(_), Some(_)) => ("failed", "failed"),
        };
        let updated = finished.or(started).unwrap_or(created);
        let json = serde_json::json!({
            "id": id.as_str(), "stream": task.stream, "session": "s1", "tool_name": task.tool,
            "task_class": "MEDIUM_SCRIPT", "payload": task.payload, "status": status, "timeout": 3600,
            "attempts": u32::from(started.is_some()), "max_attempts": 2,
            "claimed_by": started.map(|_| task.worker.clone()), "claim_token": null,
            "result": (status == "succeeded").then(|| serde_json::json!({"summary": task.note})),
            "error": (status == "failed").then(|| task.note.clone()),
            "stdout": task.stdout, "stderr": "",
            "created_at": at(created), "updated_at": at(updated),
            "started_at": started.map(at), "heartbeat_at": null, "finished_at": finished.map(at),
            "history": []
        });
        let dir = self.state_dir(&task.stream, folder);
        let temp = dir.join(format!(".{}.put.tmp", id.as_str()));
        std::fs::write(&temp, serde_json::to_vec_pretty(&json).unwrap()).unwrap();
        std::fs::rename(&temp, dir.join(id.file_name())).unwrap();
        id.to_string()
    }

    /// A command running `sparkq` in the project folder.
    pub fn command<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut cmd = Command::new(sparkq_bin());
        cmd.args(args)
            .current_dir(self.path())
            .env_remove("SPARKQ_CONFIG")
            .env("SPARKQ_RUNTIME_DIR", self.runtime_base())
            .env("NO_COLOR", "1");
        cmd
    }

    /// Runs `sparkq ARGS` like a hostile-input test must: it fails the test
    /// if the command outlives `limit` (it is killed first) or panics (exit
    /// 101). Output is read as it comes, so a chatty command never blocks on
    /// a full pipe and counts as hung.
    pub fn bounded<I, S>(&self, args: I, limit: Duration) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut child = self
            .command(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sparkq");
        let drain = |pipe: Option<Box<dyn Read + Send>>| {
            std::thread::spawn(move || {
                let mut bytes = Vec::new();
                if let Some(mut pipe) = pipe {
                    let _ = pipe.read_to_end(&mut bytes);
                }
                bytes
            })
        };
        let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = child.try_wait().expect("poll sparkq") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("sparkq {args:?} hung for over {limit:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let output = Output {
            status,
            stdout: stdout.join().expect("stdout reader"),
            stderr: stderr.join().expect("stderr reader"),
        };
        assert_ne!(
            output.status.code(),
            Some(101),
            "sparkq {args:?} panicked:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs `sparkq ARGS` to completion.
    pub fn sparkq<I, S>(&self, args: I) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let output = self
            .command(&args)
            .stdin(Stdio::null())
            .output()
            .expect("run sparkq");
        Run { args, output }
    }

    /// Runs `sparkq ARGS` with `input` on stdin.
    pub fn sparkq_stdin<I, S>(&self, args: I, input: &str) -> Run
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        use std::io::Write;
        let args: Vec<std::ffi::OsString> = args.into_iter().map(|a| a.as_ref().to_owned()).collect();
        let mut child = self
            .command(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sparkq");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
        let output = child.wait_with_output().expect("wait sparkq");
        Run { args, output }
    }

    /// Enqueues a `run-bash` task with `payload` and returns its id.
    pub fn enqueue(&self, stream: &str, payload: &str) -> String {
        self.sparkq(["enqueue", "run-bash", payload, "--stream", stream])
            .success()
            .stdout()
            .trim()
            .to_owned()
    }

    /// Claims from `stream` and returns the claimed task as JSON.
    pub fn claim(&self, stream: &str) -> Value {
        self.sparkq(["claim", "--stream", stream, "--worker", "test"])
            .success()
            .json()
    }

    /// Sets `stale.max_attempts` in the project's sparkq.yml: how many
    /// claims a task gets before a dead claim fails it.
    pub fn set_max_attempts(&self, attempts: u32) {
        let path = self.path().join("sparkq.yml");
        let text = std::fs::read_to_string(&path).expect("read sparkq.yml");
        let text: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("stale:") {
                    format!("stale: {{ max_attempts: {attempts} }}")
                } else {
                    l.to_owned()
                }
            })
            .collect();
        std::fs::write(&path, text.join("\n") + "\n").expect("write sparkq.yml");
    }

    /// Writes `text` into the project at `rel`.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, text).expect("write");
        path
    }

    /// A snapshot of every file in the spool (path → bytes), to prove that a
    /// refused command changed nothing.
    pub fn snapshot(&self) -> Vec<(String, Vec<u8>)> {
        let mut files = Vec::new();
        for entry in walkdir::WalkDir::new(self.spool()).sort_by_file_name() {
            let entry = entry.expect("walk");
            if entry.file_type().is_file() && entry.file_name() != ".lock" {
                let rel = entry
                    .path()
                    .strip_prefix(self.path())
                    .expect("rel")
                    .display()
                    .to_string();
                files.push((rel, std::fs::read(entry.path()).expect("read")));
            }
        }
        files
    }
}

/// A finished run of the binary.
pub struct Run {
    args: Vec<std::ffi::OsString>,
    output: Output,
}

impl Run {
    fn describe(&self) -> String {
        format!(
            "sparkq {:?}\nexit: {:?}\nstdout:\n{}\nstderr:\n{}",
            self.args,
            self.output.status.code(),
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    /// Asserts exit 0.
    pub fn success(self) -> Run {
        assert!(
            self.output.status.success(),
            "expected success\n{}",
            self.describe()
        );
        self
    }

    /// Asserts exit `code`.
    pub fn code(self, code: i32) -> Run {
        assert_eq!(
            self.output.status.code(),
            Some(code),
            "wrong exit code\n{}",
            self.describe()
        );
        self
    }

    /// Asserts exit 1 with an `Error:` line on stderr containing `needle`,
    /// and nothing on stdout.
    pub fn fails_with(self, needle: &str) -> Run {
        let run = self.code(1);
        let stderr = run.stderr();
        assert!(
            stderr.starts_with("Error: "),
            "stderr must start with 'Error: '\n{}",
            run.describe()
        );
        assert!(
            stderr.contains(needle),
            "stderr lacks {needle:?}\n{}",
            run.describe()
        );
        assert!(
            run.output.stdout.is_empty(),
            "stdout must be empty on error\n{}",
            run.describe()
        );
        run
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.output.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.describe()))
    }
}

/// The variable that turns on the full tier: the scale and crash tests at
/// their full size (thousands of processes, hundreds of SIGKILLs). `.ci/run`
/// sets it; plain `cargo test` runs the same tests smaller, for a quick
/// loop.
pub const FULL_TIER_ENV: &str = "SPARKQ_FULL_TESTS";

/// `full` when the full tier is on (see [`FULL_TIER_ENV`]), else `fast`.
pub fn tier(fast: usize, full: usize) -> usize {
    match std::env::var(FULL_TIER_ENV) {
        Ok(v) if !v.is_empty() && v != "0" => full,
        _ => fast,
    }
}

/// Waits until `condition` holds, panicking with `what` after `secs`
/// seconds: the one way a test waits for something another process does.
/// Polls every 10 ms at first, backing off to 100 ms, so a long wait does
/// not load the machine it waits on.
pub fn wait_until(what: &str, secs: u64, mut condition: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut pause = std::time::Duration::from_millis(10);
    while !condition() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs} s waiting for: {what}"
        );
        std::thread::sleep(pause);
        pause = (pause * 2).min(std::time::Duration::from_millis(100));
    }
}
