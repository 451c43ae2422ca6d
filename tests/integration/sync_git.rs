//! A spool shared through real git, ordinary merges, no merge driver:
//! after every `git pull` + `sparkq doctor --fix` + `git add -A && git
//! commit`, both clones agree, each task is there once in its newest state,
//! no finish is lost, and the tree is clean.

use std::collections::BTreeSet;
use std::path::Path;

use crate::support::tier;
use crate::sync_support::{Machine, check_settled, git, git_ok};

/// Two clones of one spool repository: `a` and `b`.
fn two_clones(root: &Path) -> (Machine, Machine) {
    let a = Machine::create("A", &root.join("a"));
    git_ok(&a.dir, &["init", "-q", "-b", "main"]);
    git_ok(&a.dir, &["add", "-A"]);
    git_ok(&a.dir, &["commit", "-qm", "start"]);
    git_ok(root, &["clone", "-q", "a", "b"]);
    let b = Machine::open("B", &root.join("b"));
    // Pushing into a's checked-out branch is refused; each side pulls.
    (a, b)
}

/// `to` pulls from `from`, settles with doctor, and commits; returns
/// whether git reported a conflict.
fn pull_and_settle(to: &Machine, from: &Machine) -> bool {
    git_ok(&to.dir, &["add", "-A"]);
    git(&to.dir, &["commit", "-qm", "work"]);
    let from_dir = from.dir.display().to_string();
    let clean = git(
        &to.dir,
        &["pull", "-q", "--no-rebase", "--no-edit", &from_dir, "main"],
    );
    let report = to.queue.doctor(true).expect("doctor --fix");
    assert!(report.clean, "doctor left work: {report:#?}");
    git_ok(&to.dir, &["add", "-A"]);
    git(&to.dir, &["commit", "-qm", "settle"]);
    assert_eq!(git_ok(&to.dir, &["status", "--porcelain"]), "", "tree not clean");
    assert_eq!(git_ok(&to.dir, &["diff", "--name-only", "--diff-filter=U"]), "");
    !clean
}

/// Both sides sync: `first` merges the other, then the other fast-forwards.
fn sync(first: &Machine, second: &Machine) -> bool {
    git_ok(&second.dir, &["add", "-A"]);
    git(&second.dir, &["commit", "-qm", "work"]);
    let conflicted = pull_and_settle(first, second);
    pull_and_settle(second, first);
    conflicted
}

#[test]
fn random_rounds_of_git_merges_converge() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let mut rng = fastrand::Rng::with_seed(crate::sync_support::seed());
    let mut all = BTreeSet::new();
    let mut conflicts = 0;
    let rounds = tier(20, 50);
    for round in 0..rounds {
        all.extend(a.work(&mut rng, round));
        all.extend(b.work(&mut rng, round));
        let before = [a.facts(), b.facts()];
        let merged = if rng.bool() { sync(&a, &b) } else { sync(&b, &a) };
        conflicts += usize::from(merged);
        let ctx = format!("round {round}");
        check_settled(&a, &before, &all, &ctx);
        check_settled(&b, &before, &all, &ctx);
        assert_eq!(a.files(), b.files(), "{ctx}: the clones disagree");
    }
    let recorded: usize = a.tasks().values().map(|t| t.conflicts.len()).sum();
    eprintln!(
        "git: {} tasks, {conflicts} of {rounds} merges with git conflicts, {recorded} conflicts recorded",
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
    assert!(
        conflicts > 0,
        "no round produced a git conflict; the test proves little"
    );
}

#[test]
fn the_same_task_claimed_and_finished_on_both_sides_is_a_reported_conflict() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let id = a.enqueue("shared");
    sync(&a, &b);
    let (_, ta) = a.claim().expect("a claims");
    let (_, tb) = b.claim().expect("b claims");
    a.complete(&id, &ta, "A's answer");
    b.fail(&id, &tb, "B's failure");
    git_ok(&a.dir, &["add", "-A"]);
    git_ok(&a.dir, &["commit", "-qm", "a"]);
    git_ok(&b.dir, &["add", "-A"]);
    git_ok(&b.dir, &["commit", "-qm", "b"]);
    let a_dir = a.dir.display().to_string();
    git(
        &b.dir,
        &["pull", "-q", "--no-rebase", "--no-edit", &a_dir, "main"],
    );

    let report = b.sparkq(&["doctor"]);
    assert!(report.contains("double_finish"), "{report}");
    let fixed = b.sparkq(&["doctor", "--fix", "--json"]);
    let fixed: serde_json::Value = serde_json::from_str(&fixed).expect("json");
    assert_eq!(fixed["clean"], true);
    assert_eq!(fixed["conflicted"][0]["id"], id.as_str());

    let task: serde_json::Value = serde_json::from_str(&b.sparkq(&["task", &id, "--json"])).expect("json");
    let kept = [
        &task["result"]["summary"],
        &task["error"],
        &task["conflicts"][0]["result"]["summary"],
        &task["conflicts"][0]["error"],
    ];
    assert!(kept.iter().any(|v| *v == "A's answer"), "{task:#}");
    assert!(kept.iter().any(|v| *v == "B's failure"), "{task:#}");
    assert!(b.sparkq(&["tasks"]).contains("(conflict)"));
    assert!(b.sparkq(&["task", &id]).contains("Conflicts"));
    git_ok(&b.dir, &["add", "-A"]);
    git_ok(&b.dir, &["commit", "-qm", "settled"]);
    assert_eq!(git_ok(&b.dir, &["status", "--porcelain"]), "");
}

