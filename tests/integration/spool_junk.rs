//! Odd things in the spool (links, FIFOs, folders, forged task files, odd
//! names, huge files, temp files): never followed, never hanging a
//! command, never lost or ignored: set aside with a reason, or reported.

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::Project;

/// How long any one command may take before the test calls it a hang.
const COMMAND_LIMIT: Duration = Duration::from_secs(20);

/// Runs `sparkq ARGS`, failing the test if it hangs or panics.
pub(crate) fn bounded(p: &Project, args: &[&str]) -> Output {
    p.bounded(args, COMMAND_LIMIT)
}

/// Runs `sparkq ARGS` within the limit and expects success.
pub(crate) fn ok(p: &Project, args: &[&str]) -> String {
    let output = bounded(p, args);
    assert!(
        output.status.success(),
        "sparkq {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Makes an entry (a link itself, not its target) look a minute old, so
/// that adoption counts it as settled.
pub(crate) fn age(path: &Path) {
    let status = std::process::Command::new("touch")
        .args(["-h", "-d", "1 minute ago"])
        .arg(path)
        .status()
        .expect("touch");
    assert!(status.success());
}

pub(crate) fn mkfifo(path: &Path) {
    let status = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .expect("mkfifo");
    assert!(status.success());
}

/// Every failed task of `stream`, as stored.
pub(crate) fn failed(p: &Project, stream: &str) -> Vec<Value> {
    p.files(stream, "failed")
        .iter()
        .map(|name| {
            let bytes = std::fs::read(p.state_dir(stream, "failed").join(name)).unwrap();
            serde_json::from_slice(&bytes).unwrap()
        })
        .collect()
}

/// The failed task whose error mentions `needle`.
pub(crate) fn failed_with(p: &Project, stream: &str, needle: &str) -> Value {
    let all = failed(p, stream);
    all.iter()
        .find(|t| t["error"].as_str().is_some_and(|e| e.contains(needle)))
        .unwrap_or_else(|| panic!("no failed task mentions {needle:?}: {all:#?}"))
        .clone()
}

/// Every regular file under `dir`, never following a link.
pub(crate) fn regular_files(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else { continue };
        if kind.is_dir() {
            found.extend(regular_files(&entry.path()));
        } else if kind.is_file() {
            found.push(entry.path());
        }
    }
    found
}

/// Whether any file of the spool holds `needle`.
pub(crate) fn spool_holds(p: &Project, needle: &[u8]) -> bool {
    regular_files(&p.spool())
        .iter()
        .any(|f| std::fs::read(f).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle)))
}

#[test]
fn a_symlink_dropped_in_is_set_aside_and_its_target_never_read() {
    let p = Project::with_stream("a");
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.json");
    std::fs::write(
        &secret,
        r#"{"tool_name": "run-bash", "payload": {"token": "hunter2-secret"}}"#,
    )
    .unwrap();
    let before = std::fs::metadata(&secret).unwrap().modified().unwrap();
    let link = p.state_dir("a", "pending").join("link.json");
    std::os::unix::fs::symlink(&secret, &link).unwrap();
    age(&link);

    assert_eq!(
        ok(&p, &["claim", "--stream", "a"]),
        "",
        "a link is never a task to hand out"
    );

    let task = failed_with(&p, "a", "link.json");
    let error = task["error"].as_str().unwrap();
    assert!(error.contains("symbolic link"), "{error}");
    assert!(task.get("original").is_none(), "{task:#}");
    assert!(
        !spool_holds(&p, b"hunter2-secret"),
        "the target's bytes were copied into the spool"
    );
    let aside = p
        .spool()
        .join("streams/a/quarantine")
        .join(task["id"].as_str().unwrap());
    assert_eq!(
        std::fs::read_link(&aside).unwrap(),
        secret,
        "the link itself is kept, as a link"
    );
    assert_eq!(std::fs::metadata(&secret).unwrap().modified().unwrap(), before);
}

