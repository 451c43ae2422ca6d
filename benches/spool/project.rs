//! A throw-away SparkQ project for one measured case: the default
//! `sparkq.yml` (with the fsync setting under test), one session, one stream,
//! and a fast way to fill its `pending/` folder.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::json;
use sparkq::config::{Config, SetupAnswers, render_config};
use sparkq::queue::{NewTask, Queue};
use sparkq::runtime::RuntimeDir;

/// The stream every case works on.
pub(crate) const STREAM: &str = "bench";

/// A project in a fresh temp folder under the bench root.
pub(crate) struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    /// A project with session `s` and active stream [`STREAM`], whose
    /// `sparkq.yml` says `fsync`.
    pub(crate) fn new(root: &Path, fsync: bool) -> Project {
        let dir = tempfile::tempdir_in(root).expect("create a project folder");
        let project = Project { dir };
        project.set_fsync(fsync);
        let queue = project.queue(false);
        queue.ensure_layout().expect("spool layout");
        queue.create_session("s", None).expect("create session");
        queue
            .create_stream(STREAM, "s", "Benchmark stream: do nothing, report ok.")
            .expect("create stream");
        project
    }

    /// The project folder.
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config_path(&self) -> PathBuf {
        self.path().join("sparkq.yml")
    }

    /// Rewrites `sparkq.yml` (the one `sparkq setup --yes` writes) with
    /// `spool.fsync` set as asked, for the CLI cases.
    pub(crate) fn set_fsync(&self, fsync: bool) {
        let text = render_config(&SetupAnswers::defaults("bench"))
            .replace("fsync: true", &format!("fsync: {fsync}"))
            .replace("fsync: false", &format!("fsync: {fsync}"));
        std::fs::write(self.config_path(), text).expect("write sparkq.yml");
        assert_eq!(
            self.queue(fsync).config().fsync,
            fsync,
            "sparkq.yml must carry the fsync setting"
        );
    }

    /// A queue on this project with `fsync` as given, whatever the file
    /// says, and the runtime folder its commands use (see [`runtime_base`]),
    /// so what it keeps there (the sweep hint) is theirs too.
    pub(crate) fn queue(&self, fsync: bool) -> Queue {
        let mut config = Config::load(&self.config_path()).expect("load sparkq.yml");
        config.fsync = fsync;
        let runtime = RuntimeDir::under(
            &runtime_base(self.path()),
            false,
            &config.root,
            &config.project_name,
        );
        Queue::new(config).with_runtime_dir(runtime)
    }

    /// Queues `n` tasks in one batch, without fsync (setting up is not
    /// what is measured).
    pub(crate) fn fill(&self, n: usize) {
        let batch = (0..n)
            .map(|i| NewTask {
                tool_name: "run-bash".to_owned(),
                payload: json!({"script_path": "scripts/migrate.sh", "args": ["--dry-run", i.to_string()]}),
                timeout: None,
                task_class: None,
            })
            .collect();
        self.queue(false)
            .enqueue_batch(STREAM, batch)
            .expect("fill pending/");
    }

    /// How many task files the stream has in `state` (`pending`, `done`...).
    pub(crate) fn count(&self, state: &str) -> usize {
        let dir = self.path().join("spool/streams").join(STREAM).join(state);
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    }

    /// Runs the `sparkq` binary in the project folder, as a user would;
    /// panics with its stderr if it fails.
    pub(crate) fn sparkq(&self, bin: &Path, args: &[&str]) -> Output {
        let output = Command::new(bin)
            .args(args)
            .current_dir(self.path())
            .env_remove("SPARKQ_CONFIG")
            .env("SPARKQ_RUNTIME_DIR", runtime_for(self.path(), bin))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .expect("run sparkq");
        assert!(
            output.status.success(),
            "sparkq {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }
}

/// The runtime base (`$SPARKQ_RUNTIME_DIR`) of the commands run in the
/// project at `dir`: one folder beside the projects, under the bench root,
/// so what the commands keep there (the config cache) goes with the root
/// and never lands in the user's own runtime base.
pub(crate) fn runtime_base(dir: &Path) -> PathBuf {
    dir.parent().unwrap_or(dir).join("runtime")
}

/// The runtime base of `bin`'s commands in the project at `dir`: the one
/// above, or for `SPARKQ_BEFORE_BIN` a folder of its own, so that two
/// builds whose sweep hints differ in format do not each throw the other's
/// away, and read every claim, at every turn.
pub(crate) fn runtime_for(dir: &Path, bin: &Path) -> PathBuf {
    let before = std::env::var_os("SPARKQ_BEFORE_BIN");
    if before.is_some_and(|before| Path::new(&before) == bin) {
        runtime_base(dir).join("before")
    } else {
        runtime_base(dir)
    }
}
