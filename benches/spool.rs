//! The spool benchmark: SparkQ's hot paths next to the physical limit of its
//! design, fsync on and off, in one run and one table.
//!
//! Run it with `cargo bench --bench spool` (three to five minutes on two
//! cores, depending on load), or `SPARKQ_BENCH_QUICK=1 cargo bench --bench spool` for a smoke
//! run of a few seconds. Cargo builds the release `sparkq` binary for the
//! CLI cases (`target/release/sparkq`; `SPARKQ_BIN` points elsewhere), and
//! every case works in fresh folders under `SPARKQ_BENCH_DIR` (default:
//! Cargo's `target/tmp`, beside the project, where a spool lives), so the
//! baseline and SparkQ share one file system and folder. Not the system
//! temp folder: on a shared machine every test suite churns `/tmp`, and
//! creating a file there was 10-50x slower than beside the project.
//!
//! The baseline is a plain loop of create-temp, rename, read, write result,
//! unlink: the same two atomic writes a claim plus a complete make, with
//! nothing else. The CLI drain's reference is the same file work done by two
//! processes per task (see `baseline::two_processes`), the one-shot
//! commands' is `/bin/true` (and `nq` for enqueue) run from the same loop.
//! `SPARKQ_BEFORE_BIN=/path/to/old/sparkq` measures the one-shot commands
//! of an older binary too and prints after ÷ before. Each case is measured
//! with fsync on, then off, before the next case starts, so both columns
//! see the same machine load. Every figure is judged against its reference
//! from the same run, never against a fixed time.
//! `SPARKQ_BENCH_ONLY=throughput` runs the throughput section alone, to
//! compare two builds of the library run after run;
//! `SPARKQ_BENCH_ONLY=processes` the whole-process section alone (one-shot
//! commands against `/bin/true` and `nq`, a minute or two), to compare
//! two binaries with `SPARKQ_BEFORE_BIN`; `SPARKQ_BENCH_ONLY=running`
//! the one-shot claim's curve over 0, 100 and 1,000 running tasks alone
//! (with `SPARKQ_BEFORE_BIN` too, a minute).

// The case modules live in `benches/spool/`; a bench's root resolves
// `mod` paths beside itself, hence the explicit paths.
#[path = "spool/baseline.rs"]
mod baseline;
#[path = "spool/cli.rs"]
mod cli;
#[path = "spool/inproc.rs"]
mod inproc;
#[path = "spool/project.rs"]
mod project;
#[path = "spool/running.rs"]
mod running;
#[path = "spool/stats.rs"]
mod stats;
#[path = "spool/throughput.rs"]
mod throughput;

use std::path::{Path, PathBuf};
use std::time::Duration;

use project::Project;
use stats::{Measure, Round, Row, duration, print_table, rate};

/// How much work each case does; fsync-on cases do less, being slower.
struct Plan {
    quick: bool,
    /// Throughput cases run this many rounds; the table shows the median
    /// round and the rounds' spread.
    rounds: usize,
    /// Cycles or tasks per round, as (fsync on, fsync off).
    baseline_ops: (usize, usize),
    enqueue_ops: (usize, usize),
    drain_tasks: (usize, usize),
    cli_tasks: (usize, usize),
    pending_sizes: Vec<usize>,
    latency_samples: usize,
    process_runs: usize,
    /// One-shot claims per binary, running set and fsync setting.
    running_samples: usize,
}

impl Plan {
    fn from_env() -> Plan {
        let quick = std::env::var_os("SPARKQ_BENCH_QUICK").is_some_and(|v| !v.is_empty() && v != "0");
        if quick {
            Plan {
                quick,
                rounds: 2,
                baseline_ops: (20, 200),
                enqueue_ops: (20, 200),
                drain_tasks: (20, 200),
                cli_tasks: (12, 40),
                pending_sizes: vec![1_000, 10_000],
                latency_samples: 5,
                process_runs: 20,
                running_samples: 10,
            }
        } else {
            Plan {
                quick,
                rounds: 5,
                baseline_ops: (80, 1_200),
                enqueue_ops: (60, 900),
                drain_tasks: (60, 600),
                cli_tasks: (30, 180),
                pending_sizes: vec![1_000, 10_000, 100_000],
                latency_samples: 20,
                process_runs: 100,
                running_samples: 60,
            }
        }
    }

