//! Re-running setup reconfigures (issue 10): the current values are the
//! defaults, a bad answer is asked again, what the questions do not cover
//! stays. Setup installs the watcher script; teardown asks about what setup
//! wrote. A FRD-era `database:` block loads with a warning.

use crate::support::Project;

#[test]
fn a_rerun_offers_the_current_values_and_asks_again_after_a_typo() {
    let p = Project::with_stream("s");
    let id = p.enqueue("s", "{}");
    // A hand-added tool, a changed purge and a sync block survive the rewrite.
    let yml = p.path().join("sparkq.yml");
    let text = std::fs::read_to_string(&yml).unwrap()
        + "  deploy:\n    { description: \"Ship it\", task_class: MEDIUM_SCRIPT, timeout: 77 }\n";
    let text = text.replace(
        "purge:     { older_than_days: 3 }",
        "purge:     { older_than_days: 5 }",
    ) + "sync: { every: 1m 30s, rsync: /mnt/other/spool }\n";
    std::fs::write(&yml, text).unwrap();

    // name, repo, PRD, dirs, FAST (a typo, then 45), MEDIUM, LITE, HEAVY, port.
    let answers = "\n\n\n\nforty\n45\n\n\n\n9001\n";
    let run = p.sparkq_stdin(["setup"], answers).success();
    let prompts = run.stderr();
    assert!(prompts.contains("Server port [8420]"), "{prompts}");
    assert!(
        prompts.contains("Timeout of FAST_SCRIPT tasks, seconds [30]"),
        "{prompts}"
    );
    assert!(
        prompts.contains("'forty' is not a number of seconds (1 or more); try again"),
        "{prompts}"
    );
    let name = p.path().file_name().unwrap().to_string_lossy().into_owned();
    assert!(prompts.contains(&format!("Project name [{name}]")), "{prompts}");
    let out = run.stdout();
    assert!(out.contains("updated"), "{out}");
    assert!(
        out.contains("FAST_SCRIPT timeout 30 → 45, port 8420 → 9001"),
        "{out}"
    );

    let text = std::fs::read_to_string(&yml).unwrap();
    assert!(text.contains("port: 9001"), "{text}");
    assert!(text.contains("FAST_SCRIPT: { timeout: 45 }"), "{text}");
    assert!(text.contains("older_than_days: 5"), "{text}");
    let config = sparkq::config::Config::load(&yml).unwrap();
    assert_eq!(config.tool("deploy").unwrap().timeout, 77);
    let sync = config.sync.as_ref().expect("sync kept");
    assert_eq!(sync.every, std::time::Duration::from_secs(90));
    assert_eq!(sync.rsync.as_deref(), Some("/mnt/other/spool"));
    assert_eq!(
        config.tool("run-bash-fast").unwrap().timeout,
        45,
        "follows its class"
    );
    assert_eq!(
        config.tool("validate-outputs").unwrap().timeout,
        60,
        "keeps its own"
    );
    assert_eq!(p.files("s", "pending"), [format!("{id}.json")], "tasks untouched");

    // Offered again: the new values are now the defaults; Enter keeps them.
    let run = p.sparkq_stdin(["setup"], "").success();
    assert!(run.stderr().contains("Server port [9001]"), "{}", run.stderr());
    assert!(run.stdout().contains("(no changes)"), "{}", run.stdout());
}

#[test]
fn setup_installs_the_watcher_script_and_teardown_asks_about_what_setup_wrote() {
    let p = Project::new();
    let script = p.path().join("scripts/sparkq-watcher.sh");
    let shipped =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sparkq-watcher.sh")).unwrap();
    assert_eq!(std::fs::read_to_string(&script).unwrap(), shipped);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&script).unwrap().permissions().mode() & 0o111,
        0o111
    );
    p.sparkq(["install-claude"]).success();
    let command = p.path().join(".claude/commands/sparkq-worker.md");
    assert!(command.is_file());
    p.write(".claude/settings.json", "{}");

    let out = p.sparkq(["teardown", "--yes"]).success().stdout();
    for path in [&script, &command, &p.path().join("WORKER_PLAYBOOK.md")] {
        assert!(!path.exists(), "{} is left", path.display());
        assert!(out.contains(&format!("removed   {}", path.display())), "{out}");
    }
    assert!(
        !p.path().join("scripts").exists(),
        "the emptied scripts/ goes too"
    );
    assert!(
        p.path().join(".claude/settings.json").is_file(),
        "what setup did not write stays"
    );
}

#[test]
fn a_database_block_is_accepted_with_a_warning() {
    let p = Project::with_stream("s");
    let yml = p.path().join("sparkq.yml");
    let text =
        std::fs::read_to_string(&yml).unwrap() + "database:\n  path: sparkq/data/sparkq.db\n  mode: wal\n";
    std::fs::write(&yml, text).unwrap();
    let run = p.sparkq(["stream", "list"]).success();
    assert!(
        run.stderr().contains("Warning: ") && run.stderr().contains("database: is ignored"),
        "{}",
        run.stderr()
    );
    assert!(run.stdout().contains("Do the thing."), "{}", run.stdout());
}

#[test]
fn teardown_on_a_terminal_asks_before_removing_what_setup_wrote() {
    let p = Project::new();
    let rt = crate::background::Runtime::of(&p);
    let mut cmd = std::process::Command::new("script");
    cmd.args([
        "-qfec",
        &format!("{} teardown", crate::support::sparkq_bin()),
        "/dev/null",
    ])
    .current_dir(p.path())
    .env("SPARKQ_RUNTIME_DIR", rt.base())
    .env("NO_COLOR", "1")
    .env_remove("SPARKQ_CONFIG");
    // Yes to the teardown, no to the files setup wrote.
    let mut run = crate::background::Bg::spawn_with_input(cmd, Some("y\nn\n"));
    assert!(run.wait_exit(30).success(), "{}", run.stdout());
    let screen = run.stdout();
    assert!(screen.contains("Also remove what setup wrote:"), "{screen}");
    assert!(!p.path().join("sparkq.yml").exists());
    for kept in ["WORKER_PLAYBOOK.md", "scripts/sparkq-watcher.sh"] {
        assert!(p.path().join(kept).is_file(), "{kept} was removed:\n{screen}");
        assert!(
            screen.contains(&format!("kept      {}", p.path().join(kept).display())),
            "{screen}"
        );
    }
}
