//! The window between a merge and its settling: `git merge` (or an rsync
//! copy) brings in the other machine's copies of a task, and until `doctor
//! --fix` settles them the spool holds several copies of it. Workers do not
//! wait for the settling. A worker that finishes its claim in that window
//! must not write its finished copy over another machine's finish of the
//! same task that the merge just brought into `done/` or `failed/`: that
//! was the lost result of `sync_live` under load.
//!
//! The randomized tests interleave claims, heartbeats, completes, fails and
//! dead-claim sweeps with pulls between two clones (git merges with either
//! strategy, or rsync as `sparkq sync --rsync` does), doing random work
//! between each pull and its settling, and check that every finish a
//! worker was told was recorded ends up on every clone, as the task's
//! result or as a kept conflict, and every task is there exactly once.
//! Without the fix, 4 of 10 seeds of the git one lose a finish.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::json;
use sparkq::model::TaskStatus;
use sparkq::queue::Report;

use crate::support::tier;
use crate::sync_support::{Machine, finishes, git, git_ok};

/// Clones `A`, `B`, ... of one spool repository; each pulls from the others.
fn clones(root: &Path, names: &[&'static str]) -> Vec<Machine> {
    let first = Machine::create(names[0], &root.join(names[0]));
    git_ok(&first.dir, &["init", "-q", "-b", "main"]);
    git_ok(&first.dir, &["add", "-A"]);
    git_ok(&first.dir, &["commit", "-qm", "start"]);
    let mut all = vec![first];
    for name in &names[1..] {
        git_ok(root, &["clone", "-q", names[0], name]);
        all.push(Machine::open(name, &root.join(name)));
    }
    all
}

/// Commits everything on `m`.
fn commit(m: &Machine, message: &str) {
    git_ok(&m.dir, &["add", "-A"]);
    git(&m.dir, &["commit", "-qm", message]);
}

/// How a merge is made: git's default strategy, which pairs a task's
/// files in different folders as renames and so often stops on them, or
/// the one that honours `-X no-renames` (as `sparkq sync` asks), which
/// merges a task moved differently on each side cleanly, leaving both
/// sides' files in the working tree for the settling.
const STRATEGIES: [&[&str]; 2] = [&[], &["-s", "recursive", "-X", "no-renames"]];

/// `to` commits and merges `from`'s branch with `strategy`, without
/// settling; returns whether git stopped on a conflict.
fn merge(to: &Machine, from: &Machine, strategy: &[&str]) -> bool {
    commit(from, "work");
    commit(to, "work");
    let from_dir = from.dir.display().to_string();
    let mut args = vec!["pull", "-q", "--no-rebase", "--no-edit"];
    args.extend(strategy);
    args.extend([from_dir.as_str(), "main"]);
    !git(&to.dir, &args)
}

/// `to` copies `from`'s spool in as `sparkq sync --rsync` does, without
/// settling: `from`'s finish lands beside `to`'s own copies.
fn copy_in(to: &Machine, from: &Machine) {
    // A suffix of its own for each copy, as `sparkq sync --rsync` uses.
    static COPIES: AtomicUsize = AtomicUsize::new(0);
    let suffix = format!("--suffix=~{}", COPIES.fetch_add(1, Ordering::Relaxed));
    crate::sync_support::rsync(
        &["-auc", "--backup", &suffix, "--filter=:- .gitignore"],
        &from.spool(),
        &to.spool(),
    );
}

/// How the clones of the randomized test share their spools.
#[derive(Clone, Copy, PartialEq)]
enum Link {
    /// Git merges, with either strategy.
    Git,
    /// `rsync` both ways, as `sparkq sync --rsync` does: pull, settle, push.
    Rsync,
}

/// Two clones `A`, `B` linked by `link` (two clones claim the same tasks
/// more often than three, which is what makes rival finishes).
fn linked(root: &Path, link: Link) -> Vec<Machine> {
    let names = ["A", "B"];
    if link == Link::Git {
        return clones(root, &names);
    }
    let first = Machine::create(names[0], &root.join(names[0]));
    let mut all = vec![first];
    for name in &names[1..] {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::copy(all[0].dir.join("sparkq.yml"), dir.join("sparkq.yml")).expect("config");
        crate::sync_support::rsync(&["-a"], &all[0].spool(), &dir.join("spool"));
        all.push(Machine::open(name, &dir));
    }
    all
}

/// `to` takes in `from`'s spool, unsettled; returns whether git stopped.
fn pull(link: Link, to: &Machine, from: &Machine, rng: &mut fastrand::Rng) -> bool {
    match link {
        Link::Git => merge(to, from, STRATEGIES[usize::from(rng.u8(..4) > 0)]),
        Link::Rsync => {
            copy_in(to, from);
            false
        }
    }
}

/// Settles `to` after a pull; with rsync, also pushes the settled spool
/// back to `from`, which settles it at its own next pull.
fn conclude(link: Link, to: &Machine, from: &Machine) {
    match link {
        Link::Git => settle(to),
        Link::Rsync => {
            let report = to.queue.doctor(true).expect("doctor --fix");
            assert!(report.clean, "{}: doctor left work: {report:#?}", to.name);
            copy_in(from, to);
        }
    }
}

/// Settles what the merge left on `m` and commits it (concluding it).
fn settle(m: &Machine) {
    let report = m.queue.doctor(true).expect("doctor --fix");
    assert!(report.clean, "{}: doctor left work: {report:#?}", m.name);
    commit(m, "settle");
    assert_eq!(
        git_ok(&m.dir, &["status", "--porcelain"]),
        "",
        "{}: tree not clean",
        m.name
    );
}

/// A worker's report of `what`, padded the way real results are long: a
/// finished file then looks too unlike its pending one for git to pair the
/// two as a rename, and a merge that moved the task differently on each
/// side goes through cleanly, leaving both sides' files for the settling.
fn long(what: &str) -> String {
    format!("{what}; {}", "the log of the work goes on. ".repeat(60))
}

/// A finish as the ledger keeps it: the task's id and the worker's note.
type Finish = (String, String);

/// What the workers were told, and what each clone has held since.
#[derive(Default)]
struct Ledger {
    enqueued: BTreeSet<String>,
    /// Every finish reported as recorded: (id, note), by the clone whose
    /// worker reported it.
    finished: BTreeMap<&'static str, BTreeSet<Finish>>,
    /// Claims each clone's workers hold: (id, token), as a worker keeps
    /// them (it does not look them up again).
    held: BTreeMap<&'static str, Vec<(String, String)>>,
    /// What each clone held at its last check: ids, and reported finishes.
    /// Nothing is purged here, so neither may ever go away.
    known: BTreeMap<&'static str, (BTreeSet<String>, BTreeSet<Finish>)>,
    /// Reports made while another finished copy of the task lay in the
    /// spool unsettled: the case this file is about.
    over_a_copy: usize,
}

impl Ledger {
    fn all_finishes(&self) -> BTreeSet<Finish> {
        self.finished.values().flatten().cloned().collect()
    }
}

/// The claim of `id` made to look long dead (as if its worker stopped
/// heartbeating); nothing if the claimed file is not there (any more).
fn age_claim(m: &Machine, id: &str) {
    let path = m.spool().join("streams/q/claimed").join(format!("{id}.json"));
    let Ok(bytes) = std::fs::read(&path) else {
        return;
    };
    let Ok(mut task) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return;
    };
    task["started_at"] = json!("2001-01-01T00:00:00Z");
    task["heartbeat_at"] = serde_json::Value::Null;
    std::fs::write(&path, serde_json::to_vec_pretty(&task).expect("json")).expect("age claim");
}

