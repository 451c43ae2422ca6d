//! The morning review in real headless Chromium (issue 11): a night of work
//! seeded into the spool (see `night`), then read as a person would —
//! failure reasons in the list, the "since you left" view, a row click and
//! j/k/Enter, the requeue dialog, big outputs, and the phone layout with
//! nothing scrolling sideways at 390 px.
//!
//! `screenshots_for_the_docs` (ignored; `scripts/screenshots.sh` runs it)
//! saves the pictures in docs/screenshots/.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::night;
use crate::server_support::Server;
use crate::support::Project;
use crate::webdriver::Browser;

/// Fails when the page is wider than the window, or a table scrolls
/// sideways inside its box (something scrolls sideways either way).
fn assert_no_sideways_scroll(browser: &Browser, page: &str) {
    let wide = browser.exec(
        "return [...document.querySelectorAll('.table-wrap')].filter((w) => w.scrollWidth > w.clientWidth + 1).length;",
        vec![],
    );
    assert_eq!(wide, json!(0), "a table scrolls sideways on {page}");
    let sizes = browser.exec(
        "return [document.documentElement.scrollWidth, window.innerWidth];",
        vec![],
    );
    let (scroll, inner) = (sizes[0].as_u64().unwrap_or(0), sizes[1].as_u64().unwrap_or(0));
    assert!(
        scroll <= inner && inner > 0,
        "{page} scrolls sideways at {inner} px: content is {scroll} px wide"
    );
}

fn task_of(night: &night::Night, id: &str) -> Value {
    night
        .tasks
        .iter()
        .find(|t| t["id"] == id)
        .cloned()
        .expect("seeded task")
}

