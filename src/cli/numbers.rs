//! Parsers for numeric flags: each refuses a value past its ceiling with a
//! message that names the range, so no absurd number reaches the queue.
//!
//! `--timeout` has none: the queue refuses a timeout past its ceiling with
//! the same words at every door (CLI, API, MCP, batch lines, drops).

use crate::model::{MAX_RECHECK_SECS, MAX_WAIT_SECS};

/// `claim --wait`: 0 to 12 hours.
pub(super) fn wait_secs(s: &str) -> Result<u64, String> {
    seconds(s, 0, MAX_WAIT_SECS, "12 hours")
}

/// `--recheck`: 1 second to 1 hour.
pub(super) fn recheck_secs(s: &str) -> Result<u64, String> {
    seconds(s, 1, MAX_RECHECK_SECS, "1 hour")
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
    }
}
