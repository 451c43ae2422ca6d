//! One project never touches another: two projects on one machine with the
//! same stream names, each running `sparkq run` (server and watchers), with
//! the default runtime folder (`$XDG_RUNTIME_DIR/sparkq/...`) shared by
//! both. `status`, `stop`, `stop --stream` and `teardown` in one leave the
//! other running and never list it. Also: runtime folders and files that
//! another user made, or that are open to other users, are refused.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::background::{Bg, Runtime};
use crate::support::{Project, wait_until};

/// A project with streams a and b in session s1.
fn project() -> Project {
    let p = Project::with_stream("a");
    p.sparkq(["stream", "create", "b", "--session", "s1"]).success();
    p
}

/// `sparkq ARGS` in `p` with the machine-wide defaults: no
/// `$SPARKQ_RUNTIME_DIR`, and `xdg` as `$XDG_RUNTIME_DIR`.
fn cmd(p: &Project, xdg: &Path, args: &[&str]) -> Command {
    let mut cmd = p.command(args);
    cmd.env_remove("SPARKQ_RUNTIME_DIR").env("XDG_RUNTIME_DIR", xdg);
    cmd
}

fn ok(p: &Project, xdg: &Path, args: &[&str]) -> String {
    let out = cmd(p, xdg, args).output().expect("run sparkq");
    assert!(
        out.status.success(),
        "sparkq {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn status(p: &Project, xdg: &Path) -> Value {
    serde_json::from_str(&ok(p, xdg, &["status", "--json"])).expect("status json")
}

/// The watchers `status` lists, as (stream, pid).
fn watchers(status: &Value) -> Vec<(String, u64)> {
    let mut list: Vec<(String, u64)> = status["watchers"]
        .as_array()
        .expect("watchers")
        .iter()
        .map(|w| {
            (
                w["stream"].as_str().unwrap().to_owned(),
                w["pid"].as_u64().unwrap(),
            )
        })
        .collect();
    list.sort();
    list
}

/// The folders and the files in a runtime base.
fn in_base(base: &Path) -> (usize, usize) {
    let kinds: Vec<bool> = std::fs::read_dir(base)
        .unwrap()
        .map(|e| e.unwrap().file_type().unwrap().is_dir())
        .collect();
    let folders = kinds.iter().filter(|d| **d).count();
    (folders, kinds.len() - folders)
}

fn start_run(p: &Project, xdg: &Path) -> Bg {
    let run = Bg::spawn(cmd(p, xdg, &["run", "--session", "s1", "--port", "0"]));
    wait_until("the server and both watchers", 30, || {
        let s = status(p, xdg);
        s["server"]["pid"] == run.pid() && watchers(&s).len() == 2
    });
    run
}

#[test]
fn two_projects_with_the_same_streams_never_see_or_stop_each_other() {
    let xdg = tempfile::tempdir().unwrap();
    let xdg = xdg.path();
    let (one, two) = (project(), project());
    let mut run_one = start_run(&one, xdg);
    let mut run_two = start_run(&two, xdg);
    let (pid_one, pid_two) = (u64::from(run_one.pid()), u64::from(run_two.pid()));
    let both = |pid| vec![("a".to_owned(), pid), ("b".to_owned(), pid)];
    assert_eq!(watchers(&status(&one, xdg)), both(pid_one));
    assert_eq!(watchers(&status(&two, xdg)), both(pid_two));
    let table = ok(&one, xdg, &["status"]);
    assert!(!table.contains(&pid_two.to_string()), "{table}");

    // Each project has its own private folder under $XDG_RUNTIME_DIR/sparkq.
    let base = xdg.join("sparkq");
    let mode = std::fs::metadata(&base).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    // Beside them: each project's config cache entry, a file.
    assert_eq!(in_base(&base), (2, 2), "one runtime folder per project");

    // The wait command names this project's own files.
    let wait_one = ok(&one, xdg, &["watch", "a", "--wait-command"]);
    let wait_two = ok(&two, xdg, &["watch", "a", "--wait-command"]);
    assert_ne!(wait_one, wait_two);
    assert!(wait_one.contains(&base.display().to_string()), "{wait_one}");
    assert!(run_one.stdout().contains(wait_one.trim()), "{}", run_one.stdout());

    // stop --stream a in one: only one's watcher of a goes.
    let out = ok(&one, xdg, &["stop", "--stream", "a"]);
    assert!(out.contains(&format!("(pid {pid_one})")), "{out}");
    assert_eq!(watchers(&status(&one, xdg)), vec![("b".to_owned(), pid_one)]);
    assert_eq!(watchers(&status(&two, xdg)), both(pid_two));

    // stop in one: one's run ends, two's goes on.
    let out = ok(&one, xdg, &["stop"]);
    assert!(out.contains(&format!("(pid {pid_one})")), "{out}");
    assert!(!out.contains(&pid_two.to_string()), "{out}");
    assert!(run_one.wait_exit(20).success(), "{}", run_one.stderr());
    assert!(!run_two.has_exited());
    let two_status = status(&two, xdg);
    assert_eq!(two_status["server"]["pid"], pid_two);
    assert_eq!(watchers(&two_status), both(pid_two));
    let one_status = status(&one, xdg);
    assert!(one_status["server"].is_null() && watchers(&one_status).is_empty());

    // teardown of one, with a run of it going again: two goes on.
    let mut again = start_run(&one, xdg);
    let out = ok(&one, xdg, &["teardown", "--yes"]);
    assert!(out.contains(&format!("(pid {})", again.pid())), "{out}");
    assert!(!out.contains(&pid_two.to_string()), "{out}");
    assert!(again.wait_exit(20).success(), "{}", again.stderr());
    assert!(!run_two.has_exited());
    let two_status = status(&two, xdg);
    assert_eq!(two_status["server"]["pid"], pid_two);
    assert_eq!(watchers(&two_status), both(pid_two));
    assert_eq!(
        in_base(&base),
        (1, 1),
        "only one's folder and config cache entry went"
    );

    let out = ok(&two, xdg, &["stop"]);
    assert!(out.contains(&format!("(pid {pid_two})")), "{out}");
    assert!(run_two.wait_exit(20).success(), "{}", run_two.stderr());
}

#[test]
fn a_runtime_folder_open_to_others_is_refused() {
    let p = project();
    let rt = Runtime::of(&p);
    std::fs::create_dir(rt.path()).unwrap();
    std::fs::set_permissions(rt.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = p.sparkq(["watch", "a"]);
    out.fails_with("can be read or written by other users");
    assert!(!rt.lock("a").exists() && !rt.fifo("a").exists());
    // status and stop refuse to trust it too, instead of reading pids from it.
    p.sparkq(["stop"])
        .fails_with("can be read or written by other users");
}

#[test]
fn runtime_files_another_user_made_are_refused_never_used() {
    let p = project();
    let tmp = tempfile::tempdir().unwrap();
    // A shared temp folder, like /tmp, where the default base folder goes.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
    let uid = std::fs::metadata(p.path()).unwrap().uid();
    let base = tmp.path().join(format!("sparkq-{uid}"));
    let config = sparkq::config::Config::load(&p.path().join("sparkq.yml")).unwrap();
    let folder = sparkq::runtime::RuntimeDir::under(&base, true, &config.root, &config.project_name)
        .dir()
        .to_owned();
    // The other user's trap: the base folder, our project's folder in it,
    // and a lock naming a process of ours that `stop` must not signal.
    std::fs::create_dir_all(&folder).unwrap();
    let mut decoy = Command::new("sleep").arg("60").spawn().unwrap();
    std::fs::write(folder.join("a.lock"), format!("{}\n", decoy.id())).unwrap();
    let run = |args: &[&str]| {
        let mut cmd = p.command(args);
        cmd.env_remove("SPARKQ_RUNTIME_DIR")
            .env_remove("XDG_RUNTIME_DIR")
            .env("TMPDIR", tmp.path());
        cmd.output().unwrap()
    };
    let expected = if uid == 0 {
        // Root can play the other user: hand it all to `nobody`.
        for path in [base.clone(), folder.clone(), folder.join("a.lock")] {
            std::os::unix::fs::chown(&path, Some(65534), Some(65534)).unwrap();
        }
        "belongs to user 65534"
    } else {
        // Without root no file can be given away; a folder open to others
        // is the same trap, refused by the same check.
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o777)).unwrap();
        "can be read or written by other users"
    };
    for args in [&["watch", "a"][..], &["stop"], &["status"]] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "sparkq {args:?}: {stderr}");
        assert!(
            stderr.starts_with("Error: ") && stderr.contains(expected),
            "sparkq {args:?}: {stderr}"
        );
    }
    assert!(decoy.try_wait().unwrap().is_none(), "the decoy was signalled");
    assert_eq!(
        std::fs::read_dir(&folder).unwrap().count(),
        1,
        "nothing was made in the trap"
    );
    decoy.kill().unwrap();
    decoy.wait().unwrap();
}
