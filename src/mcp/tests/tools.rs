//! Every tool doing its job, and the shape of `tools/list`.

use std::time::{Duration, Instant};

use serde_json::json;

use super::Harness;

const TOOLS: [&str; 10] = [
    "claim_task",
    "complete_task",
    "enqueue_task",
    "fail_task",
    "get_task",
    "heartbeat_task",
    "list_streams",
    "list_tasks",
    "peek_task",
    "requeue_task",
];

#[tokio::test]
async fn tools_list_is_small_and_documents_every_parameter() {
    let h = Harness::new().await;
    let tools = h.client.list_all_tools().await.unwrap();
    let mut names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    names.sort_unstable();
    assert_eq!(names, TOOLS);
    for tool in &tools {
        let description = tool.description.as_deref().unwrap_or_default();
        assert!(
            !description.is_empty() && description.len() <= 120,
            "{}: {description}",
            tool.name
        );
        let properties = tool.input_schema["properties"].as_object().unwrap();
        assert!(!properties.is_empty(), "{}", tool.name);
        for (name, schema) in properties {
            assert!(
                schema.get("description").is_some(),
                "{}.{name} is undocumented",
                tool.name
            );
        }
    }
    let size = serde_json::to_string(&tools).unwrap().len();
    eprintln!("tools/list: {size} bytes of tools");
    assert!(size < 3800, "tools/list grew to {size} bytes");
}

#[tokio::test]
async fn a_task_goes_from_enqueue_to_done_and_back() {
    let h = Harness::new().await;
    let payload = json!({"script_path": "scripts/x.sh", "args": ["--dry-run"]});
    let queued = h
        .ok(
            "enqueue_task",
            json!({"stream": "auth", "tool_name": "run-bash", "payload": payload, "timeout": 60}),
        )
        .await;
    let id = queued["id"].as_str().unwrap().to_owned();
    assert_eq!(queued["status"], "queued");
    assert_eq!(queued["timeout"], 60);

    let peeked = h.ok("peek_task", json!({"stream": "auth"})).await;
    assert_eq!(peeked["id"], id.as_str());
    assert_eq!(peeked["payload"], payload);

    let claimed = h
        .ok("claim_task", json!({"stream": "auth", "worker": "w1"}))
        .await;
    assert_eq!(claimed["id"], id.as_str());
    assert_eq!(claimed["status"], "running");
    assert_eq!(claimed["claimed_by"], "w1");
    assert_eq!(claimed["stream"]["instructions"], "Do the thing.");
    let token = claimed["claim_token"].as_str().unwrap().to_owned();
    assert_eq!(h.ok("peek_task", json!({"stream": "auth"})).await, json!(null));

    let beat = h.ok("heartbeat_task", json!({"id": id, "token": token})).await;
    assert_eq!(beat["status"], "running");
    assert!(beat["heartbeat_at"].is_string());

    let result = json!({"summary": "Dry run clean", "files": 3});
    let args = json!({"id": id, "token": token, "result": result, "stdout": "ok\n", "stderr": "warn\n"});
    assert_eq!(
        h.ok("complete_task", args).await,
        json!({"id": id, "status": "succeeded"})
    );

    let task = h.ok("get_task", json!({"id": id})).await;
    assert_eq!(task["result"], result);
    assert_eq!(task["stdout"], "ok\n");
    assert_eq!(task["stderr"], "warn\n");

    let rows = h
        .ok("list_tasks", json!({"stream": "auth", "status": "succeeded"}))
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["summary"], "Dry run clean");
    assert!(rows[0].get("stdout").is_none(), "rows carry no output: {rows}");

    let streams = h.ok("list_streams", json!({"session": "s1"})).await;
    assert_eq!(streams[0]["name"], "auth");
    assert_eq!(streams[0]["instructions"], "Do the thing.");
    assert_eq!(streams[0]["counts"]["succeeded"], 1);

    let again = h.ok("requeue_task", json!({"id": id})).await;
    assert_eq!(again["status"], "queued");
    assert_eq!(again["requeued_from"], id.as_str());
    assert_ne!(again["id"], id.as_str());
    assert!(again.get("already_requeued_as").is_none(), "{again}");
    assert_eq!(h.ok("list_streams", json!({})).await[0]["counts"]["queued"], 1);
    // A second requeue works and says so; stream and payload may change.
    h.queue.create_stream("auth2", "s1", "").unwrap();
    let args = json!({"id": id, "stream": "auth2", "payload": "{\"script_path\": \"b.sh\"}"});
    let twice = h.ok("requeue_task", args).await;
    assert_eq!(twice["already_requeued_as"], again["id"]);
    assert_eq!(twice["stream"], "auth2");
    let copy = h.ok("get_task", json!({"id": twice["id"]})).await;
    assert_eq!(copy["payload"], json!({"script_path": "b.sh"}));
    assert_eq!(copy["requeued_from"], id.as_str());
}

