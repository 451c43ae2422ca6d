//! HTTP benchmark: `cargo bench --bench http`.
//!
//! Every part runs against real servers (`sparkq run --port 0`) spawned
//! from one or two binaries, so two builds are measured side by side in
//! one run on the same machine load: `SPARKQ_BIN` (default: the release
//! build Cargo makes) and, if set, `SPARKQ_BEFORE_BIN` (say, the binary of
//! an earlier commit). With both, every number is printed for each and as
//! a ratio after/before.
//!
//! 1. Load: 4 clients enqueue and 4 clients claim and complete through the
//!    JSON API for `SPARKQ_BENCH_SECS` (default 30) seconds, then the same
//!    with 8 claimers (a claimer sends two requests per task). Reports
//!    requests/s, latency percentiles and claimed ÷ enqueued (do claimers
//!    keep pace?), and checks that no request failed and no task was lost
//!    or handed out twice.
//! 2. Task list with `SPARKQ_BENCH_TASKS` (default 100 000) finished tasks
//!    in the spool: time per page of `GET /api/tasks` (first page, a deep
//!    cursor page, and filtered pages) and of `GET /api/streams` (the
//!    dashboard's counts), plus first-page requests/s. Then the morning
//!    review's reads on the same spool (`http/review.rs`): filtered first
//!    pages, `/api/since` and `/api/stats`.
//! 3. Claim scaling (see `http/scale.rs`): claim latency at 1k / 10k / 100k
//!    pending, and at 1k pending with 0 / 100 / 1,000 running.
//! 4. `warm` (not run unless named): the first `GET /api/stats` after a
//!    server start at `SPARKQ_BENCH_TASKS` finished tasks, right away and 5 s
//!    later, beside the next request.
//! 5. `rebuild` (not run unless named): claim latency at 100k pending timed
//!    across the server index's background recheck (27 s of claims per
//!    binary): p50, p99, max.
//! 6. `start` (not run unless named; see `http/start.rs`): claims fired
//!    from the moment a server answers at 100k pending + 100k finished
//!    tasks, alone and beside a first list page and `/api/stats`: p50, p90,
//!    max, beside the same server's steady claims. `SPARKQ_BENCH_STARTS=5`
//!    repeats each start (binaries taking turns) and prints medians and
//!    ranges.
//!
//! `SPARKQ_BENCH_FSYNC=off` turns fsync off in the bench projects (the
//! disk's flush otherwise dominates a claim). `SPARKQ_BENCH_QUICK=1` runs every part smaller (well under two minutes
//! for one binary). `SPARKQ_BENCH_PARTS=load,list,scale,warm,rebuild,start` picks parts.
//! Everything runs on 127.0.0.1 and stops by itself.

#[path = "http/review.rs"]
mod review;
#[path = "http/scale.rs"]
mod scale;
#[path = "http/served.rs"]
mod served;
#[path = "http/start.rs"]
mod start;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use served::{Bin, Served};
use sparkq::model::{TaskId, Timestamp};

const CLIENTS_PER_SIDE: usize = 4;
const PAGE_BUDGET_MS: f64 = 100.0;

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A fresh project made by the real binary, with session `b` and stream `load`.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let run = |args: &[&str]| {
        let status = std::process::Command::new(env!("CARGO_BIN_EXE_sparkq"))
            .args(args)
            .current_dir(dir.path())
            .env("SPARKQ_RUNTIME_DIR", served::runtime_base(dir.path()))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("run sparkq");
        assert!(status.success(), "sparkq {args:?} failed");
    };
    run(&["setup", "--yes"]);
    run(&["session", "create", "b"]);
    run(&["stream", "create", "load", "--session", "b"]);
    // `SPARKQ_BENCH_FSYNC=off`: measure without flushing each write, where
    // the disk's flush time would hide everything else.
    if std::env::var("SPARKQ_BENCH_FSYNC").is_ok_and(|v| v == "off") {
        let yml = dir.path().join("sparkq.yml");
        let text = std::fs::read_to_string(&yml).expect("read sparkq.yml");
        assert!(text.contains("fsync: true"), "sparkq.yml names fsync");
        std::fs::write(&yml, text.replacen("fsync: true", "fsync: false", 1)).expect("write sparkq.yml");
    }
    dir
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

