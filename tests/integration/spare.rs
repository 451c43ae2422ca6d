//! Spare files (see `spool::spare`): with fsync on, a file a stream no
//! longer needs is kept as `.spare-<k>.tmp` in its folder for the next
//! write instead of being freed.

use std::time::Duration;

use crate::support::Project;

/// Enqueues, claims and completes `n` tasks of `stream` one after the
/// other, each command bounded (a FIFO opened by mistake would hang it),
/// and checks every finished file holds its own task.
fn cycle(p: &Project, stream: &str, n: usize) {
    for i in 0..n {
        let out = p.bounded(
            [
                "enqueue",
                "run-bash-fast",
                &format!(r#"{{"n": {i}}}"#),
                "--stream",
                stream,
            ],
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let out = p.bounded(["claim", "--stream", stream], Duration::from_secs(30));
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let task: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(task["id"], id.as_str());
        let token = task["claim_token"].as_str().unwrap().to_owned();
        let result = format!(r#"{{"summary": "did {i}"}}"#);
        let out = p.bounded(
            ["complete", &id, "--token", &token, "--result", &result],
            Duration::from_secs(30),
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let done = std::fs::read(p.state_dir(stream, "done").join(format!("{id}.json"))).unwrap();
        let done: serde_json::Value = serde_json::from_slice(&done).unwrap();
        assert_eq!(done["id"], id.as_str());
        assert_eq!(done["result"]["summary"], format!("did {i}"));
    }
    let claimed = p.files(stream, "claimed");
    assert!(claimed.iter().all(|n| n.starts_with('.')), "{claimed:?}");
}

#[test]
fn with_fsync_freed_files_are_kept_as_a_bounded_pool_that_nothing_lists() {
    let p = Project::with_stream("s");
    cycle(&p, "s", 12);
    let spares = p.spares("s");
    assert!(!spares.is_empty() && spares.len() <= 4, "{spares:?}");
    // Not tasks, not temp files of a crashed write, not in any listing.
    let tasks = p.sparkq(["tasks", "--stream", "s", "--json"]).success().json();
    assert_eq!(tasks["tasks"].as_array().map(Vec::len), Some(12), "{tasks}");
    let doctor = p.sparkq(["doctor"]).success().stdout();
    assert!(!doctor.contains(".spare-"), "{doctor}");
    // Removed with the spool, as SparkQ's own files.
    let removal = p.sparkq(["teardown", "--yes"]).success().stdout();
    assert!(!removal.contains(".spare-"), "{removal}");
    assert!(!p.spool().exists(), "{removal}");
}

#[test]
fn without_fsync_nothing_is_recycled() {
    // A recycled file written without a flush could show its old bytes
    // under the new name after a power loss: no pool then.
    let p = Project::with_stream("s");
    p.set_fsync(false);
    cycle(&p, "s", 6);
    assert_eq!(p.spares("s"), Vec::<String>::new());
}

#[test]
fn odd_entries_at_spare_names_are_left_alone() {
    let p = Project::with_stream("s");
    let dir = p.spool().join("streams").join("s");
    let outside = p.write("outside.txt", "not the spool's");
    let slot = |k: usize| dir.join(format!(".spare-{k}.tmp"));
    std::os::unix::fs::symlink(&outside, slot(0)).unwrap();
    rustix::fs::mkfifoat(rustix::fs::CWD, slot(1), rustix::fs::Mode::from_raw_mode(0o600)).unwrap();
    std::fs::create_dir(slot(2)).unwrap();
    let linked = p.write("linked.txt", "a second name of this file");
    std::fs::hard_link(&linked, slot(3)).unwrap();

    // Every slot is taken by something that is not a spare: nothing is
    // written through it, opened (a FIFO would hang the command), moved
    // or removed, and the freed files are removed instead.
    cycle(&p, "s", 4);
    assert_eq!(std::fs::read_to_string(&outside).unwrap(), "not the spool's");
    assert_eq!(
        std::fs::read_to_string(&linked).unwrap(),
        "a second name of this file"
    );
    let kind = |k: usize| std::fs::symlink_metadata(slot(k)).unwrap().file_type();
    assert!(kind(0).is_symlink());
    assert!(std::os::unix::fs::FileTypeExt::is_fifo(&kind(1)));
    assert!(kind(2).is_dir());
    assert!(kind(3).is_file());
    assert_eq!(p.spares("s").len(), 4);
}
