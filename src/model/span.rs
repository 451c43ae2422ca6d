//! Ages and intervals as people type them (`8h`, `90m`, `2d`, `1week`),
//! read one way at every door so that the same text means the same thing
//! everywhere:
//! - text humantime cannot read is [`SpanError::Malformed`], with its
//!   reason;
//! - a well-formed number too large for any duration
//!   (`99999999999999999h`) is [`SpanError::TooLarge`], exactly like a
//!   representable one past the caller's ceiling (`18446744073709551615s`):
//!   each caller either refuses both with its ceiling's words or treats
//!   both as "as far as it goes" (an age reaching back before 1970 means
//!   1970, see `queue::parse_moment`). Nothing here wraps or panics.

use std::time::Duration;

/// Why a span of time could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpanError {
    /// Not a span: humantime's reason (empty, unknown unit, a sign...).
    Malformed(String),
    /// A span, but larger than the ceiling the caller gave (or than any
    /// duration).
    TooLarge,
}

/// Reads `given` (trimmed) as a span of at most `ceiling`.
pub fn parse_span(given: &str, ceiling: Duration) -> Result<Duration, SpanError> {
    match humantime::parse_duration(given.trim()) {
        Ok(span) if span <= ceiling => Ok(span),
        Ok(_) | Err(humantime::DurationError::NumberOverflow) => Err(SpanError::TooLarge),
        Err(e) => Err(SpanError::Malformed(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn spans_read_up_to_the_ceiling() {
        assert_eq!(parse_span(" 8h ", DAY), Ok(Duration::from_secs(8 * 3600)));
        assert_eq!(parse_span("1d", DAY), Ok(DAY));
        assert_eq!(parse_span("1d 1s", DAY), Err(SpanError::TooLarge));
    }

    /// The two spellings of "too large" are one case, whatever the unit.
    #[test]
    fn a_number_too_large_for_any_duration_is_too_large_like_one_past_the_ceiling() {
        // Past any duration: too large whatever the ceiling.
        for given in [
            "99999999999999999h",
            "18446744073709551616s",
            "99999999999999999999999999999999ns",
            "9999999999999y",
        ] {
            assert_eq!(
                parse_span(given, Duration::MAX),
                Err(SpanError::TooLarge),
                "{given}"
            );
            assert_eq!(parse_span(given, DAY), Err(SpanError::TooLarge), "{given}");
        }
        // A duration, but past the ceiling: the same error.
        assert_eq!(
            parse_span("18446744073709551615s", Duration::MAX),
            Ok(Duration::from_secs(u64::MAX))
        );
        assert_eq!(parse_span("18446744073709551615s", DAY), Err(SpanError::TooLarge));
    }

    /// Random text of every kind: huge, negative, fractional, unicode,
    /// empty. Never a panic; a span within the ceiling, or an error that
    /// is one of the two kinds; and a well-formed `<n><unit>` is read as
    /// the arithmetic says (too large exactly when it overflows or passes
    /// the ceiling).
    #[test]
    fn random_text_is_a_span_within_the_ceiling_or_a_clear_error() {
        let mut rng = fastrand::Rng::with_seed(0x5a11);
        let units = [("s", 1u64), ("m", 60), ("h", 3600), ("d", 86_400)];
        let pieces = [
            "",
            " ",
            "-",
            "+",
            ".",
            "5",
            "0",
            "18446744073709551615",
            "99999999999999999999",
            "é",
            "٣",
            "1e9",
            "h",
            "d",
            "weeks",
            "\u{200b}",
            "\0",
            "ms",
            "y",
        ];
        for _ in 0..5000 {
            let ceiling = Duration::from_secs(rng.u64(..u64::MAX));
            let text: String = (0..rng.usize(0..5))
                .map(|_| pieces[rng.usize(..pieces.len())])
                .collect();
            match parse_span(&text, ceiling) {
                Ok(span) => assert!(span <= ceiling, "{text:?}"),
                Err(SpanError::Malformed(why)) => assert!(!why.is_empty(), "{text:?}"),
                Err(SpanError::TooLarge) => {}
            }
            let n = match rng.u8(..3) {
                0 => rng.u64(..1000),
                1 => rng.u64(..),
                _ => rng.u64(..u64::MAX / 86_400 + 2),
            };
            let (unit, secs) = units[rng.usize(..units.len())];
            let expected = match n.checked_mul(secs).map(Duration::from_secs) {
                Some(span) if span <= ceiling => Ok(span),
                _ => Err(SpanError::TooLarge),
            };
            assert_eq!(parse_span(&format!("{n}{unit}"), ceiling), expected, "{n}{unit}");
        }
    }
}
