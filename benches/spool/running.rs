//! One-shot claims by the size of the running set: every claim, peek and
//! list sweeps the stream's dead claims first, so without care its cost
//! grows with every task that runs. Each case is a stream with 1k pending
//! and 0, 100 or 1,000 claims held (claimed in-process, never finished);
//! each measured `sparkq claim` is completed in-process, untimed, so the
//! running set stays the same. The binaries (this one and, with
//! `SPARKQ_BEFORE_BIN`, an older one) take turns, [`super::CHUNK`] claims at
//! a time, so a burst of load elsewhere hits them alike.

use std::path::Path;

use super::cli;
use super::project::{Project, STREAM};
use super::stats::{Measure, Row, duration, print_table};

/// The running sets measured.
pub(crate) const RUNNING: [usize; 3] = [0, 100, 1_000];

/// One binary's claim time with each running set, as (fsync on, fsync off).
pub(crate) struct Curve {
    /// The suffix of its rows: empty for this binary.
    pub(crate) name: String,
    pub(crate) points: Vec<(usize, Measure, Measure)>,
}

impl Curve {
    /// The p50 with the largest running set ÷ the one with none, as (fsync
    /// on, fsync off).
    pub(crate) fn growth(&self) -> (f64, f64) {
        let (first, last) = (&self.points[0], &self.points[self.points.len() - 1]);
        let ratio = |a: &Measure, b: &Measure| b.p50.as_secs_f64() / a.p50.as_secs_f64();
        (ratio(&first.1, &last.1), ratio(&first.2, &last.2))
    }
}

/// Measures `samples` one-shot claims of each of `bins` at each running set,
/// fsync on then off, and prints the table.
pub(crate) fn run(root: &Path, bins: &[(&str, &Path)], samples: usize) -> Vec<Curve> {
    let mut curves: Vec<Curve> = bins
        .iter()
        .map(|(name, _)| Curve {
            name: (*name).to_owned(),
            points: Vec::new(),
        })
        .collect();
    for running in RUNNING {
        let project = Project::new(root, true);
        project.fill(1_000 + running + 2 * samples * bins.len());
        let queue = project.queue(false);
        for _ in 0..running {
            queue
                .claim(STREAM, "held")
                .expect("claim")
                .expect("a pending task to hold");
        }
        let mut measured: Vec<[Vec<super::stats::Round>; 2]> =
            bins.iter().map(|_| [vec![], vec![]]).collect();
        for (f, fsync) in [true, false].into_iter().enumerate() {
            for _ in 0..samples.div_ceil(super::CHUNK) {
                for ((_, bin), rounds) in bins.iter().zip(&mut measured) {
                    rounds[f].push(cli::one_shot_claims(bin, &project, super::CHUNK, fsync));
                }
            }
        }
        assert_eq!(
            project.count("claimed"),
            running,
            "the running set stays the same"
        );
        for (curve, [on, off]) in curves.iter_mut().zip(measured) {
            curve.points.push((running, Measure::new(on), Measure::new(off)));
        }
    }
    let rows: Vec<Row> = curves
        .iter()
        .flat_map(|curve| {
            curve.points.iter().map(|(running, on, off)| Row {
                name: format!("claim, {running} running{}", curve.name),
                on: Some(on.clone()),
                off: Some(off.clone()),
            })
        })
        .collect();
    print_table(
        "One `sparkq claim` by running set (1k pending; the binaries take turns, 10 claims at a time)",
        &rows,
    );
    for curve in &curves {
        let points: Vec<String> = curve
            .points
            .iter()
            .map(|(running, on, off)| format!("{running}: {} | {}", duration(on.p50), duration(off.p50)))
            .collect();
        println!(
            "  p50{} by running (fsync on | off): {}",
            curve.name,
            points.join(", ")
        );
    }
    curves
}
