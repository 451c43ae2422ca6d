//! Latency samples and the result table: turning timed operations into
//! ops/s, p50 and p99, and printing rows with fsync on and off side by side.

use std::time::Duration;

/// One timed run of a case: each operation's duration, and the wall time
/// of the whole run (several threads may have taken samples at once).
pub(crate) struct Round {
    pub(crate) samples: Vec<Duration>,
    pub(crate) wall: Duration,
}

impl Round {
    /// A run of one operation after another: its wall time is their sum.
    pub(crate) fn serial(samples: Vec<Duration>) -> Round {
        let wall = samples.iter().sum();
        Round { samples, wall }
    }

    /// Operations per second over the round's wall time.
    pub(crate) fn rate(&self) -> f64 {
        self.samples.len() as f64 / self.wall.as_secs_f64()
    }
}

/// A case summed up over its rounds: the median round's rate, how far the
/// rounds spread around it (the noise), and percentiles of all samples.
#[derive(Debug, Clone)]
pub(crate) struct Measure {
    pub(crate) ops_per_sec: f64,
    /// (fastest − slowest round rate) / median rate; 0 for one round.
    pub(crate) spread: f64,
    pub(crate) p50: Duration,
    pub(crate) p99: Duration,
}

impl Measure {
    pub(crate) fn new(rounds: Vec<Round>) -> Measure {
        let mut rates: Vec<f64> = rounds.iter().map(Round::rate).collect();
        rates.sort_by(f64::total_cmp);
        let median = rates[rates.len() / 2];
        let mut samples: Vec<Duration> = rounds.into_iter().flat_map(|r| r.samples).collect();
        assert!(!samples.is_empty(), "a case must time at least one operation");
        samples.sort_unstable();
        let at = |pct: usize| samples[(samples.len() * pct / 100).min(samples.len() - 1)];
        Measure {
            ops_per_sec: median,
            spread: (rates[rates.len() - 1] - rates[0]) / median,
            p50: at(50),
            p99: at(99),
        }
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
        "{:<NAME_WIDTH$} | {:^36} | {:^36}",
        "case", "fsync on (durable)", "fsync off"
    );
    println!(
        "{:<NAME_WIDTH$} | {:>9} {:>5} {:>9} {:>10} | {:>9} {:>5} {:>9} {:>10}",
        "", "ops/s", "±", "p50", "p99", "ops/s", "±", "p50", "p99"
    );
    println!(
        "{}-+-{}-+-{}",
        "-".repeat(NAME_WIDTH),
        "-".repeat(36),
        "-".repeat(36)
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
            "{:>9} {:>5} {:>9} {:>10}",
            rate(m.ops_per_sec),
            spread(m.spread),
            duration(m.p50),
            duration(m.p99)
        ),
        None => format!("{:>9} {:>5} {:>9} {:>10}", "-", "", "-", "-"),
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

fn spread(spread: f64) -> String {
    if spread == 0.0 {
        String::new()
    } else {
        format!("{:.0}%", spread * 100.0)
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
