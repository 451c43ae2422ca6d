//! The web UI in real headless Chromium: a user clicks through sessions,
//! streams and the enqueue form, watches a task go live through CLI claims
//! and completions, opens its detail page, requeues a failure, and sees the
//! stale and auto-failed markers. Hostile strings in every user field must
//! render as inert text. A screenshot of each page is saved under
//! `target/screenshots/` for a person to look at.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};

use crate::server_support::Server;
use crate::support::Project;
use crate::webdriver::Browser;

const XSS: &str =
    r#"<script>window.__xss=1</script><img src=x onerror="window.__xss=1"> javascript:window.__xss=1"#;

fn shots() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("screenshots")
}

/// Rewrites a running task's file, as time passing would: `started_at`
/// moved `ago` into the past, and `attempts` set.
fn age_claim(project: &Project, stream: &str, id: &str, ago: Duration, attempts: u32) {
    let path = project.state_dir(stream, "claimed").join(format!("{id}.json"));
    let mut task: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("claimed file")).expect("json");
    let started = humantime::format_rfc3339_micros(SystemTime::now() - ago).to_string();
    task["started_at"] = json!(started);
    task["heartbeat_at"] = Value::Null;
    task["attempts"] = json!(attempts);
    let temp = path.with_file_name(format!(".{id}.edit.tmp"));
    std::fs::write(&temp, serde_json::to_string_pretty(&task).expect("json")).expect("write");
    std::fs::rename(&temp, &path).expect("rename");
}

/// Fails unless nothing hostile ran or became markup on the current page.
fn assert_inert(browser: &Browser, page: &str) {
    let report = browser.exec(
        "return {xss: window.__xss === undefined ? null : window.__xss,
                 imgs: document.querySelectorAll('main img, #notice img').length,
                 scripts: document.querySelectorAll('body script').length,
                 jsLinks: document.querySelectorAll('a[href^=\"javascript:\" i]').length};",
        vec![],
    );
    assert_eq!(
        report,
        json!({"xss": null, "imgs": 0, "scripts": 0, "jsLinks": 0}),
        "on {page}"
    );
}

fn row_text(browser: &Browser, id: &str) -> String {
    browser.text(&format!("tr[data-id=\"{id}\"]"))
}