#[test]
fn a_failures_reason_reads_from_the_list_and_a_row_opens_the_task() {
    let browser = Browser::start();
    let p = Project::new();
    let night = night::seed(&p, 40, 10);
    let server = Server::start(&p);
    let failed = night.ids("failed");
    assert!(failed.len() >= 2, "the seed has failures: {}", failed.len());

    browser.goto(&server.url("/#/tasks?status=failed"));
    let newest = failed.last().expect("a failure");
    let row = format!("tr[data-id=\"{newest}\"]");
    browser.wait_for(&row);
    let task = task_of(&night, newest);
    let error = task["error"].as_str().expect("error");
    assert!(
        browser.text(&format!("{row} .outcome-failed")).contains(error),
        "the row shows why it failed: {}",
        browser.text(&row)
    );
    let row_text = browser.text(&row);
    for part in [
        task["tool_name"].as_str().expect("tool"),
        task["claimed_by"].as_str().expect("worker"),
        task["stream"].as_str().expect("stream"),
    ] {
        assert!(row_text.contains(part), "row shows {part}: {row_text}");
    }
    // The payload's key field, as the server picks it (`payload_key`).
    let listed = server.get("/api/tasks?status=failed&limit=1000").1;
    let key = listed["tasks"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == newest.as_str()))
        .and_then(|r| r["payload_key"].as_str())
        .expect("payload_key")
        .to_owned();
    assert!(
        row_text.contains(&key),
        "row shows the payload's key {key}: {row_text}"
    );
    let rows = browser.exec("return document.querySelectorAll('tr.task-row').length;", vec![]);
    assert_eq!(rows, json!(failed.len()), "only the failures are listed");

    // The time column has the date, the relative time, the exact one on hover.
    let title = browser.exec(
        &format!(
            "return document.querySelector('{} time').title;",
            row.replace('\'', "\\'")
        ),
        vec![],
    );
    assert!(
        title.as_str().is_some_and(|t| t.contains(':') && t.contains('-')),
        "{title}"
    );
    assert!(
        browser.text(&format!("{row} time")).contains("ago"),
        "{}",
        browser.text(&row)
    );

    // The whole row opens the task: click its outcome text, not the link.
    browser.click(&format!("{row} .outcome"));
    browser.wait_for_js(
        "the task page",
        &format!("return location.hash === '#/task/{newest}' && document.querySelector('pre.error');"),
    );
    assert_eq!(browser.text("pre.error"), error);

    // j/k and Enter: the second row of the list opens with the keyboard.
    browser.goto(&server.url("/#/tasks?status=failed"));
    browser.wait_for(&row);
    let second = browser.exec(
        "return document.querySelectorAll('tr.task-row')[1].getAttribute('data-id');",
        vec![],
    );
    let second = second.as_str().expect("second row").to_owned();
    browser.exec(
        "document.activeElement && document.activeElement.blur(); return null;",
        vec![],
    );
    for key in ["j", "j", "j", "k", "\u{E007}"] {
        browser.cmd(
            "POST",
            "/actions",
            Some(json!({"actions": [{"type": "key", "id": "kb", "actions": [
                {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]})),
        );
    }
    browser.wait_for_js(
        "Enter to open the selected row",
        &format!("return location.hash === '#/task/{second}';"),
    );
    browser.assert_no_console_errors();
}

#[test]
fn search_and_filters_live_in_the_url() {
    let browser = Browser::start();
    let p = Project::new();
    let night = night::seed(&p, 60, 10);
    let server = Server::start(&p);
    // Search for the longest word of the first failure's error, in capitals:
    // the search ignores case.
    let error = night
        .tasks
        .iter()
        .find_map(|t| t["error"].as_str())
        .expect("a failure in the seed");
    let needle = error
        .split(|c: char| !c.is_ascii_alphabetic())
        .max_by_key(|w| w.len())
        .expect("a word")
        .to_lowercase();
    let query = needle.to_uppercase();
    let mut expected: Vec<String> = night
        .tasks
        .iter()
        .filter(|t| {
            [
                t["error"].as_str(),
                t["result"]["summary"].as_str(),
                Some(&t["payload"].to_string()),
            ]
            .into_iter()
            .flatten()
            .any(|text| text.to_lowercase().contains(&needle))
        })
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    expected.reverse();
    let wanted = expected.len();

    browser.goto(&server.url("/#/tasks"));
    browser.wait_for("tr.task-row");
    browser.type_into("#filter-q", &query);
    browser.wait_for_js(
        "the search in the URL",
        &format!(
            "return location.hash.includes('q={query}') && document.querySelectorAll('tr.task-row').length;"
        ),
    );
    browser.wait_for_js(
        "only matching rows",
        &format!("return document.querySelectorAll('tr.task-row').length === {wanted};"),
    );
    assert_eq!(
        shown_ids(&browser),
        expected,
        "the tasks whose error, summary or payload say {needle}"
    );
    // A shared URL opens the same view; Back returns to the unfiltered list.
    let shared = browser.exec("return location.href;", vec![]);
    browser.goto(shared.as_str().expect("url"));
    browser.wait_for_js(
        "the shared view",
        &format!("return document.querySelector('#filter-q').value === '{query}' && document.querySelectorAll('tr.task-row').length === {wanted};"),
    );
    browser.select("#filter-stream", "docs");
    browser.wait_for_js(
        "stream in the URL",
        "return location.hash.includes('stream=docs');",
    );
    browser.cmd("POST", "/back", Some(json!({})));
    browser.wait_for_js(
        "Back to drop the stream filter",
        &format!("return !location.hash.includes('stream=') && document.querySelectorAll('tr.task-row').length === {wanted};"),
    );
    browser.assert_no_console_errors();
}

/// How many `/api/tasks` list requests the page has made so far.
fn list_fetches(browser: &Browser) -> u64 {
    browser
        .exec(
            "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/tasks?')).length;",
            vec![],
        )
        .as_u64()
        .expect("count")
}

#[test]
fn live_events_update_rows_from_their_listing_without_refetching_the_list() {
    let browser = Browser::start();
    let p = Project::new();
    let night = night::seed(&p, 30, 4);
    let server = Server::start(&p);
    browser.goto(&server.url("/#/tasks"));
    browser.wait_for("tr.task-row");
    browser.wait_for("#live.on");
    // The event stream's first "hello" makes the page fetch its list once
    // more (a reconnect catches up that way), after the first load: wait
    // for that fetch, or it lands after `before` on a slow machine.
    browser.wait_for_js(
        "the list fetched again after the event stream's hello",
        "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/tasks?')).length >= 2;",
    );
    let before = list_fetches(&browser);

    // A claim from the CLI turns the oldest queued task of a stream running.
    let queued = night.ids("queued");
    let stream = task_of(&night, &queued[0])["stream"]
        .as_str()
        .expect("stream")
        .to_owned();
    let claimed = p.claim(&stream);
    let id = claimed["id"].as_str().expect("claimed id").to_owned();
    assert!(queued.contains(&id), "a seeded queued task");
    browser.wait_for_js(
        "the row to show running",
        &format!("return document.querySelector('tr[data-id=\"{id}\"] .status-running');"),
    );
    // A new task appears on top.
    let fresh = p.enqueue("docs", r#"{"script_path": "scripts/late_night.sh"}"#);
    browser.wait_for_js(
        "the new task on top",
        &format!("return document.querySelector('tr.task-row').getAttribute('data-id') === '{fresh}';"),
    );
    assert!(browser.text("tr.task-row").contains("scripts/late_night.sh"));
    // A refetch an event asks for comes after the page's 400 ms debounce
    // (a claim's first event, for the file leaving `pending/`, has no row
    // and used to ask for one): give it time to show before counting.
    std::thread::sleep(std::time::Duration::from_millis(1200));
    assert_eq!(
        list_fetches(&browser),
        before,
        "the rows came from the events' listings, not from fetching the list again"
    );
    browser.assert_no_console_errors();
}

/// The ids of the rows shown, top to bottom.
fn shown_ids(browser: &Browser) -> Vec<String> {
    let ids = browser.exec(
        "return [...document.querySelectorAll('tr.task-row')].map((r) => r.getAttribute('data-id'));",
        vec![],
    );
    ids.as_array()
        .expect("ids")
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_owned())
        .collect()
}

#[test]
fn pages_of_50_go_older_and_newer_by_cursor() {
    let browser = Browser::start();
    let p = Project::new();
    let night = night::seed(&p, 120, 10);
    let server = Server::start(&p);
    let mut all: Vec<String> = night
        .tasks
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    all.reverse();

    browser.goto(&server.url("/#/tasks"));
    browser.wait_for("tr.task-row");
    assert_eq!(shown_ids(&browser), all[..50], "the newest 50 first");
    assert!(
        browser
            .exec("return document.querySelector('#page-newer');", vec![])
            .is_null(),
        "no newer page on the first"
    );
    let wait_page = |range: std::ops::Range<usize>| {
        let first = all[range.start].clone();
        let count = range.len();
        browser.wait_for_js(
            "the page to change",
            &format!(
                "const r = document.querySelectorAll('tr.task-row');
                 return r.length === {count} && r[0].getAttribute('data-id') === '{first}';"
            ),
        );
        assert_eq!(shown_ids(&browser), all[range]);
    };
    browser.click("#page-older");
    wait_page(50..100);
    assert!(
        browser
            .exec("return location.hash;", vec![])
            .as_str()
            .is_some_and(|h| h.contains("cursor="))
    );
    browser.click("#page-older");
    wait_page(100..120);
    assert!(
        browser
            .exec("return document.querySelector('#page-older');", vec![])
            .is_null(),
        "no older page after the last"
    );
    browser.click("#page-newer");
    wait_page(50..100);
    // Back walks the pages the way they came.
    browser.cmd("POST", "/back", Some(json!({})));
    wait_page(100..120);
    browser.cmd("POST", "/back", Some(json!({})));
    wait_page(50..100);
    browser.click("#page-newest");
    wait_page(0..50);
    browser.assert_no_console_errors();
}

#[test]
fn the_since_view_after_a_night_puts_failures_first_by_stream() {
    let browser = Browser::start();
    let p = Project::new();
    let night = night::seed(&p, 300, 20);
    let server = Server::start(&p);
    let window = Duration::from_secs(8 * 3600);
    let failed = night.finished_within("failed", window);
    let succeeded = night.finished_within("succeeded", window);

    // The last visit, as the browser remembered it: 8 hours ago.
    browser.goto(&server.url("/#/tasks"));
    browser.wait_for("tr.task-row");
    browser.exec(
        "sessionStorage.clear(); localStorage.setItem('sparkq.lastSeen', new Date(Date.now() - 8 * 3600e3).toISOString()); return null;",
        vec![],
    );
    browser.goto(&server.url("/#/since"));
    browser.exec("location.reload(); return null;", vec![]);
    browser.wait_for(".since-stream");
    let line = browser.text("#since-summary");
    assert!(line.contains("your last visit"), "{line}");
    assert!(
        line.contains(&format!("{failed} failed")),
        "{failed} failed: {line}"
    );
    assert!(
        line.contains(&format!("{succeeded} succeeded")),
        "{succeeded} succeeded: {line}"
    );
    let sections = browser.exec(
        "return [...document.querySelectorAll('.since-stream')].map((s) => ({
            stream: s.getAttribute('data-stream'),
            statuses: [...s.querySelectorAll('tr.task-row')].map((r) => r.className.match(/status-row-(\\w+)/)[1])}));",
        vec![],
    );
    let sections = sections.as_array().expect("sections");
    assert_eq!(sections.len(), 3, "three streams: {sections:?}");
    let mut rows = 0;
    for s in sections {
        let statuses: Vec<&str> = s["statuses"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|v| v.as_str().unwrap_or(""))
            .collect();
        rows += statuses.len();
        let first_ok = statuses
            .iter()
            .position(|s| *s == "succeeded")
            .unwrap_or(statuses.len());
        assert!(
            statuses[first_ok..].iter().all(|s| *s == "succeeded"),
            "failures first in {}: {statuses:?}",
            s["stream"]
        );
    }
    assert_eq!(
        rows,
        failed + succeeded,
        "every task finished in the window is shown"
    );

    // Picking another moment: 2 hours.
    browser.type_into("#since-input", "2h");
    browser.click("#since-form button[type=submit]");
    browser.wait_for_js(
        "the 2 h view",
        "return location.hash.includes('since=2h') && document.querySelector('#since-summary').innerText.includes('2 h ago');",
    );
    let failed = night.finished_within("failed", Duration::from_secs(2 * 3600));
    assert!(
        browser
            .text("#since-summary")
            .contains(&format!("{failed} failed")),
        "{failed} failed in 2 h: {}",
        browser.text("#since-summary")
    );
    browser.assert_no_console_errors();
}

