//! `sparkq mcp` as a real process, driven by rmcp's client over the
//! child's stdio: the protocol end to end, and an MCP worker racing a CLI
//! worker on one stream.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::TokioChildProcess;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{Value, json};

use crate::support::Project;

/// A client connected to `sparkq mcp` started in the project folder.
async fn connect(dir: &Path) -> RunningService<RoleClient, ()> {
    let mut cmd = tokio::process::Command::from(crate::support::sparkq_command());
    cmd.arg("mcp").current_dir(dir).env_remove("SPARKQ_CONFIG");
    let (transport, _) = TokioChildProcess::builder(cmd)
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sparkq mcp");
    ().serve(transport).await.expect("initialize")
}

async fn call(client: &RunningService<RoleClient, ()>, tool: &'static str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments must be an object")
    };
    let params = CallToolRequestParams::new(tool).with_arguments(args);
    client.call_tool(params).await.expect("tools/call")
}

fn text(result: &CallToolResult) -> &str {
    &result.content[0].as_text().expect("text content").text
}

/// Calls `tool`, expects success, and parses the answer.
async fn ok(client: &RunningService<RoleClient, ()>, tool: &'static str, args: Value) -> Value {
    let result = call(client, tool, args).await;
    assert_eq!(result.is_error, Some(false), "{tool}: {}", text(&result));
    serde_json::from_str(text(&result)).expect("JSON answer")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_client_drives_the_real_binary() {
    let p = Project::with_stream("auth");
    let client = connect(p.path()).await;
    let info = client.peer_info().expect("server info");
    assert_eq!(info.server_info.as_ref().map(|i| i.name.as_str()), Some("sparkq"));
    assert_eq!(client.list_all_tools().await.expect("tools/list").len(), 10);

    let args = json!({"stream": "auth", "tool_name": "run-bash", "payload": {"script_path": "scripts/x.sh"}});
    let id = ok(&client, "enqueue_task", args).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let claimed = ok(&client, "claim_task", json!({"stream": "auth"})).await;
    assert_eq!(claimed["id"], id.as_str());
    assert_eq!(claimed["stream"]["instructions"], "Do the thing.");
    let token = claimed["claim_token"].clone();

    let stdout = "0123456789abcde\n".repeat(64 * 1024);
    assert_eq!(stdout.len(), 1024 * 1024);
    let args = json!({"id": id, "token": token, "result": {"summary": "ran it"}, "stdout": stdout});
    assert_eq!(ok(&client, "complete_task", args).await["status"], "succeeded");
    let task = p.sparkq(["task", &id, "--json"]).success().json();
    assert_eq!(task["stdout"].as_str().map(str::len), Some(1024 * 1024));
    assert_eq!(task["result"]["summary"], "ran it");

    let id = p.enqueue("auth", "{}");
    let token = ok(&client, "claim_task", json!({"stream": "auth"})).await["claim_token"].clone();
    let refused = call(
        &client,
        "complete_task",
        json!({"id": id, "token": token, "result": {"note": "x"}}),
    )
    .await;
    assert_eq!(refused.is_error, Some(true));
    let cli = p
        .sparkq(["complete", &id, "--result", r#"{"note": "x"}"#])
        .fails_with("summary");
    assert_eq!(
        cli.stderr(),
        format!("Error: {}\n", text(&refused)),
        "MCP and CLI say the same"
    );
    assert_eq!(
        p.files("auth", "claimed"),
        [format!("{id}.json")],
        "the task is still running"
    );

    client.cancel().await.expect("close");
}

/// A CLI worker: claims and completes until nothing is left; returns the ids it finished.
fn cli_worker(dir: PathBuf) -> Vec<String> {
    let sparkq = |args: &[&str]| {
        let out = crate::support::sparkq_command()
            .args(args)
            .current_dir(&dir)
            .env_remove("SPARKQ_CONFIG")
            .output()
            .expect("run sparkq");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let mut done = Vec::new();
    loop {
        let out = sparkq(&["claim", "--stream", "auth", "--worker", "cli"]);
        if out.is_empty() {
            return done;
        }
        let task: Value = serde_json::from_slice(&out).expect("claim JSON");
        let id = task["id"].as_str().expect("claim has an id").to_owned();
        let token = task["claim_token"].as_str().expect("claim has a token");
        sparkq(&[
            "complete",
            &id,
            "--token",
            token,
            "--result",
            r#"{"summary": "cli"}"#,
        ]);
        done.push(id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_mcp_worker_and_a_cli_worker_do_every_task_exactly_once() {
    const TASKS: usize = 40;
    let p = Project::with_stream("auth");
    let batch: String = (0..TASKS)
        .map(|i| format!("{{\"tool_name\": \"run-bash\", \"payload\": {{\"n\": {i}}}}}\n"))
        .collect();
    let queued = p
        .sparkq_stdin(["enqueue", "--stream", "auth", "--batch", "-"], &batch)
        .success();
    let mut all: Vec<String> = queued.stdout().lines().map(str::to_owned).collect();
    assert_eq!(all.len(), TASKS);

    let client = connect(p.path()).await;
    let cli = std::thread::spawn({
        let dir = p.path().to_owned();
        move || cli_worker(dir)
    });
    let mut by_mcp = Vec::new();
    loop {
        let claimed = ok(&client, "claim_task", json!({"stream": "auth", "worker": "mcp"})).await;
        if claimed.is_null() {
            break;
        }
        let args =
            json!({"id": claimed["id"], "token": claimed["claim_token"], "result": {"summary": "mcp"}});
        ok(&client, "complete_task", args).await;
        by_mcp.push(claimed["id"].as_str().unwrap().to_owned());
    }
    let by_cli = cli.join().expect("CLI worker");
    client.cancel().await.expect("close");

    eprintln!("MCP did {}, CLI did {}", by_mcp.len(), by_cli.len());
    let mut done: Vec<String> = by_mcp.iter().chain(&by_cli).cloned().collect();
    done.sort();
    all.sort();
    assert_eq!(done, all, "every task done exactly once");
    assert_eq!(p.files("auth", "done").len(), TASKS);
    assert!(p.files("auth", "claimed").is_empty());
    assert!(p.files("auth", "failed").is_empty());
    for id in &by_mcp {
        let task = p.sparkq(["task", id, "--json"]).success().json();
        assert_eq!(
            task["result"]["summary"], "mcp",
            "{id} was finished by its claimer"
        );
    }
}

#[test]
fn setup_claude_installs_the_worker_slash_command() {
    let p = Project::new();
    let out = p.sparkq(["setup", "--claude"]).success().stdout();
    let path = p.path().join(".claude/commands/sparkq-worker.md");
    assert!(
        out.contains("created   ") && out.contains("sparkq-worker.md"),
        "{out}"
    );
    let text = std::fs::read_to_string(&path).expect("command written");
    assert!(text.starts_with("---\ndescription: "), "{text}");
    assert!(text.contains("argument-hint: <stream>") && text.contains("`$ARGUMENTS`"));
    assert!(text.contains("claim_task") && text.contains("complete_task"));

    let out = p.sparkq(["install-claude"]).success().stdout();
    assert!(out.starts_with("kept "), "{out}");
    std::fs::write(&path, "old").expect("edit");
    let out = p.sparkq(["install-claude"]).success().stdout();
    assert!(out.starts_with("updated "), "{out}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), text);
}

#[test]
fn mcp_without_a_project_says_so_and_exits_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = crate::support::sparkq_command()
        .arg("mcp")
        .current_dir(dir.path())
        .env_remove("SPARKQ_CONFIG")
        .stdin(Stdio::null())
        .output()
        .expect("run sparkq mcp");
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "stdout belongs to the protocol");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("Error: no sparkq.yml"), "{stderr}");
}