/// One random step of `m`'s workers: enqueue, claim, heartbeat, finish a
/// held claim, or let one die and sweep. Refused reports (a claim taken
/// back) are fine; accepted finishes go into the ledger.
/// In the `window` between a merge and its settling, mostly finishes.
fn step(m: &Machine, rng: &mut fastrand::Rng, ledger: &mut Ledger, round: usize, window: bool) {
    let held = ledger.held.entry(m.name).or_default();
    let pick = if window {
        [5, 6, 7, 4, 8, 2][rng.usize(..6)]
    } else {
        rng.usize(0..10)
    };
    match pick {
        0 => {
            let id = m.enqueue(&format!("{}-{round}", m.name));
            ledger.enqueued.insert(id);
        }
        1..=3 => {
            if let Ok(Some(c)) = m.queue.claim("q", m.name) {
                held.push((c.task.id.to_string(), c.task.claim_token.unwrap_or_default()));
            }
        }
        4 if !held.is_empty() => {
            let (id, token) = &held[rng.usize(..held.len())];
            let _ = m.queue.heartbeat(id, Some(token));
        }
        5..=7 if !held.is_empty() => {
            let finished_copy = |id: &str| {
                ["done", "failed"].iter().any(|f| {
                    m.spool()
                        .join("streams/q")
                        .join(f)
                        .join(format!("{id}.json"))
                        .exists()
                })
            };
            // Right after a pull, a worker whose task the other side
            // finished too is the case that matters: prefer it.
            let over = held.iter().position(|(id, _)| finished_copy(id));
            let at = over
                .filter(|_| window && rng.bool())
                .unwrap_or_else(|| rng.usize(..held.len()));
            let (id, token) = held.swap_remove(at);
            let report = Report {
                token: Some(token),
                ..Report::default()
            };
            ledger.over_a_copy += usize::from(finished_copy(&id));
            let mut note = format!("{} finished {id} in round {round}", m.name);
            if rng.bool() {
                note = long(&note);
            }
            let done = if rng.u8(..4) == 0 {
                m.queue.fail(&id, &note, report).is_ok()
            } else {
                m.queue.complete(&id, json!({"summary": note}), report).is_ok()
            };
            if done {
                ledger.finished.entry(m.name).or_default().insert((id, note));
            }
        }
        8 if !held.is_empty() => {
            // The worker dies: the claim is swept (re-queued or failed).
            let (id, _) = held.swap_remove(rng.usize(..held.len()));
            age_claim(m, &id);
            let _ = m.queue.sweep_dead("q");
        }
        _ => {}
    }
}