#[test]
fn requeue_asks_first_can_change_stream_and_payload_and_says_when_done_before() {
    let browser = Browser::start();
    let p = Project::new();
    let night = night::seed(&p, 30, 6);
    let server = Server::start(&p);
    let id = night.ids("failed").pop().expect("a failure");
    let queued = || {
        server.get("/api/tasks?status=queued&limit=1000").1["tasks"]
            .as_array()
            .map_or(0, Vec::len)
    };
    let before = queued();

    browser.goto(&server.url(&format!("/#/task/{id}")));
    browser.click(".page-head button[data-action=requeue]");
    browser.wait_for("dialog[open] #requeue-confirm");
    browser.click("#requeue-cancel");
    browser.wait_for_js(
        "the dialog to close",
        "return !document.querySelector('dialog[open]');",
    );
    assert_eq!(queued(), before, "cancelling queued nothing");

    // Into another stream, with an edited payload.
    browser.click(".page-head button[data-action=requeue]");
    browser.wait_for("dialog[open] #requeue-confirm");
    browser.select("#requeue-stream", "billing");
    browser.type_into(
        "#requeue-payload",
        r#"{"script_path": "scripts/fixed.sh", "args": []}"#,
    );
    browser.click("#requeue-confirm");
    let new_id = browser.wait_for_js(
        "the requeue notice",
        "const a = document.querySelector('#notice .ok a'); return a ? a.textContent : null;",
    );
    let new_id = new_id.as_str().expect("new id").to_owned();
    let fresh = server.get(&format!("/api/tasks/{new_id}")).1;
    assert_eq!(fresh["status"], "queued");
    assert_eq!(fresh["stream"], "billing");
    assert_eq!(fresh["payload"]["script_path"], "scripts/fixed.sh");
    assert_eq!(queued(), before + 1);

    // Again: the dialog says it was requeued already, linking the new task.
    browser.wait_for("#requeue-trail");
    browser.click(".page-head button[data-action=requeue]");
    browser.wait_for("dialog[open] #requeue-already");
    let link = browser.exec(
        "return document.querySelector('#requeue-already a').getAttribute('href');",
        vec![],
    );
    assert_eq!(link, json!(format!("#/task/{new_id}")));
    browser.click("#requeue-cancel");
    assert_eq!(queued(), before + 1, "cancelling the second time queued nothing");
    browser.assert_no_console_errors();
}

