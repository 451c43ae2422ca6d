//! `sparkq sync` itself, on real clones of a bare remote: it commits only
//! the spool, copes with nothing to commit, says clearly when it cannot
//! sync, and records each round for `sparkq status`.

use std::path::Path;

use crate::sync_support::{Machine, git_ok};

/// A bare remote and two clones of a project whose spool is committed,
/// each with its upstream set; returns (a, b).
pub fn clones_of_a_remote(root: &Path) -> (Machine, Machine) {
    let remote = root.join("remote.git");
    git_ok(
        root,
        &[
            "init",
            "-q",
            "--bare",
            "-b",
            "main",
            &remote.display().to_string(),
        ],
    );
    let a = Machine::create("A", &root.join("a"));
    git_ok(&a.dir, &["init", "-q", "-b", "main"]);
    identify(&a.dir);
    git_ok(&a.dir, &["add", "-A"]);
    git_ok(&a.dir, &["commit", "-qm", "start"]);
    git_ok(
        &a.dir,
        &["remote", "add", "origin", &remote.display().to_string()],
    );
    git_ok(&a.dir, &["push", "-q", "-u", "origin", "main"]);
    git_ok(root, &["clone", "-q", &remote.display().to_string(), "b"]);
    identify(&root.join("b"));
    let b = Machine::open("B", &root.join("b"));
    (a, b)
}

fn identify(dir: &Path) {
    git_ok(dir, &["config", "user.name", "t"]);
    git_ok(dir, &["config", "user.email", "t@example.com"]);
}

#[test]
fn sync_commits_only_the_spool_and_leaves_the_users_work_alone() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = clones_of_a_remote(root.path());
    std::fs::write(a.dir.join("notes.txt"), "mine").expect("write");
    std::fs::write(a.dir.join("staged.txt"), "staged").expect("write");
    git_ok(&a.dir, &["add", "staged.txt"]);
    let id = a.enqueue("work");
    let out = a.sparkq(&["sync"]);
    assert!(out.contains("pushed 1 commit"), "{out}");
    let status = git_ok(&a.dir, &["status", "--porcelain"]);
    assert_eq!(
        status, "A  staged.txt\n?? notes.txt\n",
        "the user's work is untouched"
    );
    let committed = git_ok(&a.dir, &["show", "--name-only", "--format=", "HEAD"]);
    assert!(committed.lines().all(|p| p.starts_with("spool/")), "{committed}");

    // Nothing to commit is not an error; the other clone receives the task.
    a.sparkq(&["sync"]);
    b.sparkq(&["sync"]);
    assert!(b.tasks().contains_key(&id));
    let shown = b.sparkq(&["status"]);
    assert!(shown.contains("Last sync:") && shown.contains("ok"), "{shown}");
}

#[test]
fn sync_outside_a_repository_says_what_to_do() {
    let root = tempfile::tempdir().expect("tmp");
    let a = Machine::create("A", &root.path().join("a"));
    let out = crate::support::sparkq_command()
        .arg("sync")
        .current_dir(&a.dir)
        .env_remove("SPARKQ_CONFIG")
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not in a git work tree") && err.contains("--rsync"),
        "{err}"
    );
    let status = a.sparkq(&["status", "--json"]);
    let status: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(status["last_sync"]["ok"], false, "{status:#}");
}

#[test]
fn sync_dry_run_changes_nothing() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, _) = clones_of_a_remote(root.path());
    a.enqueue("work");
    let head = git_ok(&a.dir, &["rev-parse", "HEAD"]);
    let out = a.sparkq(&["sync", "--dry-run", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["dry_run"], true);
    assert!(report["local_changes"].as_u64() > Some(0), "{report:#}");
    assert_eq!(git_ok(&a.dir, &["rev-parse", "HEAD"]), head);
}

/// `sync:` in sparkq.yml: `sparkq run` keeps the spool synced in the
/// background, and `status` shows how the last round went.
#[test]
fn sparkq_run_syncs_in_the_background_when_the_config_asks() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = clones_of_a_remote(root.path());
    let config = a.dir.join("sparkq.yml");
    let text = std::fs::read_to_string(&config).expect("config");
    std::fs::write(&config, format!("{text}\nsync: {{ every: 300ms }}\n")).expect("config");
    let id = a.enqueue("from the background");
    let runtime = root.path().join("runtime");
    std::fs::create_dir_all(&runtime).expect("runtime");
    let mut run = crate::support::sparkq_command()
        .args(["run", "--no-server", "--stream", "q"])
        .current_dir(&a.dir)
        .env_remove("SPARKQ_CONFIG")
        .env("SPARKQ_RUNTIME_DIR", &runtime)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("sparkq run");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let pushed = loop {
        b.sparkq(&["sync"]);
        if b.tasks().contains_key(&id) {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let status = a.sparkq(&["status", "--json"]);
    let _ = run.kill();
    let _ = run.wait();
    assert!(pushed, "the background sync never pushed the task");
    let status: serde_json::Value = serde_json::from_str(&status).expect("json");
    assert_eq!(status["last_sync"]["ok"], true, "{status:#}");
}
