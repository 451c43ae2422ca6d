//! Names of sessions and streams.
//!
//! A name is 1–64 characters of `a-z 0-9 - _ .`, starting with a letter or a
//! digit. That keeps every name a safe single path component on every OS: no
//! separators, no `..`, no hidden files, no case clashes.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest name accepted, in characters.
const NAME_MAX_CHARS: usize = 64;

/// A validated session or stream name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

/// Why a string is not a valid name; the message says what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid name '{given}': {reason}\n  Names are 1-64 characters of a-z, 0-9, '-', '_' and '.', starting with a letter or digit (e.g. 'api-v2')."
)]
pub struct InvalidName {
    /// The rejected input.
    pub given: String,
    /// What exactly is wrong with it.
    pub reason: &'static str,
}

impl Name {
    /// Validates `s` as a name.
    pub fn parse(s: &str) -> Result<Name, InvalidName> {
        let reason = if s.is_empty() {
            Some("it is empty")
        } else if s.chars().count() > NAME_MAX_CHARS {
            Some("it is longer than 64 characters")
        } else if !s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
            Some("it must start with a lowercase letter or a digit")
        } else if s.chars().any(|c| c.is_ascii_uppercase()) {
            Some("it contains uppercase letters")
        } else if !s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        {
            Some("it contains a character other than a-z, 0-9, '-', '_' and '.'")
        } else {
            None
        };
        match reason {
            Some(reason) => Err(InvalidName {
                given: s.to_owned(),
                reason,
            }),
            None => Ok(Name(s.to_owned())),
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Name {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Name::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_names() {
        for ok in ["a", "api-v2", "auth", "0day", "a.b_c-d", &"x".repeat(64)] {
            assert_eq!(Name::parse(ok).map(|n| n.to_string()), Ok(ok.to_string()));
        }
    }

    #[test]
    fn rejects_each_kind_of_bad_name_with_its_reason() {
        let cases = [
            ("", "it is empty"),
            ("../x", "it must start with a lowercase letter or a digit"),
            (".hidden", "it must start with a lowercase letter or a digit"),
            (
                "a/b",
                "it contains a character other than a-z, 0-9, '-', '_' and '.'",
            ),
            (
                "a b",
                "it contains a character other than a-z, 0-9, '-', '_' and '.'",
            ),
            ("Auth", "it must start with a lowercase letter or a digit"),
            ("aUth", "it contains uppercase letters"),
            ("é", "it must start with a lowercase letter or a digit"),
        ];
        for (input, reason) in cases {
            assert_eq!(Name::parse(input).unwrap_err().reason, reason, "{input:?}");
        }
        assert_eq!(
            Name::parse(&"x".repeat(65)).unwrap_err().reason,
            "it is longer than 64 characters"
        );
    }
}