#[test]
fn a_4_mib_stdout_shows_head_and_tail_and_loads_in_full_on_demand() {
    let browser = Browser::start();
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    p.claim("s");
    let line = "x".repeat(99);
    // Just under the default 4 MiB output limit.
    let big: String = (0..39_000).map(|i| format!("{i:06} {line}\n")).collect();
    assert!(
        big.len() > 4_000_000 && big.len() <= 4 * 1024 * 1024,
        "{}",
        big.len()
    );
    let file = p.write("big-stdout.txt", &big);
    p.sparkq([
        "complete",
        &id,
        "--result",
        r#"{"summary": "Printed a lot"}"#,
        "--stdout-file",
        file.to_str().expect("path"),
    ])
    .success();
    let server = Server::start(&p);

    browser.goto(&server.url(&format!("/#/task/{id}")));
    browser.wait_for("#output-stdout");
    let shown = browser.exec(
        "return document.querySelector('#output-stdout').textContent.length;",
        vec![],
    );
    let shown = shown.as_u64().expect("length");
    assert!(
        shown < 300_000,
        "the page shows a preview, not 4 MiB: {shown} chars"
    );
    let text = browser.text("#output-stdout");
    assert!(text.starts_with("000000 "), "the head is shown");
    assert!(
        text.trim_end().ends_with(&format!("038999 {line}")),
        "the tail is shown"
    );
    let download = browser.exec(
        "return document.querySelector('[data-action=download-stdout]').getAttribute('href');",
        vec![],
    );
    assert_eq!(download, json!(format!("/api/tasks/{id}/stdout?download=1")));
    browser.click("[data-action=load-all-stdout]");
    browser.wait_for_js(
        "all of stdout",
        &format!(
            "return document.querySelector('#output-stdout').textContent.length === {};",
            big.len()
        ),
    );
    browser.assert_no_console_errors();
}