struct Call {
    status: u16,
    body: Value,
    micros: u64,
}

fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<&Value>) -> Call {
    let started = Instant::now();
    let response = match method {
        "GET" => agent.get(url).call(),
        _ => agent
            .post(url)
            .header("Content-Type", "application/json")
            .send(body.map(Value::to_string).unwrap_or_else(|| "{}".into())),
    };
    let (status, body) = match response {
        Ok(mut r) => {
            let status = r.status().as_u16();
            let text = r.body_mut().read_to_string().unwrap_or_default();
            (status, serde_json::from_str(&text).unwrap_or(Value::Null))
        }
        Err(e) => (0, json!({"transport_error": e.to_string()})),
    };
    Call {
        status,
        body,
        micros: started.elapsed().as_micros() as u64,
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1] as f64 / 1000.0
}

#[derive(Default)]
struct Tally {
    latencies: Vec<u64>,
    errors: Vec<String>,
    enqueued: Vec<String>,
    claimed: Vec<String>,
    completed: usize,
}

fn load(bin: &Bin, seconds: u64, claimers: usize) -> f64 {
    let dir = project();
    let server = Served::start(bin, dir.path());
    let base = server.base();
    let tally = Arc::new(Mutex::new(Tally::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut threads = Vec::new();
    for client in 0..CLIENTS_PER_SIDE {
        let (tally, base) = (tally.clone(), base.clone());
        threads.push(std::thread::spawn(move || {
            let agent = agent();
            let mut n = 0u64;
            let mut local = Tally::default();
            while Instant::now() < deadline {
                let body = json!({"stream": "load", "tool_name": "run-bash", "payload": {"script_path": "scripts/x.sh", "client": client, "n": n}});
                let c = call(&agent, "POST", &format!("{base}/api/tasks"), Some(&body));
                local.latencies.push(c.micros);
                match (c.status, c.body["id"].as_str()) {
                    (201, Some(id)) => local.enqueued.push(id.to_owned()),
                    _ => local.errors.push(format!("enqueue: {} {}", c.status, c.body)),
                }
                n += 1;
            }
            merge(&tally, local);
        }));
    }
    for worker in 0..claimers {
        let (tally, base) = (tally.clone(), base.clone());
        threads.push(std::thread::spawn(move || {
            let agent = agent();
            let mut local = Tally::default();
            let claim = json!({"worker": format!("bench-{worker}")});
            while Instant::now() < deadline {
                let c = call(
                    &agent,
                    "POST",
                    &format!("{base}/api/streams/load/claim"),
                    Some(&claim),
                );
                local.latencies.push(c.micros);
                if c.status != 200 {
                    local.errors.push(format!("claim: {} {}", c.status, c.body));
                    continue;
                }
                let Some(id) = c.body["task"]["id"].as_str().map(str::to_owned) else {
                    std::thread::sleep(Duration::from_millis(1));
                    continue;
                };
                local.claimed.push(id.clone());
                let result = json!({"result": {"summary": "done"}, "token": c.body["task"]["claim_token"]});
                let done = call(
                    &agent,
                    "POST",
                    &format!("{base}/api/tasks/{id}/complete"),
                    Some(&result),
                );
                local.latencies.push(done.micros);
                if done.status == 200 {
                    local.completed += 1;
                } else {
                    local
                        .errors
                        .push(format!("complete {id}: {} {}", done.status, done.body));
                }
            }
            merge(&tally, local);
        }));
    }
    for t in threads {
        t.join().expect("client thread");
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(server);

    let mut tally = Arc::try_unwrap(tally)
        .ok()
        .expect("sole owner")
        .into_inner()
        .expect("lock");
    tally.latencies.sort_unstable();
    let requests = tally.latencies.len();
    let unique_claims: HashSet<&String> = tally.claimed.iter().collect();
    let spool = dir.path().join("spool/streams/load");
    let count = |state: &str| {
        std::fs::read_dir(spool.join(state))
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".json"))
                    .count()
            })
            .unwrap_or(0)
    };
    let (pending, claimed, done, failed) =
        (count("pending"), count("claimed"), count("done"), count("failed"));
    println!(
        "load [{}]: {CLIENTS_PER_SIDE} enqueuers + {claimers} claim/complete workers for {elapsed:.1} s",
        bin.label
    );
    println!(
        "  requests: {requests} ({:.0} req/s), errors: {}",
        requests as f64 / elapsed,
        tally.errors.len()
    );
    println!(
        "  latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&tally.latencies, 50.0),
        percentile(&tally.latencies, 90.0),
        percentile(&tally.latencies, 99.0),
        percentile(&tally.latencies, 100.0)
    );
    let kept_pace = tally.claimed.len() as f64 / tally.enqueued.len().max(1) as f64;
    println!(
        "  enqueued {}, claimed {} ({} unique), completed {}; claimed/enqueued {kept_pace:.2}",
        tally.enqueued.len(),
        tally.claimed.len(),
        unique_claims.len(),
        tally.completed
    );
    println!("  spool: pending {pending}, claimed {claimed}, done {done}, failed {failed}");
    for e in tally.errors.iter().take(5) {
        println!("  error: {e}");
    }
    assert!(tally.errors.is_empty(), "no request may fail");
    assert_eq!(
        unique_claims.len(),
        tally.claimed.len(),
        "no task handed out twice"
    );
    assert_eq!(
        pending + claimed + done + failed,
        tally.enqueued.len(),
        "no task lost"
    );
    assert_eq!(done, tally.completed, "every completion is in done/");
    kept_pace
}

