//! Table-driven tests of the convergence rules: which copy wins, what is
//! recorded, and that the answer never depends on the order of the copies.

use serde_json::json;

use super::*;
use crate::model::{ConflictKind, Timestamp};

const Q: TaskStatus = TaskStatus::Queued;
const R: TaskStatus = TaskStatus::Running;
const S: TaskStatus = TaskStatus::Succeeded;
const F: TaskStatus = TaskStatus::Failed;

fn at(secs: u64) -> Timestamp {
    Timestamp::from_system(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000 + secs))
}

/// A copy of task `tsk_t` in `state` at `attempts`, claimed with `token`
/// (started at `t`, finished at `t + 1` when finished), with `note` as its
/// summary or error.
fn copy(state: TaskStatus, attempts: u32, token: &str, t: u64, note: &str) -> Candidate {
    let mut task: Task = serde_json::from_value(json!({
        "id": "tsk_t", "stream": "s", "session": "x", "tool_name": "run-bash",
        "task_class": "FAST_SCRIPT", "payload": {}, "status": state, "timeout": 30,
        "attempts": attempts, "max_attempts": 3,
        "created_at": at(0), "updated_at": at(t + 1),
    }))
    .expect("test task");
    if state != Q {
        task.claim_token = Some(token.to_owned());
        task.claimed_by = Some(format!("w-{token}"));
        task.started_at = Some(at(t));
    }
    match state {
        S => task.result = Some(json!({"summary": note})),
        F => task.error = Some(note.to_owned()),
        _ => {}
    }
    if state.is_finished() {
        task.finished_at = Some(at(t + 1));
    }
    Candidate { state, task }
}

fn kinds(r: &Resolution) -> Vec<ConflictKind> {
    r.task.conflicts.iter().map(|c| c.kind(&r.task)).collect()
}

/// (name, copies, index of the winner, state kept, conflict kinds recorded)
type Case = (&'static str, Vec<Candidate>, usize, TaskStatus, Vec<ConflictKind>);

#[test]
fn the_lattice_picks_the_winner_and_records_what_losers_carried() {
    use ConflictKind::*;
    let cases: Vec<Case> = vec![
        ("one copy", vec![copy(Q, 0, "", 0, "")], 0, Q, vec![]),
        (
            "claim beats the queued copy it came from",
            vec![copy(Q, 0, "", 0, ""), copy(R, 1, "a", 5, "")],
            1,
            R,
            vec![],
        ),
        (
            "finish beats its claim",
            vec![copy(R, 1, "a", 5, ""), copy(S, 1, "a", 5, "ok")],
            1,
            S,
            vec![],
        ),
        (
            "finish beats the queued copy",
            vec![copy(F, 1, "a", 5, "no"), copy(Q, 0, "", 0, "")],
            0,
            F,
            vec![],
        ),
        (
            "identical finishes are one",
            vec![copy(S, 1, "a", 5, "ok"), copy(S, 1, "a", 5, "ok")],
            1,
            S,
            vec![],
        ),
        (
            "done here, failed there: earlier finish wins, other kept",
            vec![copy(S, 1, "a", 7, "ok"), copy(F, 1, "b", 5, "no")],
            1,
            F,
            vec![DoubleFinish],
        ),
        (
            "done twice with different results",
            vec![copy(S, 1, "a", 5, "A"), copy(S, 1, "b", 6, "B")],
            0,
            S,
            vec![DoubleFinish],
        ),
        (
            "re-queued attempt beats a late finish, which is kept",
            vec![copy(S, 1, "a", 5, "late"), copy(Q, 1, "", 9, "")],
            1,
            Q,
            vec![LateFinish],
        ),
        (
            "second attempt's claim beats the first attempt's finish",
            vec![copy(R, 2, "c", 9, ""), copy(F, 1, "a", 5, "late")],
            0,
            R,
            vec![LateFinish],
        ),
        (
            "second attempt's finish beats the first's",
            vec![copy(S, 1, "a", 5, "one"), copy(S, 2, "c", 9, "two")],
            1,
            S,
            vec![LateFinish],
        ),
        (
            "two claims of one attempt: earlier wins, rival kept",
            vec![copy(R, 1, "b", 6, ""), copy(R, 1, "a", 5, "")],
            1,
            R,
            vec![RivalClaim],
        ),
        (
            "a rival claim that never finished is kept beside the finish",
            vec![copy(R, 1, "b", 6, ""), copy(S, 1, "a", 5, "ok")],
            1,
            S,
            vec![RivalClaim],
        ),
        (
            "an old claim loses to the re-queued copy silently",
            vec![copy(R, 1, "a", 5, ""), copy(Q, 1, "", 9, "")],
            1,
            Q,
            vec![],
        ),
    ];
    for (name, copies, winner, state, want) in cases {
        let r = converge(&copies).expect(name);
        assert_eq!((r.winner, r.state), (winner, state), "{name}");
        assert_eq!(kinds(&r), want, "{name}");
        assert_eq!(r.recorded.len(), want.len(), "{name}");
        assert_eq!(r.task.status, state, "{name}");
        // Any order of the copies settles to the same task.
        let mut reversed = copies.clone();
        reversed.reverse();
        assert_eq!(
            converge(&reversed).expect(name).task,
            r.task,
            "{name}: order matters"
        );
        // Settling the winner with any loser again records nothing new.
        for (i, c) in copies.iter().enumerate() {
            let again = converge(&[
                Candidate {
                    state,
                    task: r.task.clone(),
                },
                c.clone(),
            ])
            .expect(name);
            assert_eq!(again.task, r.task, "{name}: not idempotent with copy {i}");
        }
    }
}

#[test]
fn a_blend_without_finished_at_is_the_same_finish() {
    let done = copy(S, 1, "a", 5, "ok");
    let mut blend = done.clone();
    blend.task.finished_at = None;
    blend.task.heartbeat_at = Some(at(6));
    let r = converge(&[blend, done.clone()]).expect("settles");
    assert_eq!(r.winner, 1);
    assert!(r.task.conflicts.is_empty());
    assert_eq!(r.task, done.task);
}

#[test]
fn the_folder_wins_over_the_content() {
    let mut lagging = copy(R, 1, "a", 5, "");
    lagging.task.status = Q;
    let r = converge(std::slice::from_ref(&lagging)).expect("settles");
    assert_eq!(r.task.status, R);
    assert!(!r.rewrites(&[Candidate {
        state: R,
        task: r.task.clone()
    }]));
    assert!(r.rewrites(&[lagging]));
}

#[test]
fn conflicts_carried_by_any_copy_survive_and_are_never_doubled() {
    let a = copy(S, 1, "a", 5, "A");
    let b = copy(S, 1, "b", 6, "B");
    let c = copy(F, 1, "c", 7, "C");
    let ab = converge(&[a.clone(), b.clone()]).expect("ab").task;
    let bc = converge(&[b.clone(), c.clone()]).expect("bc").task;
    let all = converge(&[a, b, c]).expect("all").task;
    let mut merged = converge(&[Candidate { state: S, task: ab }, Candidate { state: S, task: bc }])
        .expect("merged")
        .task;
    // Settling in steps moves `updated_at` on once per step; all else agrees.
    merged.updated_at = all.updated_at;
    assert_eq!(merged, all);
    assert_eq!(all.conflicts.len(), 2);
    assert_eq!(all.claim_token.as_deref(), Some("a"));
}