#[test]
fn the_dashboard_charts_follow_the_chosen_stream() {
    let browser = Browser::start();
    let p = Project::new();
    night::seed(&p, 60, 10);
    let server = Server::start(&p);
    let legends_say = |words: &str| {
        format!(
            "return ['#chart-hours', '#chart-tools'].every((c) =>
                 (document.querySelector(c + ' .legend')?.textContent || '').includes({words:?}));"
        )
    };
    browser.goto(&server.url("/#/?stream=auth"));
    browser.wait_for_js("charts of stream auth", &legends_say("stream auth"));
    let lines = browser.exec(
        "return document.querySelectorAll('#chart-depth .depth-line').length;",
        vec![],
    );
    assert_eq!(lines, json!(1), "one depth line, auth's");
    // Back to every stream: the charts follow at once.
    browser.exec(
        "const s = document.querySelector('#dash-stream'); s.value = ''; s.dispatchEvent(new Event('change')); return null;",
        vec![],
    );
    browser.wait_for_js("charts of all streams", &legends_say("all streams"));
    browser.assert_no_console_errors();
}

#[test]
fn the_phone_layout_has_no_sideways_scroll_at_390_px() {
    let browser = Browser::start();
    let p = Project::new();
    let night = night::seed(&p, 120, 20);
    let server = Server::start(&p);
    let failed = night.ids("failed").pop().expect("a failure");
    browser.window_size(390, 844);
    let width = browser.exec("return window.innerWidth;", vec![]);
    assert!(
        width.as_u64().is_some_and(|w| w <= 390),
        "window is phone-sized: {width}"
    );
    for scheme in ["light", "dark"] {
        browser.color_scheme(scheme);
        for (route, ready) in [
            ("", "#chart-hours svg"),
            ("tasks", "tr.task-row"),
            ("tasks?status=failed", "tr.task-row .outcome-failed"),
            ("since?since=24h", ".since-stream tr.task-row"),
            (&format!("task/{failed}") as &str, "pre.error"),
            ("streams", "tr[data-name=\"auth\"]"),
            ("sessions", "tr[data-name=\"night\"]"),
        ] {
            browser.goto(&server.url(&format!("/#/{route}")));
            browser.wait_for(ready);
            assert_no_sideways_scroll(&browser, &format!("#/{route} ({scheme})"));
            // Every field has a label, every button and link a name.
            let unnamed = browser.exec(
                "return [...document.querySelectorAll('main input, main select, main textarea')]
                           .filter((e) => !e.closest('label') && !e.getAttribute('aria-label')).map((e) => e.outerHTML)
                   .concat([...document.querySelectorAll('main button, main a')]
                           .filter((e) => !e.textContent.trim() && !e.getAttribute('aria-label')).map((e) => e.outerHTML));",
                vec![],
            );
            assert_eq!(unnamed, json!([]), "unlabelled controls on #/{route}");
        }
    }
    // Rows are cards: the header row is hidden and each row is one block.
    browser.goto(&server.url("/#/tasks"));
    browser.wait_for("tr.task-row");
    let thead = browser.exec(
        "return getComputedStyle(document.querySelector('table.tasks thead')).display;",
        vec![],
    );
    assert_eq!(thead, json!("none"));
    browser.assert_no_console_errors();
}

