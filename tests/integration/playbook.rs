//! WORKER_PLAYBOOK.md, run as written: every line of its ```bash blocks is
//! executed, in order, against a real project, with `TASK_ID`/`TOKEN` (a
//! running task), `FINISHED_ID` (a finished one) and `STALE_TOKEN` (a token
//! that no longer matches) filled in, and `/tmp/` pointed at the test's
//! runtime base folder. A line marked `# exit 1: WORDS` must fail saying
//! WORDS; every other line must succeed. Sections 1–9 run in one project,
//! the quick reference in a
//! fresh one.

use serde_json::Value;

use crate::background::Runtime;
use crate::support::{Project, wait_until};

const PLAYBOOK: &str = include_str!("../../WORKER_PLAYBOOK.md");

/// The ```bash blocks, each as its command lines (no blanks or comments).
fn bash_blocks() -> Vec<Vec<String>> {
    let mut blocks = Vec::new();
    let mut current: Option<Vec<String>> = None;
    for line in PLAYBOOK.lines() {
        match (&mut current, line.trim_end()) {
            (None, "```bash") => current = Some(Vec::new()),
            (Some(_), "```") => blocks.extend(current.take()),
            (Some(lines), text) if !text.trim().is_empty() && !text.trim_start().starts_with('#') => {
                lines.push(text.to_owned());
            }
            _ => {}
        }
    }
    assert!(current.is_none(), "unclosed code block");
    blocks
}

struct Runner<'a> {
    p: &'a Project,
    rt: &'a Runtime,
    /// The task a `TASK_ID` stands for: id and token.
    current: Option<(String, String)>,
    finished: Option<String>,
    ran: Vec<String>,
}

