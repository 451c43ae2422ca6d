//! Index holders against one-shot callers: the server (HTTP claims), a
//! watcher and `sparkq mcp` keep in-memory indexes of the spool (see
//! `queue::index`), while one-shot `sparkq claim` processes read the
//! folders, an enqueuer adds batches and files are dropped straight into
//! `pending/`, all at once. Every task must be handed out exactly once, and
//! each claimer must get the enqueued tasks in FIFO order.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt, service::RunningService};
use serde_json::{Value, json};

use crate::server_support::Server;
use crate::support::{Project, tier};

/// Enqueued in batches of this many.
const BATCH: usize = 25;
/// The whole race gives up after this long (a hang guard: the test fails
/// saying what was still missing, it does not time anything).
const GIVE_UP: Duration = Duration::from_secs(300);

/// One claim: who made it, the task id, and its payload.
type Claim = (String, String, Value);

struct Race {
    project: Project,
    claims: Mutex<Vec<Claim>>,
    expected: usize,
    started: Instant,
    failed: AtomicBool,
}

impl Race {
    fn record(&self, claimer: &str, task: &Value) {
        let id = task["id"].as_str().expect("a claim has an id").to_owned();
        assert_eq!(task["claimed_by"], claimer, "claimed for its claimer");
        self.claims
            .lock()
            .unwrap()
            .push((claimer.to_owned(), id, task["payload"].clone()));
    }

    /// Whether claimers should go on: not everything is claimed yet.
    fn goes_on(&self) -> bool {
        if self.started.elapsed() > GIVE_UP {
            self.failed.store(true, Ordering::Relaxed);
            return false;
        }
        self.claims.lock().unwrap().len() < self.expected
    }
}