/// The screenshots of docs/screenshots/: dashboard, list, since view and
/// task page, desktop and phone, light and dark, from a seeded night.
/// Run by hand (`scripts/screenshots.sh`), then look at them.
#[test]
#[ignore = "writes docs/screenshots/; run by scripts/screenshots.sh"]
fn screenshots_for_the_docs() {
    let browser = Browser::start();
    let p = Project::new();
    let night = night::seed(&p, 320, 20);
    let server = Server::start(&p);
    let failed = night.ids("failed").pop().expect("a failure");
    let done = night.ids("succeeded").pop().expect("a success");
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join("screenshots");
    let pages = [
        ("dashboard", String::new(), "#chart-depth svg"),
        ("list", "tasks".to_owned(), "tr.task-row"),
        ("since", "since?since=8h".to_owned(), ".since-stream"),
        ("task", format!("task/{failed}"), "pre.error"),
        ("task-done", format!("task/{done}"), ".summary"),
        ("streams", "streams".to_owned(), "tr[data-name=\"auth\"]"),
    ];
    for (device, width, height) in [("desktop", 1280, 860), ("phone", 390, 844)] {
        browser.window_size(width, height);
        for scheme in ["light", "dark"] {
            browser.color_scheme(scheme);
            for (name, route, ready) in &pages {
                // One of each extra page is enough.
                if (*name == "task-done" && (device, scheme) != ("desktop", "light"))
                    || (*name == "streams" && (device, scheme) != ("phone", "light"))
                {
                    continue;
                }
                browser.goto(&server.url(&format!("/#/{route}")));
                browser.wait_for(ready);
                // Let the live connection settle so the header reads "live".
                browser.wait_for_js("the live marker", "return document.querySelector('#live.on');");
                browser.screenshot(&dir.join(format!("{name}-{device}-{scheme}.png")));
            }
        }
    }
    // The requeue dialog over a failed task, on a phone in the dark.
    browser.goto(&server.url(&format!("/#/task/{failed}")));
    browser.click(".page-head button[data-action=requeue]");
    browser.wait_for("dialog[open] #requeue-confirm");
    browser.screenshot(&dir.join("requeue-phone-dark.png"));
    browser.assert_no_console_errors();
}

/// Milliseconds from navigation start until `page` had drawn its data (the
/// `sparkq-rendered-*` mark app.js sets), after a full page load.
fn render_ms(browser: &Browser, server: &Server, route: &str, page: &str) -> f64 {
    browser.goto("about:blank");
    browser.goto(&server.url(&format!("/#/{route}")));
    let at = browser.wait_for_js(
        "the rendered mark",
        &format!("const m = performance.getEntriesByName('sparkq-rendered-{page}'); return m.length ? m[0].startTime : null;"),
    );
    at.as_f64().expect("ms")
}

/// The slowest API request of the current page so far: (path, ms).
fn slowest_request(browser: &Browser) -> (String, f64) {
    let got = browser.exec(
        "const r = performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/') && !e.name.includes('/api/events'))
           .sort((a, b) => b.duration - a.duration)[0];
         return r ? [new URL(r.name).pathname + new URL(r.name).search, r.duration] : ['', 0];",
        vec![],
    );
    (
        got[0].as_str().unwrap_or("").to_owned(),
        got[1].as_f64().unwrap_or(0.0),
    )
}

