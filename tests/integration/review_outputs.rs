//! Big outputs (issue 11): a task with 4 MiB of stdout is shown as its
//! first and last lines in the preview view, and in full, as text or as a
//! download, through a real server.

use std::time::Duration;

use crate::server_support::Server;
use crate::support::{PastTask, Project};

/// Status, headers of interest and body of `GET path`.
fn fetch(server: &Server, path: &str) -> (u16, Option<String>, Option<String>, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(&server.url(path)).call().expect("GET");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let (kind, disposition) = (header("content-type"), header("content-disposition"));
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .expect("body");
    (response.status().as_u16(), kind, disposition, body)
}

#[test]
fn a_4_mib_stdout_is_previewed_by_its_ends_and_served_whole_as_text_or_a_file() {
    let project = Project::with_stream("auth");
    let line = |i: usize| format!("{i:06} {}\n", "x".repeat(56));
    let stdout: String = (0..65_536).map(line).collect();
    assert_eq!(stdout.len(), 4 * 1024 * 1024);
    let mut task = PastTask::done("auth", Duration::from_secs(600), Duration::from_secs(30));
    task.stdout = stdout.clone();
    let id = project.put_task(&task);
    let server = Server::start(&project);

    let (status, preview) = server.get(&format!("/api/tasks/{id}?outputs=preview"));
    assert_eq!(status, 200, "{preview}");
    assert_eq!(preview["stdout_bytes"], 4 * 1024 * 1024);
    assert_eq!(preview["stdout_truncated"], true);
    assert_eq!(preview["stderr_bytes"], 0);
    assert_eq!(preview["stderr_truncated"], false);
    let shown: Vec<&str> = preview["stdout"].as_str().unwrap().lines().collect();
    assert_eq!(shown.len(), 201);
    assert_eq!(format!("{}\n", shown[0]), line(0));
    assert_eq!(format!("{}\n", shown[99]), line(99));
    assert!(shown[100].contains("(65336 lines) not shown"), "{}", shown[100]);
    assert_eq!(format!("{}\n", shown[101]), line(65_436));
    assert_eq!(format!("{}\n", shown[200]), line(65_535));
    assert_eq!(
        preview["summary"],
        serde_json::Value::Null,
        "a view, not a listing"
    );
    assert_eq!(preview["result"]["summary"], "all good");

    // Without the preview the view is as it always was: whole, no sizes.
    let (_, full) = server.get(&format!("/api/tasks/{id}"));
    assert_eq!(full["stdout"].as_str().map(str::len), Some(stdout.len()));
    assert!(full.get("stdout_truncated").is_none());

    let (status, kind, disposition, body) = fetch(&server, &format!("/api/tasks/{id}/stdout"));
    assert_eq!(status, 200);
    assert_eq!(kind.as_deref(), Some("text/plain; charset=utf-8"));
    assert_eq!(disposition, None);
    assert!(body == stdout, "the whole stdout, byte for byte");
    let (status, _, disposition, body) = fetch(&server, &format!("/api/tasks/{id}/stdout?download=1"));
    assert_eq!(status, 200);
    assert_eq!(
        disposition.as_deref(),
        Some(format!("attachment; filename=\"{id}.stdout.txt\"").as_str())
    );
    assert!(body == stdout);
    let (status, _, disposition, body) = fetch(&server, &format!("/api/tasks/{id}/stderr?download=1"));
    assert_eq!((status, body.as_str()), (200, ""));
    assert_eq!(
        disposition.as_deref(),
        Some(format!("attachment; filename=\"{id}.stderr.txt\"").as_str())
    );

    for (path, code, words) in [
        (
            format!("/api/tasks/{id}?outputs=tiny"),
            400,
            "Use outputs=preview",
        ),
        (
            format!("/api/tasks/{id}/stdout?download=maybe"),
            400,
            "Use download=1",
        ),
        (format!("/api/tasks/{id}/stdout?lines=5"), 400, "unknown field"),
        (
            "/api/tasks/tsk_nosuchtask/stdout".to_owned(),
            404,
            "tsk_nosuchtask",
        ),
    ] {
        let (status, body) = server.get(&path);
        assert_eq!(status, code, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(words), "{path}: {message}");
    }
}