/// A one-shot CLI claimer: `sparkq claim`, then `sparkq complete`.
fn cli_claimer(race: &Race, name: &str) {
    while race.goes_on() {
        let run = race
            .project
            .sparkq(["claim", "--stream", "race", "--worker", name])
            .success();
        if run.stdout().is_empty() {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        let task = run.json();
        race.record(name, &task);
        let (id, token) = (
            task["id"].as_str().unwrap(),
            task["claim_token"].as_str().unwrap(),
        );
        race.project
            .sparkq([
                "complete",
                id,
                "--token",
                token,
                "--result",
                r#"{"summary": "cli"}"#,
            ])
            .success();
    }
}

/// An HTTP claimer of the server.
fn http_claimer(race: &Race, server: &Server, name: &str) {
    let claim = json!({ "worker": name }).to_string();
    while race.goes_on() {
        let (status, body) = server.post("/api/streams/race/claim", &claim);
        assert_eq!(status, 200, "claim: {body}");
        let task = &body["task"];
        if task.is_null() {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        }
        race.record(name, task);
        let id = task["id"].as_str().unwrap();
        let done = json!({"token": task["claim_token"], "result": {"summary": "http"}}).to_string();
        let (status, body) = server.post(&format!("/api/tasks/{id}/complete"), &done);
        assert_eq!(status, 200, "complete: {body}");
    }
}

/// Calls an MCP tool and parses its JSON answer.
async fn mcp_call(client: &RunningService<RoleClient, ()>, tool: &'static str, args: Value) -> Value {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    let result = client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .expect("tools/call");
    let text = &result.content[0].as_text().expect("text content").text;
    assert_eq!(result.is_error, Some(false), "{tool}: {text}");
    serde_json::from_str(text).expect("JSON answer")
}

/// The MCP claimer: `sparkq mcp`, which keeps an index across calls.
async fn mcp_claimer(race: Arc<Race>) {
    let mut cmd = tokio::process::Command::from(crate::support::sparkq_command());
    cmd.arg("mcp")
        .current_dir(race.project.path())
        .env_remove("SPARKQ_CONFIG");
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sparkq mcp");
    let client = ().serve(transport).await.expect("initialize");
    while race.goes_on() {
        let task = mcp_call(&client, "claim_task", json!({"stream": "race", "worker": "mcp"})).await;
        if task.is_null() {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        }
        race.record("mcp", &task);
        let done = json!({"id": task["id"], "token": task["claim_token"], "result": {"summary": "mcp"}});
        mcp_call(&client, "complete_task", done).await;
    }
    client.cancel().await.expect("close");
}

/// Enqueues `tasks` tasks in batches, payload `{"n": i}`.
fn enqueuer(race: &Race, tasks: usize) {
    for start in (0..tasks).step_by(BATCH) {
        let batch: String = (start..tasks.min(start + BATCH))
            .map(|i| format!("{{\"tool_name\": \"run-bash-fast\", \"payload\": {{\"n\": {i}}}}}\n"))
            .collect();
        race.project
            .sparkq_stdin(["enqueue", "--stream", "race", "--batch", "-"], &batch)
            .success();
    }
}

/// Drops `drops` files into `pending/` by hand, payload `{"drop": k}`; each
/// is written under a temp name, dated a minute back (settled), and renamed
/// into place, as a tool that writes safely would.
fn dropper(race: &Race, drops: usize) {
    let pending = race.project.state_dir("race", "pending");
    for k in 0..drops {
        let temp = pending.join(format!(".drop-{k}.tmp"));
        let text = format!("{{\"tool_name\": \"run-bash-fast\", \"payload\": {{\"drop\": {k}}}}}");
        std::fs::write(&temp, text).unwrap();
        let file = std::fs::File::options().write(true).open(&temp).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(60))
            .unwrap();
        drop(file);
        std::fs::rename(&temp, pending.join(format!("drop-{k}.json"))).unwrap();
        std::thread::sleep(Duration::from_millis(3));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_holders_and_one_shot_claimers_share_every_task_once_in_fifo_order() {
    let tasks = tier(300, 3000);
    let drops = tier(30, 200);
    let project = Project::with_stream("race");
    let server = Arc::new(Server::start(&project));
    let mut watcher = project
        .command(["watch", "--stream", "race"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn sparkq watch");
    let race = Arc::new(Race {
        project,
        claims: Mutex::new(Vec::new()),
        expected: tasks + drops,
        started: Instant::now(),
        failed: AtomicBool::new(false),
    });

    let mut threads = Vec::new();
    for name in ["cli-1", "cli-2"] {
        let race = race.clone();
        threads.push(std::thread::spawn(move || cli_claimer(&race, name)));
    }
    for name in ["http-1", "http-2"] {
        let (race, server) = (race.clone(), server.clone());
        threads.push(std::thread::spawn(move || http_claimer(&race, &server, name)));
    }
    {
        let race = race.clone();
        threads.push(std::thread::spawn(move || enqueuer(&race, tasks)));
    }
    {
        let race = race.clone();
        threads.push(std::thread::spawn(move || dropper(&race, drops)));
    }
    mcp_claimer(race.clone()).await;
    for thread in threads {
        thread.join().expect("a racer panicked");
    }
    let _ = watcher.kill();
    let _ = watcher.wait();

    let claims = race.claims.lock().unwrap().clone();
    let mut by_claimer: BTreeMap<&str, Vec<&Claim>> = BTreeMap::new();
    for claim in &claims {
        by_claimer.entry(&claim.0).or_default().push(claim);
    }
    let counts: Vec<String> = by_claimer
        .iter()
        .map(|(who, mine)| format!("{who} {}", mine.len()))
        .collect();
    eprintln!("claims: {}", counts.join(", "));
    assert!(
        !race.failed.load(Ordering::Relaxed),
        "gave up after {GIVE_UP:?} with {} of {} tasks claimed",
        claims.len(),
        race.expected
    );

    // Exactly once: every id once, every enqueued and dropped task once.
    let mut ids: Vec<&str> = claims.iter().map(|c| c.1.as_str()).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(ids.len(), before, "a task was handed out twice");
    let mut ns: Vec<u64> = claims.iter().filter_map(|c| c.2["n"].as_u64()).collect();
    ns.sort_unstable();
    assert_eq!(
        ns,
        (0..tasks as u64).collect::<Vec<_>>(),
        "every enqueued task once"
    );
    let mut ks: Vec<u64> = claims.iter().filter_map(|c| c.2["drop"].as_u64()).collect();
    ks.sort_unstable();
    assert_eq!(
        ks,
        (0..drops as u64).collect::<Vec<_>>(),
        "every dropped file once"
    );
    let project = &race.project;
    assert_eq!(project.files("race", "done").len(), tasks + drops);
    assert!(project.files("race", "claimed").is_empty());
    assert!(project.files("race", "pending").is_empty());

    // FIFO per claimer: the enqueuer's tasks come to each claimer in id
    // order (one enqueuer, so id order is the order they were queued).
    for (who, mine) in &by_claimer {
        let queued: Vec<&str> = mine
            .iter()
            .filter(|c| c.2["n"].is_u64())
            .map(|c| c.1.as_str())
            .collect();
        assert!(
            queued.windows(2).all(|w| w[0] < w[1]),
            "{who} got queued tasks out of FIFO order: {queued:?}"
        );
    }
}