#[test]
fn both_sides_finishing_into_the_same_folder_leaves_markers_that_doctor_settles() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let id = a.enqueue("shared");
    sync(&a, &b);
    let (_, ta) = a.claim().expect("a claims");
    let (_, tb) = b.claim().expect("b claims");
    a.complete(&id, &ta, "A's answer");
    b.complete(&id, &tb, "B's answer");
    let conflicted = sync(&b, &a);
    assert!(conflicted, "git should have reported an add/add conflict");
    let task = &a.tasks()[&id];
    let mut summaries: Vec<String> = task
        .conflicts
        .iter()
        .filter_map(|c| c.result.as_ref()?.get("summary")?.as_str().map(str::to_owned))
        .collect();
    summaries.extend(task.summary().map(str::to_owned));
    summaries.sort();
    assert_eq!(summaries, ["A's answer", "B's answer"]);
}

#[test]
fn a_requeued_attempt_beats_a_late_finish_which_is_kept() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let id = a.enqueue("slow");
    a.claim().expect("a claims");
    sync(&a, &b);
    // B thinks A's worker died and takes the claim back; A's worker finishes.
    b.let_claim_die(&id);
    let (_, token) = a.running().into_iter().next().expect("running on a");
    a.complete(&id, &token, "late but done");
    sync(&a, &b);
    for m in [&a, &b] {
        let task = &m.tasks()[&id];
        assert_eq!(
            task.status.as_str(),
            "queued",
            "the re-queued attempt wins (SPEC 9)"
        );
        assert_eq!(task.conflicts.len(), 1);
        assert_eq!(
            task.conflicts[0].result.as_ref().map(|r| r["summary"].clone()),
            Some("late but done".into())
        );
    }
    // The next attempt runs and keeps the late result visible.
    let (_, t2) = b.claim().expect("b claims attempt 2");
    b.complete(&id, &t2, "second attempt");
    sync(&b, &a);
    let task = &a.tasks()[&id];
    assert_eq!((task.attempts, task.summary()), (2, Some("second attempt")));
    assert_eq!(task.conflicts.len(), 1);
}

#[test]
fn a_claim_that_lost_at_a_sync_still_reports_and_its_result_is_kept() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let id = a.enqueue("shared");
    sync(&a, &b);
    let (_, ta) = a.claim().expect("a claims");
    let (_, tb) = b.claim().expect("b claims");
    sync(&a, &b);
    let task = &b.tasks()[&id];
    assert_eq!(task.conflicts.len(), 1, "the second claim is recorded: {task:#?}");
    let rival = task.conflicts[0].claim_token.clone().expect("token");
    let (winner, loser) = if rival == tb { (&a, &b) } else { (&b, &a) };
    let (won, lost) = if rival == tb { (&ta, &tb) } else { (&tb, &ta) };
    loser
        .queue
        .heartbeat(&id, Some(lost))
        .expect("the losing claim's heartbeat is accepted");
    loser.complete(&id, lost, "loser's answer");
    winner.complete(&id, won, "winner's answer");
    sync(&a, &b);
    let task = &a.tasks()[&id];
    assert_eq!(task.summary(), Some("winner's answer"));
    let kept = task.conflicts[0].result.as_ref().map(|r| r["summary"].clone());
    assert_eq!(kept, Some("loser's answer".into()), "{task:#?}");
}