/// Checks `m` after a settling: each task is there exactly once, none it
/// held before is gone, and every finish its own workers reported, or that
/// it held before, is there, as a task's result or a kept conflict; then
/// remembers what it holds now. With `all`, every task and finish anywhere.
fn check(m: &Machine, ledger: &mut Ledger, all: bool, ctx: &str) {
    let tasks = m.tasks();
    let (known_ids, known_finishes) = ledger.known.get(m.name).cloned().unwrap_or_default();
    let own = ledger.finished.get(m.name).cloned().unwrap_or_default();
    let wanted_finishes: BTreeSet<Finish> = if all {
        ledger.all_finishes()
    } else {
        own.union(&known_finishes).cloned().collect()
    };
    let mut held = BTreeSet::new();
    for (id, note) in &wanted_finishes {
        let task = tasks
            .get(id)
            .unwrap_or_else(|| panic!("{ctx}: {id}, finished as {note:?}, is gone from {}", m.name));
        let have: BTreeSet<String> = finishes(task).into_iter().map(|f| f.3).collect();
        assert!(
            have.contains(note),
            "{ctx}: {} lost the finish {note:?} of {id}; it has {have:?}",
            m.name
        );
    }
    for (id, note) in ledger.all_finishes() {
        if tasks
            .get(&id)
            .is_some_and(|t| finishes(t).iter().any(|f| f.3 == note))
        {
            held.insert((id, note));
        }
    }
    let mut copies: BTreeMap<String, usize> = BTreeMap::new();
    for path in m.files().keys() {
        if let Some(id) = path
            .rsplit('/')
            .next()
            .and_then(|n| n.strip_suffix(".json"))
            .filter(|n| n.starts_with("tsk_"))
        {
            *copies.entry(id.to_owned()).or_default() += 1;
        }
    }
    let wanted_ids = if all { &ledger.enqueued } else { &known_ids };
    for id in wanted_ids {
        assert_eq!(
            copies.get(id),
            Some(&1),
            "{ctx}: {id} not there exactly once on {}",
            m.name
        );
    }
    for (id, n) in &copies {
        assert_eq!(*n, 1, "{ctx}: {id} is there {n} times on {}", m.name);
    }
    ledger.known.insert(m.name, (copies.into_keys().collect(), held));
}

/// The case `sync_live` met under load, step by step: both clones claim
/// one task; A's worker finishes and A pushes; B merges (cleanly: B's claim
/// and A's finish are different paths) and, before B settles, B's worker
/// finishes its rival claim. Both results must be kept.
#[test]
fn a_rival_finish_made_between_a_merge_and_its_settling_keeps_both_results() {
    for (a_fails, b_fails) in [(false, false), (true, true), (false, true)] {
        let root = tempfile::tempdir().expect("tmp");
        let m = clones(root.path(), &["A", "B"]);
        let (a, b) = (&m[0], &m[1]);
        let id = a.enqueue("shared");
        merge(b, a, &[]);
        settle(b);
        let (_, ta) = a.claim().expect("a claims");
        let (_, tb) = b.claim().expect("b claims");
        let finish = |m: &Machine, token: &str, fails: bool, note: &str| {
            if fails {
                m.fail(&id, token, note);
            } else {
                m.complete(&id, token, note);
            }
        };
        let (answer_a, answer_b) = (long("A's answer"), long("B's answer"));
        finish(a, &ta, a_fails, &answer_a);
        copy_in(b, a);
        finish(b, &tb, b_fails, &answer_b);
        settle(b);
        copy_in(a, b);
        settle(a);
        for m in [a, b] {
            let task = &m.tasks()[&id];
            let have: BTreeSet<String> = finishes(task).into_iter().map(|f| f.3).collect();
            assert_eq!(
                have,
                BTreeSet::from([answer_a.clone(), answer_b.clone()]),
                "{}: {task:#?}",
                m.name
            );
        }
    }
}

