//! The throughput section: every case in rounds, and the per-round ratio of
//! SparkQ to the bare baseline that the first target is judged on.

use std::path::Path;

use super::project::Project;
use super::stats::{Measure, Round, Row};
use super::{Plan, baseline, cli, inproc};

/// A throughput case: one round with fsync on (`true`) or off.
type Case<'a> = Box<dyn FnMut(bool) -> Round + 'a>;

/// What the section measured, for the table and the targets.
pub(crate) struct Throughput {
    /// In display order.
    pub(crate) rows: Vec<Row>,
    /// Claim+complete in-process over the bare baseline, for 1 and 4
    /// workers (threads), reading folders (one-shot style) and with the
    /// index (server style): the median of the rounds' ratios, fsync (on,
    /// off). Order: [1 plain, 4 plain, 1 indexed, 4 indexed].
    pub(crate) in_process_ratio: [(f64, f64); 4],
    /// Four CLI workers' rate, fsync (on, off).
    pub(crate) cli_drain_4: (Measure, Measure),
    /// Four CLI workers over the two-process bare loop with four workers:
    /// the median of the rounds' ratios, fsync (on, off).
    pub(crate) cli_ratio: (f64, f64),
    /// The two-process bare loop's rate, fsync (on, off).
    pub(crate) two_process_base: (Measure, Measure),
}

/// Display positions of the rows.
const BARE: [usize; 2] = [0, 1];
const ENQUEUE: usize = 2;
const IN_PROCESS: [usize; 2] = [3, 4];
const INDEXED: [usize; 2] = [5, 6];
const TWO_PROCESS_BARE: usize = 7;
const CLI: [usize; 2] = [8, 9];

/// Runs the cases. Every round runs every case, fsync on then off, and each
/// drain right after the baseline it is compared with, so a burst of load
/// elsewhere on the machine hits both alike; the ratio is taken per round,
/// then the median.
pub(crate) fn run(plan: &Plan, root: &Path, bin: &Path) -> Throughput {
    // (display position, name, case), in run order.
    let mut cases: Vec<(usize, String, Case<'_>)> = Vec::new();
    for (i, n) in [1, 4].into_iter().enumerate() {
        let base = move |fsync| {
            let dir = tempfile::tempdir_in(root).expect("baseline folder");
            baseline::run(dir.path(), n, Plan::pick(plan.baseline_ops, fsync), fsync)
        };
        cases.push((BARE[i], format!("bare baseline, {n} thread(s)"), Box::new(base)));
        for indexed in [false, true] {
            let drain = move |fsync| {
                let tasks = Plan::pick(plan.drain_tasks, fsync);
                inproc::drain(&Project::new(root, fsync), n, tasks, fsync, indexed)
            };
            let (at, how) = if indexed {
                (INDEXED[i], "indexed")
            } else {
                (IN_PROCESS[i], "in-process")
            };
            cases.push((
                at,
                format!("claim+complete, {n} worker(s), {how} *"),
                Box::new(drain),
            ));
        }
    }
    let enqueue = |fsync| {
        let ops = Plan::pick(plan.enqueue_ops, fsync);
        inproc::enqueue(&Project::new(root, fsync), ops, fsync)
    };
    cases.push((ENQUEUE, "enqueue, in-process".to_owned(), Box::new(enqueue)));
    let two_processes = move |fsync| {
        let dir = tempfile::tempdir_in(root).expect("baseline folder");
        baseline::two_processes(dir.path(), 4, Plan::pick(plan.cli_tasks, fsync), fsync)
    };
    let name = "bare loop, 4 workers, 2 processes/task *".to_owned();
    cases.push((TWO_PROCESS_BARE, name, Box::new(two_processes)));
    for (i, workers) in [1, 4].into_iter().enumerate().rev() {
        let drain = move |fsync| {
            let tasks = Plan::pick(plan.cli_tasks, fsync);
            cli::drain(bin, &Project::new(root, fsync), workers, tasks, fsync)
        };
        let name = format!("claim+complete, {workers} worker(s), CLI *");
        cases.push((CLI[i], name, Box::new(drain)));
    }

    let mut rounds: Vec<(Vec<Round>, Vec<Round>)> = cases.iter().map(|_| Default::default()).collect();
    for _ in 0..plan.rounds {
        for ((_, _, case), (on, off)) in cases.iter_mut().zip(&mut rounds) {
            on.push(case(true));
            off.push(case(false));
        }
    }

    let at = |position: usize| {
        cases
            .iter()
            .position(|(p, _, _)| *p == position)
            .expect("every row has a case")
    };
    let ratio = |base: usize, ours: usize| {
        let (base, ours) = (&rounds[at(base)], &rounds[at(ours)]);
        (median_ratio(&ours.0, &base.0), median_ratio(&ours.1, &base.1))
    };
    let in_process_ratio = [
        ratio(BARE[0], IN_PROCESS[0]),
        ratio(BARE[1], IN_PROCESS[1]),
        ratio(BARE[0], INDEXED[0]),
        ratio(BARE[1], INDEXED[1]),
    ];
    let cli_ratio = ratio(TWO_PROCESS_BARE, CLI[1]);

    let mut measured: Vec<(usize, Row)> = cases
        .into_iter()
        .zip(rounds)
        .map(|((at, name, _), (on, off))| {
            let row = Row {
                name,
                on: Some(Measure::new(on)),
                off: Some(Measure::new(off)),
            };
            (at, row)
        })
        .collect();
    measured.sort_by_key(|(at, _)| *at);
    let rows: Vec<Row> = measured.into_iter().map(|(_, row)| row).collect();
    let both = |row: &Row| {
        (
            row.on.clone().expect("measured"),
            row.off.clone().expect("measured"),
        )
    };
    Throughput {
        cli_drain_4: both(&rows[CLI[1]]),
        two_process_base: both(&rows[TWO_PROCESS_BARE]),
        rows,
        in_process_ratio,
        cli_ratio,
    }
}

/// The median over rounds of `ours[i]`'s rate over `base[i]`'s.
fn median_ratio(ours: &[Round], base: &[Round]) -> f64 {
    let mut ratios: Vec<f64> = ours.iter().zip(base).map(|(s, b)| s.rate() / b.rate()).collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}
