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
    /// workers (threads): the median of the rounds' ratios, fsync (on, off).
    pub(crate) in_process_ratio: [(f64, f64); 2],
    /// Four CLI workers' rate, fsync (on, off).
    pub(crate) cli_drain_4: (Measure, Measure),
}

/// Runs the cases. Every round runs every case, fsync on then off, and each
/// in-process drain right after the baseline it is compared with, so a
/// burst of load elsewhere on the machine hits both alike; the ratio is
/// taken per round, then the median.
pub(crate) fn run(plan: &Plan, root: &Path, bin: &Path) -> Throughput {
    // (display position, name, case), in run order.
    let mut cases: Vec<(usize, String, Case<'_>)> = Vec::new();
    for (i, n) in [1, 4].into_iter().enumerate() {
        let base = move |fsync| {
            let dir = tempfile::tempdir_in(root).expect("baseline folder");
            baseline::run(dir.path(), n, Plan::pick(plan.baseline_ops, fsync), fsync)
        };
        cases.push((i, format!("bare baseline, {n} thread(s)"), Box::new(base)));
        let drain = move |fsync| {
            let tasks = Plan::pick(plan.drain_tasks, fsync);
            inproc::drain(&Project::new(root, fsync), n, tasks, fsync)
        };
        let name = format!("claim+complete, {n} worker(s), in-process *");
        cases.push((3 + i, name, Box::new(drain)));
    }
    let enqueue = |fsync| {
        let ops = Plan::pick(plan.enqueue_ops, fsync);
        inproc::enqueue(&Project::new(root, fsync), ops, fsync)
    };
    cases.push((2, "enqueue, in-process".to_owned(), Box::new(enqueue)));
    for (i, workers) in [1, 4].into_iter().enumerate() {
        let drain = move |fsync| {
            let tasks = Plan::pick(plan.cli_tasks, fsync);
            cli::drain(bin, &Project::new(root, fsync), workers, tasks, fsync)
        };
        let name = format!("claim+complete, {workers} worker(s), CLI *");
        cases.push((5 + i, name, Box::new(drain)));
    }

    let mut rounds: Vec<(Vec<Round>, Vec<Round>)> = cases.iter().map(|_| Default::default()).collect();
    for _ in 0..plan.rounds {
        for ((_, _, case), (on, off)) in cases.iter_mut().zip(&mut rounds) {
            on.push(case(true));
            off.push(case(false));
        }
    }

    let ratio = |base: usize, ours: usize| {
        let (base, ours) = (&rounds[base], &rounds[ours]);
        (median_ratio(&ours.0, &base.0), median_ratio(&ours.1, &base.1))
    };
    let in_process_ratio = [ratio(0, 1), ratio(2, 3)];

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
    let last = &rows[6];
    let cli_drain_4 = (
        last.on.clone().expect("measured"),
        last.off.clone().expect("measured"),
    );
    Throughput {
        rows,
        in_process_ratio,
        cli_drain_4,
    }
}

/// The median over rounds of `ours[i]`'s rate over `base[i]`'s.
fn median_ratio(ours: &[Round], base: &[Round]) -> f64 {
    let mut ratios: Vec<f64> = ours.iter().zip(base).map(|(s, b)| s.rate() / b.rate()).collect();
    ratios.sort_by(f64::total_cmp);
    ratios[ratios.len() / 2]
}