    fn pick(pair: (usize, usize), fsync: bool) -> usize {
        if fsync { pair.0 } else { pair.1 }
    }
}

/// A latency case measured once with fsync on and once off.
fn once(mut case: impl FnMut(bool) -> Round) -> (Measure, Measure) {
    let on = Measure::new(vec![case(true)]);
    (on, Measure::new(vec![case(false)]))
}

fn main() {
    if let Some(step) = std::env::var_os(baseline::STEP_ENV) {
        let args: Vec<String> = std::env::args().skip(1).collect();
        if let Err(e) = baseline::step(&step.to_string_lossy(), &args) {
            eprintln!("baseline step failed: {e}");
            std::process::exit(1);
        }
        return;
    }
    let plan = Plan::from_env();
    let root = std::env::var_os("SPARKQ_BENCH_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")), PathBuf::from);
    std::fs::create_dir_all(&root).expect("create the bench root");
    let root = tempfile::tempdir_in(root).expect("create the bench folder");
    let bin = std::env::var_os("SPARKQ_BIN")
        .map_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_sparkq")), PathBuf::from);
    let before = std::env::var_os("SPARKQ_BEFORE_BIN").map(PathBuf::from);
    println!(
        "SparkQ spool benchmark{}: {} cores, folder {}, binary {}, load average before: {}",
        if plan.quick {
            " (QUICK smoke run: numbers are rough)"
        } else {
            ""
        },
        std::thread::available_parallelism().map_or(0, usize::from),
        root.path().display(),
        bin.display(),
        load_average()
    );
    let root = root.path();
    let mut report = Report::default();

    if std::env::var_os("SPARKQ_BENCH_ONLY").is_some_and(|v| v == "processes") {
        let project = Project::new(root, true);
        project.fill(1_000 + 8 * plan.process_runs);
        report.processes = process_rows(&bin, before.as_deref(), &project, plan.process_runs);
        print_processes(&report.processes);
        println!("\nTargets of issue 12, each against its reference from this run (fsync on | fsync off)");
        report.print_process_targets();
        report.print_before();
        println!("\nload average after: {}", load_average());
        return;
    }

    if std::env::var_os("SPARKQ_BENCH_ONLY").is_some_and(|v| v == "running") {
        report.running = running_curves(root, &bin, before.as_deref(), plan.running_samples);
        println!("\nTargets of issue 12, each against its reference from this run (fsync on | fsync off)");
        report.print_running_targets();
        println!("\nload average after: {}", load_average());
        return;
    }

    let throughput = throughput::run(&plan, root, &bin);
    report.in_process_ratio = throughput.in_process_ratio;
    report.cli_drain_4 = Some(throughput.cli_drain_4.clone());
    report.cli_ratio = throughput.cli_ratio;
    report.two_process_base = Some(throughput.two_process_base.clone());
    let rows = throughput.rows;
    print_table(
        &format!(
            "Throughput (ops/s: median of {} rounds, ±: their spread; p50/p99: one operation, or one task's claim+complete)",
            plan.rounds
        ),
        &rows,
    );
    println!(
        "* each round drains a fresh stream of {} (fsync on) / {} (fsync off) tasks for in-process, {} / {} for CLI",
        plan.drain_tasks.0, plan.drain_tasks.1, plan.cli_tasks.0, plan.cli_tasks.1
    );

    if std::env::var_os("SPARKQ_BENCH_ONLY").is_some_and(|v| v == "throughput") {
        // For comparing two builds of the library, one run each.
        report.print_throughput_targets();
        return;
    }

    let mut rows = Vec::new();
    for &size in &plan.pending_sizes {
        // Claims: the latency samples, and the process rows' claims and
        // completes (each completes a claimed task), fsync on and off, for
        // up to two binaries.
        let consumed = 4 * plan.latency_samples + 8 * plan.process_runs;
        let project = Project::new(root, true);
        project.fill(size + consumed);
        let label = thousands(size);
        let (on, off) = once(|fsync| inproc::claim_latency(&project, plan.latency_samples, fsync));
        rows.push(row(&format!("claim, {label} pending, in-process"), on, off));
        let (on, off) = once(|fsync| cli::one_shot_claims(&bin, &project, plan.latency_samples, fsync));
        report.one_shot.push((size, on.clone(), off.clone()));
        rows.push(row(
            &format!("claim, {label} pending, one `sparkq claim`"),
            on,
            off,
        ));
        if size == 1_000 {
            report.processes = process_rows(&bin, before.as_deref(), &project, plan.process_runs);
        }
    }
    print_table(
        "Claim latency by queue length (pending/ holds at least that many)",
        &rows,
    );
    print_processes(&report.processes);
    report.running = running_curves(root, &bin, before.as_deref(), plan.running_samples);
    report.print_targets();
    println!("\nload average after: {}", load_average());
}