/// A claim of a re-queued attempt finishes between a merge and its
/// settling, while the merge brought in a late finish of the attempt before
/// into the same folder: the new finish wins and the late one is kept.
#[test]
fn a_finish_made_over_a_late_finish_the_merge_brought_keeps_the_late_one() {
    let root = tempfile::tempdir().expect("tmp");
    let m = clones(root.path(), &["A", "B"]);
    let (a, b) = (&m[0], &m[1]);
    let id = a.enqueue("slow");
    let (_, t1) = a.claim().expect("a claims");
    merge(b, a, &[]);
    settle(b);
    // B takes the dead claim back and runs attempt 2; A's worker finishes
    // attempt 1 late.
    b.let_claim_die(&id);
    let (_, t2) = b.claim().expect("b claims attempt 2");
    let (late, second) = (long("late answer"), long("second attempt"));
    a.complete(&id, &t1, &late);
    copy_in(b, a);
    b.complete(&id, &t2, &second);
    settle(b);
    let task = &b.tasks()[&id];
    assert_eq!((task.attempts, task.summary()), (2, Some(second.as_str())));
    let have: Vec<String> = finishes(task).into_iter().map(|f| f.3).collect();
    assert!(have.contains(&late), "{task:#?}");
}

/// Random work on two clones linked by `link`, with more work between
/// each pull and its settling; see the module doc.
fn random_work_in_the_window(link: Link, label: &str) {
    let root = tempfile::tempdir().expect("tmp");
    let machines = linked(root.path(), link);
    let mut rng = fastrand::Rng::with_seed(crate::sync_support::seed());
    let mut ledger = Ledger::default();
    let rounds = tier(40, 160);
    let mut conflicted = 0;
    for round in 0..rounds {
        for m in &machines {
            for _ in 0..rng.usize(2..8) {
                step(m, &mut rng, &mut ledger, round, false);
            }
        }
        let to = rng.usize(..machines.len());
        let from = (to + rng.usize(1..machines.len())) % machines.len();
        let (to, from) = (&machines[to], &machines[from]);
        conflicted += usize::from(pull(link, to, from, &mut rng));
        // The window: `to`'s workers go on before the pull is settled.
        for _ in 0..rng.usize(0..6) {
            step(to, &mut rng, &mut ledger, round, true);
        }
        conclude(link, to, from);
        let ctx = format!("{label} round {round}, {} after pulling {}", to.name, from.name);
        check(to, &mut ledger, false, &ctx);
    }
    // Quiet: everyone pulls from everyone until all agree.
    for _ in 0..3 {
        for (i, to) in machines.iter().enumerate() {
            for (j, from) in machines.iter().enumerate() {
                if i != j {
                    pull(link, to, from, &mut rng);
                    conclude(link, to, from);
                }
            }
        }
    }
    for m in &machines {
        if link == Link::Rsync {
            assert!(m.queue.doctor(true).expect("doctor").clean);
        }
        check(m, &mut ledger, true, &format!("{label}, after the quiet pulls"));
    }
    assert_eq!(
        machines[0].files(),
        machines[1].files(),
        "{label}: A and B disagree"
    );

    let finished = ledger.all_finishes().len();
    let conflicts: usize = machines[0]
        .tasks()
        .values()
        .map(|t| {
            t.conflicts
                .iter()
                .filter(|c| c.status != TaskStatus::Running)
                .count()
        })
        .sum();
    eprintln!(
        "sync-window {label}: {rounds} rounds, {} tasks, {finished} finishes reported ({} over an unsettled finished copy), {conflicted} merges stopped on conflicts, {conflicts} finishes kept as conflicts",
        ledger.enqueued.len(),
        ledger.over_a_copy,
    );
    assert!(finished > rounds / 2, "{label}: too few finishes: {finished}");
    assert!(
        conflicts > 0,
        "{label}: no finish was kept as a conflict; the run proves little"
    );
}

#[test]
fn random_work_between_git_merges_and_their_settling_loses_no_finish() {
    random_work_in_the_window(Link::Git, "git");
}

