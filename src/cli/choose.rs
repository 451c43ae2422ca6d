//! `sparkq run` on a terminal with nothing named: a numbered menu of the
//! sessions with active streams, then of that session's streams. Each
//! answer may be a number or a name; a typo is asked again.

use std::collections::BTreeMap;
use std::io::IsTerminal;

use anyhow::bail;

use super::ask::Prompter;
use super::output::table;
use crate::model::StreamStatus;
use crate::queue::{Queue, StreamInfo};

/// Asks which session, then which of its streams (or all) to watch.
pub(super) fn ask_streams(queue: &Queue) -> anyhow::Result<Vec<String>> {
    let mut active: Vec<StreamInfo> = queue
        .list_streams(None)?
        .into_iter()
        .filter(|s| s.stream.status == StreamStatus::Active)
        .collect();
    // Queued work first, then by name, so the default is the busiest.
    active.sort_by(|a, b| {
        b.counts
            .queued
            .cmp(&a.counts.queued)
            .then_with(|| a.stream.name.cmp(&b.stream.name))
    });
    if !std::io::stdin().is_terminal() {
        bail!(
            "say which streams to watch: --session S or --stream S\n  Active streams (queued work first):\n{}",
            listing(&active)
        );
    }
    if active.is_empty() {
        bail!("there are no active streams\n  Create one with 'sparkq stream create NAME --session S'.");
    }
    let mut sessions: Vec<(String, Vec<&StreamInfo>)> = Vec::new();
    for info in &active {
        let session = info.stream.session.to_string();
        match sessions.iter_mut().find(|(name, _)| *name == session) {
            Some((_, streams)) => streams.push(info),
            None => sessions.push((session, vec![info])),
        }
    }
    let mut p = Prompter::stdin();

    eprintln!("Sessions with active streams (queued work first):");
    for (i, (name, streams)) in sessions.iter().enumerate() {
        let queued: usize = streams.iter().map(|s| s.counts.queued).sum();
        eprintln!(
            "  {}) {name}  ({} stream(s), {queued} queued)",
            i + 1,
            streams.len()
        );
    }
    let names: Vec<String> = sessions.iter().map(|(n, _)| n.clone()).collect();
    let session = p.ask("Session (number or name)", "1", |a| pick(a, &names, "session"))?;
    let streams = &sessions[session].1;

    eprintln!("Streams of session {}:", names[session]);
    eprintln!("  0) all {} active stream(s)", streams.len());
    for (i, s) in streams.iter().enumerate() {
        eprintln!(
            "  {}) {}  ({} queued, {} running)",
            i + 1,
            s.stream.name,
            s.counts.queued,
            s.counts.running
        );
    }
    let mut choices = vec!["all".to_owned()];
    choices.extend(streams.iter().map(|s| s.stream.name.to_string()));
    let chosen = p.ask("Stream (number or name; 0 or 'all' for every one)", "0", |a| {
        pick_from_zero(a, &choices)
    })?;
    Ok(if chosen == 0 {
        streams.iter().map(|s| s.stream.name.to_string()).collect()
    } else {
        vec![choices[chosen].clone()]
    })
}

/// The active streams as a table, for the error off a terminal.
fn listing(active: &[StreamInfo]) -> String {
    let rows: Vec<Vec<String>> = active
        .iter()
        .map(|s| {
            vec![
                s.stream.session.to_string(),
                s.stream.name.to_string(),
                s.counts.queued.to_string(),
                s.counts.running.to_string(),
            ]
        })
        .collect();
    table(&["SESSION", "STREAM", "QUEUED", "RUNNING"], &rows)
}

/// The index of `answer` in `names`: a number from 1, or a name.
fn pick(answer: &str, names: &[String], what: &str) -> Result<usize, String> {
    if let Ok(n) = answer.parse::<usize>() {
        return (1..=names.len())
            .contains(&n)
            .then(|| n - 1)
            .ok_or_else(|| format!("there is no {what} {n}; pick 1 to {}", names.len()));
    }
    let by_name: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, n)| (n.as_str(), i)).collect();
    by_name.get(answer).copied().ok_or_else(|| {
        format!(
            "no {what} named '{answer}' here; pick one of {}",
            names.join(", ")
        )
    })
}

/// Like [`pick`], where choice 0 is `choices[0]` (`all`).
fn pick_from_zero(answer: &str, choices: &[String]) -> Result<usize, String> {
    match answer.parse::<usize>() {
        Ok(n) if n < choices.len() => Ok(n),
        Ok(n) => Err(format!("there is no stream {n}; pick 0 to {}", choices.len() - 1)),
        Err(_) => choices.iter().position(|c| c == answer).ok_or_else(|| {
            format!(
                "no stream named '{answer}' in this session; pick one of {}",
                choices.join(", ")
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_numbers_or_names_and_typos_are_named() {
        let names = vec!["api-v2".to_owned(), "web".to_owned()];
        assert_eq!(pick("2", &names, "session"), Ok(1));
        assert_eq!(pick("web", &names, "session"), Ok(1));
        assert!(pick("3", &names, "session").unwrap_err().contains("pick 1 to 2"));
        assert!(
            pick("wbe", &names, "session")
                .unwrap_err()
                .contains("api-v2, web")
        );
        let choices = vec!["all".to_owned(), "auth".to_owned()];
        assert_eq!(pick_from_zero("0", &choices), Ok(0));
        assert_eq!(pick_from_zero("auth", &choices), Ok(1));
        assert!(pick_from_zero("2", &choices).is_err());
    }
}
