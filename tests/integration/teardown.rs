//! Teardown can never delete the project (issue 9, item 12): a spool path
//! that is the project, above it, or outside it is refused at setup, config
//! load and teardown; and teardown deletes only what SparkQ wrote.

use crate::support::Project;

/// Every entry under `dir`, relative, sorted (symlinks not followed).
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = walkdir::WalkDir::new(dir)
        .min_depth(1)
        .into_iter()
        .map(|e| e.unwrap().path().strip_prefix(dir).unwrap().display().to_string())
        .collect();
    names.sort();
    names
}

/// Points the project's `spool.path` at `path`.
fn set_spool_path(p: &Project, path: &str) {
    let config = p.path().join("sparkq.yml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("path: spool,", &format!("path: {path:?},"));
    assert!(text.contains(&format!("path: {path:?}")), "{text}");
    std::fs::write(config, text).unwrap();
}

#[test]
fn a_spool_path_that_is_the_project_above_it_or_outside_is_refused_everywhere() {
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("theirs.txt"), "x").unwrap();
    let elsewhere_path = elsewhere.path().display().to_string();
    for (path, why) in [
        (".", "is the project folder itself"),
        ("./", "is the project folder itself"),
        ("..", "is a folder above the project"),
        ("spool/../..", "is a folder above the project"),
        (elsewhere_path.as_str(), "is outside the project folder"),
        ("link-to-root", "is the project folder itself"),
        ("link-outside/spool", "is outside the project folder"),
    ] {
        let p = Project::new();
        p.write("src/main.rs", "fn main() {}");
        std::os::unix::fs::symlink(p.path(), p.path().join("link-to-root")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), p.path().join("link-outside")).unwrap();
        set_spool_path(&p, path);
        let before = tree(p.path());
        let outside_before = tree(elsewhere.path());
        for command in [&["teardown", "--yes"][..], &["setup", "--yes"], &["status"]] {
            let run = p.sparkq(command).code(1);
            let stderr = run.stderr();
            assert!(
                stderr.contains("spool.path: ")
                    && stderr.contains(why)
                    && stderr.contains("teardown would delete it"),
                "sparkq {command:?} with spool.path {path:?}: {stderr}"
            );
        }
        assert_eq!(before, tree(p.path()), "spool.path {path:?}: the project changed");
        assert_eq!(
            outside_before,
            tree(elsewhere.path()),
            "spool.path {path:?}: a folder outside changed"
        );
    }
}

#[test]
fn teardown_deletes_what_sparkq_wrote_and_keeps_and_names_the_rest() {
    let p = Project::with_stream("s");
    p.enqueue("s", "{}");
    let id = p.enqueue("s", "{}");
    p.claim("s");
    p.write("spool/notes.md", "my notes");
    p.write("spool/streams/s/done/report.pdf", "%PDF");
    let outside = p.write("precious/keep.txt", "x");
    std::os::unix::fs::symlink(outside.parent().unwrap(), p.spool().join("streams/s/link")).unwrap();

    let run = p.sparkq(["teardown", "--yes"]).success();
    let out = run.stdout();
    for kept in [
        "spool/notes.md",
        "spool/streams/s/done/report.pdf",
        "spool/streams/s/link",
    ] {
        assert!(
            out.contains(&format!("kept      {}", p.path().join(kept).display())),
            "{kept} not reported kept:\n{out}"
        );
    }
    assert!(run.stderr().contains("Kept 3 entries"), "{}", run.stderr());
    assert_eq!(
        tree(&p.spool()),
        [
            "notes.md",
            "streams",
            "streams/s",
            "streams/s/done",
            "streams/s/done/report.pdf",
            "streams/s/link"
        ],
        "only SparkQ's files went ({id})"
    );
    assert!(outside.exists(), "a symlink in the spool is never followed");
    assert!(!p.path().join("sparkq.yml").exists());
}

/// With many claims running, one-shot commands keep a hint in the project's
/// runtime folder (see `queue::sweep_hint`); teardown removes it with the
/// folder, leaving nothing of the project behind.
#[test]
fn teardown_leaves_no_runtime_folder_after_many_claims() {
    let p = Project::with_stream("s");
    let batch: String = (0..20)
        .map(|i| format!("{{\"tool_name\": \"run-bash\", \"payload\": {{\"n\": {i}}}}}\n"))
        .collect();
    p.sparkq_stdin(["enqueue", "--stream", "s", "--batch", "-"], &batch)
        .success();
    for _ in 0..20 {
        p.claim("s");
    }
    assert!(
        tree(p.runtime_base())
            .iter()
            .any(|name| name.ends_with("/s.claims")),
        "a hint was kept: {:?}",
        tree(p.runtime_base())
    );
    // What a one-shot command killed while it wrote the hint leaves.
    let hint = walkdir::WalkDir::new(p.runtime_base())
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .find(|path| path.ends_with("s.claims"))
        .unwrap();
    std::fs::write(hint.with_file_name(".s.claims.tmp"), "sparkq-claims 3\n").unwrap();
    p.sparkq(["teardown", "--yes"]).success();
    let left: Vec<String> = tree(p.runtime_base())
        .into_iter()
        .filter(|name| !name.starts_with("config-"))
        .collect();
    assert!(left.is_empty(), "the project's runtime folder went: {left:?}");
}
