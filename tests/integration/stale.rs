//! Stale and dead claims (SPEC 4.6), and fencing of late reports.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::Project;

#[test]
fn stale_then_dead_claims_are_requeued_then_auto_failed() {
    let p = Project::with_stream("s");
    p.set_max_attempts(2);
    let id = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "s", "--timeout", "10"])
        .success()
        .stdout();
    let id = id.trim();
    let first = p.claim("s");
    p.age_claim("s", id, 15);
    let stale = p.sparkq(["tasks", "--stale", "--json"]).success().json();
    assert_eq!(stale["tasks"][0]["id"], id);
    assert!(p.sparkq(["tasks"]).success().stdout().contains("running (stale)"));

    p.age_claim("s", id, 25);
    let requeued = p.sparkq(["peek", "--stream", "s"]).success().json();
    assert_eq!(requeued["id"], id, "same id back in the queue");
    assert_eq!(requeued["attempts"], 1);
    assert_eq!(requeued["history"][0]["outcome"], "requeued");
    assert_eq!(requeued["history"][0]["worker"], "test");

    // The first worker's late report is refused: its claim was taken back.
    let token = first["claim_token"].as_str().unwrap();
    p.sparkq([
        "complete",
        id,
        "--token",
        token,
        "--result",
        r#"{"summary": "late"}"#,
    ])
    .fails_with("your claim was taken back at")
    .fails_with("the task is queued again");
    let second = p.claim("s");
    p.sparkq([
        "complete",
        id,
        "--token",
        token,
        "--result",
        r#"{"summary": "late"}"#,
    ])
    .fails_with("the task was claimed again by test at");

    p.age_claim("s", id, 25);
    p.sparkq(["tasks"]).success();
    let failed = p.sparkq(["task", id, "--json"]).success().json();
    assert_eq!(failed["status"], "failed");
    assert_eq!(
        failed["error"],
        "Auto-failed: task exceeded 2x timeout (10s) with no complete/fail reported. Likely worker crash or disconnect."
    );
    assert_eq!(failed["attempts"], 2);
    assert_eq!(failed["history"][1]["outcome"], "auto_failed");
    let token = second["claim_token"].as_str().unwrap();
    p.sparkq(["fail", id, "--token", token, "--error", "late"])
        .fails_with("the task was auto-failed");
}