#[test]
fn a_fifo_a_link_to_dev_zero_or_a_folder_named_like_a_task_never_wedges_the_stream() {
    for make in ["fifo", "zero", "folder"] {
        let p = Project::with_stream("a");
        let junk = p.state_dir("a", "pending").join("tsk_0.json");
        match make {
            "fifo" => mkfifo(&junk),
            "zero" => std::os::unix::fs::symlink("/dev/zero", &junk).unwrap(),
            _ => std::fs::create_dir(&junk).unwrap(),
        }
        // Still settling (just made): every command goes past it.
        for args in [
            &["claim", "--stream", "a"][..],
            &["peek", "--stream", "a"],
            &["tasks"],
            &["status"],
            &["doctor"],
        ] {
            ok(&p, args);
        }
        // Settled: the next look sets it aside, and the stream works on.
        age(&junk);
        let id = p.enqueue("a", r#"{"n": 1}"#);
        assert_eq!(p.claim("a")["id"], id.as_str(), "{make}");
        ok(&p, &["doctor", "--fix"]);
        assert!(std::fs::symlink_metadata(&junk).is_err(), "{make} was set aside");
        let task = failed_with(&p, "a", "tsk_0.json");
        assert!(task["error"].as_str().unwrap().contains("quarantine"), "{task:#}");
        assert!(ok(&p, &["doctor"]).contains("nothing to repair"), "{make}");
    }
}

#[test]
fn a_forged_task_file_is_set_aside_never_handed_out_under_another_id_or_stream() {
    let p = Project::with_stream("a");
    let real = p.enqueue("a", r#"{"real": true}"#);
    let pending = p.state_dir("a", "pending");
    let text = std::fs::read_to_string(pending.join(format!("{real}.json"))).unwrap();
    let forged = text.replace(r#""real": true"#, r#""real": false"#);
    std::fs::write(pending.join("tsk_0forged.json"), forged).unwrap();
    let other = p.enqueue("a", r#"{"other": true}"#);
    let path = pending.join(format!("{other}.json"));
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace(r#""stream": "a""#, r#""stream": "zzz""#)).unwrap();

    let claimed = p.claim("a");
    assert_eq!(claimed["id"], real.as_str());
    assert_eq!(
        claimed["payload"]["real"], true,
        "the real payload, not the forged one"
    );
    assert_eq!(
        ok(&p, &["claim", "--stream", "a"]),
        "",
        "neither forged file is handed out"
    );
    assert!(
        !p.spool().join("streams/zzz").exists(),
        "no stream is created from a file's content"
    );

    let forged = failed_with(&p, "a", "tsk_0forged.json");
    assert!(forged["error"].as_str().unwrap().contains(&real), "{forged:#}");
    assert!(forged["original"].as_str().unwrap().contains(r#""real": false"#));
    let moved = failed_with(&p, "a", "zzz");
    assert!(moved["original"].as_str().unwrap().contains(r#""other": true"#));
    assert_ne!(moved["id"], other.as_str(), "set aside under a new id");
}

#[test]
fn odd_names_fifos_and_dangling_links_are_reported_then_set_aside() {
    let p = Project::with_stream("a");
    let pending = p.state_dir("a", "pending");
    let odd_name = std::ffi::OsStr::from_bytes(b"odd-\xff.json");
    let content: &[u8] = b"{\"tool_name\": \"run-bash\", \"payload\": {\"s\": \"\xfe\"}}";
    std::fs::write(pending.join(odd_name), content).unwrap();
    mkfifo(&pending.join("fifo.json"));
    std::os::unix::fs::symlink("/nonexistent/sparkq", pending.join("dangling.json")).unwrap();
    for name in [odd_name, "fifo.json".as_ref(), "dangling.json".as_ref()] {
        age(&pending.join(name));
    }

    let report: Value = serde_json::from_str(&ok(&p, &["doctor", "--json"])).unwrap();
    let foreign: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "foreign")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(foreign.len(), 3, "{report:#}");
    assert_eq!(report["clean"], false);

    assert_eq!(ok(&p, &["claim", "--stream", "a"]), "");
    assert_eq!(p.files("a", "failed").len(), 3);
    assert!(p.files("a", "pending").is_empty());
    failed_with(&p, "a", "named pipe");
    failed_with(&p, "a", "dangling.json");
    // Bytes that are not UTF-8 are kept exactly, as base64.
    let odd = failed_with(&p, "a", "odd-");
    assert_eq!(odd["original_encoding"], "base64");
    let decoded = std::process::Command::new("base64")
        .arg("-d")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            let text = odd["original"].as_str().unwrap().to_owned();
            child.stdin.take().unwrap().write_all(text.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert_eq!(decoded.stdout, content);
    assert!(ok(&p, &["doctor"]).contains("nothing to repair"));
}

#[test]
fn a_file_dropped_into_an_ended_stream_fails_with_stream_ended() {
    let p = Project::with_stream("a");
    ok(&p, &["stream", "end", "a"]);
    let drop = p.state_dir("a", "pending").join("late.json");
    std::fs::write(&drop, r#"{"tool_name": "run-bash", "payload": {"n": 1}}"#).unwrap();
    age(&drop);

    // Any listing that meets the stream looks at it.
    ok(&p, &["stream", "list"]);
    let task = failed_with(&p, "a", "stream ended");
    assert_eq!(task["status"], "failed");
    assert_eq!(task["payload"]["n"], 1, "kept as the task it describes");
    assert!(p.files("a", "pending").is_empty());
    // ... so that it can run in an active stream.
    let b = [
        "stream",
        "create",
        "b",
        "--session",
        "s1",
        "--instructions",
        "Go on.",
    ];
    ok(&p, &b);
    ok(&p, &["requeue", task["id"].as_str().unwrap(), "--stream", "b"]);
    assert_eq!(p.claim("b")["payload"]["n"], 1);
}
