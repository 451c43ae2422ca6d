//! A simulated night of agent work for the web UI tests and screenshots:
//! task files written straight into a project's spool, with the times a
//! night would have given them (created, started and finished over the last
//! ~20 hours), across three streams. Written before the server starts, as a
//! synced spool would arrive.
//!
//! The mix is fixed (a small LCG, no clock-seeded randomness), so a test
//! can count what it expects from the returned [`Night`].

use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use sparkq::model::{TaskId, Timestamp};

use crate::support::Project;

/// The streams of the night, in the session `night`.
pub const STREAMS: [&str; 3] = ["auth", "docs", "billing"];

/// What was written: every task as its JSON.
pub struct Night {
    pub tasks: Vec<Value>,
}

impl Night {
    /// Tasks with `status` whose `finished_at` is at most `within` ago.
    pub fn finished_within(&self, status: &str, within: Duration) -> usize {
        let from = SystemTime::now() - within;
        self.tasks
            .iter()
            .filter(|t| t["status"] == status)
            .filter(|t| {
                t["finished_at"]
                    .as_str()
                    .and_then(|s| humantime::parse_rfc3339(s).ok())
                    .is_some_and(|at| at >= from)
            })
            .count()
    }

    /// The ids of the tasks with `status`.
    pub fn ids(&self, status: &str) -> Vec<String> {
        self.tasks
            .iter()
            .filter(|t| t["status"] == status)
            .map(|t| t["id"].as_str().expect("id").to_owned())
            .collect()
    }
}

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SCRIPTS: [&str; 6] = [
    "scripts/migrate_users.sh",
    "scripts/rebuild_index.py",
    "scripts/check_links.sh",
    "scripts/invoice_export.py",
    "scripts/rotate_keys.sh",
    "scripts/lint_docs.sh",
];
const PROMPTS: [&str; 6] = [
    "Refactor the session middleware to use the new token store",
    "Write the changelog entry for the billing API v2",
    "Review docs/auth.md for outdated examples",
    "Add retries to the invoice webhook handler",
    "Summarise the failing integration tests from last night",
    "Port the password reset flow to the new mailer",
];
const ERRORS: [&str; 5] = [
    "exit status 2: psql: could not connect to server: Connection refused",
    "Timed out after 300 s waiting for the model; nothing written to notes/plan.md",
    "tests failed: 3 of 118 (test_refund_partial, test_refund_zero, test_webhook_retry)",
    "ModuleNotFoundError: No module named 'stripe'",
    "Auto-failed: no heartbeat for 600 s (worker laptop:4242 gone?)",
];
const SUMMARIES: [&str; 5] = [
    "Migrated 1,204 users; 3 skipped (no email)",
    "Rebuilt the search index: 8,311 documents in 42 s",
    "All 57 links OK",
    "Wrote the changelog entry and opened a PR draft",
    "Refactored middleware; all 118 tests pass",
];

