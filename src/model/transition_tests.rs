use std::time::Duration;

use serde_json::json;

use super::*;
use crate::model::Name;

fn at(secs: u64) -> Timestamp {
    Timestamp::parse("2026-01-01T00:00:00Z")
        .unwrap()
        .saturating_add(Duration::from_secs(secs))
}

fn queued(max_attempts: u32) -> Task {
    Task {
        id: TaskId::generate_at(at(0)),
        stream: Name::parse("a").unwrap(),
        session: Name::parse("s").unwrap(),
        tool_name: "run-bash".to_owned(),
        task_class: "default".to_owned(),
        payload: json!({}),
        status: TaskStatus::Queued,
        timeout: 60,
        attempts: 0,
        max_attempts,
        claimed_by: None,
        claim_token: None,
        result: None,
        error: None,
        stdout: None,
        stderr: None,
        created_at: at(0),
        updated_at: at(0),
        started_at: None,
        heartbeat_at: None,
        finished_at: None,
        history: Vec::new(),
        requeued_from: None,
        requeued_as: None,
        original: None,
        original_encoding: None,
        conflicts: Vec::new(),
    }
}

fn claimed(max_attempts: u32) -> Task {
    let mut task = queued(max_attempts);
    task.claim("w1", "t1".to_owned(), at(10));
    task
}

/// The fields a transition may change, to compare a task against a table row.
#[derive(Debug, PartialEq)]
struct Fields {
    status: TaskStatus,
    attempts: u32,
    claimed_by: Option<String>,
    token: Option<String>,
    started_at: Option<Timestamp>,
    heartbeat_at: Option<Timestamp>,
    finished_at: Option<Timestamp>,
    updated_at: Timestamp,
    result: Option<Value>,
    error: Option<String>,
    history: Vec<(u32, Option<String>, AttemptEnd, Option<String>)>,
}

fn fields(task: &Task) -> Fields {
    Fields {
        status: task.status,
        attempts: task.attempts,
        claimed_by: task.claimed_by.clone(),
        token: task.claim_token.clone(),
        started_at: task.started_at,
        heartbeat_at: task.heartbeat_at,
        finished_at: task.finished_at,
        updated_at: task.updated_at,
        result: task.result.clone(),
        error: task.error.clone(),
        history: task
            .history
            .iter()
            .map(|a| (a.attempt, a.worker.clone(), a.outcome, a.claim_token.clone()))
            .collect(),
    }
}

#[test]
fn each_transition_sets_exactly_the_fields_of_its_state() {
    let now = at(100);
    let cases: Vec<(&str, Task, Fields)> = vec![
        (
            "claim",
            claimed(3),
            Fields {
                status: TaskStatus::Running,
                attempts: 1,
                claimed_by: Some("w1".into()),
                token: Some("t1".into()),
                started_at: Some(at(10)),
                heartbeat_at: None,
                finished_at: None,
                updated_at: at(10),
                result: None,
                error: None,
                history: vec![],
            },
        ),
        (
            "heartbeat",
            {
                let mut t = claimed(3);
                t.heartbeat(now);
                t
            },
            Fields {
                status: TaskStatus::Running,
                attempts: 1,
                claimed_by: Some("w1".into()),
                token: Some("t1".into()),
                started_at: Some(at(10)),
                heartbeat_at: Some(now),
                finished_at: None,
                updated_at: now,
                result: None,
                error: None,
                history: vec![],
            },
        ),
        (
            "complete",
            {
                let mut t = claimed(3);
                t.finish(
                    Outcome::Succeeded {
                        result: json!({"summary": "ok"}),
                    },
                    Some("out".into()),
                    None,
                    now,
                );
                t
            },
            Fields {
                status: TaskStatus::Succeeded,
                attempts: 1,
                claimed_by: Some("w1".into()),
                token: Some("t1".into()),
                started_at: Some(at(10)),
                heartbeat_at: None,
                finished_at: Some(now),
                updated_at: now,
                result: Some(json!({"summary": "ok"})),
                error: None,
                history: vec![(1, Some("w1".into()), AttemptEnd::Succeeded, Some("t1".into()))],
            },
        ),
        (
            "fail",
            {
                let mut t = claimed(3);
                t.finish(
                    Outcome::Failed {
                        error: "broke".into(),
                    },
                    None,
                    Some("err".into()),
                    now,
                );
                t
            },
            Fields {
                status: TaskStatus::Failed,
                attempts: 1,
                claimed_by: Some("w1".into()),
                token: Some("t1".into()),
                started_at: Some(at(10)),
                heartbeat_at: None,
                finished_at: Some(now),
                updated_at: now,
                result: None,
                error: Some("broke".into()),
                history: vec![(1, Some("w1".into()), AttemptEnd::Failed, Some("t1".into()))],
            },
        ),
        (
            "take back with attempts left",
            {
                let mut t = claimed(2);
                t.take_back(now);
                t
            },
            Fields {
                status: TaskStatus::Queued,
                attempts: 1,
                claimed_by: None,
                token: None,
                started_at: None,
                heartbeat_at: None,
                finished_at: None,
                updated_at: now,
                result: None,
                error: None,
                history: vec![(1, Some("w1".into()), AttemptEnd::Requeued, Some("t1".into()))],
            },
        ),
        (
            "take back of the last attempt",
            {
                let mut t = claimed(1);
                t.take_back(now);
                t
            },
            Fields {
                status: TaskStatus::Failed,
                attempts: 1,
                claimed_by: Some("w1".into()),
                token: Some("t1".into()),
                started_at: Some(at(10)),
                heartbeat_at: None,
                finished_at: Some(now),
                updated_at: now,
                result: None,
                error: Some(auto_fail_message(60)),
                history: vec![(1, Some("w1".into()), AttemptEnd::AutoFailed, Some("t1".into()))],
            },
        ),
        (
            "claim after a take back",
            {
                let mut t = claimed(2);
                t.take_back(at(50));
                t.claim("w2", "t2".into(), now);
                t
            },
            Fields {
                status: TaskStatus::Running,
                attempts: 2,
                claimed_by: Some("w2".into()),
                token: Some("t2".into()),
                started_at: Some(now),
                heartbeat_at: None,
                finished_at: None,
                updated_at: now,
                result: None,
                error: None,
                history: vec![(1, Some("w1".into()), AttemptEnd::Requeued, Some("t1".into()))],
            },
        ),
    ];
    for (name, task, expected) in cases {
        assert_eq!(fields(&task), expected, "{name}");
    }
}

