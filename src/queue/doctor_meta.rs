//! Doctor for stream and session files: a `stream.json` or
//! `sessions/<name>.json` with git conflict markers, or with a second
//! version beside it (`stream.json~…`), is merged into one.
//!
//! The merge rule, deterministic so two machines agree: the version
//! created first is kept; the file is `ended` if any version ended (ending
//! is final), with the earliest `ended_at`; `updated_at` is the latest.
//! A version that cannot be read at all stops the merge: the file is
//! reported and left for a person.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::doctor::{DoctorReport, FindingKind, mark_fixed};
use super::{Queue, Result};
use crate::model::{Name, Session, Stream};
use crate::spool::{self, Split};

impl Queue {
    /// Checks every session file.
    pub(super) fn check_sessions(&self, fix: bool, report: &mut DoctorReport) -> Result<()> {
        let files = self.spool.session_files()?;
        for path in &files.unknown {
            report.add(
                FindingKind::UnknownFile,
                self.rel(path),
                "not a session file".into(),
                None,
            );
        }
        let mut plain = files.plain.clone();
        for extra in &files.extras {
            let base = base_path(extra);
            if !plain.contains(&base) {
                plain.push(base);
            }
        }
        for path in plain {
            let extras: Vec<PathBuf> = files
                .extras
                .iter()
                .filter(|e| base_path(e) == path)
                .cloned()
                .collect();
            self.check_meta::<Session>(&path, &extras, fix, report)?;
        }
        Ok(())
    }

    /// Checks `stream`'s `stream.json` and any versions beside it.
    pub(super) fn check_stream_file(
        &self,
        stream: &Name,
        fix: bool,
        report: &mut DoctorReport,
    ) -> Result<()> {
        let files = self.spool.stream_files(stream)?;
        let path = self.spool.stream_file(stream);
        self.check_meta::<Stream>(&path, &files.stream_extras, fix, report)
    }

    fn check_meta<T: Serialize + DeserializeOwned>(
        &self,
        path: &Path,
        extras: &[PathBuf],
        fix: bool,
        report: &mut DoctorReport,
    ) -> Result<()> {
        let mut versions = Vec::new();
        let mut marked = false;
        let mut unreadable = Vec::new();
        for file in std::iter::once(path).chain(extras.iter().map(PathBuf::as_path)) {
            match read_versions::<T>(&self.spool, file)? {
                Read::Missing => {}
                Read::One(v) => versions.push(v),
                Read::Marked(a, b) => {
                    marked = true;
                    versions.extend([a, b]);
                }
                Read::Unreadable => unreadable.push(file.to_owned()),
            }
        }
        if !marked && extras.is_empty() && unreadable.is_empty() {
            return Ok(());
        }
        let at = self.rel(path);
        if !unreadable.is_empty() || versions.is_empty() {
            let names: Vec<String> = unreadable.iter().map(|p| self.rel(p)).collect();
            report.add(
                FindingKind::Unreadable,
                at,
                format!("cannot be read: {}; fix or remove it by hand", names.join(", ")),
                None,
            );
            return Ok(());
        }
        let merged = merge_versions(versions);
        let typed: T = serde_json::from_value(merged).map_err(|e| spool::Error::Corrupt {
            path: path.to_owned(),
            what: "merged file",
            message: e.to_string(),
        })?;
        let how = if marked {
            "git conflict markers"
        } else {
            "a second version beside it"
        };
        report.add(
            FindingKind::MetaConflict,
            at.clone(),
            format!(
                "{how}: {} version(s) in all",
                extras.len() + 1 + usize::from(marked)
            ),
            Some(format!(
                "merge into {at} (first created kept; ended if either ended)"
            )),
        );
        if fix {
            spool::write_atomic(path, &spool::file_bytes(&typed), self.spool.fsync())?;
            for extra in extras {
                spool::remove_file(extra)?;
            }
            mark_fixed(report);
        }
        Ok(())
    }
}

enum Read {
    Missing,
    One(Value),
    Marked(Value, Value),
    Unreadable,
}

/// The version(s) of a stream or session file `path` holds.
fn read_versions<T: DeserializeOwned>(spool: &spool::Spool, path: &Path) -> Result<Read> {
    let bytes = match spool.read_bytes(path) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(Read::Missing),
        Err(spool::Error::Foreign { .. }) => return Ok(Read::Unreadable),
        Err(e) => return Err(e.into()),
    };
    let parse = |v: &[u8]| {
        serde_json::from_slice::<Value>(v)
            .ok()
            .filter(|v| serde_json::from_value::<T>(v.clone()).is_ok())
    };
    if let Some(v) = parse(&bytes) {
        return Ok(Read::One(v));
    }
    Ok(match spool::split_conflict(&String::from_utf8_lossy(&bytes)) {
        Split::Versions(a, b) => match (parse(a.as_bytes()), parse(b.as_bytes())) {
            (Some(a), Some(b)) => Read::Marked(a, b),
            _ => Read::Unreadable,
        },
        Split::Clean | Split::Malformed => Read::Unreadable,
    })
}

/// `sessions/x.json~HEAD` → `sessions/x.json`.
fn base_path(extra: &Path) -> PathBuf {
    let name = extra.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    extra.with_file_name(spool::extra_of(name).unwrap_or(name))
}

/// Merges versions of one stream or session file (see the module doc).
fn merge_versions(mut versions: Vec<Value>) -> Value {
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
    versions.sort_by_key(|v| (text(v, "created_at"), v.to_string()));
    let ended: Vec<&Value> = versions
        .iter()
        .filter(|v| text(v, "status").as_deref() == Some("ended"))
        .collect();
    let ended_at = ended.iter().filter_map(|v| text(v, "ended_at")).min();
    let updated_at = versions.iter().filter_map(|v| text(v, "updated_at")).max();
    let is_ended = !ended.is_empty();
    let mut merged = versions.swap_remove(0);
    if let Some(fields) = merged.as_object_mut() {
        if is_ended {
            fields.insert("status".into(), "ended".into());
            fields.insert("ended_at".into(), ended_at.map_or(Value::Null, Value::from));
        }
        if let Some(u) = updated_at {
            fields.insert("updated_at".into(), u.into());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::merge_versions;

    #[test]
    fn first_created_is_kept_and_ending_is_final() {
        let a = json!({"name": "s", "status": "active", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z", "ended_at": null});
        let b = json!({"name": "s", "status": "ended", "created_at": "2026-01-02T00:00:00Z", "updated_at": "2026-01-03T00:00:00Z", "ended_at": "2026-01-03T00:00:00Z"});
        let want = json!({"name": "s", "status": "ended", "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-03T00:00:00Z", "ended_at": "2026-01-03T00:00:00Z"});
        assert_eq!(merge_versions(vec![a.clone(), b.clone()]), want);
        assert_eq!(merge_versions(vec![b, a.clone()]), want);
        assert_eq!(merge_versions(vec![a.clone()]), a);
    }
}
