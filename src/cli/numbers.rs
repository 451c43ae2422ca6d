//! Parsers for numeric flags: each refuses a value past its ceiling with a
//! message that names the range, so no absurd number reaches the queue.
//!
//! `--timeout` and `--limit` only need a whole number here: the queue
//! refuses one past its range with the same words at every door (CLI, API,
//! MCP, batch lines, drops); these parsers name that range for what is not a
//! number at all (`-5`, `1.5`, twenty digits).

use crate::model::{MAX_RECHECK_SECS, MAX_TIMEOUT_SECS, MAX_WAIT_SECS};
use crate::queue::MAX_PAGE;

/// `claim --wait`: 0 to 12 hours.
pub(super) fn wait_secs(s: &str) -> Result<u64, String> {
    seconds(s, 0, MAX_WAIT_SECS, "12 hours")
}

/// `--recheck`: 1 second to 1 hour.
pub(super) fn recheck_secs(s: &str) -> Result<u64, String> {
    seconds(s, 1, MAX_RECHECK_SECS, "1 hour")
}

/// `enqueue --timeout`: a whole number of seconds; the queue checks the range.
pub(super) fn timeout_secs(s: &str) -> Result<u64, String> {
    whole(s, &format!("seconds (1 to {MAX_TIMEOUT_SECS}, 30 days)"))
}

/// `tasks --limit`: a whole number of tasks; the queue checks the range.
pub(super) fn page_limit(s: &str) -> Result<usize, String> {
    whole(s, &format!("tasks per page (1 to {MAX_PAGE})"))
}

/// `run --port`: 0 to 65535, 0 for any free port.
pub(super) fn port(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u64>() {
        Ok(n) => {
            u16::try_from(n).map_err(|_| format!("{n} is not a port: give 0 to 65535 (0: any free port)"))
        }
        Err(_) => Err(format!("'{s}' is not a port: give 0 to 65535 (0: any free port)")),
    }
}

fn whole<N: std::str::FromStr>(s: &str, unit: &str) -> Result<N, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a whole number of {unit}"))
}

fn seconds(s: &str, min: u64, max: u64, max_words: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        Ok(n) => Err(format!(
            "{n} is out of range: give {min} to {max} seconds ({max_words})"
        )),
        Err(_) => Err(format!("'{s}' is not a whole number of seconds ({min} to {max})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_flag_takes_its_range_and_names_it_otherwise() {
        assert_eq!(wait_secs("0"), Ok(0));
        assert_eq!(wait_secs("43200"), Ok(43_200));
        assert_eq!(recheck_secs("3600"), Ok(3600));
        for (result, words) in [
            (
                wait_secs("18446744073709551615"),
                "out of range: give 0 to 43200 seconds (12 hours)",
            ),
            (
                wait_secs("99999999999999999999999"),
                "not a whole number of seconds (0 to 43200)",
            ),
            (wait_secs("-5"), "not a whole number"),
            (wait_secs("43201"), "give 0 to 43200 seconds (12 hours)"),
            (recheck_secs("1.5"), "not a whole number"),
            (recheck_secs("0"), "give 1 to 3600 seconds (1 hour)"),
        ] {
            assert!(
                result.as_ref().is_err_and(|e| e.contains(words)),
                "{result:?} lacks {words:?}"
            );
        }
        assert_eq!(timeout_secs("600"), Ok(600));
        assert_eq!(port("0"), Ok(0));
        assert_eq!(port("65535"), Ok(65535));
        assert_eq!(
            port("65536"),
            Err("65536 is not a port: give 0 to 65535 (0: any free port)".to_owned())
        );
        assert_eq!(
            port("-1"),
            Err("'-1' is not a port: give 0 to 65535 (0: any free port)".to_owned())
        );
        assert_eq!(page_limit("50"), Ok(50));
        for (result, words) in [
            (
                timeout_secs("-5"),
                "'-5' is not a whole number of seconds (1 to 2592000, 30 days)",
            ),
            (
                timeout_secs("99999999999999999999"),
                "not a whole number of seconds",
            ),
        ] {
            assert!(
                result.as_ref().is_err_and(|e| e.contains(words)),
                "{result:?} lacks {words:?}"
            );
        }
        for (result, words) in [
            (
                page_limit("-1"),
                "'-1' is not a whole number of tasks per page (1 to 1000)",
            ),
            (page_limit("ten"), "not a whole number of tasks per page"),
        ] {
            assert!(
                result.as_ref().is_err_and(|e| e.contains(words)),
                "{result:?} lacks {words:?}"
            );
        }
    }
}