#[tokio::test]
async fn a_failed_task_keeps_its_error() {
    let h = Harness::new().await;
    let id = h.enqueue();
    let claimed = h.ok("claim_task", json!({"stream": "auth"})).await;
    assert_eq!(
        claimed["claimed_by"], "mcp-test",
        "the default worker names the client"
    );
    let args = json!({"id": id, "token": claimed["claim_token"], "error": "no login route", "stderr": "404"});
    assert_eq!(h.ok("fail_task", args).await["status"], "failed");
    let rows = h.ok("list_tasks", json!({"status": "failed", "limit": 5})).await;
    assert_eq!(rows[0]["error"], "no login route");
    assert_eq!(h.ok("get_task", json!({"id": id})).await["stderr"], "404");
}

#[tokio::test]
async fn claim_answers_null_when_nothing_is_queued() {
    let h = Harness::new().await;
    assert_eq!(h.ok("claim_task", json!({"stream": "auth"})).await, json!(null));
    let started = Instant::now();
    let args = json!({"stream": "auth", "wait_seconds": 1});
    assert_eq!(h.ok("claim_task", args).await, json!(null));
    assert!(started.elapsed() >= Duration::from_secs(1));
}

#[tokio::test]
async fn claim_waits_for_a_task_to_arrive() {
    let h = Harness::new().await;
    let queue = h.queue.clone();
    let producer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let new = crate::queue::NewTask {
            tool_name: "run-bash".to_owned(),
            payload: json!({}),
            timeout: None,
            task_class: None,
        };
        queue.enqueue("auth", new).unwrap().id.to_string()
    });
    let started = Instant::now();
    let claimed = h
        .ok("claim_task", json!({"stream": "auth", "wait_seconds": 30}))
        .await;
    let id = producer.join().unwrap();
    assert_eq!(claimed["id"], id.as_str());
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[tokio::test]
async fn list_tasks_flags_stale_claims() {
    let h = Harness::new().await;
    let new = crate::queue::NewTask {
        tool_name: "run-bash".to_owned(),
        payload: json!({}),
        timeout: Some(10),
        task_class: None,
    };
    let id = h.queue.enqueue("auth", new).unwrap().id;
    h.ok("claim_task", json!({"stream": "auth"})).await;
    assert_eq!(h.ok("list_tasks", json!({"stale": true})).await, json!([]));
    // Age the claim past its timeout but not past twice it (when it would
    // be taken back), without waiting: its worker went quiet 15 s ago.
    let quiet_since = std::time::SystemTime::now() - Duration::from_secs(15);
    h.set_time("claimed", &id, "started_at", quiet_since);

    let rows = h.ok("list_tasks", json!({"stale": true})).await;
    assert_eq!(rows[0]["id"], id.as_str());
    assert_eq!(rows[0]["stale"], true);
}

#[tokio::test]
async fn list_tasks_since_keeps_what_changed_in_the_window() {
    let h = Harness::new().await;
    let new = || crate::queue::NewTask {
        tool_name: "run-bash".to_owned(),
        payload: json!({}),
        timeout: None,
        task_class: None,
    };
    let old = h.queue.enqueue("auth", new()).unwrap().id;
    let fresh = h.queue.enqueue("auth", new()).unwrap().id;
    // The first was last touched three hours ago.
    let then = std::time::SystemTime::now() - Duration::from_secs(3 * 3600);
    h.set_time("pending", &old, "updated_at", then);

    let ids = |rows: serde_json::Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let recent = ids(h.ok("list_tasks", json!({"since": "1h"})).await);
    assert_eq!(recent, [fresh.to_string()]);
    let both = ids(h.ok("list_tasks", json!({"since": "4h"})).await);
    assert_eq!(both, [fresh.to_string(), old.to_string()]);
    let at = crate::model::Timestamp::from_system(then - Duration::from_secs(1)).to_string();
    assert_eq!(ids(h.ok("list_tasks", json!({"since": at})).await).len(), 2);
}

