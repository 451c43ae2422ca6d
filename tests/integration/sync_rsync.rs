//! A spool mirrored with real rsync: both ways (`rsync -auc --backup`, as
//! the README says) under the same random rounds and guarantees as git,
//! and one way (`rsync -a --delete`) as a read-only dashboard.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::tier;
use crate::sync_support::{Machine, check_settled, rsync};

/// The README's two-way command, minus the paths.
const BOTH_WAYS: &[&str] = &["-auc", "--backup", "--filter=:- .gitignore"];

/// Two projects whose spools start as copies of each other.
fn two_machines(root: &Path) -> (Machine, Machine) {
    let a = Machine::create("A", &root.join("a"));
    let b_dir = root.join("b");
    std::fs::create_dir_all(&b_dir).expect("mkdir");
    std::fs::copy(a.dir.join("sparkq.yml"), b_dir.join("sparkq.yml")).expect("config");
    rsync(BOTH_WAYS, &a.spool(), &b_dir.join("spool"));
    let b = Machine::open("B", &b_dir);
    (a, b)
}

/// Syncs both ways and settles both sides until they hold the same files;
/// returns how many passes that took.
fn sync(a: &Machine, b: &Machine) -> usize {
    for pass in 1..=4 {
        rsync(BOTH_WAYS, &a.spool(), &b.spool());
        rsync(BOTH_WAYS, &b.spool(), &a.spool());
        for m in [a, b] {
            let report = m.queue.doctor(true).expect("doctor --fix");
            assert!(report.clean, "doctor left work on {}: {report:#?}", m.name);
        }
        if a.files() == b.files() {
            return pass;
        }
    }
    panic!("four passes of rsync and doctor did not converge");
}

#[test]
fn random_rounds_of_rsync_both_ways_converge() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_machines(root.path());
    let mut rng = fastrand::Rng::with_seed(crate::sync_support::seed());
    let mut all = BTreeSet::new();
    let mut passes = 0;
    let rounds = tier(20, 50);
    for round in 0..rounds {
        all.extend(a.work(&mut rng, round));
        all.extend(b.work(&mut rng, round));
        let before = [a.facts(), b.facts()];
        passes = passes.max(sync(&a, &b));
        let ctx = format!("round {round}");
        check_settled(&a, &before, &all, &ctx);
        check_settled(&b, &before, &all, &ctx);
    }
    let recorded: usize = a.tasks().values().map(|t| t.conflicts.len()).sum();
    eprintln!(
        "rsync: {} tasks, at most {passes} passes to converge, {recorded} conflicts recorded",
        all.len()
    );
    assert!(
        all.len() > rounds,
        "the rounds enqueued too little: {}",
        all.len()
    );
    assert!(
        recorded > 0,
        "no round recorded a conflict; the test proves little"
    );
    assert!(passes <= 3, "converging took {passes} passes");
}

#[test]
fn a_double_finish_in_one_folder_survives_rsync_with_backup() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_machines(root.path());
    let id = a.enqueue("shared");
    sync(&a, &b);
    let (_, ta) = a.claim().expect("a claims");
    let (_, tb) = b.claim().expect("b claims");
    a.complete(&id, &ta, "A's answer");
    b.complete(&id, &tb, "B's answer");
    // Same size, same second: only --checksum tells them apart.
    sync(&a, &b);
    for m in [&a, &b] {
        let task = &m.tasks()[&id];
        let mut summaries: Vec<String> = task
            .conflicts
            .iter()
            .filter_map(|c| c.result.as_ref()?.get("summary")?.as_str().map(str::to_owned))
            .collect();
        summaries.extend(task.summary().map(str::to_owned));
        summaries.sort();
        assert_eq!(summaries, ["A's answer", "B's answer"], "on {}", m.name);
    }
}

#[test]
fn a_one_way_mirror_is_a_dashboard_that_lists_each_task_once() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, _) = two_machines(root.path());
    let ids: Vec<String> = (0..4).map(|i| a.enqueue(&format!("t{i}"))).collect();
    let (claimed, token) = a.claim().expect("claim");
    a.complete(&claimed, &token, "done");
    a.claim().expect("claim");

    let mirror = Machine::create("M", &root.path().join("mirror"));
    rsync(
        &["-a", "--delete", "--filter=:- .gitignore"],
        &a.spool(),
        &mirror.spool(),
    );
    assert!(
        !mirror.files().keys().any(|p| p.ends_with(".lock")),
        "locks were mirrored"
    );
    set_read_only(&mirror.spool(), true);
    let listed: serde_json::Value = serde_json::from_str(&mirror.sparkq(&["tasks", "--json"])).expect("json");
    let mut seen: Vec<&str> = listed["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    seen.sort();
    let mut want: Vec<&str> = ids.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(seen, want);
    assert!(mirror.sparkq(&["status"]).contains('q'));
    assert!(mirror.sparkq(&["doctor"]).contains("consistent"));
    set_read_only(&mirror.spool(), false);
}

