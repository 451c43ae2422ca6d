//! `sparkq mcp` spoken to line by line, as a careless or hostile client
//! would: every line gets an answer (a JSON-RPC error for one that is not a
//! usable message), the server keeps serving after each, and a client that
//! goes away while `claim_task` waits leaves the queue untouched.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Project, wait_until};

/// `sparkq mcp` with its stdin in hand and its answers arriving on a channel.
struct Mcp {
    child: Child,
    stdin: Option<ChildStdin>,
    answers: Receiver<Value>,
}

impl Mcp {
    /// Starts `sparkq mcp` in `p` and completes the MCP handshake.
    fn start(p: &Project) -> Mcp {
        let mut child = p
            .command(["mcp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sparkq mcp");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, answers) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                let value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        let stdin = child.stdin.take();
        let mut mcp = Mcp {
            child,
            stdin,
            answers,
        };
        mcp.send_json(
            &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}}),
        );
        assert_eq!(mcp.answer()["id"], 0);
        mcp.send_json(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        mcp
    }

    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin.write_all(bytes).expect("write");
        stdin.write_all(b"\n").expect("write");
        stdin.flush().expect("flush");
    }

    fn send_json(&mut self, value: &Value) {
        self.send(value.to_string().as_bytes());
    }

    /// The next answer; fails the test after 30 s without one.
    fn answer(&self) -> Value {
        match self.answers.recv_timeout(Duration::from_secs(30)) {
            Ok(answer) => answer,
            Err(RecvTimeoutError::Timeout) => panic!("no answer within 30 s"),
            Err(RecvTimeoutError::Disconnected) => panic!("sparkq mcp closed its stdout"),
        }
    }

    fn call(&mut self, id: u64, tool: &str, arguments: Value) -> Value {
        self.send_json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments}}));
        let answer = self.answer();
        assert_eq!(answer["id"], id, "{answer}");
        answer
    }
}

impl Drop for Mcp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `tools/call` of `enqueue_task` whose payload holds `bytes` bytes of text.
fn enqueue_of_size(id: u64, bytes: usize) -> Vec<u8> {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call", "params": {"name": "enqueue_task",
        "arguments": {"stream": "auth", "tool_name": "run-bash",
            "payload": {"script_path": "x.sh", "note": "x".repeat(bytes)}}}})
    .to_string()
    .into_bytes()
}

#[test]
fn every_bad_line_is_answered_and_serving_goes_on() {
    let p = Project::with_stream("auth");
    let mut mcp = Mcp::start(&p);

    mcp.send(b"this is not json");
    let garbage = mcp.answer();
    assert_eq!(garbage["error"]["code"], -32700, "{garbage}");
    assert!(garbage["id"].is_null());

    mcp.send(b"{\"jsonrpc\": \"2.0\", \"id\": 3, \"method\": \"\xff\xfe\"}");
    let bytes = mcp.answer();
    assert_eq!(bytes["error"]["code"], -32700, "{bytes}");

    let deep = format!(
        r#"{{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{{"name":"enqueue_task","arguments":{}{}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    mcp.send(deep.as_bytes());
    let deep = mcp.answer();
    assert_eq!(
        (deep["id"].clone(), deep["error"]["code"].clone()),
        (json!(4), json!(-32600)),
        "{deep}"
    );
    assert!(
        deep["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nested too deeply")
    );

    mcp.send(&enqueue_of_size(5, 20_000_000));
    let huge = mcp.answer();
    assert_eq!(
        (huge["id"].clone(), huge["error"]["code"].clone()),
        (json!(5), json!(-32600)),
        "{huge}"
    );
    assert!(
        huge["error"]["message"].as_str().unwrap().contains("too large"),
        "{huge}"
    );

    // 2 MB fits the line but not the payload limit: the queue's own error.
    mcp.send(&enqueue_of_size(6, 2_000_000));
    let big = mcp.answer();
    assert_eq!(big["id"], 6);
    assert_eq!(big["result"]["isError"], true, "{big}");

    // Still serving, and nothing was queued by any of it.
    let peek = mcp.call(7, "peek_task", json!({"stream": "auth"}));
    assert_eq!(peek["result"]["isError"], false, "{peek}");
    assert_eq!(peek["result"]["content"][0]["text"], "null");
    assert!(p.files("auth", "pending").is_empty());
}

#[test]
fn a_client_gone_during_a_waiting_claim_claims_nothing() {
    let p = Project::with_stream("auth");
    let mut mcp = Mcp::start(&p);
    mcp.send_json(&json!({"jsonrpc": "2.0", "id": 9, "method": "tools/call",
        "params": {"name": "claim_task", "arguments": {"stream": "auth", "wait_seconds": 60}}}));
    let pid = mcp.child.id();
    wait_until("the claim to wait on the spool", 20, || watches_files(pid));
    drop(mcp.stdin.take());
    let id = p.enqueue("auth", "{}");
    wait_until("sparkq mcp to leave after its client", 20, || {
        mcp.child.try_wait().expect("try_wait").is_some()
    });
    assert_eq!(
        p.files("auth", "pending"),
        [format!("{id}.json")],
        "the task stays queued"
    );
    assert!(p.files("auth", "claimed").is_empty());
}

/// Whether process `pid` holds an inotify watch (a claim waiting for work).
fn watches_files(pid: u32) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
        fds.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .any(|target| target.to_string_lossy().contains("inotify"))
    })
}