fn merge(tally: &Mutex<Tally>, local: Tally) {
    let mut t = tally.lock().expect("tally lock");
    t.latencies.extend(local.latencies);
    t.errors.extend(local.errors);
    t.enqueued.extend(local.enqueued);
    t.claimed.extend(local.claimed);
    t.completed += local.completed;
}

/// Writes `n` finished task files straight into `done/` and `failed/`, as a
/// long-lived project would have them.
fn fill_spool(root: &Path, n: u64) {
    let stream = root.join("spool/streams/load");
    let start = SystemTime::now() - Duration::from_secs(n);
    for i in 0..n {
        let at = Timestamp::from_system(start + Duration::from_secs(i));
        let id = TaskId::generate_at(at);
        let (state, status) = if i % 10 == 0 {
            ("failed", "failed")
        } else {
            ("done", "succeeded")
        };
        let time = humantime::format_rfc3339_micros(at.to_system()).to_string();
        let task = json!({
            "id": id.as_str(), "stream": "load", "session": "b", "tool_name": "run-bash", "task_class": "MEDIUM_SCRIPT",
            "payload": {"script_path": "scripts/x.sh", "n": i}, "status": status, "timeout": 300, "attempts": 1, "max_attempts": 2,
            "claimed_by": "bench", "claim_token": null, "result": if status == "succeeded" { json!({"summary": format!("task {i} done")}) } else { Value::Null },
            "error": if status == "failed" { json!("it broke") } else { Value::Null }, "stdout": "", "stderr": "",
            "created_at": time, "updated_at": time, "started_at": time, "heartbeat_at": null, "finished_at": time, "history": []
        });
        std::fs::write(
            stream.join(state).join(id.file_name()),
            serde_json::to_vec_pretty(&task).expect("json"),
        )
        .expect("write task");
    }
}

/// A project holding `n` finished tasks.
fn list_project(n: u64) -> tempfile::TempDir {
    let dir = project();
    let filled = Instant::now();
    fill_spool(dir.path(), n);
    scale::settle_disk(dir.path());
    println!(
        "task list: {n} tasks written in {:.1} s",
        filled.elapsed().as_secs_f64()
    );
    dir
}