/// The one-shot claim's curve over the running set (see `running`), for
/// this binary and `before` if given.
fn running_curves(root: &Path, bin: &Path, before: Option<&Path>, samples: usize) -> Vec<running::Curve> {
    let mut bins = vec![("", bin)];
    bins.extend(before.map(|b| (BEFORE, b)));
    running::run(root, &bins, samples)
}

/// One process case: a series of `runs` runs, with fsync on (`true`) or
/// off: `case(fsync, runs)`.
type ProcessCase<'a> = dyn Fn(bool, usize) -> Round + 'a;

/// Process rows are measured in chunks of this many runs, every case's
/// chunk in turn, so a burst of load elsewhere hits all of them alike.
pub(crate) const CHUNK: usize = 10;

/// One command's whole-process measures: wall time, and CPU per run, with
/// fsync on and off.
struct ProcessRow {
    name: String,
    on: Measure,
    off: Measure,
    cpu: (Option<Duration>, Option<Duration>),
}

/// The one-shot commands, by the name of their row.
const PEEK: &str = "sparkq peek --stream S";
const CLAIM: &str = "sparkq claim --stream S";
const COMPLETE: &str = "sparkq complete ID --token T";
const ENQUEUE: &str = "sparkq enqueue T P --stream S";
const NQ: &str = "nq true (peer of enqueue)";
/// The suffix of the rows of `SPARKQ_BEFORE_BIN`.
const BEFORE: &str = " [before]";

/// `/bin/true`, `nq`, then `sparkq --version`, `peek`, `claim`, `complete`
/// and `enqueue`, and the same again for `before` if given; all with the
/// project set to fsync on, then off. The cases take turns, [`CHUNK`] runs
/// at a time (see [`interleaved`]).
fn process_rows(bin: &Path, before: Option<&Path>, project: &Project, runs: usize) -> Vec<ProcessRow> {
    let stream = project::STREAM;
    let payload = r#"{"script_path": "scripts/migrate.sh"}"#;
    let mut cases: Vec<(String, Box<ProcessCase<'_>>)> = vec![(
        "/bin/true".to_owned(),
        Box::new(move |_, runs| cli::wall_time(Path::new("/bin/true"), &[], project.path(), runs)),
    )];
    if cli::nq_enqueue(project.path(), 1).is_some() {
        cases.push((
            NQ.to_owned(),
            Box::new(move |_, runs| cli::nq_enqueue(project.path(), runs).expect("nq is installed")),
        ));
    }
    for (suffix, bin) in std::iter::once(("", bin)).chain(before.map(|b| (BEFORE, b))) {
        let commands: [(&str, Box<ProcessCase<'_>>); 5] = [
            (
                "sparkq --version",
                Box::new(move |_, runs| cli::wall_time(bin, &["--version"], project.path(), runs)),
            ),
            (
                PEEK,
                Box::new(move |_, runs| {
                    cli::wall_time(bin, &["peek", "--stream", stream], project.path(), runs)
                }),
            ),
            (
                CLAIM,
                Box::new(move |fsync, runs| cli::one_shot_claims(bin, project, runs, fsync)),
            ),
            (
                COMPLETE,
                Box::new(move |fsync, runs| cli::one_shot_completes(bin, project, runs, fsync)),
            ),
            (
                ENQUEUE,
                Box::new(move |_, runs| {
                    let args = ["enqueue", "run-bash", payload, "--stream", stream];
                    cli::wall_time(bin, &args, project.path(), runs)
                }),
            ),
        ];
        cases.extend(
            commands
                .into_iter()
                .map(|(name, case)| (format!("{name}{suffix}"), case)),
        );
    }
    let on = interleaved(&cases, project, true, runs);
    let off = interleaved(&cases, project, false, runs);
    cases
        .into_iter()
        .zip(on.into_iter().zip(off))
        .map(|((name, _), ((on, cpu_on), (off, cpu_off)))| ProcessRow {
            name,
            on,
            off,
            cpu: (cpu_on, cpu_off),
        })
        .collect()
}

