//! Numbers at every door (issue 9, item 1): a value past its ceiling is
//! refused with the ceiling named, and a number written into a task file by
//! hand, however absurd, never panics or hangs a reader.

use std::time::Duration;

use serde_json::{Value, json};
use sparkq::model::TaskId;

use crate::support::Project;

/// How long any one command may take before it counts as hung.
const HUNG_AFTER: Duration = Duration::from_secs(30);

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// Rewrites the JSON task file at `path` with `edit`.
fn edit_task(path: &std::path::Path, edit: impl FnOnce(&mut Value)) {
    let mut task: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    edit(&mut task);
    std::fs::write(path, serde_json::to_vec_pretty(&task).unwrap()).unwrap();
}

#[test]
fn a_huge_timeout_written_by_hand_does_not_wedge_the_stream() {
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    p.claim("a");
    edit_task(&p.state_dir("a", "claimed").join(format!("{id}.json")), |t| {
        t["timeout"] = json!(u64::MAX);
        t["attempts"] = json!(u32::MAX);
    });
    p.enqueue("a", "{}");
    for command in [
        &["status"][..],
        &["stream", "list"],
        &["tasks"],
        &["tasks", "--stale"],
        &["peek", "--stream", "a"],
        &["claim", "--stream", "a"],
        &["doctor"],
    ] {
        p.sparkq(command).success();
    }
    let shown = p.sparkq(["task", &id]).success().stdout();
    assert!(shown.contains(&u64::MAX.to_string()), "{shown}");
}

#[test]
fn every_door_refuses_a_timeout_past_the_ceiling_and_names_it() {
    let p = Project::with_stream("a");
    let ceiling = "2592000 seconds (30 days)";
    let before = p.snapshot();
    for flag in ["18446744073709551615", "2592001"] {
        p.sparkq(["enqueue", "run-bash", "{}", "--stream", "a", "--timeout", flag])
            .fails_with(&format!(
                "timeout is not valid: {flag} seconds is over the ceiling of {ceiling}"
            ));
    }
    for flag in ["-1", "1e9", "18446744073709551616"] {
        let flag = format!("--timeout={flag}");
        let run = p
            .sparkq(["enqueue", "run-bash", "{}", "--stream", "a", &flag])
            .code(2);
        assert!(run.stderr().contains("--timeout"), "{}", run.stderr());
    }
    let batch = p.write(
        "plan.jsonl",
        "{\"tool_name\": \"run-bash\", \"payload\": {}}\n{\"tool_name\": \"run-bash\", \"payload\": {}, \"timeout\": 18446744073709551615}\n",
    );
    p.sparkq(["enqueue", "--stream", "a", "--batch", batch.to_str().unwrap()])
        .fails_with(&format!(
            "line 2: timeout is not valid: 18446744073709551615 seconds is over the ceiling of {ceiling}"
        ));
    p.sparkq(["claim", "--stream", "a", "--wait", "43201"]).code(2);
    std::fs::remove_file(batch).unwrap();
    assert_eq!(before, p.snapshot(), "a refused number changed the spool");

    // A dropped file cannot be refused at the door: it fails with the reason.
    let drop = p.state_dir("a", "pending").join("huge.json");
    std::fs::write(
        &drop,
        r#"{"tool_name": "run-bash", "payload": {}, "timeout": 18446744073709551615}"#,
    )
    .unwrap();
    let old = std::time::SystemTime::now() - Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(&drop)
        .unwrap()
        .set_modified(old)
        .unwrap();
    p.sparkq(["peek", "--stream", "a"]).success();
    let failed = p
        .sparkq(["tasks", "--status", "failed", "--json"])
        .success()
        .json();
    let error = failed["tasks"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains(&format!("over the ceiling of {ceiling}")),
        "{failed}"
    );
}

#[tokio::test]
async fn the_api_refuses_a_timeout_past_the_ceiling_and_reads_one_written_by_hand() {
    let api = crate::http_support::Api::new();
    let body = json!({"stream": "auth", "tool_name": "run-bash", "payload": {}, "timeout": u64::MAX});
    let reply = api.post("/api/tasks", &body.to_string()).await;
    assert_eq!(
        reply.status,
        axum::http::StatusCode::BAD_REQUEST,
        "{}",
        reply.text
    );
    let message = reply.json["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("over the ceiling of 2592000 seconds (30 days)"),
        "{message}"
    );
    // A huge timeout written by hand does not make the API answer 500.
    let id = api.enqueue("{}").await;
    api.claim().await;
    edit_task(
        &api.project
            .state_dir("auth", "claimed")
            .join(format!("{id}.json")),
        |t| {
            t["timeout"] = json!(u64::MAX);
        },
    );
    for path in [
        "/api/status",
        "/api/streams",
        "/api/tasks",
        "/api/streams/auth/peek",
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, axum::http::StatusCode::OK, "{path}: {}", reply.text);
    }
}

