//! Two machines sharing one spool: each a project folder driven in-process
//! through `sparkq::queue::Queue`, synced with the real `git` or `rsync`,
//! and an oracle that checks what SPEC 9 promises after every sync.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use sparkq::config::Config;
use sparkq::model::{Phase, Task, TaskStatus};
use sparkq::queue::{NewTask, Queue, Report};
use sparkq::runtime::RuntimeDir;

/// The seed of the random rounds: `SPARKQ_SYNC_SEED` to explore others.
pub fn seed() -> u64 {
    std::env::var("SPARKQ_SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_0005)
}

/// One machine: a project folder and its queue.
pub struct Machine {
    pub name: &'static str,
    pub dir: PathBuf,
    pub queue: Queue,
}

/// A finish as the oracle tracks it: attempt, token, status, note.
pub type FinishEvent = (u32, Option<String>, &'static str, String);

/// What the oracle knows of each task before a sync: lattice key, finishes.
pub type Facts = BTreeMap<String, ((u32, Phase), BTreeSet<FinishEvent>)>;

impl Machine {
    /// The project in `dir` (which holds `sparkq.yml`), without fsync. Its
    /// runtime folder is the one its `sparkq` commands use (see
    /// [`crate::support::suite_runtime_base`]): what its sweeps keep there
    /// (the claims hint) never lands in the user's own runtime base.
    pub fn open(name: &'static str, dir: &Path) -> Machine {
        let mut config = Config::load(&dir.join("sparkq.yml")).expect("config");
        config.fsync = false;
        let runtime = RuntimeDir::under(
            crate::support::suite_runtime_base(),
            false,
            &config.root,
            &config.project_name,
        );
        Machine {
            name,
            dir: dir.to_owned(),
            queue: Queue::new(config).with_runtime_dir(runtime),
        }
    }

    /// Sets up a project with session `s1` and stream `q` in `dir`.
    pub fn create(name: &'static str, dir: &Path) -> Machine {
        std::fs::create_dir_all(dir).expect("mkdir");
        let ok = crate::support::sparkq_command()
            .args(["setup", "--yes"])
            .current_dir(dir)
            .env_remove("SPARKQ_CONFIG")
            .output()
            .expect("setup");
        assert!(ok.status.success(), "setup: {ok:?}");
        // Dead claims are re-queued here (not auto-failed, the default), so
        // re-queued attempts meet late finishes across machines.
        let config = dir.join("sparkq.yml");
        let text = std::fs::read_to_string(&config).expect("read sparkq.yml");
        let text = text.replacen("max_attempts: 1 ", "max_attempts: 2 ", 1);
        std::fs::write(&config, text).expect("write sparkq.yml");
        let m = Machine::open(name, dir);
        m.queue.create_session("s1", None).expect("session");
        m.queue
            .create_stream("q", "s1", "Work the queue.")
            .expect("stream");
        m
    }

    pub fn spool(&self) -> PathBuf {
        self.dir.join("spool")
    }

    /// Runs `sparkq ARGS` in this project and returns stdout (must succeed).
    pub fn sparkq(&self, args: &[&str]) -> String {
        let out = crate::support::sparkq_command()
            .args(args)
            .current_dir(&self.dir)
            .env_remove("SPARKQ_CONFIG")
            .env("NO_COLOR", "1")
            .output()
            .expect("run sparkq");
        assert!(out.status.success(), "sparkq {args:?} on {}: {out:?}", self.name);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn enqueue(&self, note: &str) -> String {
        let new = NewTask {
            tool_name: "run-bash".into(),
            payload: json!({"script_path": note}),
            timeout: None,
            task_class: None,
        };
        self.queue.enqueue("q", new).expect("enqueue").id.to_string()
    }

    /// Claims the next task; returns (id, token).
    pub fn claim(&self) -> Option<(String, String)> {
        let c = self.queue.claim("q", self.name).expect("claim")?;
        Some((c.task.id.to_string(), c.task.claim_token.expect("token")))
    }

    pub fn complete(&self, id: &str, token: &str, summary: &str) {
        let report = Report {
            token: Some(token.into()),
            ..Report::default()
        };
        self.queue
            .complete(id, json!({"summary": summary}), report)
            .expect("complete");
    }

    pub fn fail(&self, id: &str, token: &str, error: &str) {
        let report = Report {
            token: Some(token.into()),
            ..Report::default()
        };
        self.queue.fail(id, error, report).expect("fail");
    }

    /// Makes the claim of `id` look long dead, then sweeps: the task goes
    /// back to the queue (or fails, out of attempts).
    pub fn let_claim_die(&self, id: &str) {
        let path = self.spool().join("streams/q/claimed").join(format!("{id}.json"));
        let mut task: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("claimed file")).expect("json");
        task["started_at"] = json!("2001-01-01T00:00:00Z");
        task["heartbeat_at"] = Value::Null;
        std::fs::write(&path, serde_json::to_vec_pretty(&task).expect("json")).expect("write");
        self.queue.sweep_dead("q").expect("sweep");
    }

    /// The running tasks this machine holds claims for: (id, token).
    pub fn running(&self) -> Vec<(String, String)> {
        self.tasks()
            .into_values()
            .filter(|t| t.status == TaskStatus::Running)
            .map(|t| (t.id.to_string(), t.claim_token.unwrap_or_default()))
            .collect()
    }

    /// Every task as the queue shows it, by id.
    pub fn tasks(&self) -> BTreeMap<String, Task> {
        let filter = sparkq::queue::TaskFilter {
            limit: Some(1000),
            ..Default::default()
        };
        let page = self.queue.list_tasks(&filter).expect("list");
        page.tasks.into_iter().map(|t| (t.id.to_string(), t)).collect()
    }

    /// One random round of work: enqueue, claim, heartbeat, finish, or let
    /// a claim die. Returns the ids enqueued.
    pub fn work(&self, rng: &mut fastrand::Rng, round: usize) -> Vec<String> {
        let mut enqueued = Vec::new();
        for i in 0..rng.usize(0..3) {
            enqueued.push(self.enqueue(&format!("{}-{round}-{i}", self.name)));
        }
        for _ in 0..rng.usize(0..3) {
            self.claim();
        }
        for (id, token) in self.running() {
            match rng.usize(0..6) {
                0 => self.complete(&id, &token, &format!("{} did {id} in round {round}", self.name)),
                1 => self.fail(
                    &id,
                    &token,
                    &format!("{} failed {id} in round {round}", self.name),
                ),
                2 => {
                    self.queue.heartbeat(&id, Some(&token)).expect("heartbeat");
                }
                3 if rng.bool() => self.let_claim_die(&id),
                _ => {}
            }
        }
        enqueued
    }

    /// Every file of the spool that syncs (not locks), path → bytes.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut files = BTreeMap::new();
        for entry in walkdir::WalkDir::new(self.spool()) {
            let entry = entry.expect("walk");
            let name = entry.file_name().to_string_lossy();
            if entry.file_type().is_file() && !name.ends_with(".lock") {
                let rel = entry.path().strip_prefix(self.spool()).expect("rel");
                files.insert(
                    rel.display().to_string(),
                    std::fs::read(entry.path()).expect("read"),
                );
            }
        }
        files
    }

    /// The lattice key and finish events of every task, before a sync.
    pub fn facts(&self) -> Facts {
        self.tasks()
            .into_iter()
            .map(|(id, t)| {
                let key = t.lattice_key(t.status);
                (id, (key, finishes(&t)))
            })
            .collect()
    }
}

/// Every finish a task holds: its own, and those in its conflicts.
pub fn finishes(t: &Task) -> BTreeSet<FinishEvent> {
    let note = |r: &Option<Value>, e: &Option<String>| {
        r.as_ref()
            .and_then(|r| r.get("summary")?.as_str().map(str::to_owned))
            .or_else(|| e.clone())
            .unwrap_or_default()
    };
    let mut set = BTreeSet::new();
    if t.status.is_finished() {
        set.insert((
            t.attempts,
            t.claim_token.clone(),
            t.status.as_str(),
            note(&t.result, &t.error),
        ));
    }
    for c in t.conflicts.iter().filter(|c| c.status.is_finished()) {
        set.insert((
            c.attempt,
            c.claim_token.clone(),
            c.status.as_str(),
            note(&c.result, &c.error),
        ));
    }
    set
}

/// Asserts what SPEC 9 promises after a sync of machines whose facts
/// before it were `before`: every task enqueued anywhere is in the spool
/// exactly once, in the newest state by the lattice, and every finish any
/// side knew is still there, as the task's result or in its conflicts.
pub fn check_settled(m: &Machine, before: &[Facts], all: &BTreeSet<String>, ctx: &str) {
    let files = m.files();
    for (path, bytes) in &files {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !sparkq::queue::has_markers(&text),
            "{ctx}: conflict markers left in {path}"
        );
        assert!(!path.contains('~'), "{ctx}: extra copy left: {path}");
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for path in files.keys() {
        if let Some(id) = path
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".json"))
            .filter(|n| n.starts_with("tsk_"))
        {
            *seen.entry(id.to_owned()).or_default() += 1;
        }
    }
    let tasks = m.tasks();
    for id in all {
        assert_eq!(
            seen.get(id),
            Some(&1),
            "{ctx}: {id} must exist exactly once on {}",
            m.name
        );
        let Some(task) = tasks.get(id) else {
            let path = files.keys().find(|p| p.contains(id.as_str())).expect("seen");
            panic!(
                "{ctx}: {id} not listed on {}: {path}\n{}",
                m.name,
                String::from_utf8_lossy(&files[path])
            );
        };
        let want = before.iter().filter_map(|b| b.get(id)).map(|(k, _)| *k).max();
        if let Some(want) = want {
            let sides: Vec<_> = before.iter().map(|b| b.get(id).map(|(k, _)| *k)).collect();
            assert_eq!(
                task.lattice_key(task.status),
                want,
                "{ctx}: {id} on {} is not in the newest state; sides {sides:?}; task {task:#?}",
                m.name
            );
        }
        let have = finishes(task);
        for side in before {
            for event in side.get(id).map(|(_, f)| f.clone()).unwrap_or_default() {
                assert!(
                    have.contains(&event),
                    "{ctx}: {id} lost finish {event:?} on {}; has {have:?}",
                    m.name
                );
            }
        }
    }
}

/// Runs `git ARGS` in `dir`; returns whether it succeeded.
pub fn git(dir: &Path, args: &[&str]) -> bool {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git is needed: apt-get install git (scripts/test.sh installs it)");
    out.status.success()
}

/// Runs `git ARGS` in `dir` and asserts success; returns stdout.
pub fn git_ok(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .expect("git is needed: apt-get install git (scripts/test.sh installs it)");
    assert!(out.status.success(), "git {args:?} in {}: {out:?}", dir.display());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `rsync ARGS FROM/ TO/` for two spool folders; asserts success.
pub fn rsync(args: &[&str], from: &Path, to: &Path) {
    let out = Command::new("rsync")
        .args(args)
        .arg(format!("{}/", from.display()))
        .arg(format!("{}/", to.display()))
        .output()
        .expect("rsync is needed: apt-get install rsync (scripts/test.sh installs it)");
    assert!(out.status.success(), "rsync {args:?}: {out:?}");
}