#[test]
fn a_worker_finishing_in_the_middle_of_a_merge_is_not_lost() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let shared = a.enqueue("shared");
    let mine = a.enqueue("mine");
    sync(&a, &b);
    // Both finish `shared` differently: the merge will stop on it.
    let (_, ta) = a.claim().expect("a claims shared");
    let (_, tb) = b.claim().expect("b claims shared");
    a.complete(&shared, &ta, "A");
    b.complete(&shared, &tb, "B");
    let (claimed, token) = a.claim().expect("a claims mine");
    assert_eq!(claimed, mine);
    for m in [&a, &b] {
        git_ok(&m.dir, &["add", "-A"]);
        git_ok(&m.dir, &["commit", "-qm", "work"]);
    }
    let from = a.dir.display().to_string();
    assert!(!git(
        &b.dir,
        &["pull", "-q", "--no-rebase", "--no-edit", &from, "main"]
    ));
    // While git waits, a worker on b finishes A's claim of `mine`.
    b.complete(&mine, &token, "finished mid-merge");
    assert!(b.queue.doctor(true).expect("doctor").clean);
    let task = &b.tasks()[&mine];
    assert_eq!(task.summary(), Some("finished mid-merge"));
}

/// Issue 14, item 1: a completion made after the last commit but before
/// the pull is the working tree's newest state; the merge must not lose it.
#[test]
fn a_finish_made_after_the_commit_survives_a_merge_that_changed_the_task() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let id = a.enqueue("slow");
    let (_, token) = a.claim().expect("a claims");
    let other = a.enqueue("other");
    sync(&a, &b);
    // Both finish another task differently: the merge stops on it.
    let (_, ta) = a.claim().expect("a claims other");
    let (_, tb) = b.claim().expect("b claims other");
    a.complete(&other, &ta, "A");
    b.complete(&other, &tb, "B");
    // B takes the claim back (it saw no heartbeat) and commits that.
    b.let_claim_die(&id);
    git_ok(&b.dir, &["add", "-A"]);
    git_ok(&b.dir, &["commit", "-qm", "b requeued"]);
    // A committed the claim before; its worker finishes after the commit.
    git_ok(&a.dir, &["add", "-A"]);
    git(&a.dir, &["commit", "-qm", "work"]);
    a.complete(&id, &token, "finished after the commit");
    let from = b.dir.display().to_string();
    let pulled = git(&a.dir, &["pull", "-q", "--no-rebase", "--no-edit", &from, "main"]);
    assert!(!pulled, "the merge should stop on the other task");
    let report = a.queue.doctor(true).expect("doctor");
    assert!(report.clean, "{report:#?}");
    let task = &a.tasks()[&id];
    let kept: Vec<_> = finishes_of(task);
    assert!(
        kept.contains(&"finished after the commit".to_owned()),
        "the finish is lost: {task:#?}"
    );
}

/// Every result summary a task holds, its own and in its conflicts.
fn finishes_of(task: &sparkq::model::Task) -> Vec<String> {
    crate::sync_support::finishes(task)
        .into_iter()
        .map(|(_, _, _, note)| note)
        .collect()
}

/// Issue 14, item 5: git wrote conflict markers into a running task's
/// file; its worker's report is still taken, and the other side's claim
/// is kept for doctor to settle.
#[test]
fn a_worker_completes_a_claim_whose_file_holds_conflict_markers() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let id = a.enqueue("shared");
    sync(&a, &b);
    let (_, ta) = a.claim().expect("a claims");
    let (_, tb) = b.claim().expect("b claims");
    for m in [&a, &b] {
        git_ok(&m.dir, &["add", "-A"]);
        git_ok(&m.dir, &["commit", "-qm", "claimed"]);
    }
    let from = b.dir.display().to_string();
    assert!(!git(
        &a.dir,
        &["pull", "-q", "--no-rebase", "--no-edit", &from, "main"]
    ));
    let claimed = a.spool().join("streams/q/claimed").join(format!("{id}.json"));
    let text = std::fs::read_to_string(&claimed).expect("claimed file");
    assert!(sparkq::queue::has_markers(&text), "{text}");

    a.queue.heartbeat(&id, Some(&ta)).expect("heartbeat is taken");
    a.complete(&id, &ta, "A's answer");
    let report = a.queue.doctor(true).expect("doctor");
    assert!(report.clean, "{report:#?}");
    let task = &a.tasks()[&id];
    assert_eq!(task.summary(), Some("A's answer"), "{task:#?}");
    assert!(
        task.conflicts
            .iter()
            .any(|c| c.claim_token.as_deref() == Some(tb.as_str())),
        "B's claim is kept: {task:#?}"
    );
}

/// Issue 14, item 2: a task purged on one clone does not come back from
/// the other, even when the merge stops on something else.
#[test]
fn a_purge_sticks_through_a_merge_with_other_conflicts() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let old = a.enqueue("old");
    let (_, token) = a.claim().expect("a claims");
    a.complete(&old, &token, "done long ago");
    a.enqueue("shared");
    sync(&a, &b);
    // Both claim it: the merge stops on `claimed/`.
    a.claim().expect("a claims shared");
    b.claim().expect("b claims shared");
    let purged = a.queue.purge(std::time::Duration::ZERO).expect("purge");
    assert!(purged.removed.iter().any(|id| id.as_str() == old));
    assert!(sync(&b, &a), "the merge should stop on the shared task");
    sync(&a, &b);
    for m in [&a, &b] {
        assert!(!m.tasks().contains_key(&old), "purged task back on {}", m.name);
        assert!(m.queue.doctor(false).expect("doctor").clean);
    }
}