/// A value of some JSON type for a numeric field, as raw JSON text.
fn random_number(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..9) {
        0 => u64::MAX.to_string(),
        1 => i64::MIN.to_string(),
        2 => rng.u64(..).to_string(),
        3 => rng.i64(..).to_string(),
        4 => format!("{:e}", rng.f64() * 1e308),
        5 => "-0.5".to_owned(),
        6 => "123456789012345678901234567890".to_owned(),
        7 => rng.u32(..).to_string(),
        _ => rng.u8(..).to_string(),
    }
}

/// A random numeric flag value, as a user might type it.
fn random_flag(rng: &mut fastrand::Rng) -> String {
    match rng.u8(..6) {
        0 => u64::MAX.to_string(),
        1 => format!("-{}", rng.u32(..)),
        2 => rng.u64(..).to_string(),
        3 => "99999999999999999999999".to_owned(),
        4 => format!("{}", rng.f64() * 10.0),
        _ => rng.u16(..).to_string(),
    }
}

#[test]
fn random_numbers_in_task_files_and_flags_never_panic_or_hang() {
    let seed = fastrand::u64(..);
    eprintln!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let p = Project::with_stream("a");
    let id = p.enqueue("a", "{}");
    p.claim("a");
    let template: Value = serde_json::from_slice(
        &std::fs::read(p.state_dir("a", "claimed").join(format!("{id}.json"))).unwrap(),
    )
    .unwrap();
    let history = json!([{"attempt": 1, "worker": "w", "started_at": template["created_at"], "ended_at": template["created_at"], "outcome": "requeued"}]);
    for round in 0..24 {
        // A hand-written task in each folder in turn, every number random.
        let folder = ["pending", "claimed", "done", "failed"][round % 4];
        let mut task = template.clone();
        let new_id = TaskId::generate().to_string();
        task["id"] = json!(new_id);
        task["history"] = history.clone();
        task["conflicts"] = json!([{"attempt": 1, "status": "succeeded", "result": {"summary": "x"}}]);
        let mut text = serde_json::to_string_pretty(&task).unwrap();
        // Half the files hold only numbers their fields can hold, at the
        // extremes, so that they are read and computed with; the other
        // half anything at all, so that they are refused without harm.
        let readable = round % 8 < 4;
        for (field, max) in [
            ("\"timeout\"", u64::MAX),
            ("\"attempts\"", u64::from(u32::MAX)),
            ("\"max_attempts\"", u64::from(u32::MAX)),
            ("\"attempt\"", u64::from(u32::MAX)),
        ] {
            text = replace_numbers(&text, field, || {
                if readable {
                    [0, 1, max, rng.u64(..=max)][rng.usize(..4)].to_string()
                } else {
                    random_number(&mut rng)
                }
            });
        }
        std::fs::write(p.state_dir("a", folder).join(format!("{new_id}.json")), &text).unwrap();
        // And a dropped file with a random timeout.
        let drop = format!(
            "{{\"tool_name\": \"run-bash\", \"payload\": {{}}, \"timeout\": {}}}",
            random_number(&mut rng)
        );
        std::fs::write(
            p.state_dir("a", "pending").join(format!("drop{round}.json")),
            drop,
        )
        .unwrap();

        p.enqueue("a", "{}");
        let flag = random_flag(&mut rng);
        for command in [
            args(&["status"]),
            args(&["stream", "list"]),
            args(&["tasks", "--json", "--limit", &flag]),
            args(&["tasks", "--stale"]),
            args(&["peek", "--stream", "a"]),
            args(&["enqueue", "run-bash", "{}", "--stream", "a", "--timeout", &flag]),
            args(&["claim", "--stream", "a", "--wait", &flag]),
            args(&["claim", "--stream", "a"]),
            args(&["purge", "--older-than", &format!("{flag}d")]),
            args(&["doctor"]),
            args(&["task", &new_id]),
        ] {
            p.bounded(&command, HUNG_AFTER);
        }
    }
}

