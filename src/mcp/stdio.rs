//! The line layer in front of rmcp's stdio transport: `sparkq mcp` reads
//! stdin itself, one JSON-RPC message per line, and answers every line it
//! cannot pass on, so a client waiting on a request never hangs.
//!
//! rmcp drops a line that is not JSON (garbage, bytes that are not UTF-8,
//! nesting deeper than the JSON reader allows) or longer than its own cap
//! without a word, by design. Here each such line gets a JSON-RPC error on
//! stdout instead, and serving goes on:
//! - not UTF-8, or not JSON: `-32700` (parse error), id null;
//! - nested too deep: `-32600` (invalid request), with the request's id
//!   when it can be read before the nesting;
//! - longer than [`max_line_bytes`]: `-32600`, with the id when it comes
//!   before the bulk; the line is read no further than the cap (plus a
//!   short prefix kept for the id), the rest skipped as it streams by.
//!
//! Every other line goes to rmcp unchanged, through an in-memory pipe; its
//! answers come back through another and are written to stdout whole,
//! one line at a time, beside the errors from here. When stdin ends, the
//! client is gone: the server's `client_gone` switch fires first, so a
//! `claim_task` still waiting stops instead of claiming a task for nobody.

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use super::SparkqServer;
use crate::config::Limits;

/// The size of each in-memory pipe to and from rmcp.
const PIPE_BYTES: usize = 256 * 1024;

/// How much of an oversized line is kept to find its id.
const ID_PREFIX_BYTES: usize = 64 * 1024;

/// JSON-RPC's error codes for a line that is not JSON, and for one that is
/// not an acceptable request.
const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;

/// The longest line `sparkq mcp` reads: room for the largest report the
/// queue accepts (a result and both outputs at their limits), twice over
/// for JSON escaping, and some for the envelope.
pub(crate) fn max_line_bytes(limits: &Limits) -> usize {
    limits
        .payload_bytes
        .saturating_add(limits.output_bytes.saturating_mul(2))
        .saturating_mul(2)
        .saturating_add(64 * 1024)
}

/// Serves `server` on `input`/`output` (stdin and stdout) until the client
/// closes `input` and the calls in flight are answered.
pub(super) async fn serve_lines<R, W>(
    server: SparkqServer,
    input: R,
    output: W,
    max_line: usize,
) -> Result<(), rmcp::RmcpError>
where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    use rmcp::ServiceExt;
    let (to_server, server_in) = tokio::io::duplex(PIPE_BYTES);
    let (server_out, from_server) = tokio::io::duplex(PIPE_BYTES);
    let (lines, outbox) = mpsc::channel::<Vec<u8>>(64);
    let relay = tokio::spawn(relay_lines(from_server, lines.clone()));
    let gone = server.client_gone();
    let reader = tokio::spawn(async move {
        read_lines(input, to_server, &lines, max_line).await;
        // Before rmcp hears of it, so no waiting claim outlives the client.
        gone.fire();
    });
    // A client that stops reading has gone too: stop reading its input,
    // which ends rmcp's, instead of answering into a closed pipe.
    let (gone, stop_reading) = (server.client_gone(), reader.abort_handle());
    let writer = tokio::spawn(async move {
        write_lines(outbox, output).await;
        gone.fire();
        stop_reading.abort();
    });
    let served = match server.serve((server_in, server_out)).await {
        Ok(running) => running.waiting().await.map(|_| ()).map_err(rmcp::RmcpError::from),
        Err(e) => Err(rmcp::RmcpError::from(e)),
    };
    reader.abort();
    let _ = relay.await;
    let _ = writer.await;
    served
}

/// Reads `input` line by line: passes each acceptable line to rmcp and
/// answers the others itself, until `input` ends or rmcp stops reading.
async fn read_lines<R: AsyncRead + Unpin>(
    input: R,
    mut to_server: tokio::io::DuplexStream,
    answers: &mpsc::Sender<Vec<u8>>,
    max_line: usize,
) {
    let mut reader = BufReader::with_capacity(PIPE_BYTES, input);
    let mut line: Vec<u8> = Vec::new();
    let mut oversized = false;
    loop {
        let (used, ended_line, at_eof) = match reader.fill_buf().await {
            Ok([]) | Err(_) => (0, true, true),
            Ok(buf) => {
                let newline = buf.iter().position(|b| *b == b'\n');
                let chunk = &buf[..newline.unwrap_or(buf.len())];
                if !oversized && line.len() + chunk.len() > max_line {
                    oversized = true;
                    line.truncate(ID_PREFIX_BYTES);
                }
                let room = if oversized {
                    ID_PREFIX_BYTES.saturating_sub(line.len())
                } else {
                    chunk.len()
                };
                line.extend_from_slice(&chunk[..room.min(chunk.len())]);
                (newline.map_or(buf.len(), |i| i + 1), newline.is_some(), false)
            }
        };
        reader.consume(used);
        if ended_line {
            let verdict = judge(&line, oversized, max_line);
            let sent = match verdict {
                Verdict::Skip => true,
                Verdict::Pass => {
                    line.push(b'\n');
                    to_server.write_all(&line).await.is_ok()
                }
                Verdict::Answer(answer) => answers.send(answer).await.is_ok(),
            };
            line.clear();
            oversized = false;
            if !sent || at_eof {
                return;
            }
        }
    }
}