#[test]
fn take_back_says_whether_the_task_waits_again_or_failed() {
    for (max_attempts, expected) in [(2, AttemptEnd::Requeued), (1, AttemptEnd::AutoFailed)] {
        assert_eq!(claimed(max_attempts).take_back(at(100)), expected);
    }
}

#[test]
fn marking_a_requeue_keeps_the_copy_before_and_changes_nothing_else() {
    let mut task = claimed(1);
    task.finish(Outcome::Failed { error: "x".into() }, None, None, at(20));
    let before = task.clone();
    let (first, second) = (TaskId::generate_at(at(30)), TaskId::generate_at(at(40)));
    assert_eq!(task.mark_requeued_as(first.clone(), at(30)), None);
    assert_eq!(task.mark_requeued_as(second.clone(), at(40)), Some(first));
    assert_eq!(task.requeued_as, Some(second));
    assert_eq!(task.updated_at, at(40));
    task.requeued_as = None;
    task.updated_at = before.updated_at;
    assert_eq!(task, before);
}

#[test]
fn the_lattice_orders_every_step_of_a_life_after_the_one_before() {
    // Each copy a task leaves behind along one life, oldest first: each
    // must be newer than all before it, whatever folder status it names.
    let mut life: Vec<(Task, TaskStatus)> = Vec::new();
    let mut task = queued(3);
    life.push((task.clone(), TaskStatus::Queued));
    task.claim("w1", "t1".into(), at(10));
    life.push((task.clone(), TaskStatus::Running));
    task.take_back(at(20));
    life.push((task.clone(), TaskStatus::Queued));
    task.claim("w2", "t2".into(), at(30));
    life.push((task.clone(), TaskStatus::Running));
    task.finish(
        Outcome::Succeeded {
            result: json!({"summary": "ok"}),
        },
        None,
        None,
        at(40),
    );
    life.push((task.clone(), TaskStatus::Succeeded));
    let keys: Vec<(u32, Phase)> = life.iter().map(|(t, s)| t.lattice_key(*s)).collect();
    assert_eq!(
        keys,
        vec![
            (1, Phase::Queued),
            (1, Phase::Running),
            (2, Phase::Queued),
            (2, Phase::Running),
            (2, Phase::Finished),
        ]
    );
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{keys:?}");
    // A requeued attempt beats a late finish of the attempt before it.
    let mut late = claimed(3);
    late.finish(Outcome::Failed { error: "late".into() }, None, None, at(15));
    assert!(late.lattice_key(TaskStatus::Failed) < life[2].0.lattice_key(TaskStatus::Queued));
}

#[test]
fn the_phase_of_each_status() {
    let table = [
        (TaskStatus::Queued, Phase::Queued),
        (TaskStatus::Running, Phase::Running),
        (TaskStatus::Succeeded, Phase::Finished),
        (TaskStatus::Failed, Phase::Finished),
    ];
    for (status, phase) in table {
        assert_eq!(Phase::of(status), phase, "{status:?}");
    }
    assert!(Phase::Queued < Phase::Running && Phase::Running < Phase::Finished);
}