/// Makes every file and folder under `dir` read-only (or writable again).
/// Root ignores the bits, so as root this checks only that listing works.
fn set_read_only(dir: &Path, read_only: bool) {
    use std::os::unix::fs::PermissionsExt;
    for entry in walkdir::WalkDir::new(dir) {
        let entry = entry.expect("walk");
        let mode = match (entry.file_type().is_dir(), read_only) {
            (true, true) => 0o555,
            (false, true) => 0o444,
            (true, false) => 0o755,
            (false, false) => 0o644,
        };
        std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

/// Issue 14, item 3: a file dropped on one machine and mirrored before
/// either adopted it becomes one task, whichever machines adopt it.
#[test]
fn a_drop_mirrored_before_adoption_is_one_task_on_both_machines() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_machines(root.path());
    let drop = a.spool().join("streams/q/pending/job.json");
    std::fs::write(
        &drop,
        r#"{"tool_name": "run-bash", "payload": {"script_path": "x.sh"}}"#,
    )
    .expect("drop");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&drop)
        .and_then(|f| f.set_modified(old))
        .expect("age the drop");
    rsync(BOTH_WAYS, &a.spool(), &b.spool());
    let on_a: Vec<String> = a.tasks().into_keys().collect();
    let on_b: Vec<String> = b.tasks().into_keys().collect();
    assert_eq!(on_a, on_b, "both machines adopt it under one id");
    sync(&a, &b);
    assert_eq!(a.tasks().len(), 1, "{:#?}", a.tasks());
    assert_eq!(a.files(), b.files());
}

/// Issue 14, item 2: rsync never deletes, so the purged file comes back;
/// its tombstone removes it again on both machines.
#[test]
fn a_purge_sticks_on_both_machines_over_rsync() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_machines(root.path());
    let id = a.enqueue("old");
    let (_, token) = a.claim().expect("a claims");
    a.complete(&id, &token, "done");
    sync(&a, &b);
    a.queue.purge(std::time::Duration::ZERO).expect("purge");
    sync(&a, &b);
    for m in [&a, &b] {
        assert!(!m.tasks().contains_key(&id), "purged task back on {}", m.name);
    }
    assert_eq!(a.files(), b.files());
}

/// Every finish a task holds, its own and in its conflicts: (token, note).
fn finishes_of(m: &Machine, id: &str) -> BTreeSet<(Option<String>, String)> {
    m.tasks()
        .get(id)
        .map(|t| {
            crate::sync_support::finishes(t)
                .into_iter()
                .map(|(_, token, _, note)| (token, note))
                .collect()
        })
        .unwrap_or_default()
}

/// B's sweep auto-fails A's claim (same token); rsync brings that finish to
/// A beside the claim; A purges the auto-fail, then A's worker completes the
/// claim. The tombstone saw only the auto-fail: the success, reported after,
/// must not be removed as "purged" (it was, when tombstones covered every
/// finish of a purged claim's token).
#[test]
fn a_success_reported_after_the_purge_of_the_same_claims_auto_fail_is_kept() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_machines(root.path());
    let id = a.enqueue("slow");
    a.claim().expect("a claims");
    a.let_claim_die(&id);
    let (again, token) = a.claim().expect("a claims the last attempt");
    assert_eq!(again, id);
    rsync(BOTH_WAYS, &a.spool(), &b.spool());
    b.let_claim_die(&id);
    assert_eq!(
        b.tasks()[&id].status,
        sparkq::model::TaskStatus::Failed,
        "b auto-failed it"
    );
    rsync(BOTH_WAYS, &b.spool(), &a.spool());
    let purged = a.queue.purge(std::time::Duration::ZERO).expect("purge");
    assert!(
        purged.removed.iter().any(|r| r.as_str() == id),
        "the auto-fail is purged: {purged:?}"
    );
    a.complete(&id, &token, "the real work");
    sync(&a, &b);
    for m in [&a, &b] {
        assert!(
            finishes_of(m, &id).contains(&(Some(token.clone()), "the real work".to_owned())),
            "{}: the success reported after the purge is lost: {:?}",
            m.name,
            m.tasks().get(&id)
        );
    }
}

/// Two finishes of one attempt (rival claims) sit in `done/` and `failed/`
/// when A purges; its tombstone must cover both, so that B's copy of the
/// first one does not come back.
#[test]
fn a_purge_of_two_unsettled_finishes_covers_both() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_machines(root.path());
    let id = a.enqueue("shared");
    sync(&a, &b);
    let (_, ta) = a.claim().expect("a claims");
    let (_, tb) = b.claim().expect("b claims");
    a.fail(&id, &ta, "A's error");
    b.complete(&id, &tb, "B's answer");
    // One way only, no settling: A holds both finishes, B only its own,
    // which the purge meets first (`done/` before `failed/`).
    rsync(BOTH_WAYS, &b.spool(), &a.spool());
    let purged = a.queue.purge(std::time::Duration::ZERO).expect("purge");
    assert!(purged.removed.iter().any(|r| r.as_str() == id), "{purged:?}");
    sync(&a, &b);
    for m in [&a, &b] {
        assert!(
            !m.tasks().contains_key(&id),
            "{}: purged task back: {:?}",
            m.name,
            m.tasks().get(&id)
        );
    }
}