#[test]
fn a_client_that_stops_reading_ends_the_server() {
    let p = Project::with_stream("auth");
    let mut child = p
        .command(["mcp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sparkq mcp");
    drop(child.stdout.take());
    let mut stdin = child.stdin.take().expect("stdin");
    let deadline = Instant::now() + Duration::from_secs(20);
    // Lines keep coming, each needing an answer no one reads; stdin stays open.
    while child.try_wait().expect("try_wait").is_none() {
        assert!(
            Instant::now() < deadline,
            "sparkq mcp kept serving a client that stopped reading"
        );
        if stdin.write_all(b"not json\n").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = child.wait().expect("wait");
    assert!(
        status.code().is_some(),
        "ended by itself, not by a signal: {status:?}"
    );
}

#[test]
fn random_junk_between_requests_gets_one_answer_per_line() {
    let p = Project::with_stream("auth");
    let mut mcp = Mcp::start(&p);
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut expected: Vec<(Value, i64)> = Vec::new();
    for n in 0..300u64 {
        let id = 1000 + n;
        match rng.u8(..5) {
            0 => {
                // Not JSON: '#' can start no JSON value.
                let mut line = vec![b'#'];
                line.extend((0..rng.usize(0..200)).map(|_| rng.u8(0x20..0x7f)));
                mcp.send(&line);
                expected.push((Value::Null, -32700));
            }
            1 => {
                // 0xff is never UTF-8, whatever follows it.
                let mut line = br#"{"jsonrpc":"2.0","id":1,"method":""#.to_vec();
                line.push(0xff);
                line.extend((0..rng.usize(0..50)).map(|_| rng.u8(0x80..=0xff)));
                line.extend_from_slice(br#""}"#);
                mcp.send(&line);
                expected.push((Value::Null, -32700));
            }
            2 => {
                let depth = rng.usize(130..600);
                let line = format!(
                    r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{}{}}}"#,
                    "[".repeat(depth),
                    "]".repeat(depth)
                );
                mcp.send(line.as_bytes());
                expected.push((json!(id), -32600));
            }
            3 => mcp.send(b"   "),
            _ => {
                mcp.send_json(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                    "params": {"name": "peek_task", "arguments": {"stream": "auth"}}}));
                expected.push((json!(id), 0));
            }
        }
    }
    let mut answers: Vec<(Value, i64)> = (0..expected.len())
        .map(|_| {
            let answer = mcp.answer();
            let code = answer["error"]["code"].as_i64().unwrap_or(0);
            if code == 0 {
                assert_eq!(answer["result"]["isError"], false, "seed {seed}: {answer}");
            }
            (answer["id"].clone(), code)
        })
        .collect();
    let key = |(id, code): &(Value, i64)| (id.to_string(), *code);
    answers.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(answers, expected, "seed {seed}");
    // Nothing more is owed, and the server still serves.
    let last = mcp.call(1, "peek_task", json!({"stream": "auth"}));
    assert_eq!(last["result"]["isError"], false, "seed {seed}: {last}");
}
