//! Ceilings on the numbers and the JSON nesting SparkQ accepts.
//!
//! Every door (CLI flags, HTTP bodies, MCP parameters, batch lines, dropped
//! files, `sparkq.yml`) refuses a value past these ceilings with an error
//! that names the ceiling. They sit well inside what the arithmetic and the
//! JSON parser can take, so that a value that was accepted can always be
//! computed with and read back; code that reads numbers from a file written
//! by hand still saturates instead of trusting them (see
//! [`super::Task::is_dead_at`]).

use std::time::{Duration, Instant};

use serde_json::Value;

/// The longest task timeout: 30 days.
pub const MAX_TIMEOUT_SECS: u64 = 30 * 86_400;

/// The longest a caller may wait for a task (`claim --wait`, MCP
/// `wait_seconds`): 12 hours. A worker that waits longer loops.
pub const MAX_WAIT_SECS: u64 = 12 * 3_600;

/// The longest safety-net re-check interval of a watcher: 1 hour.
pub const MAX_RECHECK_SECS: u64 = 3_600;

/// The longest purge age: 100 years, in days.
pub const MAX_PURGE_DAYS: f64 = 36_500.0;

/// The longest interval between two background syncs (`sync --every`,
/// `sync.every`): a day.
pub const MAX_SYNC_EVERY_SECS: u64 = 86_400;

/// The longest worker name a claim records (`--worker`, MCP `worker`), in
/// bytes: it is copied into the task and its history at every claim.
pub const MAX_WORKER_BYTES: usize = 256;

/// The deepest nesting of arrays and objects a payload or result may have.
///
/// serde_json refuses input nested deeper than 128; a payload or result
/// sits two levels down in a task file (three inside a `conflicts` entry,
/// four in an HTTP or MCP envelope), so 64 leaves a wide margin: whatever
/// is accepted parses again wherever it is read.
pub const MAX_JSON_DEPTH: usize = 64;

/// How deeply `value` nests arrays and objects: 0 for a scalar, 1 for
/// `{}` or `[1]`. Counting stops one past `MAX_JSON_DEPTH`, so the answer
/// is exact up to the ceiling and the walk is short however deep the value.
pub fn json_depth(value: &Value) -> usize {
    fn walk(value: &Value, depth: usize) -> usize {
        if depth > MAX_JSON_DEPTH {
            return depth;
        }
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(fields) => Box::new(fields.values()),
            _ => return depth,
        };
        children.map(|v| walk(v, depth + 1)).fold(depth + 1, usize::max)
    }
    walk(value, 0)
}

/// `from + wait`, or a point as far out as `Instant` can reach if that
/// overflows: a deadline given by a user never panics.
pub fn deadline_after(from: Instant, wait: Duration) -> Instant {
    from.checked_add(wait)
        .or_else(|| from.checked_add(Duration::from_secs(MAX_WAIT_SECS)))
        .unwrap_or(from)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested(depth: usize) -> Value {
        (0..depth).fold(json!(1), |inner, _| json!([inner]))
    }

    #[test]
    fn depth_counts_arrays_and_objects_and_stops_past_the_ceiling() {
        for (value, depth) in [
            (json!(1), 0),
            (json!({}), 1),
            (json!({"a": [1, {"b": []}]}), 4),
            (nested(MAX_JSON_DEPTH), MAX_JSON_DEPTH),
        ] {
            assert_eq!(json_depth(&value), depth, "{value}");
        }
        assert!(json_depth(&nested(120)) > MAX_JSON_DEPTH);
    }

    #[test]
    fn deadlines_saturate() {
        let now = Instant::now();
        assert!(deadline_after(now, Duration::MAX) >= now);
        assert_eq!(
            deadline_after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
    }
}
