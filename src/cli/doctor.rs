//! `sparkq doctor [--fix]`: what sharing a spool between machines left
//! behind, and the repairs SPEC 9 allows.

use std::process::ExitCode;

use clap::Args;

use super::output::{print, print_json};
use crate::queue::{DoctorReport, Queue};

/// Check the spool for duplicates, conflicts and stray files left by git
/// or rsync; with --fix, repair them.
#[derive(Debug, Args)]
#[command(
    after_help = "Exits 0 whatever it finds; with --json, \"clean\" says whether anything is left to do.\n\nExamples:\n  git pull --no-rebase; sparkq doctor --fix; git add -A spool && git commit -m 'sparkq: settle'\n  sparkq doctor --json"
)]
pub(super) struct DoctorArgs {
    /// Repair what has a rule: newest copy wins, conflicts recorded in the
    /// task, stream and session files merged. Prints what it did.
    #[arg(long)]
    fix: bool,
    #[arg(long)]
    json: bool,
}

pub(super) fn doctor(queue: &Queue, args: DoctorArgs) -> anyhow::Result<ExitCode> {
    let report = queue.doctor(args.fix)?;
    if args.json {
        print_json(&report)?;
    } else {
        print(&render(&report))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The report for people: one block per finding, then the tasks whose
/// recorded conflicts await a decision.
fn render(report: &DoctorReport) -> String {
    let mut out = String::new();
    if report.findings.is_empty() {
        out.push_str("The spool is consistent: nothing to repair.\n");
    }
    for f in &report.findings {
        let kind = serde_json::to_value(f.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!("{kind:<15} {}\n  {}\n", f.path, f.message));
        match (&f.fix, f.fixed) {
            (Some(fix), true) => out.push_str(&format!("  fixed: {fix}\n")),
            // Under --fix, only what may still be being written is left
            // (a drop that changed in the last moments).
            (Some(fix), false) if report.fix => {
                out.push_str(&format!("  not yet (it may still be being written): {fix}\n"))
            }
            (Some(fix), false) => out.push_str(&format!("  --fix would: {fix}\n")),
            (None, _) => out.push_str("  needs a person: inspect the file and fix or remove it\n"),
        }
    }
    let pending = report
        .findings
        .iter()
        .filter(|f| f.fix.is_some() && !f.fixed)
        .count();
    if pending > 0 && report.fix {
        out.push_str(&format!(
            "\n{pending} of these changed in the last seconds and were left as they are; run 'sparkq doctor --fix' again in a moment.\n"
        ));
    } else if pending > 0 {
        out.push_str(&format!(
            "\nRun 'sparkq doctor --fix' to repair {pending} of these.\n"
        ));
    }
    if !report.conflicted.is_empty() {
        out.push_str("\nTasks with conflicting reports from different machines (see 'sparkq task ID'):\n");
        for t in &report.conflicted {
            out.push_str(&format!("  {} ({}, {})\n", t.id, t.stream, t.status.as_str()));
            for c in &t.conflicts {
                out.push_str(&format!("    {c}\n"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::{Finding, FindingKind};

    fn report(fix: bool) -> DoctorReport {
        DoctorReport {
            fix,
            clean: false,
            findings: vec![Finding {
                kind: FindingKind::Foreign,
                path: "streams/a/pending/x.json".into(),
                task: None,
                message: "never read as a task: it is a named pipe (FIFO), not a file".into(),
                fix: Some("set it aside".into()),
                fixed: false,
            }],
            conflicted: Vec::new(),
        }
    }

    #[test]
    fn a_fix_left_for_later_says_so_instead_of_asking_for_fix() {
        let text = render(&report(false));
        assert!(text.contains("--fix would: set it aside"), "{text}");
        assert!(
            text.contains("Run 'sparkq doctor --fix' to repair 1 of these."),
            "{text}"
        );
        let text = render(&report(true));
        assert!(!text.contains("--fix would"), "{text}");
        assert!(!text.contains("to repair 1"), "{text}");
        assert!(
            text.contains("not yet (it may still be being written): set it aside"),
            "{text}"
        );
        assert!(
            text.contains("run 'sparkq doctor --fix' again in a moment"),
            "{text}"
        );
    }
}