fn at(t: SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Writes `count` tasks spread over the last `hours` hours into a fresh
/// session `night` with the streams of [`STREAMS`]. About one in eight
/// fails; the last few, and those that would start or finish after now,
/// are still queued or running.
pub fn seed(p: &Project, count: usize, hours: u64) -> Night {
    p.sparkq([
        "session",
        "create",
        "night",
        "--description",
        "Overnight agent run",
    ])
    .success();
    for stream in STREAMS {
        let instructions =
            format!("Goal: keep {stream} healthy overnight. Done when: every task has a summary.");
        p.sparkq([
            "stream",
            "create",
            stream,
            "--session",
            "night",
            "--instructions",
            &instructions,
        ])
        .success();
    }
    let mut rng = Lcg(0x5eed);
    let now = SystemTime::now();
    let span = Duration::from_secs(hours * 3600);
    let start = now - span;
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        let created = start + span.mul_f64(i as f64 / count as f64);
        // Half the work in auth, a third in docs, the rest in billing.
        let stream = match rng.below(6) {
            0..=2 => STREAMS[0],
            3 | 4 => STREAMS[1],
            _ => STREAMS[2],
        };
        let (tool, payload) = if rng.below(2) == 0 {
            let script = SCRIPTS[rng.below(SCRIPTS.len() as u64) as usize];
            let tool = if script.ends_with(".py") {
                "run-python"
            } else {
                "run-bash"
            };
            (tool, json!({"script_path": script, "args": ["--env", "staging"]}))
        } else {
            let tool = ["llm-sonnet", "llm-haiku", "delegate-codex"][rng.below(3) as usize];
            let prompt = PROMPTS[rng.below(PROMPTS.len() as u64) as usize];
            (
                tool,
                json!({"prompt": format!("{prompt}\n\nContext: see the stream instructions."), "context_files": ["README.md"], "output_path": "notes/out.md"}),
            )
        };
        // Durations per tool: scripts take ms to a minute, models minutes.
        let ms = match tool {
            "run-bash" => 80 + rng.below(20_000),
            "run-python" => 900 + rng.below(60_000),
            "llm-haiku" => 4_000 + rng.below(40_000),
            "llm-sonnet" => 30_000 + rng.below(600_000),
            _ => 20_000 + rng.below(240_000),
        };
        // Up to 40 minutes in the queue: workers fall behind, so the queue
        // has depth at night. What would start or finish after now is still
        // queued or running; the last few always are.
        let wait = Duration::from_millis(200 + rng.below(2_400_000));
        let fails = rng.below(8) == 0;
        let left = count - i;
        let (start_at, finish_at) = (created + wait, created + wait + Duration::from_millis(ms));
        let status = if left <= 4 || start_at >= now {
            "queued"
        } else if left <= 7 || finish_at >= now {
            "running"
        } else if fails {
            "failed"
        } else {
            "succeeded"
        };
        let started = (status != "queued").then_some(start_at);
        let finished = matches!(status, "succeeded" | "failed").then_some(finish_at);
        let worker = format!(
            "{}:{}",
            ["laptop", "ci-runner", "desk"][rng.below(3) as usize],
            4000 + rng.below(900)
        );
        let id = TaskId::generate_at(Timestamp::from_system(created));
        let id = serde_json::to_value(&id).expect("id");
        let updated = finished.or(started).unwrap_or(created);
        let (result, error, stdout) = match status {
            "succeeded" => (
                json!({"summary": SUMMARIES[rng.below(SUMMARIES.len() as u64) as usize], "files_changed": rng.below(12)}),
                Value::Null,
                json!(format!("step 1 ok\nstep 2 ok\ndone in {ms} ms\n")),
            ),
            "failed" => (
                Value::Null,
                json!(ERRORS[rng.below(ERRORS.len() as u64) as usize]),
                json!("step 1 ok\nstep 2 FAILED\n"),
            ),
            _ => (Value::Null, Value::Null, Value::Null),
        };
        let attempts = u32::from(started.is_some()) + u32::from(status == "failed" && rng.below(3) == 0);
        let task = json!({
            "id": id,
            "stream": stream,
            "session": "night",
            "tool_name": tool,
            "task_class": match tool { "llm-sonnet" => "LLM_HEAVY", "llm-haiku" | "delegate-codex" => "LLM_LITE", _ => "MEDIUM_SCRIPT" },
            "payload": payload,
            "status": status,
            "timeout": 3600,
            "attempts": attempts,
            "max_attempts": 2,
            "claimed_by": if started.is_some() { json!(worker) } else { Value::Null },
            "claim_token": if started.is_some() { json!(format!("tok{i:06}")) } else { Value::Null },
            "result": result,
            "error": error,
            "stdout": stdout,
            "stderr": Value::Null,
            "created_at": at(created),
            "updated_at": at(updated),
            "started_at": started.map(at),
            "heartbeat_at": Value::Null,
            "finished_at": finished.map(at),
            "history": match (started, finished) {
                (Some(s), Some(f)) => json!([{"attempt": attempts, "worker": worker, "started_at": at(s), "ended_at": at(f), "outcome": status}]),
                _ => json!([]),
            },
        });
        write_task(p, &task);
        tasks.push(task);
    }
    Night { tasks }
}

/// Writes `task` into the state folder its status names, atomically.
pub fn write_task(p: &Project, task: &Value) {
    let state = match task["status"].as_str().expect("status") {
        "queued" => "pending",
        "running" => "claimed",
        "succeeded" => "done",
        _ => "failed",
    };
    let id = task["id"].as_str().expect("id");
    let dir = p.state_dir(task["stream"].as_str().expect("stream"), state);
    let temp = dir.join(format!(".{id}.seed.tmp"));
    std::fs::write(&temp, serde_json::to_string_pretty(task).expect("json")).expect("write task");
    std::fs::rename(&temp, dir.join(format!("{id}.json"))).expect("rename task");
}