#[tokio::test]
async fn list_tasks_filters_by_text_tool_and_worker_as_sparkq_tasks_does() {
    let h = Harness::new().await;
    let enqueue = |tool: &str, payload: serde_json::Value| {
        let new = crate::queue::NewTask {
            tool_name: tool.to_owned(),
            payload,
            timeout: None,
            task_class: None,
        };
        h.queue.enqueue("auth", new).unwrap().id.to_string()
    };
    let deploy = enqueue("run-bash", json!({"script_path": "scripts/deploy.sh"}));
    let docs = enqueue("llm-haiku", json!({"prompt": "Write the docs"}));
    let claimed = h
        .ok("claim_task", json!({"stream": "auth", "worker": "w7"}))
        .await;
    assert_eq!(claimed["id"], deploy.as_str());
    let ids = |rows: serde_json::Value| -> Vec<String> {
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    for (filter, expected) in [
        (json!({"q": "deploy.sh"}), vec![deploy.clone()]),
        (json!({"q": "DOCS"}), vec![docs.clone()]),
        (json!({"tool": "llm-haiku"}), vec![docs.clone()]),
        (json!({"worker": "w7"}), vec![deploy.clone()]),
        (json!({"tool": "run-bash", "worker": "w8"}), vec![]),
        (json!({}), vec![docs.clone(), deploy.clone()]),
    ] {
        assert_eq!(
            ids(h.ok("list_tasks", filter.clone()).await),
            expected,
            "{filter}"
        );
    }
}

#[tokio::test]
#[ignore = "prints the tools/list answer for inspection"]
async fn print_tools_list() {
    let h = Harness::new().await;
    let tools = h.client.list_all_tools().await.unwrap();
    println!("{}", serde_json::to_string_pretty(&tools).unwrap());
}

#[tokio::test]
async fn a_cancelled_wait_takes_no_task() {
    let h = Harness::new().await;
    let mut waiting = Box::pin(h.call("claim_task", json!({"stream": "auth", "wait_seconds": 30})));
    tokio::select! {
        _ = &mut waiting => panic!("nothing was queued, so the claim must still be waiting"),
        () = h.wait_for("the claim to wait", || h.server.calls_in_flight() == 1) => {}
    }
    // Dropping the call sends notifications/cancelled: the wait ends, and
    // with it every claim it could make. Once no call runs, nothing can
    // take the task queued next.
    drop(waiting);
    h.wait_for("the cancelled wait to end", || h.server.calls_in_flight() == 0)
        .await;
    let id = h.enqueue();
    let pending = h.queue.peek("auth").unwrap().map(|t| t.task.id.to_string());
    assert_eq!(pending, Some(id), "the cancelled wait must leave the task queued");
}

#[tokio::test]
async fn payload_and_result_are_declared_objects_and_accepted_as_json_text() {
    let h = Harness::new().await;
    let tools = h.client.list_all_tools().await.unwrap();
    let property = |tool: &str, name: &str| {
        let tool = tools.iter().find(|t| t.name == tool).unwrap();
        tool.input_schema["properties"][name]["type"].clone()
    };
    assert_eq!(property("enqueue_task", "payload"), "object");
    assert_eq!(property("complete_task", "result"), "object");

    // A model that sends the object as its JSON text is understood.
    let payload = r#"{"script_path": "scripts/x.sh"}"#;
    let queued = h
        .ok(
            "enqueue_task",
            json!({"stream": "auth", "tool_name": "run-bash", "payload": payload}),
        )
        .await;
    let id = queued["id"].as_str().unwrap().to_owned();
    let task = h.ok("get_task", json!({"id": id})).await;
    assert_eq!(task["payload"], json!({"script_path": "scripts/x.sh"}));
    let claimed = h.ok("claim_task", json!({"stream": "auth"})).await;
    let token = claimed["claim_token"].as_str().unwrap();
    let result = r#"{"summary": "ran it"}"#;
    h.ok(
        "complete_task",
        json!({"id": id, "token": token, "result": result}),
    )
    .await;
    let task = h.ok("get_task", json!({"id": id})).await;
    assert_eq!(task["result"], json!({"summary": "ran it"}));
    // Text that is not a JSON object is still refused with the queue's words.
    let refused = h.err("complete_task", json!({"id": id, "result": "done"})).await;
    assert!(refused.contains("it must be a JSON object"), "{refused}");
}
