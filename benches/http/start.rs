//! Start-up at a big spool (issue 12): what a server answers in the first
//! seconds after `sparkq run`, while it reads the spool into its index
//! (the ids of every folder, then the summaries of every task for the
//! dashboard), beside what the same server answers once that is over.
//!
//! The spool holds `n` pending and `n` finished tasks. For each binary, two
//! kinds of start: claims alone, fired back to back from the moment the
//! server answers, for a window of 2 s (1 s quick); and the same claims
//! with a first task list page and a first `GET /api/stats` fired beside
//! them. Then, once the start-up reading is over (a `GET /api/stats` waits
//! for it), 200 steady claims on the same server: the reference of the
//! same run. `SPARKQ_BENCH_STARTS` (default 1) repeats each start, the
//! binaries taking turns, and prints the median and range of each number
//! over the repeats (the machine's load changes from one start to the next).

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use super::served::{Bin, Served, Summary};
use super::{agent, call, percentile, project};

/// How long claims are fired after a start.
fn start_window(quick: bool) -> Duration {
    Duration::from_millis(if quick { 1_000 } else { 2_000 })
}

/// Claims timed from a start, and the same server's steady claims (µs).
struct Start {
    first: u64,
    window: Vec<u64>,
    steady: Vec<u64>,
    /// With reads: the first list page's and the first stats' times (µs).
    reads: Option<(u64, u64)>,
}

fn one_start(bin: &Bin, root: &Path, window: Duration, with_reads: bool) -> Start {
    let server = Served::start(bin, root);
    let base = server.base();
    let claim_url = format!("{base}/api/streams/load/claim");
    let claim = |agent: &ureq::Agent| {
        let c = call(agent, "POST", &claim_url, Some(&json!({"worker": "bench"})));
        assert_eq!(c.status, 200, "claim: {}", c.body);
        assert!(c.body["task"]["id"].is_string(), "a task to claim: {}", c.body);
        c.micros
    };
    let started = Instant::now();
    let (mut window_times, reads) = std::thread::scope(|s| {
        let reader = with_reads.then(|| {
            s.spawn(|| {
                let agent = agent();
                let list = call(&agent, "GET", &format!("{base}/api/tasks?limit=50"), None);
                assert_eq!(list.status, 200, "list: {}", list.body);
                let stats = call(&agent, "GET", &format!("{base}/api/stats"), None);
                assert_eq!(stats.status, 200, "stats: {}", stats.body);
                (list.micros, stats.micros)
            })
        });
        let agent = agent();
        let mut times = Vec::new();
        while started.elapsed() < window {
            times.push(claim(&agent));
        }
        (times, reader.map(|r| r.join().expect("reader")))
    });
    let first = window_times[0];
    window_times.sort_unstable();
    // Over: the stats wait for the start-up reading to end.
    let agent = agent();
    let stats = call(&agent, "GET", &format!("{base}/api/stats"), None);
    assert_eq!(stats.status, 200, "stats: {}", stats.body);
    let mut steady: Vec<u64> = (0..200).map(|_| claim(&agent)).collect();
    steady.sort_unstable();
    Start {
        first,
        window: window_times,
        steady,
        reads,
    }
}

fn ms(micros: u64) -> f64 {
    micros as f64 / 1000.0
}

/// The median, lowest and highest of `values`.
fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[(sorted.len() - 1) / 2];
    (median, sorted[0], sorted[sorted.len() - 1])
}

/// The numbers of one start, in ms: first claim; claims in the window
/// p50, p90, max; steady p50, p90, max; first list page; first stats.
fn numbers(s: &Start) -> [f64; 9] {
    let (list, stats) = s.reads.unwrap_or((0, 0));
    [
        ms(s.first),
        percentile(&s.window, 50.0),
        percentile(&s.window, 90.0),
        percentile(&s.window, 100.0),
        percentile(&s.steady, 50.0),
        percentile(&s.steady, 90.0),
        percentile(&s.steady, 100.0),
        ms(list),
        ms(stats),
    ]
}

pub(crate) fn run(bins: &[Bin], quick: bool, summary: &mut Summary) {
    let n: u64 = if quick { 20_000 } else { 100_000 };
    let repeats = super::env_number("SPARKQ_BENCH_STARTS", 1).max(1) as usize;
    let window = start_window(quick);
    let dir = project();
    let filled = Instant::now();
    super::scale::fill(dir.path(), "pending", n);
    super::fill_spool(dir.path(), n);
    super::scale::settle_disk(dir.path());
    println!(
        "start-up: {n} pending + {n} finished tasks (written in {:.1} s); claims for {:.1} s from the moment the server answers, then 200 steady claims:",
        filled.elapsed().as_secs_f64(),
        window.as_secs_f64()
    );
    for with_reads in [false, true] {
        let what = if with_reads {
            "claims + a list page + stats"
        } else {
            "claims alone"
        };
        // Per binary, the numbers of each repeat.
        let mut runs: Vec<Vec<[f64; 9]>> = bins.iter().map(|_| Vec::new()).collect();
        for round in 0..repeats {
            for (bin, runs) in bins.iter().zip(&mut runs) {
                let s = one_start(bin, dir.path(), window, with_reads);
                let x = numbers(&s);
                println!(
                    "  {what:<28} [{:>6}] #{round}: first claim {:7.2} ms; {} claims at start: p50 {:.3} ms  p90 {:.3}  max {:.3}; steady: p50 {:.3}  p90 {:.3}  max {:.3}{}",
                    bin.label,
                    x[0],
                    s.window.len(),
                    x[1],
                    x[2],
                    x[3],
                    x[4],
                    x[5],
                    x[6],
                    if with_reads {
                        format!(
                            "; first list page {:.1} ms, first /api/stats {:.1} ms",
                            x[7], x[8]
                        )
                    } else {
                        String::new()
                    }
                );
                runs.push(x);
            }
        }
        let names = [
            "first claim",
            "claim p50",
            "claim p90",
            "claim max",
            "steady p50",
            "steady p90",
            "steady max",
            "first list page",
            "first /api/stats",
        ];
        let shown: &[usize] = if with_reads {
            &[0, 1, 2, 3, 4, 5, 7, 8]
        } else {
            &[0, 1, 2, 3, 4, 5]
        };
        for &i in shown {
            let mut medians = Vec::new();
            let mut line = format!("  {what:<28} {:<17}", names[i]);
            for (bin, runs) in bins.iter().zip(&runs) {
                let (median, low, high) = spread(&runs.iter().map(|x| x[i]).collect::<Vec<_>>());
                line.push_str(&format!(
                    "  [{:>6}] {median:8.3} ms ({low:.3}-{high:.3})",
                    bin.label
                ));
                medians.push(median);
            }
            println!("{line}");
            summary.row(&format!("start, {what}: {}", names[i]), "ms", medians);
        }
    }
}