impl Runner<'_> {
    fn task(&self, id: &str) -> Value {
        self.p.sparkq(["task", id, "--json"]).success().json()
    }

    fn stream_is_active(&self) -> bool {
        std::fs::read_to_string(self.p.spool().join("streams/auth/stream.json"))
            .is_ok_and(|s| s.contains("\"active\""))
    }

    /// Makes sure a claim has something to take.
    fn ensure_pending(&self) {
        let pending = self
            .p
            .files("auth", "pending")
            .iter()
            .filter(|f| f.ends_with(".json"))
            .count();
        if pending == 0 && self.stream_is_active() {
            self.p.enqueue(
                "auth",
                r#"{"script_path": "scripts/hello.sh", "args": ["--dry-run"]}"#,
            );
        }
    }

    fn ensure_running(&mut self) -> (String, String) {
        if let Some((id, token)) = &self.current
            && self.task(id)["status"] == "running"
        {
            return (id.clone(), token.clone());
        }
        self.ensure_pending();
        let task = self.p.claim("auth");
        let pair = (
            task["id"].as_str().unwrap().to_owned(),
            task["claim_token"].as_str().unwrap().to_owned(),
        );
        self.current = Some(pair.clone());
        pair
    }

    fn ensure_finished(&mut self) -> String {
        if let Some(id) = &self.finished {
            return id.clone();
        }
        let (id, token) = self.ensure_running();
        self.p
            .sparkq([
                "complete",
                &id,
                "--token",
                &token,
                "--result",
                r#"{"summary": "s"}"#,
            ])
            .success();
        self.finished = Some(id.clone());
        id
    }

    /// The line as it will run, after what it needs has been arranged.
    fn prepare(&mut self, line: &str) -> String {
        let mut line = line.replace("/tmp/", &format!("{}/", self.rt.base().display()));
        // The watcher's wait command ends in a claim, too.
        if line.contains("sparkq claim") || line.contains("--wait-command") {
            self.ensure_pending();
        }
        if line.contains("TASK_ID") {
            let reports = ["complete", "fail", "heartbeat"]
                .iter()
                .any(|c| line.contains(&format!("sparkq {c}")));
            let (id, token) = match (&self.current, reports) {
                (Some(pair), false) => pair.clone(),
                _ => self.ensure_running(),
            };
            line = line
                .replace("TASK_ID", &id)
                .replace("STALE_TOKEN", "0000000000000000")
                .replace("TOKEN", &token);
        }
        if line.contains("FINISHED_ID") {
            line = line.replace("FINISHED_ID", &self.ensure_finished());
        }
        line
    }

    fn after(&mut self, line: &str, stdout: &str) {
        if let Ok(task) = serde_json::from_str::<Value>(stdout)
            && let (Some(id), Some(token)) = (task["id"].as_str(), task["claim_token"].as_str())
        {
            self.current = Some((id.to_owned(), token.to_owned()));
        }
        if (line.contains("sparkq complete") || line.contains("sparkq fail"))
            && let Some((id, _)) = &self.current
            && self.task(id)["status"] != "running"
        {
            self.finished = Some(id.clone());
        }
        if line.trim_end().ends_with('&') {
            // A watcher started in the background: wait until it serves,
            // or (started twice) until it has said why it did not.
            let log = line
                .split(">>")
                .nth(1)
                .and_then(|s| s.split_whitespace().next())
                .unwrap_or("");
            wait_until("the background watcher", 20, || {
                self.rt.lock_pid("auth").is_some() && self.rt.fifo("auth").exists()
                    || std::fs::read_to_string(log).is_ok_and(|l| l.contains("already runs"))
            });
        }
    }

    fn run_line(&mut self, raw: &str) {
        let expect_failure = raw.contains("# exit 1");
        let line = self.prepare(raw);
        let out = self.rt.shell(self.p, &line).output().expect("run line");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let report = format!(
            "{line}\nexit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
        if expect_failure {
            assert_eq!(
                out.status.code(),
                Some(1),
                "this playbook line must fail:\n{report}"
            );
            // The words after "# exit 1:" are the ones the worker sees.
            let words = raw.split("# exit 1:").nth(1).map(str::trim).unwrap_or("");
            assert!(
                String::from_utf8_lossy(&out.stderr).contains(words),
                "the playbook promises {words:?}:\n{report}"
            );
        } else {
            assert!(out.status.success(), "this playbook line failed:\n{report}");
        }
        self.after(&line, &stdout);
        self.ran.push(raw.to_owned());
    }

    /// A block that sets shell variables runs as one script.
    fn run_script(&mut self, lines: &[String]) {
        let prepared: Vec<String> = lines.iter().map(|l| self.prepare(l)).collect();
        let script = format!(
            "set -e\n{}\nprintf '%s %s' \"$ID\" \"$TOKEN\"\n",
            prepared.join("\n")
        );
        let out = self.rt.shell(self.p, &script).output().expect("run block");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "block failed:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (id, token) = stdout.split_once(' ').expect("ID and TOKEN set");
        assert!(id.starts_with("tsk_") && token.len() == 16, "{stdout}");
        self.current = Some((id.to_owned(), token.to_owned()));
        self.ran.extend(lines.iter().cloned());
    }

    fn run_block(&mut self, block: &[String]) {
        // A block that keeps output in variables (`ID=$(...)`) runs as one script.
        if block.iter().any(|l| l.contains("=$(")) {
            self.run_script(block);
        } else {
            for line in block {
                self.run_line(line);
            }
        }
    }
}

