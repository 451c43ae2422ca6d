//! A real `sparkq run` on a free port of a temp project, and a small HTTP
//! client for it. The server is killed when the handle drops.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::support::{Project, wait_until};

/// A running server process.
pub struct Server {
    pub child: Child,
    pub port: u16,
    agent: ureq::Agent,
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The port the server `pid` of `project` listens on, once it has written
/// it into the project's server lock file. Servers in tests run with
/// `--port 0`: a port picked free beforehand can be taken (by another
/// test's server or client) before the server binds it.
pub fn served_port(project: &Project, pid: u32) -> Option<u16> {
    let text = std::fs::read_to_string(project.spool().join(".sparkq.lock")).ok()?;
    let server: sparkq::runtime::PidFile = serde_json::from_str(&text).ok()?;
    let url = server.url.filter(|_| server.pid == pid)?;
    url.trim_end_matches('/').rsplit(':').next()?.parse().ok()
}

impl Server {
    /// Starts `sparkq run --port 0` in `project`, reads the port the
    /// system gave it (see [`served_port`]), and waits for health.
    pub fn start(project: &Project) -> Server {
        let child = project
            .command(["run", "--port", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn sparkq run");
        let mut port = None;
        wait_until("the server to write its url", 20, || {
            port = served_port(project, child.id());
            port.is_some()
        });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let server = Server {
            child,
            port: port.expect("waited for"),
            agent,
        };
        wait_until("the server to answer /api/health", 20, || {
            server
                .try_get("/api/health")
                .is_some_and(|(status, _)| status == 200)
        });
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn try_get(&self, path: &str) -> Option<(u16, Value)> {
        let mut response = self.agent.get(&self.url(path)).call().ok()?;
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().ok()?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// GET `path`; status and JSON body.
    pub fn get(&self, path: &str) -> (u16, Value) {
        self.try_get(path).unwrap_or_else(|| panic!("GET {path} failed"))
    }

    /// POST `body` as JSON to `path`; status and JSON body.
    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        let mut response = self
            .agent
            .post(&self.url(path))
            .header("Content-Type", "application/json")
            .send(body)
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Opens `/api/events` and returns a reader positioned after the headers.
    pub fn events(&self) -> BufReader<TcpStream> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        write!(
            stream,
            "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n",
            self.port
        )
        .expect("send");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("read header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        reader
    }

    /// Whether the process has exited.
    pub fn has_exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

/// Reads SSE lines until one contains `needle`.
pub fn read_event_containing(reader: &mut BufReader<TcpStream>, needle: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("no event with {needle}: {e}"));
        assert!(n > 0, "event stream closed before {needle}");
        if line.contains(needle) {
            return line;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if !self.has_exited() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
