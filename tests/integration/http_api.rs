//! Every endpoint of SPEC 6 through the router, in-process.

use axum::http::StatusCode;
use serde_json::Value;

use crate::http_support::Api;

#[tokio::test]
async fn health_status_tools_scripts_openapi() {
    let api = Api::new();
    std::fs::create_dir_all(api.project.path().join("scripts")).expect("mkdir");
    std::fs::write(
        api.project.path().join("scripts/deploy.sh"),
        "#!/bin/sh\n# description: Deploy it\n# tags: ops\n",
    )
    .expect("write");
    api.state.reload().expect("reload");

    let health = api.get("/api/health").await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.json["ok"], true);

    let status = api.get("/api/status").await;
    assert_eq!(status.status, StatusCode::OK);
    assert_eq!(status.json["sessions"][0]["name"], "s1");
    assert_eq!(status.json["streams"][0]["name"], "auth");
    assert_eq!(status.json["streams"][0]["counts"]["queued"], 0);

    let tools = api.get("/api/tools").await;
    let names: Vec<&str> = tools.json["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.contains(&"run-bash"), "{names:?}");

    let scripts = api.get("/api/scripts").await;
    assert_eq!(scripts.json["scripts"][0]["path"], "scripts/deploy.sh");
    assert_eq!(
        api.get("/api/scripts?q=OPS").await.json["scripts"]
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        api.get("/api/scripts?q=nothing").await.json["scripts"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    let openapi = api.get("/api/openapi.json").await;
    assert_eq!(openapi.status, StatusCode::OK);
    let paths = openapi.json["paths"].as_object().expect("paths");
    for path in [
        "/api/health",
        "/api/status",
        "/api/sessions",
        "/api/sessions/{name}/end",
        "/api/streams",
        "/api/streams/{name}/end",
        "/api/streams/{name}/peek",
        "/api/streams/{name}/claim",
        "/api/tasks",
        "/api/tasks/{id}",
        "/api/tasks/{id}/complete",
        "/api/tasks/{id}/fail",
        "/api/tasks/{id}/requeue",
        "/api/tasks/{id}/heartbeat",
        "/api/tools",
        "/api/scripts",
        "/api/reload",
        "/api/events",
        "/api/openapi.json",
    ] {
        assert!(paths.contains_key(path), "openapi lacks {path}");
    }
}

#[tokio::test]
async fn sessions_and_streams() {
    let api = Api::new();
    let created = api
        .post("/api/sessions", r#"{"name": "s2", "description": "second"}"#)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(
        api.post("/api/sessions", r#"{"name": "s2"}"#).await.status,
        StatusCode::CONFLICT
    );
    let sessions = api.get("/api/sessions").await;
    assert_eq!(sessions.json["sessions"].as_array().map(Vec::len), Some(2));

    let stream = api
        .post(
            "/api/streams",
            r#"{"name": "ui", "session": "s2", "instructions": "Make it nice"}"#,
        )
        .await;
    assert_eq!(stream.status, StatusCode::CREATED, "{}", stream.text);
    assert_eq!(
        api.post("/api/streams", r#"{"name": "ui2", "session": "nope"}"#)
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let streams = api.get("/api/streams").await;
    let ui = streams.json["streams"]
        .as_array()
        .expect("streams")
        .iter()
        .find(|s| s["name"] == "ui")
        .cloned()
        .expect("ui");
    assert_eq!(ui["instructions"], "Make it nice");
    assert_eq!(ui["counts"]["queued"], 0);

    assert_eq!(
        api.post("/api/streams/ui/end", "{}").await.json["status"],
        "ended"
    );
    let refused = api
        .post(
            "/api/tasks",
            r#"{"stream": "ui", "tool_name": "run-bash", "payload": {}}"#,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert_eq!(refused.json["error"]["code"], "stream_ended");

    assert_eq!(
        api.post("/api/sessions/s1/end", "{}").await.json["status"],
        "ended"
    );
    assert_eq!(
        api.post("/api/sessions/missing/end", "{}").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn worker_round_trip_peek_claim_complete_fail_heartbeat_requeue() {
    let api = Api::new();
    assert_eq!(api.get("/api/streams/auth/peek").await.json["task"], Value::Null);
    assert_eq!(api.claim().await, Value::Null);

    let first = api.enqueue(r#"{"script_path": "scripts/a.sh"}"#).await;
    let second = api.enqueue(r#"{"script_path": "scripts/b.sh"}"#).await;
    assert_eq!(
        api.get("/api/streams/auth/peek").await.json["task"]["id"],
        first.as_str()
    );

    let claimed = api.claim().await;
    assert_eq!(claimed["id"], first.as_str());
    assert_eq!(claimed["status"], "running");
    assert_eq!(claimed["claimed_by"], "w1");
    assert_eq!(claimed["stream"]["instructions"], "Do the thing.");
    let token = claimed["claim_token"].as_str().expect("token").to_owned();

    let beat = api
        .post(
            &format!("/api/tasks/{first}/heartbeat"),
            &format!(r#"{{"token": "{token}"}}"#),
        )
        .await;
    assert_eq!(beat.status, StatusCode::OK, "{}", beat.text);
    assert!(beat.json["heartbeat_at"].is_string());
    let wrong = api
        .post(&format!("/api/tasks/{first}/heartbeat"), r#"{"token": "not-it"}"#)
        .await;
    assert_eq!(wrong.status, StatusCode::CONFLICT);

    let no_summary = api
        .post(
            &format!("/api/tasks/{first}/complete"),
            r#"{"result": {"files": []}}"#,
        )
        .await;
    assert_eq!(no_summary.status, StatusCode::BAD_REQUEST, "{}", no_summary.text);
    assert_eq!(
        api.get(&format!("/api/tasks/{first}")).await.json["status"],
        "running"
    );

    let done = api
        .post(
            &format!("/api/tasks/{first}/complete"),
            &format!(r#"{{"result": {{"summary": "did a"}}, "token": "{token}", "stdout": "out"}}"#),
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text);
    assert_eq!(done.json["status"], "succeeded");
    assert_eq!(done.json["stdout"], "out");
    assert_eq!(
        api.post(
            &format!("/api/tasks/{first}/complete"),
            r#"{"result": {"summary": "again"}}"#
        )
        .await
        .status,
        StatusCode::CONFLICT
    );

    assert_eq!(api.claim().await["id"], second.as_str());
    let failed = api
        .post(&format!("/api/tasks/{second}/fail"), r#"{"error": "broke"}"#)
        .await;
    assert_eq!(failed.json["status"], "failed");
    assert_eq!(failed.json["error"], "broke");

    let again = api.post(&format!("/api/tasks/{second}/requeue"), "{}").await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.text);
    assert_eq!(again.json["status"], "queued");
    assert_eq!(again.json["payload"]["script_path"], "scripts/b.sh");
    assert_ne!(again.json["id"], second.as_str());
    assert_eq!(
        api.get(&format!("/api/tasks/{second}")).await.json["status"],
        "failed"
    );

    let shown = api.get(&format!("/api/tasks/{first}")).await;
    assert_eq!(shown.json["result"]["summary"], "did a");
    assert_eq!(shown.json["stale"], false);
    assert_eq!(
        api.get("/api/tasks/tsk_0000000000000000000").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn task_list_filters_and_cursor_paging() {
    let api = Api::new();
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(api.enqueue(&format!(r#"{{"n": {i}}}"#)).await);
    }
    api.claim().await;

    let all = api.get("/api/tasks").await;
    let listed: Vec<&str> = all.json["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .filter_map(|t| t["id"].as_str())
        .collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(listed, newest_first);
    assert_eq!(all.json["next_cursor"], Value::Null);

    let page1 = api.get("/api/tasks?limit=2").await;
    assert_eq!(page1.json["tasks"].as_array().map(Vec::len), Some(2));
    let cursor = page1.json["next_cursor"].as_str().expect("cursor").to_owned();
    let page2 = api.get(&format!("/api/tasks?limit=2&cursor={cursor}")).await;
    assert_eq!(page2.json["tasks"][0]["id"], newest_first[2].as_str());

    let running = api.get("/api/tasks?status=running&stream=auth").await;
    assert_eq!(running.json["tasks"].as_array().map(Vec::len), Some(1));
    assert_eq!(running.json["tasks"][0]["id"], ids[0].as_str());
    assert_eq!(
        api.get("/api/tasks?stale=true").await.json["tasks"]
            .as_array()
            .map(Vec::len),
        Some(0)
    );

    for bad in [
        "status=finished",
        "limit=0",
        "limit=5000",
        "limit=x",
        "stale=maybe",
        "cursor=nope",
        "colour=red",
        "stream=..%2Fx",
    ] {
        let reply = api.get(&format!("/api/tasks?{bad}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {}", reply.text);
    }
    assert_eq!(
        api.get("/api/tasks?stream=missing").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn a_task_copied_into_two_folders_is_listed_once_as_the_task_view_shows_it() {
    let api = Api::new();
    let id = api.enqueue("{}").await;
    api.claim().await;
    let claimed = api
        .project
        .state_dir("auth", "claimed")
        .join(format!("{id}.json"));
    let pending = api
        .project
        .state_dir("auth", "pending")
        .join(format!("{id}.json"));
    std::fs::copy(&claimed, &pending).expect("copy, as a merge of two spools would");
    let all = api.get("/api/tasks").await;
    let tasks = all.json["tasks"].as_array().cloned().unwrap_or_default();
    assert_eq!(tasks.len(), 1, "{}", all.text);
    let shown = api.get(&format!("/api/tasks/{id}")).await;
    assert_eq!(
        tasks[0]["status"], shown.json["status"],
        "the list and the task agree"
    );
}

#[tokio::test]
async fn reload_picks_up_new_tools_and_refuses_a_broken_config() {
    let api = Api::new();
    let config = api.project.path().join("sparkq.yml");
    let text = std::fs::read_to_string(&config).expect("read config");
    let added = text.replacen(
        "tools:\n",
        "tools:\n  lint-all: { description: Lint everything, task_class: FAST_SCRIPT }\n",
        1,
    );
    assert_ne!(added, text, "config has a tools: section");
    std::fs::write(&config, &added).expect("write config");
    let reply = api.post("/api/reload", "{}").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let tools = api.get("/api/tools").await;
    assert!(tools.text.contains("lint-all"));

    std::fs::write(&config, format!("{added}\nnot_a_key: 1\n")).expect("write config");
    let broken = api.post("/api/reload", "{}").await;
    assert_eq!(broken.status, StatusCode::BAD_REQUEST);
    assert!(
        broken.json["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("not_a_key"),
        "{}",
        broken.text
    );
    assert!(
        api.get("/api/tools").await.text.contains("lint-all"),
        "the running config is kept"
    );
}

#[tokio::test]
async fn web_ui_files_are_served() {
    let api = Api::new();
    for (path, kind) in [
        ("/", "text/html"),
        ("/app.js", "text/javascript"),
        ("/style.css", "text/css"),
        ("/main.js", "text/javascript"),
    ] {
        let reply = api.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        let content_type = reply
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(reply.headers.get("content-security-policy").is_some());
    }
    let missing = api.get("/nope.js").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json["error"]["code"], "not_found");
}

#[tokio::test]
async fn serve_on_port_zero_streams_events_and_shuts_down_with_a_client_connected() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    let api = Api::new();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let _watcher = sparkq::http::watch_spool(&api.state).expect("watch the spool");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sparkq::http::serve(listener, api.state.clone(), async {
        let _ = stopped.await;
    }));

    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let request = format!("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut lines = BufReader::new(stream).lines();
    let mut next_containing = async |needle: &str| loop {
        let line = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("an event in time")
            .expect("read")
            .expect("stream open");
        if line.contains(needle) {
            return line;
        }
    };
    next_containing("event: hello").await;
    let id = api.project.enqueue("auth", "{}");
    next_containing(&format!(r#""id":"{id}""#)).await;

    let _ = stop.send(());
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .expect("graceful shutdown does not wait on the open event stream")
        .expect("join")
        .expect("serve");
}