#[test]
fn click_through_the_web_ui() {
    let browser = Browser::start();
    let p = Project::new();
    std::fs::create_dir_all(p.path().join("scripts")).expect("mkdir");
    std::fs::write(
        p.path().join("scripts/deploy.sh"),
        "#!/bin/sh\n# description: Deploy the app\n# tags: ops\necho deploy\n",
    )
    .expect("write");
    std::fs::write(
        p.path().join("scripts/report.py"),
        "# description: Weekly report\n",
    )
    .expect("write");
    let server = Server::start(&p);
    let shot = |name: &str| browser.screenshot(&shots().join(format!("{name}.png")));
    let page = |route: &str| browser.goto(&server.url(&format!("/#/{route}")));

    // Sessions: create one from the form.
    page("sessions");
    browser.type_into("#session-name", "api-v2");
    browser.type_into("#session-description", XSS);
    browser.click("#session-form button[type=submit]");
    browser.wait_for("tr[data-name=\"api-v2\"]");
    assert!(
        row_text(&browser, "api-v2").is_empty(),
        "rows are keyed by data-name, not data-id"
    );
    assert!(
        browser.text("tr[data-name=\"api-v2\"]").contains("<img src=x"),
        "the description shows as text"
    );
    assert_inert(&browser, "sessions");
    shot("sessions");

    // Streams: create one with hostile instructions.
    page("streams");
    browser.wait_for("#stream-session option[value=\"api-v2\"]");
    browser.type_into("#stream-name", "auth");
    browser.type_into("#stream-instructions", &format!("Goal: ship login.\n{XSS}"));
    browser.click("#stream-form button[type=submit]");
    browser.wait_for("tr[data-name=\"auth\"]");
    assert!(
        browser.text("tr[data-name=\"auth\"]").contains("<script>"),
        "instructions preview is text"
    );
    assert_inert(&browser, "streams");
    shot("streams");

    // Enqueue from the form, picking the script from the autocomplete.
    page("enqueue");
    browser.select("#enqueue-tool", "run-bash");
    browser.select("#enqueue-stream", "auth");
    browser.type_into("#enqueue-script", "depl");
    browser.wait_for("#script-suggestions li[data-path=\"scripts/deploy.sh\"]");
    shot("enqueue-autocomplete");
    browser.click("#script-suggestions li[data-path=\"scripts/deploy.sh\"]");
    let payload = browser.exec("return document.querySelector('#enqueue-payload').value;", vec![]);
    assert!(
        payload
            .as_str()
            .unwrap_or("")
            .contains("\"script_path\": \"scripts/deploy.sh\""),
        "{payload}"
    );
    browser.click("#enqueue-form button[type=submit]");
    let id = browser.wait_for_js(
        "the queued notice",
        "const a = document.querySelector('#notice a'); return a ? a.textContent : null;",
    );
    let id = id.as_str().expect("task id").to_owned();
    shot("enqueue");

    // Task list: the task goes live through claim and complete from the CLI.
    page("tasks");
    browser.wait_for(&format!("tr[data-id=\"{id}\"]"));
    assert!(row_text(&browser, &id).contains("queued"));
    p.claim("auth");
    browser.wait_for_js(
        "the row to show running",
        &format!("return document.querySelector('tr[data-id=\"{id}\"] .status-running');"),
    );
    let result = json!({"summary": format!("Deployed. {XSS}"), "files": [XSS]}).to_string();
    p.sparkq([
        "complete",
        &id,
        "--result",
        &result,
        "--stdout",
        &format!("log line\n{XSS}"),
        "--stderr",
        XSS,
    ])
    .success();
    browser.wait_for_js(
        "the row to show succeeded",
        &format!("return document.querySelector('tr[data-id=\"{id}\"] .status-succeeded');"),
    );
    shot("tasks");

    // Detail page: summary first, hostile text inert.
    browser.click(&format!("tr[data-id=\"{id}\"] a"));
    browser.wait_for(".summary");
    let first_section = browser.text(".detail-section h2");
    assert_eq!(first_section, "Summary", "the summary comes first");
    assert_eq!(browser.text(".summary"), format!("Deployed. {XSS}"));
    assert!(
        browser.text("main").contains("Goal: ship login."),
        "stream instructions are shown"
    );
    assert!(browser.text("main").contains("log line"), "stdout is shown");
    assert_inert(&browser, "task detail");
    shot("task-detail");

    // A failed task with hostile payload and error, requeued from the list.
    let failed = p.enqueue("auth", &json!({"script_path": XSS, "args": XSS}).to_string());
    p.claim("auth");
    p.sparkq(["fail", &failed, "--error", XSS, "--stdout", XSS])
        .success();
    page("tasks?status=failed");
    browser.wait_for(&format!("tr[data-id=\"{failed}\"] button[data-action=requeue]"));
    browser.click(&format!("tr[data-id=\"{failed}\"] button[data-action=requeue]"));
    // Requeue asks first, in a dialog; nothing is sent before Requeue.
    browser.wait_for("dialog[open] #requeue-confirm");
    browser.click("#requeue-confirm");
    let requeued = browser.wait_for_js(
        "the requeue notice",
        "const a = document.querySelector('#notice .ok a'); return a ? a.textContent : null;",
    );
    let new_id = requeued.as_str().unwrap_or("").to_owned();
    assert!(new_id.starts_with("tsk_"), "{requeued}");
    assert_eq!(server.get(&format!("/api/tasks/{new_id}")).1["status"], "queued");
    assert_eq!(
        server.get(&format!("/api/tasks/{failed}")).1["status"],
        "failed",
        "the original stays"
    );
    page(&format!("task/{failed}"));
    browser.wait_for("pre.error");
    assert_eq!(browser.text("pre.error"), XSS);
    assert_inert(&browser, "failed task detail");
    // The trail shows, and requeueing again asks first; declining sends nothing.
    browser.wait_for("#requeue-trail");
    assert_eq!(browser.text("#requeue-trail"), format!("Requeued as {new_id}"));
    let queued = || {
        server.get("/api/tasks?status=queued").1["tasks"]
            .as_array()
            .map(Vec::len)
    };
    let before = queued();
    browser.click(".page-head button[data-action=requeue]");
    browser.wait_for("dialog[open] #requeue-already");
    assert!(
        browser
            .text("#requeue-already")
            .contains(&format!("already requeued as {new_id}")),
        "{}",
        browser.text("#requeue-already")
    );
    browser.click("#requeue-cancel");
    assert_eq!(queued(), before, "declining queued nothing");
    shot("task-failed");

    // Stale and auto-failed markers: one claim past its timeout, one past
    // twice its timeout with no attempts left, which the server auto-fails.
    p.sparkq(["claim", "--stream", "auth"]).success();
    let stale = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "auth", "--timeout", "60"])
        .success()
        .stdout()
        .trim()
        .to_owned();
    let dead = p
        .sparkq(["enqueue", "run-bash", "{}", "--stream", "auth", "--timeout", "60"])
        .success()
        .stdout()
        .trim()
        .to_owned();
    p.claim("auth");
    p.claim("auth");
    age_claim(&p, "auth", &stale, Duration::from_secs(90), 1);
    age_claim(&p, "auth", &dead, Duration::from_secs(600), 2);
    page("tasks");
    browser.wait_for(&format!("tr[data-id=\"{stale}\"] .badge.stale"));
    browser.wait_for_js(
        "the auto-failed marker",
        &format!("return document.querySelector('tr[data-id=\"{dead}\"] .badge.autofailed');"),
    );
    shot("tasks-markers");

    page("");
    browser.wait_for(".stream-card");
    browser.wait_for("svg.chart");
    assert!(
        browser.text(".count-stale").starts_with('1'),
        "dashboard counts the stale task: {}",
        browser.text(".counts")
    );
    assert_inert(&browser, "dashboard");
    shot("dashboard");

    browser.color_scheme("dark");
    shot("dashboard-dark");
    page(&format!("task/{id}"));
    browser.wait_for(".summary");
    shot("task-detail-dark");
    browser.color_scheme("light");
    browser.window_size(390, 844);
    page("");
    browser.wait_for(".stream-card");
    shot("dashboard-phone");
    page("tasks");
    browser.wait_for(&format!("tr[data-id=\"{id}\"]"));
    shot("tasks-phone");

    browser.assert_no_console_errors();
}