/// `text` with the number after every `field:` replaced by `number()`.
fn replace_numbers(text: &str, field: &str, mut number: impl FnMut() -> String) -> String {
    let key = format!("{field}: ");
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find(&key) {
        let start = at + key.len();
        let end = rest[start..]
            .find([',', '\n', '}'])
            .map_or(rest.len(), |n| start + n);
        out.push_str(&rest[..start]);
        out.push_str(&number());
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Ages and intervals: a number too large for any
/// duration and a representable one past the ceiling are one case at every
/// door. `--since`/`until` take either as "since 1970" (everything); the
/// flags and the config with a ceiling refuse both with its words.
#[test]
fn huge_ages_and_intervals_behave_the_same_at_every_door() {
    let p = Project::with_stream("a");
    let huge = ["99999999999999999h", "18446744073709551615s", "1000000d"];
    for age in huge {
        let report = p.sparkq(["tasks", "--since", age, "--json"]).success().json();
        assert_eq!(report["since"], "1970-01-01T00:00:00.000000Z", "{age}");
        let listing = p.sparkq(["tasks", "--until", age, "--json"]).success().json();
        assert_eq!(
            listing["tasks"],
            json!([]),
            "{age}: nothing was updated before 1970"
        );
        // Flag values clap refuses: usage errors, exit 2.
        let purge = p.sparkq(["purge", "--older-than", age]).code(2).stderr();
        assert!(
            purge.contains("is too large: give an age of at most 36500 days (100 years)"),
            "{purge}"
        );
        let sync = p.sparkq(["sync", "--every", age]).code(2).stderr();
        assert!(
            sync.contains("is too long; sync at least once a day (at most 24h)"),
            "{sync}"
        );
    }
    let server = crate::server_support::Server::start(&p);
    for age in huge {
        let (status, body) = server.get(&format!("/api/since?since={age}"));
        assert_eq!(
            (status, &body["since"]),
            (200, &json!("1970-01-01T00:00:00.000000Z")),
            "{age}: {body}"
        );
    }
    drop(server);
    let config = p.path().join("sparkq.yml");
    let text = std::fs::read_to_string(&config).unwrap();
    for every in ["99999999999999999h", "18446744073709551615s", "25h"] {
        std::fs::write(&config, format!("{text}\nsync:\n  every: {every}\n")).unwrap();
        p.sparkq(["status"]).fails_with(&format!(
            "sync.every: '{every}' is too long; sync at least once a day (at most 24h)"
        ));
    }
    std::fs::write(&config, text).unwrap();
}

/// Random ages and intervals, huge, negative, fractional, unicode and
/// empty, at the CLI doors: each is taken, or refused with a message
/// saying what to give; never a panic or a hang.
#[test]
fn random_ages_and_intervals_are_taken_or_refused_clearly() {
    let seed = fastrand::u64(..);
    eprintln!("seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let p = Project::with_stream("a");
    let numbers = [
        "",
        "0",
        "-5",
        "1.5",
        "18446744073709551615",
        "99999999999999999999",
        "٣",
        "1e9",
    ];
    let units = ["", "s", "h", "d", "y", "weeks", "é", " ", "ms"];
    for _ in 0..tier_rounds() {
        let mut text = String::new();
        for _ in 0..rng.usize(1..3) {
            text.push_str(numbers[rng.usize(..numbers.len())]);
            text.push_str(units[rng.usize(..units.len())]);
        }
        for flag in ["--since", "--until"] {
            let out = p.bounded(
                ["tasks".to_owned(), format!("{flag}={text}"), "--json".to_owned()],
                HUNG_AFTER,
            );
            said_clearly(&out, &text, &["neither a time nor an age", "is after until"]);
        }
        let out = p.bounded(["purge".to_owned(), format!("--older-than={text}")], HUNG_AFTER);
        said_clearly(
            &out,
            &text,
            &["is not an age", "is too large: give an age of at most"],
        );
        let out = p.bounded(
            [
                "sync".to_owned(),
                "--dry-run".to_owned(),
                format!("--every={text}"),
            ],
            HUNG_AFTER,
        );
        said_clearly(
            &out,
            &text,
            &[
                "is not an interval",
                "is too long; sync at least once a day",
                "is too short",
                "--dry-run makes one round",
                "not in a git work tree",
            ],
        );
    }
}

fn tier_rounds() -> usize {
    crate::support::tier(12, 60)
}

/// A command's outcome: success, or a refusal that says one of `words`;
/// never a panic.
fn said_clearly(out: &std::process::Output, given: &str, words: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{given:?}: {err}");
    assert!(
        out.status.success() || words.iter().any(|w| err.contains(w)),
        "{given:?} refused without saying why: {err}"
    );
}