/// Pages of the task list of `dir`; returns the medians (ms) of the first
/// page and of `/api/streams`, and first-page requests/s.
fn task_list(bin: &Bin, dir: &Path) -> (f64, f64, f64) {
    let server = Served::start(bin, dir);
    let agent = agent();
    let base = server.base();
    println!("task list [{}]:", bin.label);
    // The server purges old results at start, under the stream lock; the
    // first request waits for it. Report that wait, then measure pages.
    let warm = call(&agent, "GET", &format!("{base}/api/tasks?limit=1"), None);
    println!(
        "  first request after start (waits for the start-up purge) {:.0} ms",
        warm.micros as f64 / 1000.0
    );
    let mut worst = 0.0f64;
    let mut medians = Vec::new();
    let mut report = |label: &str, path: &str| -> Value {
        let mut times = Vec::new();
        let mut body = Value::Null;
        for _ in 0..10 {
            let c = call(&agent, "GET", &format!("{base}{path}"), None);
            assert_eq!(c.status, 200, "{path}: {}", c.body);
            times.push(c.micros);
            body = c.body;
        }
        times.sort_unstable();
        let (median, max) = (percentile(&times, 50.0), percentile(&times, 100.0));
        worst = worst.max(median);
        medians.push(median);
        println!(
            "  {label:<34} median {median:7.2} ms  max {max:7.2} ms  ({} tasks)",
            body["tasks"].as_array().map_or(0, Vec::len)
        );
        body
    };
    let first = report("first page (limit 50)", "/api/tasks?limit=50");
    let mut page = first;
    for _ in 0..100 {
        let Some(next) = page["next_cursor"].as_str().map(str::to_owned) else {
            break;
        };
        page = call(
            &agent,
            "GET",
            &format!("{base}/api/tasks?limit=50&cursor={next}"),
            None,
        )
        .body;
    }
    if let Some(deep) = page["next_cursor"].as_str() {
        report(
            "page 102 by cursor",
            &format!("/api/tasks?limit=50&cursor={deep}"),
        );
    }
    report(
        "status=failed&stream=load",
        "/api/tasks?limit=50&status=failed&stream=load",
    );
    report(
        "dashboard history (limit 200)",
        "/api/tasks?status=succeeded&limit=200",
    );
    report("streams with counts", "/api/streams");
    review::measure(&agent, &base);
    let (first_ms, streams_ms) = (medians[0], medians[medians.len() - 1]);
    // Requests/s of the first page, one client, for about two seconds.
    let started = Instant::now();
    let mut served = 0u32;
    while started.elapsed() < Duration::from_secs(2) {
        let c = call(&agent, "GET", &format!("{base}/api/tasks?limit=50"), None);
        assert_eq!(c.status, 200);
        served += 1;
    }
    let per_sec = f64::from(served) / started.elapsed().as_secs_f64();
    println!("  first page, one client: {per_sec:.0} req/s");
    drop(server);
    println!("  worst median page time {worst:.2} ms (budget {PAGE_BUDGET_MS} ms for a 50-task page)");
    (first_ms, streams_ms, per_sec)
}

/// How long after a start the dashboard is opened in the "warm" part.
const OPENED_AFTER: Duration = Duration::from_secs(5);

