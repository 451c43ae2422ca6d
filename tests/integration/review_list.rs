//! The task list for reading (issue 11): filters by text, tool, worker and
//! time, the `payload_key` and `duration_ms` of each row, at both doors
//! (`GET /api/tasks` on a real server, `sparkq tasks`), and a property
//! check that paging a filter gives exactly the tasks the filter names.

use std::time::Duration;

use serde_json::{Value, json};

use crate::http_support::Api;
use crate::server_support::Server;
use crate::support::{PastTask, Project};

/// One condition of the plain filter the pages are checked against.
type Condition = Box<dyn Fn(&Value) -> bool>;

const MIN: Duration = Duration::from_secs(60);

fn ids(page: &Value) -> Vec<String> {
    page["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

/// Three finished tasks and a queued one, told apart by tool, worker, text
/// and age; returns their ids, oldest first.
fn night(project: &Project) -> Vec<String> {
    let mut build = PastTask::done("auth", 300 * MIN, Duration::from_millis(420));
    build.payload = json!({"script_path": "scripts/build.sh"});
    build.note = "Build OK".to_owned();
    let mut review = PastTask::done("auth", 120 * MIN, 95 * Duration::from_secs(1));
    review.tool = "llm-sonnet".to_owned();
    review.worker = "w2".to_owned();
    review.payload = json!({"prompt": "\nReview the LOGIN flow\nand report", "model": "sonnet"});
    review.note = "two issues found".to_owned();
    let mut deploy = PastTask::done("auth", 30 * MIN, 3 * MIN);
    deploy.payload = json!({"command": "make deploy"});
    deploy.note = "Permission denied on /srv".to_owned();
    deploy.failed = true;
    let mut waiting = PastTask::done("auth", 5 * MIN, MIN);
    waiting.ran = None;
    waiting.payload = json!({"file": "notes/todo.md"});
    [build, review, deploy, waiting]
        .iter()
        .map(|t| project.put_task(t))
        .collect()
}

#[test]
fn the_list_filters_by_text_tool_worker_and_time_and_rows_say_what_a_task_is() {
    let project = Project::with_stream("auth");
    let [build, review, deploy, waiting] = <[String; 4]>::try_from(night(&project)).unwrap();
    let server = Server::start(&project);
    let list = |query: &str| {
        let (status, body) = server.get(&format!("/api/tasks?{query}"));
        assert_eq!(status, 200, "{query}: {body}");
        ids(&body)
    };

    let (_, all) = server.get("/api/tasks");
    let rows = all["tasks"].as_array().unwrap();
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).unwrap().clone();
    assert_eq!(row(&build)["payload_key"], "scripts/build.sh");
    assert_eq!(row(&build)["duration_ms"], 420);
    assert_eq!(row(&review)["payload_key"], "Review the LOGIN flow");
    assert_eq!(row(&review)["duration_ms"], 95_000);
    assert_eq!(row(&deploy)["payload_key"], "make deploy");
    assert_eq!(row(&deploy)["error"], "Permission denied on /srv");
    assert_eq!(row(&waiting)["payload_key"], "notes/todo.md");
    assert_eq!(row(&waiting)["duration_ms"], Value::Null);

    // Text: any case, in the summary, the error or the payload.
    assert_eq!(list("q=login"), [review.as_str()]);
    assert_eq!(list("q=PERMISSION"), [deploy.as_str()]);
    assert_eq!(list("q=build%20ok"), [build.as_str()]);
    assert_eq!(list("q=todo.md"), [waiting.as_str()]);
    assert_eq!(list("q=nothing-like-this"), Vec::<String>::new());
    // Tool and worker are exact.
    assert_eq!(list("tool=llm-sonnet"), [review.as_str()]);
    assert_eq!(list("tool=llm"), Vec::<String>::new());
    assert_eq!(list("worker=w1"), [deploy.as_str(), build.as_str()]);
    // Time: updated_at in [since, until); ages or RFC 3339.
    assert_eq!(list("since=1h"), [waiting.as_str(), deploy.as_str()]);
    assert_eq!(list("since=4h&until=1h"), [review.as_str()]);
    let cut = humantime::format_rfc3339(std::time::SystemTime::now() - 150 * MIN).to_string();
    assert_eq!(list(&format!("until={cut}")), [build.as_str()]);
    // Combined, with paging and the older filters.
    assert_eq!(list("worker=w1&status=failed"), [deploy.as_str()]);
    assert_eq!(list("tool=run-bash&since=10h&limit=1"), [waiting.as_str()]);
    let (_, first) = server.get("/api/tasks?tool=run-bash&q=s&limit=2");
    assert_eq!(ids(&first), [waiting.as_str(), deploy.as_str()]);
    let cursor = first["next_cursor"].as_str().expect("a next page");
    assert_eq!(
        list(&format!("tool=run-bash&q=s&limit=2&cursor={cursor}")),
        [build.as_str()]
    );
    // Empty means absent.
    assert_eq!(list("q=&tool=&worker=&since=&until=").len(), 4);

    for (bad, words) in [
        ("since=yesterday", "'yesterday' is neither a time nor an age"),
        ("until=8x", "Give an age such as 8h"),
        ("since=1h&until=3h", "is after until"),
        ("limit=0", "Ask for 1 to 1000"),
        ("limit=-1", "'-1' is not a whole number from 1 to 1000"),
        ("grep=x", "unknown field"),
    ] {
        let (status, body) = server.get(&format!("/api/tasks?{bad}"));
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_query", "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{bad}: {message}");
    }
}

#[test]
fn sparkq_tasks_takes_the_same_filters() {
    let project = Project::with_stream("auth");
    let [build, review, deploy, _waiting] = <[String; 4]>::try_from(night(&project)).unwrap();
    let listed = |args: &[&str]| {
        let mut all = vec!["tasks", "--json"];
        all.extend_from_slice(args);
        ids(&project.sparkq(all).success().json())
    };
    assert_eq!(listed(&["--grep", "login"]), [review.as_str()]);
    assert_eq!(listed(&["-q", "permission"]), [deploy.as_str()]);
    assert_eq!(listed(&["--tool", "llm-sonnet"]), [review.as_str()]);
    assert_eq!(listed(&["--worker", "w1"]), [deploy.as_str(), build.as_str()]);
    assert_eq!(listed(&["--worker", "w1", "--until", "1h"]), [build.as_str()]);
    let text = project.sparkq(["tasks", "-q", "permission"]).success().stdout();
    assert!(text.contains("Permission denied on /srv"), "{text}");
    project.sparkq(["tasks", "--until", "soon"]).code(2);
    let refused = project.sparkq(["tasks", "--until", "soon"]).stderr();
    assert!(
        refused.contains("'soon' is neither a time nor an age"),
        "{refused}"
    );
    assert!(refused.contains("8h, 90m or 2d"), "{refused}");
}

/// Random tasks, random filters: every filter, paged with random page
/// sizes, gives exactly the tasks a plain filter over all task files gives,
/// newest first, each once.
#[tokio::test]
async fn paging_a_filter_gives_exactly_the_filtered_tasks() {
    let api = Api::new();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let tools = ["run-bash", "llm-sonnet", "llm-haiku"];
    let workers = ["w1", "w2", "w3"];
    let words = ["alpha", "Beta", "gamma", "DELTA"];
    let mut tasks = Vec::new();
    for _ in 0..80 {
        let mut task = PastTask::done(
            "auth",
            Duration::from_secs(rng.u64(60..20 * 3600)),
            Duration::from_millis(rng.u64(1..600_000)),
        );
        task.tool = tools[rng.usize(..tools.len())].to_owned();
        task.worker = workers[rng.usize(..workers.len())].to_owned();
        task.note = format!("{} {}", words[rng.usize(..words.len())], rng.u32(..100));
        task.payload = json!({"script_path": format!("scripts/{}.sh", words[rng.usize(..words.len())])});
        task.failed = rng.bool();
        match rng.u8(..10) {
            0 => task.ran = None,
            // Running, and recently: a claim older than twice the timeout
            // is swept by any reader, which would change the task.
            1 => {
                task.created_ago = Duration::from_secs(rng.u64(60..1800));
                task.ran = Some((Duration::from_secs(1), None));
            }
            _ => {}
        }
        api.project.put_task(&task);
        tasks.push(task);
    }
    let all: Vec<Value> = ["pending", "claimed", "done", "failed"]
        .iter()
        .flat_map(|state| {
            let dir = api.project.state_dir("auth", state);
            api.project
                .files("auth", state)
                .into_iter()
                .map(move |f| serde_json::from_slice(&std::fs::read(dir.join(f)).unwrap()).unwrap())
        })
        .collect();
    let now = std::time::SystemTime::now();
    for round in 0..40 {
        let mut query = Vec::new();
        let mut keep: Vec<Condition> = Vec::new();
        if rng.bool() {
            let word = words[rng.usize(..words.len())].to_owned();
            let lower = word.to_lowercase();
            query.push(format!("q={}", word.to_uppercase()));
            keep.push(Box::new(move |t: &Value| {
                [
                    &t["result"]["summary"],
                    &t["error"],
                    &Value::String(t["payload"].to_string()),
                ]
                .iter()
                .any(|v| v.as_str().is_some_and(|s| s.to_lowercase().contains(&lower)))
            }));
        }
        if rng.bool() {
            let tool = tools[rng.usize(..tools.len())];
            query.push(format!("tool={tool}"));
            keep.push(Box::new(move |t: &Value| t["tool_name"] == tool));
        }
        if rng.bool() {
            let worker = workers[rng.usize(..workers.len())];
            query.push(format!("worker={worker}"));
            keep.push(Box::new(move |t: &Value| t["claimed_by"] == worker));
        }
        if rng.bool() {
            let since = now - Duration::from_secs(rng.u64(0..21 * 3600));
            let at = humantime::format_rfc3339_micros(since).to_string();
            query.push(format!("since={at}"));
            keep.push(Box::new(move |t: &Value| {
                t["updated_at"].as_str().unwrap() >= at.as_str()
            }));
        }
        if rng.bool() {
            let until = now - Duration::from_secs(rng.u64(0..21 * 3600));
            let at = humantime::format_rfc3339_micros(until).to_string();
            query.push(format!("until={at}"));
            keep.push(Box::new(move |t: &Value| {
                t["updated_at"].as_str().unwrap() < at.as_str()
            }));
        }
        if rng.u8(..4) == 0 {
            let status = ["queued", "running", "succeeded", "failed"][rng.usize(..4)];
            query.push(format!("status={status}"));
            keep.push(Box::new(move |t: &Value| t["status"] == status));
        }
        let mut expected: Vec<String> = all
            .iter()
            .filter(|t| keep.iter().all(|k| k(t)))
            .map(|t| t["id"].as_str().unwrap().to_owned())
            .collect();
        expected.sort_unstable_by(|a, b| b.cmp(a));
        // A window upside down is refused, not answered empty.
        let window_upside_down = {
            let get = |k: &str| query.iter().find_map(|q| q.strip_prefix(k)).map(str::to_owned);
            matches!((get("since="), get("until=")), (Some(s), Some(u)) if s > u)
        };
        let limit = rng.usize(1..30);
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = query.clone();
            q.push(format!("limit={limit}"));
            if let Some(c) = &cursor {
                q.push(format!("cursor={c}"));
            }
            let reply = api.get(&format!("/api/tasks?{}", q.join("&"))).await;
            if window_upside_down {
                assert_eq!(reply.status, 400, "seed {seed} round {round}: {}", reply.text);
                break;
            }
            assert_eq!(reply.status, 200, "seed {seed} round {round}: {}", reply.text);
            let page = ids(&reply.json);
            assert!(page.len() <= limit, "seed {seed} round {round}");
            got.extend(page);
            match reply.json["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
        }
        if !window_upside_down {
            assert_eq!(got, expected, "seed {seed} round {round}: {}", query.join("&"));
        }
    }
}

/// The next event (its JSON) about task `id` in folder `state` whose row
/// says `status`; the other events about `id` on the way are pushed to
/// `before`. A change may take two writes (a move, then the new content),
/// each announced; the last one carries the task as it ends up.
fn next_task_event(
    events: &mut std::io::BufReader<std::net::TcpStream>,
    id: &str,
    (state, status): (&str, &str),
    before: &mut Vec<Value>,
) -> Value {
    use std::io::BufRead;
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            events.read_line(&mut line).expect("an event") > 0,
            "stream closed"
        );
        let Some(data) = line.trim_end().strip_prefix("data: ") else {
            continue;
        };
        let event: Value = serde_json::from_str(data).expect("event JSON");
        if event["id"] != id {
            continue;
        }
        if event["state"] == state
            && event["listing"]["status"] == status
            && (status == "queued" || event["listing"]["claimed_by"] == "test")
            && (status != "succeeded" || event["listing"]["summary"].is_string())
        {
            return event;
        }
        before.push(event);
    }
}