#[test]
fn conflicts_show_as_a_marker_in_the_list_and_a_section_in_the_detail() {
    let browser = Browser::start();
    let p = Project::with_stream("s");
    let plain = p.enqueue("s", "{}");
    let id = p.enqueue("s", "{}");
    p.claim("s");
    let token = p.claim("s")["claim_token"].as_str().expect("token").to_owned();
    p.sparkq([
        "complete",
        &id,
        "--token",
        &token,
        "--result",
        r#"{"summary": "Deployed from the desk."}"#,
    ])
    .success();
    // A sync brought in three losing copies, shaped as the model writes them.
    let at =
        |ago: u64| humantime::format_rfc3339_micros(SystemTime::now() - Duration::from_secs(ago)).to_string();
    let path = p.state_dir("s", "done").join(format!("{id}.json"));
    let mut task: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("done file")).expect("json");
    task["conflicts"] = json!([
        {"attempt": 1, "status": "failed", "claimed_by": "laptop:4242", "claim_token": "tok-laptop",
         "started_at": at(300), "finished_at": at(240), "error": format!("Build broke on the laptop. {XSS}"),
         "stderr": XSS},
        {"attempt": 1, "status": "succeeded", "claimed_by": format!("ci:9 {XSS}"), "claim_token": "tok-ci",
         "started_at": at(200), "finished_at": at(100), "result": {"summary": format!("Also deployed, from CI. {XSS}")}},
        {"attempt": 1, "status": "running", "claimed_by": "spare:7", "claim_token": "tok-spare", "started_at": at(50)},
    ]);
    let temp = path.with_file_name(format!(".{id}.edit.tmp"));
    std::fs::write(&temp, serde_json::to_string_pretty(&task).expect("json")).expect("write");
    std::fs::rename(&temp, &path).expect("rename");
    let server = Server::start(&p);
    assert_eq!(
        server.get(&format!("/api/tasks/{id}")).1["conflicts"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    browser.goto(&server.url("/#/tasks"));
    browser.wait_for(&format!("tr[data-id=\"{id}\"] .badge.conflict"));
    assert_eq!(
        browser.text(&format!("tr[data-id=\"{id}\"] .badge.conflict")),
        "conflicts ×3"
    );
    let unmarked = browser.exec(
        &format!("return document.querySelectorAll('tr[data-id=\"{plain}\"] .badge.conflict').length;"),
        vec![],
    );
    assert_eq!(unmarked, json!(0), "a task without conflicts has no marker");
    assert_inert(&browser, "task list with conflicts");
    browser.screenshot(&shots().join("tasks-conflict.png"));

    browser.click(&format!("tr[data-id=\"{id}\"] a"));
    browser.wait_for("section.conflicts");
    assert_eq!(
        browser.text(".detail-section h2"),
        "Summary",
        "the winning summary still comes first"
    );
    assert_eq!(browser.text("section.conflicts h2"), "Conflicts");
    let items = browser.exec(
        "return [...document.querySelectorAll('section.conflicts li.conflict-item')].map((li) => ({
            kind: li.querySelector('.conflict-kind').textContent,
            worker: li.querySelector('.conflict-worker').textContent,
            summary: li.querySelector('.conflict-summary')?.textContent ?? null,
            error: li.querySelector('.conflict-error')?.textContent ?? null,
            times: li.querySelector('.conflict-times')?.textContent ?? ''}));",
        vec![],
    );
    let items = items.as_array().expect("conflict items");
    assert_eq!(items.len(), 3, "{items:?}");
    assert_eq!(
        (&items[0]["kind"], &items[0]["worker"], &items[0]["summary"]),
        (&json!("double finish"), &json!("laptop:4242"), &Value::Null)
    );
    assert_eq!(items[0]["error"], format!("Build broke on the laptop. {XSS}"));
    assert!(
        items[0]["times"]
            .as_str()
            .is_some_and(|t| t.contains("started") && t.contains("finished")),
        "{items:?}"
    );
    assert_eq!(items[1]["kind"], "double finish");
    assert_eq!(items[1]["worker"], format!("ci:9 {XSS}"));
    assert_eq!(items[1]["summary"], format!("Also deployed, from CI. {XSS}"));
    assert_eq!(
        (&items[2]["kind"], &items[2]["error"]),
        (&json!("rival claim"), &Value::Null)
    );
    assert_inert(&browser, "task detail with conflicts");
    browser.screenshot(&shots().join("task-conflicts.png"));

    browser.assert_no_console_errors();
}
