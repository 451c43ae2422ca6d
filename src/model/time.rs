//! Timestamps, stored as RFC 3339 UTC strings with microseconds.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, written as RFC 3339 UTC (`2026-11-26T05:46:33.123456Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(SystemTime);

impl Timestamp {
    /// The current time.
    pub fn now() -> Timestamp {
        Timestamp(SystemTime::now())
    }

    /// Wraps a system time.
    pub fn from_system(t: SystemTime) -> Timestamp {
        Timestamp(t)
    }

    /// The wrapped system time.
    pub fn to_system(self) -> SystemTime {
        self.0
    }

    /// Parses RFC 3339 (`Z` or no offset, as SparkQ writes it).
    pub fn parse(s: &str) -> Result<Timestamp, humantime::TimestampError> {
        humantime::parse_rfc3339_weak(s.trim_end_matches('Z')).map(Timestamp)
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

    /// `self + d`, saturating at a far future instead of panicking when a
    /// duration read from a hand-written file overflows the clock.
    pub fn saturating_add(self, d: Duration) -> Timestamp {
        const FAR_AHEAD: Duration = Duration::from_secs(100 * 365 * 86_400);
        let later = self.0.checked_add(d).or_else(|| self.0.checked_add(FAR_AHEAD));
        Timestamp(later.unwrap_or(self.0))
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
