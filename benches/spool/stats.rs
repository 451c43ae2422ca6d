//! Latency samples and the result table: turning timed operations into
//! ops/s, p50 and p99, and printing rows with fsync on and off side by side.

use std::time::Duration;

/// What one measured case produced: how many operations, in how long, and
/// how long each took.
#[derive(Debug, Clone)]
pub(crate) struct Measure {
    pub(crate) ops: usize,
    pub(crate) wall: Duration,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

impl Measure {
    /// Summarizes per-operation `samples` taken over `wall` time (several
    /// threads may have taken samples at once).
    pub(crate) fn new(mut samples: Vec<Duration>, wall: Duration) -> Measure {
        assert!(!samples.is_empty(), "a case must time at least one operation");
        samples.sort_unstable();
        let at = |pct: usize| samples[(samples.len() * pct / 100).min(samples.len() - 1)];
        Measure {
            ops: samples.len(),
            wall,
            p50: at(50),
            p99: at(99),
        }
    }

    /// Operations per second over the whole wall time.
    pub(crate) fn ops_per_sec(&self) -> f64 {
        self.ops as f64 / self.wall.as_secs_f64()
    }
}

/// One line of the table: a case measured with fsync on, off, or both.
pub(crate) struct Row {
    pub(crate) name: String,
    pub(crate) on: Option<Measure>,
    pub(crate) off: Option<Measure>,
}

const NAME_WIDTH: usize = 46;

/// Prints `rows` under `title` as a fixed-width table.
pub(crate) fn print_table(title: &str, rows: &[Row]) {
    println!("\n{title}");
    println!(
        "{:<NAME_WIDTH$} | {:^30} | {:^30}",
        "case", "fsync on (durable)", "fsync off"
    );
    println!(
        "{:<NAME_WIDTH$} | {:>9} {:>9} {:>10} | {:>9} {:>9} {:>10}",
        "", "ops/s", "p50", "p99", "ops/s", "p50", "p99"
    );
    println!(
        "{}-+-{}-+-{}",
        "-".repeat(NAME_WIDTH),
        "-".repeat(30),
        "-".repeat(30)
    );
    for row in rows {
        println!(
            "{:<NAME_WIDTH$} | {} | {}",
            row.name,
            cells(&row.on),
            cells(&row.off)
        );
    }
}

fn cells(measure: &Option<Measure>) -> String {
    match measure {
        Some(m) => format!(
            "{:>9} {:>9} {:>10}",
            rate(m.ops_per_sec()),
            duration(m.p50),
            duration(m.p99)
        ),
        None => format!("{:>9} {:>9} {:>10}", "-", "-", "-"),
    }
}

/// A rate with as many digits as it deserves.
pub(crate) fn rate(per_sec: f64) -> String {
    if per_sec >= 100.0 {
        format!("{per_sec:.0}")
    } else {
        format!("{per_sec:.1}")
    }
}

/// A duration in the unit that reads best.
pub(crate) fn duration(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.0} µs")
    } else {
        format!("{:.2} ms", micros / 1000.0)
    }
}