#[test]
fn heartbeat_keeps_a_long_task_alive() {
    let p = Project::with_stream("s");
    let id = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "s", "--timeout", "10"])
        .success()
        .stdout();
    let id = id.trim();
    let token = p.claim("s")["claim_token"].as_str().unwrap().to_owned();
    p.age_claim("s", id, 25);
    p.sparkq(["heartbeat", id, "--token", &token]).success();
    p.sparkq(["tasks"]).success();
    assert_eq!(p.files("s", "claimed"), [format!("{id}.json")]);
    assert!(
        p.sparkq(["tasks", "--stale", "--json"]).success().json()["tasks"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn requeue_makes_a_new_task_and_keeps_the_old() {
    let p = Project::with_stream("s");
    let id = p.enqueue("s", r#"{"script_path": "a.sh"}"#);
    p.claim("s");
    p.sparkq(["fail", &id, "--error", "boom", "--stderr", "trace"])
        .success();
    let new_id = p.sparkq(["requeue", &id]).success().stdout().trim().to_owned();
    assert_ne!(new_id, id);
    let new = p.sparkq(["task", &new_id, "--json"]).success().json();
    assert_eq!(
        (new["status"].as_str(), new["payload"]["script_path"].as_str()),
        (Some("queued"), Some("a.sh"))
    );
    assert_eq!(
        p.sparkq(["task", &id, "--json"]).success().json()["stderr"],
        "trace"
    );
}

#[test]
fn purge_removes_only_old_finished_tasks() {
    let p = Project::with_stream("s");
    let done = p.enqueue("s", "{}");
    let queued = p.enqueue("s", "{}");
    let _ = queued;
    p.claim("s");
    p.sparkq(["complete", &done, "--result", r#"{"summary": "x"}"#])
        .success();
    let report = p
        .sparkq(["purge", "--older-than", "1h", "--json"])
        .success()
        .json();
    assert_eq!(report["removed"], serde_json::json!([]));
    let report = p
        .sparkq(["purge", "--older-than", "0s", "--json"])
        .success()
        .json();
    assert_eq!(report["removed"], serde_json::json!([done]));
    assert_eq!(p.files("s", "pending").len(), 1);
}

#[test]
fn by_default_a_dead_claim_fails_the_task_at_once() {
    let p = Project::with_stream("s");
    let id = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "s", "--timeout", "10"])
        .success()
        .stdout();
    let id = id.trim();
    p.claim("s");
    p.age_claim("s", id, 25);
    assert_eq!(p.sparkq(["peek", "--stream", "s"]).success().stdout(), "");
    let task = p.sparkq(["task", id, "--json"]).success().json();
    assert_eq!(task["status"], "failed");
    assert_eq!(task["attempts"], 1);
    assert_eq!(task["max_attempts"], 1);
    assert_eq!(task["history"][0]["outcome"], "auto_failed");
    assert_eq!(
        task["error"],
        "Auto-failed: task exceeded 2x timeout (10s) with no complete/fail reported. Likely worker crash or disconnect."
    );
}

#[test]
fn dead_claims_of_ended_streams_and_sessions_are_still_swept() {
    let p = Project::with_stream("s");
    p.sparkq(["session", "create", "s2"]).success();
    p.sparkq(["stream", "create", "t", "--session", "s2"]).success();
    let mut running = Vec::new();
    for stream in ["s", "t"] {
        let id = p
            .sparkq(["enqueue", "run-bash", "{}", "--stream", stream, "--timeout", "10"])
            .success()
            .stdout();
        p.claim(stream);
        running.push(id.trim().to_owned());
    }
    p.sparkq(["stream", "end", "s"]).success();
    p.sparkq(["session", "end", "s2"]).success();
    let path = |stream: &str, id: &str| p.state_dir(stream, "claimed").join(format!("{id}.json"));
    for (stream, id) in [("s", &running[0]), ("t", &running[1])] {
        let mut task: Value = serde_json::from_slice(&std::fs::read(path(stream, id)).unwrap()).unwrap();
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(25);
        task["started_at"] = humantime::format_rfc3339_micros(past).to_string().into();
        std::fs::write(path(stream, id), serde_json::to_vec_pretty(&task).unwrap()).unwrap();
    }
    p.sparkq(["tasks"]).success();
    for id in &running {
        let task = p.sparkq(["task", id, "--json"]).success().json();
        assert_eq!(task["status"], "failed", "{task}");
        assert!(
            task["error"].as_str().unwrap().starts_with("Auto-failed"),
            "{task}"
        );
    }
}

/// With many claims running, a one-shot command reads only the claims that
/// changed since the last one-shot look (see `queue::sweep_hint`); a claim
/// whose worker went quiet is still taken back by the next look, and so is
/// one an outside tool rewrote. A hint file that is damaged changes nothing.
#[test]
fn one_shot_looks_take_back_dead_claims_among_many_running() {
    let p = Project::with_stream("s");
    p.set_max_attempts(3);
    let batch: String = (0..40)
        .map(|i| format!("{{\"tool_name\": \"run-bash\", \"payload\": {{\"n\": {i}}}, \"timeout\": 100}}\n"))
        .collect();
    p.sparkq_stdin(["enqueue", "--stream", "s", "--batch", "-"], &batch)
        .success();
    let ids: Vec<String> = (0..30)
        .map(|_| p.claim("s")["id"].as_str().unwrap().to_owned())
        .collect();
    let hints = || -> Vec<PathBuf> {
        walkdir::WalkDir::new(p.runtime_base())
            .into_iter()
            .map(|e| e.unwrap().into_path())
            .filter(|path| path.extension().is_some_and(|x| x == "claims"))
            .collect()
    };
    assert_eq!(
        hints().len(),
        1,
        "the one-shot claims keep a hint in the runtime folder"
    );

    // Three workers go quiet (their claims now look 250 s old, past twice
    // the timeout); the next one-shot look a second after the last listing
    // of claimed/ takes back exactly those. (Within that second a look
    // trusts the listing: only an outside edit like this one, not time,
    // can kill a claim that soon.)
    let quiet = [&ids[3], &ids[17], &ids[29]];
    for id in quiet {
        p.age_claim("s", id, 250);
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    p.sparkq(["peek", "--stream", "s"]).success();
    let pending = p.files("s", "pending");
    let claimed = p.files("s", "claimed");
    for id in &ids {
        let file = format!("{id}.json");
        let back = quiet.contains(&id);
        assert_eq!(pending.contains(&file), back, "{id} queued again: {back}");
        assert_eq!(claimed.contains(&file), !back, "{id} still claimed: {}", !back);
    }

    // A damaged hint is no hint: the look reads every claim.
    for hint in hints() {
        std::fs::write(&hint, "sparkq-claims 2\n12 34 56 78 tsk_x\nend 1\n").unwrap();
    }
    p.age_claim("s", &ids[8], 250);
    p.sparkq(["tasks"]).success();
    assert!(p.files("s", "pending").contains(&format!("{}.json", ids[8])));
    assert_eq!(p.files("s", "claimed").len(), 26);
}
