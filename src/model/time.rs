//! Timestamps, stored as RFC 3339 UTC strings with microseconds.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The last moment RFC 3339 can write: 9999-12-31T23:59:59.999999Z.
const LAST_WRITABLE_SECS: u64 = 253_402_300_799;

/// A point in time, written as RFC 3339 UTC (`2026-11-26T05:46:33.123456Z`).
///
/// Invariant: it lies between the Unix epoch and the end of year 9999, the
/// range RFC 3339 (and so every task file) can hold. Every constructor
/// clamps into it, so writing a timestamp never fails: a file's mtime from
/// before 1970 or a sum with an absurd timeout from a hand-written file
/// would otherwise panic whoever prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }

    /// Wraps a system time, clamped into the range a task file can hold.
    pub fn from_system(t: SystemTime) -> Timestamp {
        let last = UNIX_EPOCH + Duration::new(LAST_WRITABLE_SECS, 999_999_000);
        Timestamp(t.clamp(UNIX_EPOCH, last))
    }

    /// The wrapped system time.
    pub fn to_system(self) -> SystemTime {
        self.0
    }

    /// Parses RFC 3339 (`Z` or no offset, as SparkQ writes it).
    pub fn parse(s: &str) -> Result<Timestamp, humantime::TimestampError> {
        humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).map(Timestamp::from_system)
    }

    /// Microseconds since the Unix epoch (0 for earlier times).
    pub fn unix_micros(self) -> u64 {
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        u64::try_from(since.as_micros()).unwrap_or(u64::MAX)
    }

    /// How long ago this was, zero if it lies in the future.
    pub fn elapsed(self) -> Duration {
        SystemTime::now().duration_since(self.0).unwrap_or_default()
    }

    /// `self + d`, saturating at the last writable moment instead of
    /// panicking when a duration read from a hand-written file overflows
    /// the clock.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        match self.0.checked_add(d) {
            Some(later) => Timestamp::from_system(later),
            None => Timestamp::from_system(UNIX_EPOCH + Duration::from_secs(LAST_WRITABLE_SECS)),
        }
    }

    /// The time elapsed from `earlier` to `self`, zero if negative.
    pub fn since(self, earlier: Timestamp) -> Duration {
        self.0.duration_since(earlier.0).unwrap_or_default()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_micros(self.0))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).map_err(|e| serde::de::Error::custom(format!("bad timestamp {s:?}: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_timestamp_can_be_written_and_read_back() {
        let secs = Duration::from_secs;
        let cases = [
            Timestamp::from_system(UNIX_EPOCH - secs(86_400 * 3650)),
            Timestamp::from_system(UNIX_EPOCH + secs(u64::from(u32::MAX) * 1000)),
            Timestamp::now().saturating_add(secs(1_000_000_000_000_000)),
            Timestamp::now().saturating_add(Duration::MAX),
            Timestamp::now().saturating_add(secs(60)),
        ];
        for t in cases {
            let written = t.to_string();
            assert_eq!(Timestamp::parse(&written).map(|p| p.to_string()), Ok(written));
        }
        assert_eq!(cases[0].to_string(), "1970-01-01T00:00:00.000000Z");
        assert!(cases[2].to_string().starts_with("9999-12-31T23:59:59"));
    }

    #[test]
    fn round_trips_through_rfc3339() {
        let t = Timestamp::from_system(UNIX_EPOCH + Duration::from_micros(1_790_000_000_123_456));
        let text = t.to_string();
        assert_eq!(text, "2026-09-21T14:13:20.123456Z");
        assert_eq!(Timestamp::parse(&text).unwrap(), t);
    }

    #[test]
    fn adding_any_duration_never_panics_and_never_goes_back() {
        let t = Timestamp::now();
        for d in [
            Duration::ZERO,
            Duration::from_secs(1),
            Duration::from_secs(u64::MAX),
            Duration::MAX,
        ] {
            assert!(t.saturating_add(d) >= t);
        }
    }
}
