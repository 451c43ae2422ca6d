//! "Since you left" and the dashboard's numbers (issue 11) after a
//! simulated night: a few hundred tasks written with chosen times over 20
//! hours across three streams, read through a real server
//! (`/api/since`, `/api/stats`) and `sparkq tasks --since`.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::server_support::Server;
use crate::support::{PastTask, Project};

const STREAMS: [&str; 3] = ["api", "web", "docs"];
const NIGHT_TASKS: u64 = 480;
const STEP_SECS: u64 = 150;

/// A project with streams `api` (half the tasks), `web` and `docs`: one
/// task created every 150 s over 20 hours, each finished 1 s after its
/// creation plus 1-8 s of run; every 5th of `api` and `web` failed. Plus
/// one that ran for four hours on `docs`, and two queued tasks and one
/// running on `web`.
fn night() -> Project {
    let project = Project::with_stream("api");
    for name in &STREAMS[1..] {
        project
            .sparkq(["stream", "create", name, "--session", "s1"])
            .success();
    }
    for i in 0..NIGHT_TASKS {
        let stream = match i % 4 {
            0 | 1 => "api",
            2 => "web",
            _ => "docs",
        };
        let created_ago = Duration::from_secs(i * STEP_SECS + 30);
        let mut task = PastTask::done(stream, created_ago, Duration::from_secs(i % 8 + 1));
        task.tool = if i % 2 == 0 { "run-bash" } else { "llm-sonnet" }.to_owned();
        task.payload = json!({"script_path": format!("scripts/step-{i}.sh")});
        task.failed = stream != "docs" && i % 5 == 0;
        task.note = if task.failed {
            format!("step {i} broke: exit 1")
        } else {
            format!("step {i} ok")
        };
        project.put_task(&task);
    }
    for ago in [40, 90] {
        let mut queued = PastTask::done("web", Duration::from_secs(ago * 60), Duration::ZERO);
        queued.ran = None;
        project.put_task(&queued);
    }
    // A long one on `docs`: queued for an hour, then running for four.
    let mut long = PastTask::done("docs", Duration::from_secs(10 * 3600 + 600), Duration::ZERO);
    long.ran = Some((Duration::from_secs(3600), Some(Duration::from_secs(4 * 3600))));
    project.put_task(&long);
    let mut running = PastTask::done("web", Duration::from_secs(20 * 60), Duration::ZERO);
    running.ran = Some((Duration::from_secs(60), None));
    project.put_task(&running);
    project
}

/// Every task file of the project, as JSON.
fn all_tasks(project: &Project) -> Vec<Value> {
    let mut all = Vec::new();
    for stream in STREAMS {
        for state in ["pending", "claimed", "done", "failed"] {
            for file in project.files(stream, state) {
                let path = project.state_dir(stream, state).join(file);
                all.push(serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap());
            }
        }
    }
    all
}

fn time(v: &Value) -> Option<SystemTime> {
    v.as_str()
        .map(|s| humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).unwrap())
}