/// Milliseconds from just before `action` until `ready` (a script) holds on
/// the page, timed in the page (a MutationObserver on `main`).
fn time_in_page(browser: &Browser, ready: &str, action: impl FnOnce()) -> f64 {
    browser.exec(
        &format!(
            "window.__t1 = null;
             const ready = () => {{ {ready} }};
             new MutationObserver(() => {{ if (!window.__t1 && ready()) window.__t1 = performance.now(); }})
               .observe(document.querySelector('#main'), {{subtree: true, childList: true}});
             window.__t0 = performance.now(); return null;"
        ),
        vec![],
    );
    action();
    let ms = browser.wait_for_js(
        "the page to change",
        "return window.__t1 && window.__t1 - window.__t0;",
    );
    ms.as_f64().expect("ms")
}

/// Live updates on the task list: (ms from a CLI enqueue until its row is
/// on top, ms from the CLI claim of it until the row shows running, list
/// fetches meanwhile). The task goes into a fresh stream, so the claim
/// takes it whatever else is queued.
fn live_update_ms(browser: &Browser, server: &Server, p: &Project) -> (f64, f64, u64) {
    p.sparkq([
        "stream",
        "create",
        "live",
        "--session",
        "night",
        "--instructions",
        "Bench.",
    ])
    .success();
    browser.goto("about:blank");
    browser.goto(&server.url("/#/tasks"));
    browser.wait_for("tr.task-row");
    browser.wait_for("#live.on");
    let count = "return performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/tasks?')).length;";
    let fetches = browser.exec(count, vec![]).as_u64().unwrap_or(0);
    let mut id = String::new();
    let enqueued = time_in_page(
        browser,
        "const r = document.querySelector('tr.task-row'); return r && r.innerText.includes('scripts/bench_live.sh');",
        || id = p.enqueue("live", r#"{"script_path": "scripts/bench_live.sh"}"#),
    );
    let running = time_in_page(
        browser,
        &format!("return document.querySelector('tr[data-id=\"{id}\"] .status-running');"),
        || {
            assert_eq!(
                p.claim("live")["id"],
                id.as_str(),
                "the claim took the bench task"
            );
        },
    );
    let after = browser.exec(count, vec![]).as_u64().unwrap_or(0);
    (enqueued, running, after - fetches)
}

/// A benchmark, not a test: dashboard load and a live update at 100k
/// tasks, beside the same at 1k tasks from the same run. Prints numbers,
/// asserts none. Run by hand:
/// `cargo test --release --test integration review_ui::bench_ -- --ignored --nocapture`
#[test]
#[ignore = "benchmark: seeds 100k task files; run by hand"]
fn bench_dashboard_and_live_update_at_100k_tasks() {
    let browser = Browser::start();
    let mut rows = Vec::new();
    for count in [1_000, 100_000] {
        let p = Project::new();
        let started = std::time::Instant::now();
        night::seed(&p, count, 20);
        let seeded = started.elapsed();
        let server = Server::start(&p);
        let mut loads = Vec::new();
        let mut charts = Vec::new();
        for _ in 0..3 {
            loads.push(render_ms(&browser, &server, "", "dashboard"));
            let drawn = browser.wait_for_js(
                "the charts",
                "const m = performance.getEntriesByName('sparkq-charts-drawn'); return m.length ? m[0].startTime : null;",
            );
            charts.push(drawn.as_f64().expect("ms"));
        }
        loads.sort_by(f64::total_cmp);
        charts.sort_by(f64::total_cmp);
        let (slow_path, slow_ms) = slowest_request(&browser);
        let mut lists: Vec<f64> = (0..3)
            .map(|_| render_ms(&browser, &server, "tasks", "tasks"))
            .collect();
        lists.sort_by(f64::total_cmp);
        let (enqueued, live, refetches) = live_update_ms(&browser, &server, &p);
        println!(
            "{count:>7} tasks (seeded in {:.1} s): dashboard drawn {:.0} ms, its charts {:.0} ms (medians of 3; slowest request {slow_path} {slow_ms:.0} ms), task list drawn {:.0} ms; live: CLI enqueue to row on top {enqueued:.0} ms, CLI claim to row running {live:.0} ms, {refetches} list fetches",
            seeded.as_secs_f64(),
            loads[1],
            charts[1],
            lists[1]
        );
        rows.push((loads[1], charts[1], lists[1], live));
    }
    let (small, big) = (rows[0], rows[1]);
    println!(
        "100k / 1k: dashboard {:.1}x, charts {:.1}x, task list {:.1}x, live update {:.1}x",
        big.0 / small.0,
        big.1 / small.1,
        big.2 / small.2,
        big.3 / small.3
    );
}
