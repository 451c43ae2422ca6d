use std::path::Path;

use super::*;

fn parse(text: &str) -> Result<Config, Error> {
    Config::from_yaml(text, Path::new("/p/sparkq.yml"))
}

#[test]
fn rendered_defaults_parse_back_to_the_spec_defaults() {
    let config = parse(&render_config(&SetupAnswers::defaults("my-app"))).unwrap();
    assert_eq!(config.project_name, "my-app");
    assert_eq!(config.port, 8420);
    assert_eq!(config.spool_path, Path::new("/p/spool"));
    assert_eq!(config.prd_path.as_deref(), Some(Path::new("/p/docs/PRD.md")));
    assert_eq!(
        config.script_dirs,
        [Path::new("/p/scripts"), Path::new("/p/tools")]
    );
    assert_eq!(config.max_attempts, 1);
    assert!(config.fsync);
    assert_eq!(config.tool("run-bash").unwrap().timeout, 300);
    assert_eq!(config.tool("validate-outputs").unwrap().timeout, 60);
    assert_eq!(config.tool("llm-sonnet").unwrap().timeout, 900);
    assert_eq!(config.tools.len(), 10);
    for (tool, class, timeout) in [
        ("run-migrations", "MEDIUM_SCRIPT", 1800),
        ("validate-integration", "MEDIUM_SCRIPT", 120),
        ("summarize", "FAST_SCRIPT", 30),
    ] {
        let tool = config.tool(tool).unwrap();
        assert_eq!((tool.task_class.as_str(), tool.timeout), (class, timeout));
        assert!(tool.payload_template.as_ref().is_some_and(|t| t.is_object()));
    }
    assert!(config.warnings.is_empty());
    let template = config
        .tool("llm-haiku")
        .unwrap()
        .payload_template
        .clone()
        .unwrap();
    assert_eq!(template["context_files"], serde_json::json!([]));
}

#[test]
fn an_empty_file_takes_every_default() {
    let config = parse("{}").unwrap();
    assert_eq!(config.project_name, "p");
    assert_eq!(config.tools.len(), 10);
    assert_eq!(config.task_classes["FAST_SCRIPT"], 30);
}

#[test]
fn the_frds_database_block_is_accepted_with_a_warning() {
    let text = "project: { name: poc }\ndatabase:\n  path: sparkq/data/sparkq.db\n  mode: wal\n  nested: { a: [1, 2] }\n";
    let config = parse(text).unwrap();
    assert_eq!(config.project_name, "poc");
    assert_eq!(config.warnings.len(), 1);
    assert!(
        config.warnings[0].starts_with("database: is ignored"),
        "{:?}",
        config.warnings
    );
}

#[test]
fn unknown_keys_are_named() {
    let err = parse("server: { port: 1, colour: red }").unwrap_err().to_string();
    assert!(err.contains("colour"), "{err}");
    let err = parse("servers: {}").unwrap_err().to_string();
    assert!(err.contains("servers"), "{err}");
}

#[test]
fn every_problem_is_reported_with_its_path() {
    let text = "server: { port: 70000 }\nstale: { max_attempts: 0 }\ntask_classes: { A: { timeout: 0 } }\ntools:\n  x: { task_class: NOPE }\n";
    let Err(Error::Invalid { problems, .. }) = parse(text) else {
        panic!("expected invalid");
    };
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].starts_with("server.port"));
    assert!(problems[1].starts_with("stale.max_attempts"));
    assert!(problems[2].starts_with("task_classes.A.timeout"));
    assert!(problems[3].starts_with("tools.x.task_class: unknown class 'NOPE' (known: A)"));
}

#[test]
fn a_tool_timeout_overrides_its_class() {
    let text = "task_classes: { A: { timeout: 10 } }\ntools: { t: { task_class: A, timeout: 5 }, u: { task_class: A } }";
    let config = parse(text).unwrap();
    assert_eq!(config.tool("t").unwrap().timeout, 5);
    assert_eq!(config.tool("u").unwrap().timeout, 10);
}

#[test]
fn numbers_past_their_ceiling_are_refused_with_the_ceiling_named() {
    for (text, problem) in [
        (
            "task_classes: { A: { timeout: 18446744073709551615 } }\ntools: {}",
            "task_classes.A.timeout: 18446744073709551615 must be from 1 to 2592000 seconds",
        ),
        (
            "task_classes: { A: { timeout: 5 } }\ntools: { t: { task_class: A, timeout: 2592001 } }",
            "tools.t.timeout: 2592001 must be from 1 to 2592000 seconds",
        ),
        ("purge: { older_than_days: 1e300 }", "purge.older_than_days: "),
        (
            "purge: { older_than_days: -1 }",
            "purge.older_than_days: -1 must be a number of days from 0 to 36500",
        ),
    ] {
        let Err(Error::Invalid { problems, .. }) = parse(text) else {
            panic!("expected {text:?} to be refused");
        };
        assert!(
            problems.iter().any(|p| p.starts_with(problem)),
            "{text:?}: {problems:?}"
        );
    }
}

#[test]
fn a_sync_section_turns_on_background_sync() {
    assert_eq!(parse("").expect("config").sync, None);
    let git = parse("sync: { every: 5s }\n")
        .expect("config")
        .sync
        .expect("sync");
    assert_eq!((git.every, git.rsync), (Duration::from_secs(5), None));
    let rsync = parse("sync: { rsync: \"box:p/spool\" }\n")
        .expect("config")
        .sync
        .expect("sync");
    assert_eq!(
        (rsync.every, rsync.rsync.as_deref()),
        (Duration::from_secs(30), Some("box:p/spool"))
    );
    for (bad, named) in [
        ("sync: { every: soon }\n", "sync.every"),
        ("sync: { every: 1ms }\n", "sync.every"),
        ("sync: { rsync: \"\" }\n", "sync.rsync"),
    ] {
        let err = parse(bad).expect_err(bad).to_string();
        assert!(err.contains(named), "{bad}: {err}");
    }
}