/// The files the playbook's examples name.
fn write_fixtures(p: &Project) {
    p.write(
        "scripts/hello.sh",
        "echo \"hello $1\"\necho \"3 steps would run\"\n",
    );
    p.write("scripts/hello.py", "import sys\nprint('hello', sys.argv[1:])\n");
    p.write(
        "scripts/broken.sh",
        "echo 'relation users already exists' >&2\nexit 3\n",
    );
    p.write("payload.json", r#"{"script_path": "scripts/hello.sh"}"#);
    p.write(
        "plan.jsonl",
        "{\"tool_name\": \"llm-haiku\", \"payload\": {\"prompt\": \"Write the login handler\", \"context_files\": [], \"output_path\": \"src/login.rs\"}}\n{\"tool_name\": \"validate-outputs\", \"payload\": {\"directory\": \"src\"}}\n",
    );
    let wrapper =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/sparkq-watcher.sh")).unwrap();
    let path = p.write("scripts/sparkq-watcher.sh", &wrapper);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn every_command_in_the_playbook_runs_as_written() {
    let blocks = bash_blocks();
    let (reference, sections) = blocks.split_last().expect("the playbook has code blocks");
    assert_eq!(
        reference[0], "sparkq setup --yes",
        "the last block is the quick reference"
    );

    // Sections 1-9: a worker in a project the orchestrator has prepared.
    let p = Project::new();
    p.sparkq(["session", "create", "api-v2"]).success();
    p.sparkq([
        "stream",
        "create",
        "auth",
        "--session",
        "api-v2",
        "--instructions",
        "Goal: OAuth login.",
    ])
    .success();
    write_fixtures(&p);
    let rt = Runtime::of(&p);
    let mut runner = Runner {
        p: &p,
        rt: &rt,
        current: None,
        finished: None,
        ran: Vec::new(),
    };
    for block in sections {
        runner.run_block(block);
    }
    let mut ran = std::mem::take(&mut runner.ran);
    let stop = rt.command(&p, &["stop"]).output().unwrap();
    assert!(stop.status.success(), "{}", String::from_utf8_lossy(&stop.stderr));

    // The quick reference, top to bottom, in a fresh project.
    let q = Project::new();
    write_fixtures(&q);
    let qrt = Runtime::of(&q);
    let mut runner = Runner {
        p: &q,
        rt: &qrt,
        current: None,
        finished: None,
        ran: Vec::new(),
    };
    runner.run_block(reference);
    ran.extend(runner.ran);
    assert!(
        !q.path().join("sparkq.yml").exists(),
        "the reference ends with teardown"
    );

    let total: usize = blocks.iter().map(Vec::len).sum();
    assert_eq!(ran.len(), total, "every line ran");
    let commands = [
        "setup",
        "teardown",
        "session",
        "stream",
        "enqueue",
        "peek",
        "claim",
        "complete",
        "fail",
        "heartbeat",
        "requeue",
        "tasks",
        "task",
        "status",
        "watch",
        "run",
        "stop",
        "purge",
        "completions",
    ];
    for command in commands {
        let used = ran
            .iter()
            .any(|l| l.contains(&format!("sparkq {command} ")) || l.ends_with(&format!("sparkq {command}")));
        assert!(used, "the playbook never runs 'sparkq {command}'");
    }
}

#[test]
fn every_claim_snippet_handles_an_empty_stream() {
    let p = Project::with_stream("auth");
    let rt = Runtime::of(&p);
    let mut checked = 0;
    for block in bash_blocks() {
        if block.iter().any(|l| l.contains("$(")) && block.iter().any(|l| l.contains("sparkq claim")) {
            // The variables block, as one script: it must leave ID empty.
            let script = format!("set -e\n{}\nprintf '[%s]' \"$ID\"\n", block.join("\n"));
            let out = rt.shell(&p, &script).output().expect("run block");
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{script}\n{stderr}");
            assert_eq!(stdout, "[]", "{script}\n{stderr}");
            assert!(stderr.contains("No queued task in stream auth"), "{stderr}");
            checked += 1;
            continue;
        }
        // The FIFO wait blocks by design until a watcher wakes it.
        for line in block
            .iter()
            .filter(|l| l.contains("sparkq claim") && !l.contains("cat "))
        {
            // Every wait is cut to one second: the point is the empty answer.
            let words: Vec<&str> = line.split(' ').collect();
            let line: String = words
                .iter()
                .enumerate()
                .map(|(i, w)| if i > 0 && words[i - 1] == "--wait" { "1" } else { w })
                .collect::<Vec<_>>()
                .join(" ");
            let out = rt.shell(&p, &line).output().expect("run line");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{line}\n{stderr}");
            assert!(out.stdout.is_empty(), "{line}: stdout must stay empty");
            assert!(
                stderr.contains("No queued task in stream auth"),
                "{line}\n{stderr}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} claim snippets found");
}