#[test]
fn since_groups_a_night_by_stream_with_failures_first_and_the_cli_says_the_same() {
    let project = night();
    let server = Server::start(&project);
    let (status, report) = server.get("/api/since?since=8h");
    assert_eq!(status, 200, "{report}");
    let since = time(&report["since"]).unwrap();

    // What the files say finished since then.
    let finished: Vec<Value> = all_tasks(&project)
        .into_iter()
        .filter(|t| time(&t["finished_at"]).is_some_and(|f| f >= since))
        .collect();
    // 8 h holds tasks 0..=191 (one every 150 s, none within a minute of
    // the edge) and the long one.
    assert_eq!(finished.len(), 193);
    let failed = finished.iter().filter(|t| t["status"] == "failed").count();
    assert_eq!(
        report["counts"],
        json!({"succeeded": 193 - failed, "failed": failed})
    );
    assert!(failed > 0);
    let finishes: Vec<&str> = finished
        .iter()
        .map(|t| t["finished_at"].as_str().unwrap())
        .collect();
    assert_eq!(report["first_finished_at"], *finishes.iter().min().unwrap());
    assert_eq!(report["last_finished_at"], *finishes.iter().max().unwrap());

    // Streams with failures first, then by name; in each, failures first,
    // then newest finished first.
    let names: Vec<&str> = report["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stream"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["api", "web", "docs"]);
    for group in report["streams"].as_array().unwrap() {
        let name = group["stream"].as_str().unwrap();
        let mut expected: Vec<&Value> = finished.iter().filter(|t| t["stream"] == name).collect();
        expected.sort_by(|a, b| {
            (b["status"] == "failed")
                .cmp(&(a["status"] == "failed"))
                .then(b["finished_at"].as_str().cmp(&a["finished_at"].as_str()))
        });
        let ids: Vec<&Value> = group["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| &t["id"])
            .collect();
        let expected_ids: Vec<&Value> = expected.iter().map(|t| &t["id"]).collect();
        assert_eq!(ids, expected_ids, "stream {name}");
        let failed = expected.iter().filter(|t| t["status"] == "failed").count();
        assert_eq!(group["failed"], failed, "stream {name}");
        assert_eq!(group["succeeded"], expected.len() - failed, "stream {name}");
        assert_eq!(group["truncated"], false);
        let first = &group["tasks"][0];
        assert!(
            first["payload_key"]
                .as_str()
                .unwrap()
                .starts_with("scripts/step-")
        );
        assert!(first["duration_ms"].as_u64().unwrap() >= 1000);
    }

    // The whole night: `api` holds 240 finished tasks, cut to 200.
    let (_, whole) = server.get("/api/since?since=1d");
    let api = &whole["streams"][0];
    assert_eq!(api["stream"], "api");
    assert_eq!(api["truncated"], true);
    assert_eq!(api["tasks"].as_array().unwrap().len(), 200);
    assert_eq!(
        api["succeeded"].as_u64().unwrap() + api["failed"].as_u64().unwrap(),
        240
    );
    // A window that ends, and filters that narrow.
    let (_, early) = server.get("/api/since?since=20h&until=19h");
    let early_count: u64 = ["succeeded", "failed"]
        .iter()
        .map(|k| early["counts"][k].as_u64().unwrap())
        .sum();
    assert_eq!(early_count, 24, "one hour holds 24 tasks: {}", early["counts"]);
    let (_, broke) = server.get("/api/since?since=8h&status=failed&q=BROKE&stream=web");
    assert_eq!(broke["counts"]["succeeded"], 0);
    assert_eq!(broke["streams"].as_array().unwrap().len(), 1);
    assert_eq!(broke["streams"][0]["stream"], "web");

    // The terminal twin: the same object as JSON, and readable text.
    let cli = project
        .sparkq(["tasks", "--since", "8h", "--json"])
        .success()
        .json();
    assert_eq!(cli["counts"], report["counts"]);
    assert_eq!(cli["streams"], report["streams"]);
    let text = project.sparkq(["tasks", "--since", "8h"]).success().stdout();
    assert!(
        text.contains(&format!("{} succeeded, {failed} failed", 193 - failed)),
        "{text}"
    );
    let (api_at, web_at, docs_at) = (
        text.find("\napi: ").expect(&text),
        text.find("\nweb: ").expect(&text),
        text.find("\ndocs: ").expect(&text),
    );
    assert!(api_at < web_at && web_at < docs_at, "{text}");
    let first_failure = report["streams"][0]["tasks"][0]["error"].as_str().unwrap();
    assert!(text.contains(first_failure), "{text}");
    assert!(
        text.contains("more succeeded: sparkq tasks --stream api --status succeeded"),
        "{text}"
    );
    assert!(text.contains(" UTC"), "full dates: {text}");

    for (bad, words) in [
        ("", "Pass since"),
        ("since=", "Pass since"),
        ("since=lately", "'lately' is neither a time nor an age"),
        ("since=1h&until=2h", "is after until"),
        ("since=1h&status=queued", "give status=succeeded or status=failed"),
        ("since=1h&limit=5", "unknown field"),
    ] {
        let (status, body) = server.get(&format!("/api/since?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{bad}: {message}");
    }
    let refused = project
        .sparkq(["tasks", "--since", "8h", "--stale"])
        .code(2)
        .stderr();
    assert!(refused.contains("cannot be used with"), "{refused}");
}

#[test]
fn stats_count_finishes_per_hour_durations_per_tool_and_depth_per_stream() {
    let project = night();
    let server = Server::start(&project);
    let (status, stats) = server.get("/api/stats");
    assert_eq!(status, 200, "{stats}");
    let tasks = all_tasks(&project);

    // 24 hourly buckets, oldest first, the last one this hour.
    let hours = stats["hours"].as_array().unwrap();
    assert_eq!(hours.len(), 24);
    let starts: Vec<SystemTime> = hours.iter().map(|h| time(&h["start"]).unwrap()).collect();
    for pair in starts.windows(2) {
        assert_eq!(
            pair[1].duration_since(pair[0]).unwrap(),
            Duration::from_secs(3600)
        );
    }
    let generated = time(&stats["generated_at"]).unwrap();
    assert!(
        starts[23] <= generated && generated.duration_since(starts[23]).unwrap() < Duration::from_secs(3600)
    );
    for (k, hour) in hours.iter().enumerate() {
        let end = starts[k] + Duration::from_secs(3600);
        let in_hour = |status: &str| {
            tasks
                .iter()
                .filter(|t| t["status"] == status)
                .filter(|t| time(&t["finished_at"]).is_some_and(|f| f >= starts[k] && f < end))
                .count()
        };
        assert_eq!(hour["succeeded"], in_hour("succeeded"), "hour {k}");
        assert_eq!(hour["failed"], in_hour("failed"), "hour {k}");
    }
    let total: u64 = hours
        .iter()
        .map(|h| h["succeeded"].as_u64().unwrap() + h["failed"].as_u64().unwrap())
        .sum();
    assert_eq!(total, NIGHT_TASKS + 1, "the whole night lies within 24 hours");

    // Durations per tool, by nearest rank, from the files.
    let mut runs: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for t in &tasks {
        if let (Some(start), Some(end)) = (time(&t["started_at"]), time(&t["finished_at"])) {
            let ms = end.duration_since(start).unwrap().as_millis() as u64;
            runs.entry(t["tool_name"].as_str().unwrap().to_owned())
                .or_default()
                .push(ms);
        }
    }
    let expected: Vec<Value> = runs
        .into_iter()
        .map(|(tool, mut ms)| {
            ms.sort_unstable();
            let rank = |p: usize| ms[(p * ms.len()).div_ceil(100) - 1];
            json!({"tool_name": tool, "count": ms.len(), "p50_ms": rank(50), "p90_ms": rank(90)})
        })
        .collect();
    assert_eq!(stats["tools"], json!(expected));
    assert_eq!(stats["tools"][0]["tool_name"], "llm-sonnet");

    // Depth: at each point, the tasks created by then and not yet started
    // (queued) or started and not yet finished (running).
    let depth = stats["depth"].as_array().unwrap();
    let names: Vec<&str> = depth.iter().map(|d| d["stream"].as_str().unwrap()).collect();
    assert_eq!(names, ["api", "docs", "web"]);
    for stream in depth {
        let name = stream["stream"].as_str().unwrap();
        let points = stream["points"].as_array().unwrap();
        assert_eq!(points.len(), 24);
        for point in points {
            let at = time(&point["at"]).unwrap();
            let (mut queued, mut running) = (0, 0);
            for t in tasks.iter().filter(|t| t["stream"] == name) {
                let created = time(&t["created_at"]).unwrap();
                let started = time(&t["started_at"]);
                let finished = time(&t["finished_at"]);
                if created > at || finished.is_some_and(|f| f <= at) {
                    continue;
                }
                match started {
                    Some(s) if s <= at => running += 1,
                    _ => queued += 1,
                }
            }
            assert_eq!(point["queued"], queued, "{name} at {}", point["at"]);
            assert_eq!(point["running"], running, "{name} at {}", point["at"]);
        }
    }
    let docs = depth[1]["points"].as_array().unwrap();
    let (queued, running): (u64, u64) = docs.iter().fold((0, 0), |(q, r), p| {
        (
            q + p["queued"].as_u64().unwrap(),
            r + p["running"].as_u64().unwrap(),
        )
    });
    // The long task alone is an hour queued and four running. The other
    // tasks of `docs` run for seconds, and add a point only when an hour
    // starts inside one of their runs (each night hour repeats the same
    // offsets, so then about twenty): the check of every point above
    // counts those; here, the long task's own points.
    let long = tasks
        .iter()
        .find(|t| {
            t["stream"] == "docs"
                && matches!((time(&t["started_at"]), time(&t["finished_at"])),
                    (Some(s), Some(f)) if f.duration_since(s).unwrap() == Duration::from_secs(4 * 3600))
        })
        .expect("the long task");
    let (created, started, finished) = (
        time(&long["created_at"]).unwrap(),
        time(&long["started_at"]).unwrap(),
        time(&long["finished_at"]).unwrap(),
    );
    let at = |p: &Value| time(&p["at"]).unwrap();
    let own = (
        docs.iter()
            .filter(|p| created <= at(p) && at(p) < started)
            .count() as u64,
        docs.iter()
            .filter(|p| started <= at(p) && at(p) < finished)
            .count() as u64,
    );
    assert_eq!(own, (1, 4), "the long task: an hour queued, four running");
    assert!(
        queued >= own.0 && running >= own.1,
        "the depth of docs shows the long task: {queued} queued, {running} running"
    );
    let web_now = depth[2]["points"].as_array().unwrap().last().unwrap();
    assert_eq!(web_now["queued"], 2);
    assert_eq!(web_now["running"], 1);

    let (_, short) = server.get("/api/stats?hours=3");
    assert_eq!(short["hours"].as_array().unwrap().len(), 3);
    assert_eq!(short["depth"][0]["points"].as_array().unwrap().len(), 3);
    for bad in ["hours=0", "hours=169", "hours=x", "days=2"] {
        let (status, body) = server.get(&format!("/api/stats?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{bad}: {body}");
    }

    // One stream's numbers: its own depth line, and the streams' hours
    // and tool counts add up to the whole.
    let names: Vec<&str> = depth.iter().map(|d| d["stream"].as_str().unwrap()).collect();
    let mut finished = vec![0; 24];
    let mut runs = std::collections::BTreeMap::<String, u64>::new();
    for (i, name) in names.iter().enumerate() {
        let (status, one) = server.get(&format!("/api/stats?stream={name}"));
        assert_eq!(status, 200, "{name}: {one}");
        let lines = one["depth"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "{name}: {one}");
        assert_eq!(lines[0]["stream"], *name);
        let counts = |line: &serde_json::Value| -> Vec<(u64, u64)> {
            line["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p["queued"].as_u64().unwrap(), p["running"].as_u64().unwrap()))
                .collect()
        };
        assert_eq!(counts(&lines[0]), counts(&depth[i]), "{name}");
        for (k, hour) in one["hours"].as_array().unwrap().iter().enumerate() {
            finished[k] += hour["succeeded"].as_u64().unwrap() + hour["failed"].as_u64().unwrap();
        }
        for tool in one["tools"].as_array().unwrap() {
            *runs
                .entry(tool["tool_name"].as_str().unwrap().to_owned())
                .or_default() += tool["count"].as_u64().unwrap();
        }
    }
    let whole: Vec<u64> = hours
        .iter()
        .map(|h| h["succeeded"].as_u64().unwrap() + h["failed"].as_u64().unwrap())
        .collect();
    assert_eq!(finished, whole);
    let whole_runs: std::collections::BTreeMap<String, u64> = stats["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["tool_name"].as_str().unwrap().to_owned(),
                t["count"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(runs, whole_runs);
    let (status, body) = server.get("/api/stats?stream=nope");
    assert_eq!(status, 404, "{body}");
    let (status, body) = server.get("/api/stats?stream=..%2Fx");
    assert_eq!(status, 400, "{body}");
}