/// Issue 14, item 4: git pairs a committed drop with a new drop on each
/// side and blends them; doctor restores each side's file, and both are
/// adopted as valid tasks.
#[test]
fn drops_that_git_blended_during_a_merge_are_restored_from_both_sides() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let pending = |m: &Machine| m.spool().join("streams/q/pending");
    let drop = |tag: &str| {
        format!(
            "{{\n  \"tool_name\": \"run-bash\",\n  \"payload\": {{\n    \"script_path\": \"{tag}.sh\",\n    \"args\": [\"one\", \"two\", \"three\", \"four\", \"five\"]\n  }}\n}}\n"
        )
    };
    // A drop committed before anyone adopted it (the old hand procedure).
    std::fs::write(pending(&a).join("d0.json"), drop("base")).expect("drop");
    git_ok(&a.dir, &["add", "-A"]);
    git_ok(&a.dir, &["commit", "-qm", "drop"]);
    let from = a.dir.display().to_string();
    git_ok(&b.dir, &["pull", "-q", "--no-rebase", "--no-edit", &from, "main"]);
    // Each side replaces it by a similar drop of its own.
    for (m, tag) in [(&a, "side-a"), (&b, "side-b")] {
        std::fs::remove_file(pending(m).join("d0.json")).expect("rm");
        std::fs::write(pending(m).join(format!("d{tag}.json")), drop(tag)).expect("drop");
        git_ok(&m.dir, &["add", "-A"]);
        git_ok(&m.dir, &["commit", "-qm", tag]);
    }
    git(&b.dir, &["pull", "-q", "--no-rebase", "--no-edit", &from, "main"]);
    let blended = ["dside-a.json", "dside-b.json"]
        .iter()
        .any(|n| std::fs::read(pending(&b).join(n)).is_ok_and(|bytes| bytes != drop(&n[1..7]).into_bytes()));
    assert!(blended, "git should have blended the drops");
    let report = b.queue.doctor(true).expect("doctor");
    assert!(report.clean, "{report:#?}");
    for tag in ["side-a", "side-b"] {
        let path = pending(&b).join(format!("d{tag}.json"));
        assert_eq!(std::fs::read_to_string(&path).expect("restored"), drop(tag));
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        let file = std::fs::File::options().write(true).open(&path).expect("open");
        file.set_modified(old).expect("age the drop");
    }
    let tasks = b.tasks();
    let mut scripts: Vec<String> = tasks
        .values()
        .filter_map(|t| t.payload.get("script_path")?.as_str().map(str::to_owned))
        .collect();
    scripts.sort();
    assert_eq!(scripts, ["side-a.sh", "side-b.sh"], "{tasks:#?}");
}

/// A purged task whose other side holds a finish the purge never saw is
/// restored from that side even when the merge left no file of it (git's
/// rename detection can pair the purged file with another task's new one,
/// which the `rm` here stands for): the tombstone covers only what it saw.
#[test]
fn a_finish_the_purge_never_saw_is_restored_from_the_merge_even_without_a_file() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = two_clones(root.path());
    let id = a.enqueue("both");
    a.enqueue("shared");
    sync(&a, &b);
    // Both claim and finish `both`; A purges its own finish only.
    let (_, ta) = a.claim().expect("a claims both");
    let (_, tb) = b.claim().expect("b claims both");
    a.complete(&id, &ta, "A's answer");
    b.complete(&id, &tb, "B's answer");
    // Both claim `shared`: the merge stops on it.
    a.claim().expect("a claims shared");
    b.claim().expect("b claims shared");
    a.queue.purge(std::time::Duration::ZERO).expect("purge");
    for m in [&a, &b] {
        git_ok(&m.dir, &["add", "-A"]);
        git_ok(&m.dir, &["commit", "-qm", "work"]);
    }
    let from = b.dir.display().to_string();
    assert!(!git(
        &a.dir,
        &["pull", "-q", "--no-rebase", "--no-edit", &from, "main"]
    ));
    for state in ["pending", "claimed", "done", "failed"] {
        let _ = std::fs::remove_file(a.spool().join(format!("streams/q/{state}/{id}.json")));
    }
    let report = a.queue.doctor(true).expect("doctor");
    assert!(report.clean, "{report:#?}");
    let kept = a.tasks().get(&id).map(finishes_of).unwrap_or_default();
    assert!(
        kept.contains(&"B's answer".to_owned()),
        "B's finish, which the purge never saw, is lost: {kept:?}"
    );
}
