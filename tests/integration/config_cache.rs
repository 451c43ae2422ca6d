//! The config cache (`config::cache`): one-shot commands reuse the config
//! an earlier call parsed, and never one that sparkq.yml no longer says.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use super::support::Project;

/// The config cache's entries in the project's runtime base.
fn entries(project: &Project) -> Vec<PathBuf> {
    std::fs::read_dir(project.runtime_base())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("config-") && name.ends_with(".json")
        })
        .collect()
}

fn inode(path: &std::path::Path) -> u64 {
    std::fs::metadata(path).unwrap().ino()
}

/// Replaces `from` by `to` in sparkq.yml, in place (same file, same size
/// when `from` and `to` are), at once after the previous command.
fn edit(project: &Project, from: &str, to: &str) {
    let path = project.path().join("sparkq.yml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in sparkq.yml");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// Enqueues and claims a run-bash task; its timeout (from its tool's class).
fn timeout_of_a_new_task(project: &Project) -> u64 {
    project.enqueue("a", "{}");
    project.claim("a")["timeout"].as_u64().unwrap()
}

#[test]
fn an_edit_to_sparkq_yml_is_seen_by_the_very_next_command() {
    let project = Project::with_stream("a");
    assert_eq!(timeout_of_a_new_task(&project), 300);
    let cached = entries(&project);
    assert_eq!(cached.len(), 1, "one entry for the one config: {cached:?}");
    let written = inode(&cached[0]);
    // Later calls read the entry (no rewrite: the same file).
    assert_eq!(timeout_of_a_new_task(&project), 300);
    assert_eq!(inode(&cached[0]), written);

    // Same size, same file, within the same second: still seen.
    edit(
        &project,
        "MEDIUM_SCRIPT: { timeout: 300 }",
        "MEDIUM_SCRIPT: { timeout: 301 }",
    );
    assert_eq!(timeout_of_a_new_task(&project), 301);
    assert_ne!(inode(&cached[0]), written, "the entry was replaced");
    edit(&project, "  run-bash-fast:", "  run-bash-fist:");
    project
        .sparkq(["enqueue", "run-bash-fast", "{}", "--stream", "a"])
        .fails_with("run-bash-fast");
    project
        .sparkq(["enqueue", "run-bash-fist", "{}", "--stream", "a"])
        .success();

    // A broken file is reported, not covered by the last good entry.
    edit(&project, "tools:", "tools: [");
    project
        .sparkq(["peek", "--stream", "a"])
        .fails_with("is not valid");
    edit(&project, "tools: [", "tools:");
    project.sparkq(["peek", "--stream", "a"]).success();
    assert_eq!(entries(&project).len(), 1);

    // Teardown leaves no entry behind.
    project.sparkq(["teardown", "--yes"]).success();
    assert_eq!(entries(&project), Vec::<PathBuf>::new());
}

#[test]
fn a_junk_or_foreign_entry_is_never_served() {
    let project = Project::with_stream("a");
    assert_eq!(timeout_of_a_new_task(&project), 300);
    let cached = entries(&project);
    assert_eq!(cached.len(), 1);
    let good: serde_json::Value = serde_json::from_slice(&std::fs::read(&cached[0]).unwrap()).unwrap();
    let forge = |change: &dyn Fn(&mut serde_json::Value)| {
        let mut entry = good.clone();
        entry["config"]["tools"]["run-bash"]["timeout"] = 7.into();
        change(&mut entry);
        std::fs::write(&cached[0], entry.to_string()).unwrap();
    };
    // Written by another executable (another build may read the YAML
    // differently).
    forge(&|entry| entry["exe"]["ino"] = (entry["exe"]["ino"].as_u64().unwrap() + 1).into());
    assert_eq!(
        timeout_of_a_new_task(&project),
        300,
        "another executable's entry is not served"
    );
    // Resolved from another text.
    forge(&|entry| entry["text"] = format!("{}# edited\n", entry["text"].as_str().unwrap()).into());
    assert_eq!(
        timeout_of_a_new_task(&project),
        300,
        "another text's entry is not served"
    );
    std::fs::write(&cached[0], "{not json").unwrap();
    assert_eq!(timeout_of_a_new_task(&project), 300);
    // Each miss wrote the parsed config back.
    let entry: serde_json::Value = serde_json::from_slice(&std::fs::read(&cached[0]).unwrap()).unwrap();
    assert_eq!(entry, good);
}
