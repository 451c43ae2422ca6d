//! The morning review's reads on a big spool (issue 11): filtered first
//! pages of `GET /api/tasks`, `GET /api/since` and `GET /api/stats`, each
//! printed beside the unfiltered first page of the same server and spool
//! (the reference), as a ratio.
//!
//! A filter on the task's content reads tasks newest first until the
//! page is full, so its cost grows with how many tasks it must read to
//! find 50 matches: a common match costs about a page, a filter that
//! matches nothing reads every task. `since` and `stats` read every task
//! once.

use serde_json::Value;

use crate::{call, percentile};

/// Median and max (ms) of `runs` requests of `path`, and the last body.
fn time(agent: &ureq::Agent, base: &str, path: &str, runs: usize) -> (f64, f64, Value) {
    let mut times = Vec::new();
    let mut body = Value::Null;
    for _ in 0..runs {
        let c = call(agent, "GET", &format!("{base}{path}"), None);
        assert_eq!(c.status, 200, "{path}: {}", c.body);
        times.push(c.micros);
        body = c.body;
    }
    times.sort_unstable();
    (percentile(&times, 50.0), percentile(&times, 100.0), body)
}

/// Measures the review's reads against the server at `base`, whose spool
/// holds the finished tasks `fill_spool` writes (one a second, every 10th
/// failed with "it broke", all by worker `bench` with tool `run-bash`).
pub(crate) fn measure(agent: &ureq::Agent, base: &str) {
    // A binary from before the filters (measured beside a newer one) has
    // none of these reads.
    let probe = call(agent, "GET", &format!("{base}/api/tasks?limit=1&q=x"), None);
    if probe.status != 200 {
        println!("  review reads: skipped, this binary has no task filters");
        return;
    }
    println!("  review reads, same spool (ratio: median ÷ the unfiltered first page's):");
    let (reference, _, _) = time(agent, base, "/api/tasks?limit=50", 10);
    println!(
        "  {:<44} median {reference:8.2} ms  (reference)",
        "first page, no filter"
    );
    let cases: [(&str, &str, usize); 7] = [
        (
            "filter q=broke (1 in 10 match)",
            "/api/tasks?limit=50&q=broke",
            10,
        ),
        (
            "filter since=1h (newest 3600 match)",
            "/api/tasks?limit=50&since=1h",
            10,
        ),
        (
            "filter worker=bench&q=task%2099 (sparse)",
            "/api/tasks?limit=50&worker=bench&q=task%2099",
            5,
        ),
        (
            "filter tool=llm-sonnet (none match)",
            "/api/tasks?limit=50&tool=llm-sonnet",
            3,
        ),
        ("GET /api/since?since=8h", "/api/since?since=8h", 3),
        ("GET /api/stats (24 h)", "/api/stats", 3),
        ("GET /api/stats?hours=168", "/api/stats?hours=168", 3),
    ];
    for (label, path, runs) in cases {
        let (median, max, body) = time(agent, base, path, runs);
        let size = match body.get("tasks") {
            Some(tasks) => format!("{} tasks", tasks.as_array().map_or(0, Vec::len)),
            None => format!("{} bytes", body.to_string().len()),
        };
        println!(
            "    {label:<44} median {median:8.2} ms  max {max:8.2} ms  x{:.1}  ({size})",
            median / reference.max(0.001)
        );
    }
}
