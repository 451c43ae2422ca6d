//! Everything the CLI prints: JSON for programs, aligned tables and relative
//! times for people, colour only on a terminal and never with `NO_COLOR`.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use serde::Serialize;

use crate::model::{TaskStatus, Timestamp};

/// Whether an error is a closed stdout (`sparkq tasks | head`), which is
/// not a failure.
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// An error and its causes as one message, each cause added only if the
/// message does not already say it (most of ours name their cause).
pub fn error_message(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if !message.contains(&text) {
            if !message.is_empty() {
                message.push_str(": ");
            }
            message.push_str(&text);
        }
    }
    message
}

/// Writes `text` to stdout as is.
pub(super) fn print(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// Prints `value` as pretty JSON and a newline.
pub(super) fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    print(&(serde_json::to_string_pretty(value)? + "\n"))
}

/// Prints `value` as one line of JSON.
pub(super) fn print_json_line<T: Serialize>(value: &T) -> anyhow::Result<()> {
    print(&(serde_json::to_string(value)? + "\n"))
}

/// Whether to colour stdout.
pub(super) fn use_colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
}

/// `text` in the ANSI colour `code` if colour is on.
pub(super) fn paint(text: &str, code: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

/// The colour of a status.
pub(super) fn status_colour(status: TaskStatus) -> &'static str {
    match status {
        TaskStatus::Queued => "36",
        TaskStatus::Running => "33",
        TaskStatus::Succeeded => "32",
        TaskStatus::Failed => "31",
    }
}

/// A table: a header row and rows of cells, columns padded to fit.
pub(super) fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(visible_len(cell));
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let last = row.len() - 1;
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i < last {
                out.push_str(&" ".repeat(widths[i] - visible_len(cell) + 2));
            }
        }
        out.push('\n');
    }
    out
}

/// Length of `s` as shown, without ANSI colour codes.
fn visible_len(s: &str) -> usize {
    let mut len = 0;
    let mut in_escape = false;
    for c in s.chars() {
        match (in_escape, c) {
            (false, '\x1b') => in_escape = true,
            (true, 'm') => in_escape = false,
            (false, _) => len += 1,
            _ => {}
        }
    }
    len
}

/// `3s ago`, `5m ago`, `2h ago`, `4d ago`.
pub(super) fn ago(t: Timestamp) -> String {
    format!("{} ago", short_duration(t.elapsed()))
}

/// `850ms`, `12s`, `3m 20s`, `2h 5m`, `3d 4h`.
pub(super) fn short_duration(d: Duration) -> String {
    let secs = d.as_secs();
    match secs {
        0 => format!("{}ms", d.as_millis()),
        1..60 => format!("{secs}s"),
        60..3600 => format!("{}m {}s", secs / 60, secs % 60),
        3600..86400 => format!("{}h {}m", secs / 3600, secs % 3600 / 60),
        _ => format!("{}d {}h", secs / 86400, secs % 86400 / 3600),
    }
}

/// `s` cut to `max` characters with an ellipsis, on one line.
pub(super) fn truncate(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        one_line.chars().take(max.saturating_sub(1)).collect::<String>() + "…"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        let cases = [
            (0.25, "250ms"),
            (12.0, "12s"),
            (200.0, "3m 20s"),
            (7500.0, "2h 5m"),
            (273600.0, "3d 4h"),
        ];
        for (secs, text) in cases {
            assert_eq!(short_duration(Duration::from_secs_f64(secs)), text);
        }
    }

    #[test]
    fn tables_align_ignoring_colour() {
        let rows = vec![
            vec![paint("ok", "32", true), "x".into()],
            vec!["long cell".into(), "y".into()],
        ];
        assert_eq!(
            table(&["A", "B"], &rows),
            "A          B\n\x1b[32mok\x1b[0m         x\nlong cell  y\n"
        );
    }

    #[test]
    fn truncate_keeps_one_line() {
        assert_eq!(truncate("a\nb  c", 10), "a b c");
        assert_eq!(truncate("abcdefghijk", 5), "abcd…");
    }
}