/// What to do with one line.
#[derive(Debug, PartialEq)]
enum Verdict {
    /// Blank: nothing to do (rmcp skips these too).
    Skip,
    /// A JSON value: rmcp's to read.
    Pass,
    /// Refused here: this error line goes to the client.
    Answer(Vec<u8>),
}

fn judge(line: &[u8], oversized: bool, max_line: usize) -> Verdict {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let body = line.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(line);
    if oversized {
        return Verdict::Answer(error_line(
            id_of(body),
            INVALID_REQUEST,
            &format!(
                "message too large: longer than {max_line} bytes; send less (large outputs go in files, e.g. 'sparkq complete --stdout-file')"
            ),
        ));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Verdict::Skip;
    }
    if std::str::from_utf8(body).is_err() {
        return Verdict::Answer(error_line(
            Value::Null,
            PARSE_ERROR,
            "parse error: the message is not UTF-8 text",
        ));
    }
    // A `Value`, not `IgnoredAny`: only building one meets the depth limit rmcp meets.
    match serde_json::from_slice::<Value>(body) {
        Ok(_) => Verdict::Pass,
        Err(e) if e.to_string().contains("recursion limit") => Verdict::Answer(error_line(
            id_of(body),
            INVALID_REQUEST,
            "invalid request: nested too deeply (at most 127 levels)",
        )),
        Err(e) => Verdict::Answer(error_line(
            Value::Null,
            PARSE_ERROR,
            &format!("parse error: not a JSON-RPC message ({e})"),
        )),
    }
}

/// A JSON-RPC error response, as one line.
fn error_line(id: Value, code: i64, message: &str) -> Vec<u8> {
    let mut line = json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
        .to_string()
        .into_bytes();
    line.push(b'\n');
    line
}

/// The `id` of a request whose body may be cut short or too deep to read
/// whole: the top-level object's keys are read in order until `id` (a
/// string or number), skipping the values before it. Null if not found.
fn id_of(body: &[u8]) -> Value {
    struct IdVisitor<'a>(&'a mut Value);
    impl<'de> Visitor<'de> for IdVisitor<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON-RPC request object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                if key == "id" {
                    let id: Value = map.next_value()?;
                    if id.is_string() || id.is_number() {
                        *self.0 = id;
                    }
                    return Ok(());
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(())
        }
    }
    let mut id = Value::Null;
    let mut reader = serde_json::Deserializer::from_slice(body);
    // The rest of the body may be cut off or too deep: its error is expected.
    let _ = serde::Deserializer::deserialize_map(&mut reader, IdVisitor(&mut id));
    id
}

/// Passes rmcp's answers on, one whole line at a time; once no one
/// writes them out any more, reads and drops them, so rmcp never blocks.
async fn relay_lines(from_server: tokio::io::DuplexStream, lines: mpsc::Sender<Vec<u8>>) {
    let mut reader = BufReader::new(from_server);
    let mut writing = true;
    loop {
        let mut line = Vec::new();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if writing => writing = lines.send(line).await.is_ok(),
            Ok(_) => {}
        }
    }
}

/// Writes each line to `output` and flushes it, until every sender is gone.
async fn write_lines<W: AsyncWrite + Unpin>(mut outbox: mpsc::Receiver<Vec<u8>>, mut output: W) {
    while let Some(line) = outbox.recv().await {
        if output.write_all(&line).await.is_err() || output.flush().await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(line: &[u8]) -> Value {
        match judge(line, false, 1 << 20) {
            Verdict::Answer(bytes) => serde_json::from_slice(&bytes).unwrap(),
            other => panic!("no answer: {other:?}"),
        }
    }

    #[test]
    fn each_kind_of_bad_line_gets_its_error() {
        let garbage = answer(b"this is not json");
        assert_eq!(garbage["error"]["code"], PARSE_ERROR);
        assert!(garbage["id"].is_null());
        assert_eq!(answer(b"{\"id\": 1, \xff}")["error"]["code"], PARSE_ERROR);
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let deep = answer(deep.as_bytes());
        assert_eq!(deep["error"]["code"], INVALID_REQUEST);
        assert_eq!(deep["id"], 7);
        assert_eq!(judge(b"  \r", false, 10), Verdict::Skip);
        assert_eq!(judge(br#"{"jsonrpc":"2.0","id":1}"#, false, 100), Verdict::Pass);
    }

    #[test]
    fn an_oversized_line_is_answered_with_its_id_when_it_comes_first() {
        let Verdict::Answer(bytes) = judge(br#"{"jsonrpc":"2.0","id":"x-1","params":{"a":"aaaa"#, true, 5)
        else {
            panic!("no answer");
        };
        let error: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(error["id"], "x-1");
        assert_eq!(error["error"]["code"], INVALID_REQUEST);
        assert_eq!(id_of(br#"{"params":{"a":1},"id":3"#), 3);
        assert_eq!(id_of(br#"{"params":{"a":"cut"#), Value::Null);
        assert_eq!(id_of(br#"{"id":{"no":1}}"#), Value::Null);
    }

    #[test]
    fn the_cap_fits_the_largest_report() {
        let limits = Limits::default();
        assert!(max_line_bytes(&limits) > limits.payload_bytes + 2 * limits.output_bytes);
        assert!(max_line_bytes(&limits) < 20_000_000);
    }
}