#[test]
fn random_work_between_rsync_pulls_and_their_settling_loses_no_finish() {
    random_work_in_the_window(Link::Rsync, "rsync");
}

/// Clones `A` and `B` of a bare remote, as `sparkq sync` uses them.
fn remote_clones(root: &Path) -> (Machine, Machine) {
    let remote = root.join("remote.git").display().to_string();
    git_ok(root, &["init", "-q", "--bare", "-b", "main", &remote]);
    let a = Machine::create("A", &root.join("A"));
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "-A"],
        &["commit", "-qm", "start"],
        &["remote", "add", "origin", &remote],
        &["push", "-q", "-u", "origin", "main"],
    ] {
        git_ok(&a.dir, args);
    }
    git_ok(root, &["clone", "-q", &remote, "B"]);
    let b = Machine::open("B", &root.join("B"));
    for m in [&a, &b] {
        git_ok(&m.dir, &["config", "user.name", "t"]);
        git_ok(&m.dir, &["config", "user.email", "t@example.com"]);
    }
    (a, b)
}

/// `sparkq sync` killed between staging the settled spool and committing
/// it leaves its merge in progress with the working tree's own files in
/// the index. A finish staged that way is the working tree's, not a blend
/// git made: the next sync must read it, not drop it. A git hook stands in
/// for the crash: once the merge's conflicts are staged, a worker finishes
/// its claim, the spool is staged again, and the sync is killed (-9).
#[test]
fn a_finish_staged_by_a_sync_killed_before_its_commit_survives_the_next_sync() {
    let root = tempfile::tempdir().expect("tmp");
    let (a, b) = remote_clones(root.path());
    let shared = a.enqueue("shared");
    let mine = a.enqueue("mine");
    a.sparkq(&["sync"]);
    b.sparkq(&["sync"]);
    let (_, sa) = a.claim().expect("a claims shared");
    let (_, sb) = b.claim().expect("b claims shared");
    let (claimed, tb) = b.claim().expect("b claims mine");
    assert_eq!(claimed, mine);
    // Both finish `shared` differently: B's merge stops on it.
    a.complete(&shared, &sa, "A's shared");
    b.complete(&shared, &sb, "B's shared");
    a.sparkq(&["sync"]);
    let flag = root.path().join("armed");
    std::fs::write(&flag, "").expect("arm");
    let result = json!({"summary": "finished while the sync settled"}).to_string();
    let hook = format!(
        "#!/bin/sh\n\
         # Once the merge's conflicts are staged (no unmerged path left)...\n\
         [ -f \"$(git rev-parse --git-path MERGE_HEAD)\" ] || exit 0\n\
         [ -z \"$(git ls-files -u)\" ] || exit 0\n\
         rm '{flag}' 2>/dev/null || exit 0\n\
         cd '{dir}'\n\
         # ...a worker finishes, its file is staged, and the sync dies.\n\
         '{bin}' complete {mine} --token {tb} --result '{result}' >/dev/null || exit 0\n\
         git add -A -- spool\n\
         kill -9 $(ps -o ppid= -p $PPID)\n",
        flag = flag.display(),
        dir = b.dir.display(),
        bin = crate::support::sparkq_bin(),
    );
    let hook_path = b.dir.join(".git/hooks/post-index-change");
    std::fs::write(&hook_path, hook).expect("hook");
    std::fs::set_permissions(&hook_path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let killed = crate::support::sparkq_command()
        .arg("sync")
        .current_dir(&b.dir)
        .env_remove("SPARKQ_CONFIG")
        .output()
        .expect("sync");
    assert!(!flag.exists(), "the hook never fired: {killed:?}");
    assert!(!killed.status.success(), "the sync was not killed: {killed:?}");
    std::fs::remove_file(&hook_path).expect("unhook");
    assert!(
        b.dir.join(".git/MERGE_HEAD").exists(),
        "the merge is left in progress"
    );
    let record = b.dir.join(".git/sparkq-merge-written");
    assert!(record.is_file(), "sync records what its merge wrote");
    b.sparkq(&["sync"]);
    assert!(
        !b.dir.join(".git/MERGE_HEAD").exists() && !record.exists(),
        "the merge is committed and its record removed with it"
    );
    a.sparkq(&["sync"]);
    for m in [&a, &b] {
        let task = &m.tasks()[&mine];
        let have: Vec<String> = finishes(task).into_iter().map(|f| f.3).collect();
        assert!(
            have.contains(&"finished while the sync settled".to_owned()),
            "{}: {task:#?}",
            m.name
        );
    }
}