/// Runs every case `runs` times with the project set to `fsync`, [`CHUNK`]
/// runs of each case in turn; each case's measure (every chunk a round)
/// and its CPU per run.
fn interleaved(
    cases: &[(String, Box<ProcessCase<'_>>)],
    project: &Project,
    fsync: bool,
    runs: usize,
) -> Vec<(Measure, Option<Duration>)> {
    project.set_fsync(fsync);
    let mut rounds: Vec<Vec<Round>> = cases.iter().map(|_| Vec::new()).collect();
    let mut cpu: Vec<Option<Duration>> = vec![Some(Duration::ZERO); cases.len()];
    for _ in 0..runs.div_ceil(CHUNK) {
        for ((_, case), (rounds, cpu)) in cases.iter().zip(rounds.iter_mut().zip(&mut cpu)) {
            let before = cli::children_cpu();
            rounds.push(case(fsync, CHUNK));
            let used = before.zip(cli::children_cpu()).map(|(b, a)| a - b);
            *cpu = cpu.zip(used).map(|(sum, used)| sum + used);
        }
    }
    let total = (runs.div_ceil(CHUNK) * CHUNK) as u32;
    rounds
        .into_iter()
        .zip(cpu)
        .map(|(rounds, cpu)| (Measure::new(rounds), cpu.map(|c| c / total)))
        .collect()
}

/// The whole-process table and the CPU per run.
fn print_processes(rows: &[ProcessRow]) {
    print_table(
        "Whole-process wall time (stdout captured; 1k+ pending; the commands take turns, 10 runs at a time; ops/s and ± over those turns)",
        &rows
            .iter()
            .map(|p| row(&p.name, p.on.clone(), p.off.clone()))
            .collect::<Vec<_>>(),
    );
    print_cpu(rows);
}

fn print_cpu(rows: &[ProcessRow]) {
    let ms = |d: Option<Duration>| d.map_or_else(|| "n/a".to_owned(), duration);
    println!(
        "\nCPU per run (user+sys of the child, from /proc/self/stat in 10 ms ticks; less load-sensitive)"
    );
    for row in rows {
        println!(
            "  {:<44} fsync on {:>9} | fsync off {:>9}",
            row.name,
            ms(row.cpu.0),
            ms(row.cpu.1)
        );
    }
}

fn row(name: &str, on: Measure, off: Measure) -> Row {
    Row {
        name: name.to_owned(),
        on: Some(on),
        off: Some(off),
    }
}

/// The measures the issue's targets are judged on, as (fsync on, off).
#[derive(Default)]
struct Report {
    in_process_ratio: [(f64, f64); 4],
    cli_drain_4: Option<(Measure, Measure)>,
    cli_ratio: (f64, f64),
    two_process_base: Option<(Measure, Measure)>,
    one_shot: Vec<(usize, Measure, Measure)>,
    processes: Vec<ProcessRow>,
    /// This binary's curve, then the before binary's if measured.
    running: Vec<running::Curve>,
}

impl Report {
    /// The p50 of process row `name`, if it was measured.
    fn p50(&self, name: &str, fsync: bool) -> Option<Duration> {
        self.processes
            .iter()
            .find(|p| p.name == name)
            .map(|p| if fsync { p.on.p50 } else { p.off.p50 })
    }

    /// Row `name`'s p50 over row `reference`'s, fsync (on, off).
    fn p50_ratio(&self, name: &str, reference: &str) -> Option<(f64, f64)> {
        let ratio =
            |fsync| Some(self.p50(name, fsync)?.as_secs_f64() / self.p50(reference, fsync)?.as_secs_f64());
        Some((ratio(true)?, ratio(false)?))
    }

    fn print_targets(&self) {
        self.print_throughput_targets();
        self.print_process_targets();
        self.print_running_targets();
        self.print_before();
    }

    fn print_running_targets(&self) {
        let Some(now) = self.running.first() else {
            return;
        };
        let (on, off) = now.growth();
        let most = running::RUNNING[running::RUNNING.len() - 1];
        target(
            &format!("one `sparkq claim` with {most} running <= 1.2x with 0 running, p50"),
            format!("{on:.2}x | {off:.2}x"),
            on <= 1.2,
            off <= 1.2,
        );
        if let Some(before) = self.running.get(1) {
            let (b_on, b_off) = before.growth();
            println!("  (the same growth for SPARKQ_BEFORE_BIN: {b_on:.2}x | {b_off:.2}x)");
        }
    }

    fn print_throughput_targets(&self) {
        println!("\nTargets of issue 12, each against its reference from this run (fsync on | fsync off)");
        let kinds = [
            "in-process",
            "in-process",
            "in-process, indexed",
            "in-process, indexed",
        ];
        for ((workers, kind), (on, off)) in [1, 4, 1, 4].iter().zip(kinds).zip(self.in_process_ratio) {
            target(
                &format!("claim+complete, {workers} worker(s), {kind} >= 0.8x bare baseline"),
                format!("{on:.2}x | {off:.2}x"),
                on >= 0.8,
                off >= 0.8,
            );
        }
        let (on, off) = self.cli_drain_4.as_ref().expect("throughput was measured");
        let (base_on, base_off) = self.two_process_base.as_ref().expect("throughput was measured");
        target(
            "4 CLI workers >= 0.6x the 2-process bare loop (median of rounds)",
            format!("{:.2}x | {:.2}x", self.cli_ratio.0, self.cli_ratio.1),
            self.cli_ratio.0 >= 0.6,
            self.cli_ratio.1 >= 0.6,
        );
        target(
            "4 CLI workers drain >= 300 tasks/s",
            format!(
                "{} | {} (loop: {} | {})",
                rate(on.ops_per_sec),
                rate(off.ops_per_sec),
                rate(base_on.ops_per_sec),
                rate(base_off.ops_per_sec)
            ),
            on.ops_per_sec >= 300.0,
            off.ops_per_sec >= 300.0,
        );
    }

    fn print_process_targets(&self) {
        for name in [PEEK, CLAIM, COMPLETE, ENQUEUE] {
            let (on, off) = self
                .p50_ratio(name, "/bin/true")
                .expect("process rows were measured");
            target(
                &format!("`{name}` (1k pending) <= 2.5x /bin/true, p50"),
                format!("{on:.1}x | {off:.1}x"),
                on <= 2.5,
                off <= 2.5,
            );
        }
        match self.p50_ratio(ENQUEUE, NQ) {
            Some((on, off)) => target(
                "`sparkq enqueue` <= 1.5x `nq true` (nq flushes its folder, not the file), p50",
                format!("{on:.1}x | {off:.1}x"),
                on <= 1.5,
                off <= 1.5,
            ),
            None => println!("  `sparkq enqueue` <= 1.5x `nq true`: not measured, nq is not installed"),
        }
        if let Some((size, on, off)) = self.one_shot.last() {
            target(
                &format!(
                    "one `sparkq claim` with {} pending < 50 ms, p50",
                    thousands(*size)
                ),
                format!("{} | {}", duration(on.p50), duration(off.p50)),
                on.p50.as_millis() < 50,
                off.p50.as_millis() < 50,
            );
        }
        if let [.., (small, s_on, s_off), (large, l_on, l_off)] = &self.one_shot[..] {
            let files = *large as f64 / *small as f64;
            let growth = |s: &Measure, l: &Measure| l.p50.as_secs_f64() / s.p50.as_secs_f64();
            let (on, off) = (growth(s_on, l_on), growth(s_off, l_off));
            target(
                &format!("one-shot claim time grows <= pending files ({files:.0}x more)"),
                format!("{on:.1}x | {off:.1}x"),
                on <= files,
                off <= files,
            );
        }
    }

    /// After ÷ before for every command measured with `SPARKQ_BEFORE_BIN`.
    fn print_before(&self) {
        let pairs: Vec<(&str, (f64, f64))> = self
            .processes
            .iter()
            .filter_map(|p| {
                let after = p.name.strip_suffix(BEFORE)?;
                Some((after, self.p50_ratio(after, &p.name)?))
            })
            .collect();
        if pairs.is_empty() {
            return;
        }
        println!("\nAfter ÷ before (SPARKQ_BEFORE_BIN), whole-process p50 (fsync on | fsync off)");
        for (name, (on, off)) in pairs {
            println!("  {name:<44} {on:.2}x | {off:.2}x");
        }
    }
}

fn target(what: &str, value: String, on: bool, off: bool) {
    let verdict = |ok| if ok { "holds" } else { "MISSED" };
    println!("  {what:<76} {value:<22} {} | {}", verdict(on), verdict(off));
}

fn thousands(n: usize) -> String {
    if n >= 1_000 {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".to_owned())
}