#[test]
fn live_task_events_carry_the_row_so_a_page_updates_one_row() {
    let project = Project::with_stream("auth");
    let server = Server::start(&project);
    let mut events = server.events();
    crate::server_support::read_event_containing(&mut events, "event: hello");
    // The greeting says rows come with task events, so a page knows that
    // an event without one means the file moved on.
    crate::server_support::read_event_containing(&mut events, r#"data: {"listings":true}"#);
    let mut seen = Vec::new();

    let id = project.enqueue("auth", r#"{"script_path": "scripts/a.sh"}"#);
    let queued = next_task_event(&mut events, &id, ("pending", "queued"), &mut seen);
    assert_eq!(queued["kind"], "task");
    assert_eq!(queued["listing"]["id"], id.as_str());
    assert_eq!(queued["listing"]["status"], "queued");
    assert_eq!(queued["listing"]["payload_key"], "scripts/a.sh");
    assert!(queued["listing"].get("payload").is_none(), "a row, not the task");

    project.claim("auth");
    let running = next_task_event(&mut events, &id, ("claimed", "running"), &mut seen);
    assert_eq!(running["listing"]["status"], "running");
    assert_eq!(running["listing"]["claimed_by"], "test");

    project
        .sparkq([
            "complete",
            &id,
            "--result",
            r#"{"summary": "it worked"}"#,
            "--stdout",
            "many lines",
        ])
        .success();
    let done = next_task_event(&mut events, &id, ("done", "succeeded"), &mut seen);
    assert_eq!(done["listing"]["status"], "succeeded");
    assert_eq!(done["listing"]["summary"], "it worked");
    assert_eq!(done["listing"]["stdout_bytes"], 10);
    assert!(done["listing"]["duration_ms"].is_u64(), "{done}");
    // The files that moved on (pending after the claim, claimed after the
    // finish) are announced without a row.
    for gone in seen
        .iter()
        .filter(|e| e["state"] == "pending" || e["state"] == "claimed")
    {
        if gone["listing"].is_object() {
            assert_eq!(
                gone["listing"]["status"],
                if gone["state"] == "pending" {
                    "queued"
                } else {
                    "running"
                },
                "a row is only ever the file's own: {gone}"
            );
        }
    }
    assert!(
        seen.iter()
            .any(|e| e["state"] == "pending" && e.get("listing").is_none()),
        "the claim's removal of the pending file has no row: {seen:?}"
    );
}
