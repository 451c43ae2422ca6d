//! Odd things elsewhere in the spool than a stream's `pending/`: old temp
//! files, a forged copy in a finished folder, a stream folder that is a
//! link, a FIFO or a link planted as a pid file or a stream lock. Each is
//! refused, set aside or reported; none is followed or waited on.

use serde_json::Value;

use crate::spool_junk::{bounded, failed_with, mkfifo, ok};
use crate::support::Project;

#[test]
fn old_temp_files_are_reported_and_removed_young_ones_left() {
    let p = Project::with_stream("a");
    let old_file = p.state_dir("a", "done").join(".tsk_x.json.AbC123.tmp");
    std::fs::write(&old_file, "half").unwrap();
    let old_dir = p.spool().join("streams/.new-b-XyZ789");
    std::fs::create_dir_all(old_dir.join("pending")).unwrap();
    let young = p.state_dir("a", "pending").join(".young.tmp");
    std::fs::write(&young, "being written").unwrap();
    for path in [&old_file, &old_dir] {
        let status = std::process::Command::new("touch")
            .args(["-d", "1 hour ago"])
            .arg(path)
            .status()
            .unwrap();
        assert!(status.success());
    }

    let report: Value = serde_json::from_str(&ok(&p, &["doctor", "--json"])).unwrap();
    let temp: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["kind"] == "temp_file")
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        temp,
        ["streams/.new-b-XyZ789", "streams/a/done/.tsk_x.json.AbC123.tmp"]
    );
    ok(&p, &["doctor", "--fix"]);
    assert!(!old_file.exists() && !old_dir.exists());
    assert!(young.exists(), "a temp file still being written is left alone");
}

#[test]
fn the_server_removes_old_temp_files_when_it_starts() {
    let p = Project::with_stream("a");
    let old_file = p.state_dir("a", "pending").join(".killed.tmp");
    std::fs::write(&old_file, "half").unwrap();
    let status = std::process::Command::new("touch")
        .args(["-d", "1 hour ago"])
        .arg(&old_file)
        .status()
        .unwrap();
    assert!(status.success());
    let _server = crate::server_support::Server::start(&p);
    crate::support::wait_until("the temp file to go", 10, || !old_file.exists());
}

#[test]
fn a_forged_copy_in_a_finished_folder_is_set_aside_by_doctor_never_queued() {
    let p = Project::with_stream("a");
    let real = p.enqueue("a", r#"{"real": true}"#);
    let text = std::fs::read_to_string(p.state_dir("a", "pending").join(format!("{real}.json"))).unwrap();
    let forged = p.state_dir("a", "done").join("tsk_0forged.json");
    std::fs::write(&forged, text.replace(r#""real": true"#, r#""real": false"#)).unwrap();

    ok(&p, &["doctor", "--fix"]);
    assert!(!forged.exists());
    let set_aside = failed_with(&p, "a", "tsk_0forged.json");
    assert!(
        set_aside["original"]
            .as_str()
            .unwrap()
            .contains(r#""real": false"#)
    );
    assert_eq!(
        p.files("a", "pending"),
        [format!("{real}.json")],
        "nothing new queued"
    );
    assert_eq!(p.claim("a")["payload"]["real"], true);
}

#[test]
fn a_stream_folder_that_is_a_link_elsewhere_is_no_stream() {
    let p = Project::with_stream("a");
    let other = Project::with_stream("b");
    let id = other.enqueue("b", r#"{"theirs": true}"#);
    let theirs = other.state_dir("b", "pending").join(format!("{id}.json"));
    let before = std::fs::read(&theirs).unwrap();
    let link = p.spool().join("streams/b");
    std::os::unix::fs::symlink(other.spool().join("streams/b"), &link).unwrap();

    let out = bounded(&p, &["claim", "--stream", "b"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !ok(&p, &["stream", "list"]).contains("b "),
        "not listed as a stream"
    );
    assert_eq!(
        std::fs::read(&theirs).unwrap(),
        before,
        "the other project's task is untouched"
    );
    let report: Value = serde_json::from_str(&ok(&p, &["doctor", "--json"])).unwrap();
    let paths: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"streams/b"), "{report:#}");
}

#[test]
fn a_fifo_or_a_link_as_the_server_pid_file_never_hangs_status() {
    let p = Project::with_stream("a");
    let pid_file = p.spool().join(".sparkq.lock");
    mkfifo(&pid_file);
    assert!(ok(&p, &["status"]).contains("not running"));
    std::fs::remove_file(&pid_file).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &pid_file).unwrap();
    assert!(ok(&p, &["status"]).contains("not running"));
}

#[test]
fn a_fifo_or_a_link_as_a_stream_lock_is_refused_with_a_hint_not_waited_on() {
    let p = Project::with_stream("a");
    let lock = p.spool().join("streams/a/.lock");
    let _ = std::fs::remove_file(&lock);
    mkfifo(&lock);
    let out = bounded(&p, &["claim", "--stream", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("remove it"));
    std::fs::remove_file(&lock).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("lock"), &lock).unwrap();
    assert_eq!(bounded(&p, &["claim", "--stream", "a"]).status.code(), Some(1));
    assert!(
        !elsewhere.path().join("lock").exists(),
        "nothing created through the link"
    );
    std::fs::remove_file(&lock).unwrap();
    p.enqueue("a", "{}");
    p.claim("a");
}