/// The first dashboard read after a server start (issue 12): the server
/// reads what stats need of every task in the background from the start.
/// Times the first `GET /api/stats` right after start and, from a second
/// start, [`OPENED_AFTER`] later, beside the next request (the reference:
/// everything in memory). Returns the three times (ms).
fn first_dashboard(bin: &Bin, dir: &Path) -> (f64, f64, f64) {
    let agent = agent();
    let stats = |server: &Served| {
        let c = call(&agent, "GET", &format!("{}/api/stats", server.base()), None);
        assert_eq!(c.status, 200, "/api/stats: {}", c.body);
        (c.micros as f64 / 1000.0, c.body)
    };
    let server = Served::start(bin, dir);
    let (at_once, first_body) = stats(&server);
    drop(server);
    let server = Served::start(bin, dir);
    std::thread::sleep(OPENED_AFTER);
    let (later, _) = stats(&server);
    let (next, body) = stats(&server);
    assert_eq!(first_body["tools"], body["tools"], "the same answer, warm or not");
    println!(
        "  [{:>6}] first GET /api/stats right after start {at_once:8.1} ms, {} s after start {later:8.1} ms, the next one {next:8.1} ms",
        bin.label,
        OPENED_AFTER.as_secs()
    );
    (at_once, later, next)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let quick = std::env::var_os("SPARKQ_BENCH_QUICK").is_some_and(|v| v != "0");
    let parts = std::env::var("SPARKQ_BENCH_PARTS").unwrap_or_else(|_| "load,list,scale".to_owned());
    let bins = Bin::from_env();
    println!(
        "SparkQ HTTP benchmark{}{}: {}",
        if quick { " (QUICK: rough numbers)" } else { "" },
        if std::env::var("SPARKQ_BENCH_FSYNC").is_ok_and(|v| v == "off") {
            ", fsync off"
        } else {
            ", fsync on"
        },
        bins.iter()
            .map(|b| format!("{} = {}", b.label, b.path.display()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut summary = served::Summary::new(&bins);
    if parts.contains("load") {
        let secs = env_number("SPARKQ_BENCH_SECS", if quick { 5 } else { 30 });
        let ratios: Vec<f64> = bins.iter().map(|bin| load(bin, secs, CLIENTS_PER_SIDE)).collect();
        summary.row("mixed load: claimed / enqueued", "x", ratios);
        // A claimer sends two requests per task (claim, complete) where an
        // enqueuer sends one: with the server shared fairly per request,
        // four claimers move half the tasks four enqueuers bring. Twice as
        // many claimers is "enough claimers" for the same request rate.
        let ratios: Vec<f64> = bins
            .iter()
            .map(|bin| load(bin, secs, 2 * CLIENTS_PER_SIDE))
            .collect();
        summary.row("mixed load, 8 claimers: claimed / enqueued", "x", ratios);
    }
    if parts.contains("list") {
        let n = env_number("SPARKQ_BENCH_TASKS", if quick { 10_000 } else { 100_000 });
        let dir = list_project(n);
        let results: Vec<(f64, f64, f64)> = bins.iter().map(|bin| task_list(bin, dir.path())).collect();
        summary.row(
            &format!("list first page at {n} tasks"),
            "ms",
            results.iter().map(|r| r.0).collect(),
        );
        summary.row(
            &format!("list first page at {n}, one client"),
            "req/s",
            results.iter().map(|r| r.2).collect(),
        );
        summary.row(
            &format!("GET /api/streams at {n} tasks"),
            "ms",
            results.iter().map(|r| r.1).collect(),
        );
    }
    if parts.contains("scale") {
        scale::run(&bins, quick, &mut summary);
    }
    if parts.contains("warm") {
        let n = env_number("SPARKQ_BENCH_TASKS", if quick { 10_000 } else { 100_000 });
        let dir = list_project(n);
        println!("first dashboard after a start, {n} finished tasks:");
        let results: Vec<(f64, f64, f64)> = bins.iter().map(|bin| first_dashboard(bin, dir.path())).collect();
        summary.row(
            "first /api/stats right after start",
            "ms",
            results.iter().map(|r| r.0).collect(),
        );
        summary.row(
            &format!("first /api/stats {} s after start", OPENED_AFTER.as_secs()),
            "ms",
            results.iter().map(|r| r.1).collect(),
        );
        summary.row("the next /api/stats", "ms", results.iter().map(|r| r.2).collect());
    }
    if parts.contains("rebuild") {
        scale::across_rebuild(&bins, quick, &mut summary);
    }
    if parts.contains("start") {
        start::run(&bins, quick, &mut summary);
    }
    summary.print();
}
