//! The budget every payload, result and output must fit, checked at input.
//!
//! What is accepted is written into a task file and read back by every
//! later command, so the budget is the one the reader can take: a size
//! within `limits:` and a nesting depth within [`MAX_JSON_DEPTH`], far
//! below the JSON parser's own ceiling. Nothing past it is ever written.

use serde_json::Value;

use super::{Error, Queue, Result};
use crate::model::{MAX_JSON_DEPTH, json_depth};

impl Queue {
    /// Refuses a payload or result that is too large or too deep.
    pub(super) fn check_json(&self, what: &'static str, value: &Value) -> Result<()> {
        let depth = json_depth(value);
        if depth > MAX_JSON_DEPTH {
            return Err(Error::invalid(
                what,
                format!("it nests arrays and objects more than {MAX_JSON_DEPTH} levels deep"),
                "Flatten it, or put the deep data in a file and pass its path.",
            ));
        }
        let size = serde_json::to_string(value).map(|s| s.len()).unwrap_or(0);
        self.check_size(what, size, self.config.limits.payload_bytes)
    }

    /// Refuses `size` bytes of `what` past `limit`.
    pub(super) fn check_size(&self, what: &'static str, size: usize, limit: usize) -> Result<()> {
        if size > limit {
            return Err(Error::TooLarge { what, size, limit });
        }
        Ok(())
    }
}
