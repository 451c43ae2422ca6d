//! Live updates: a file watcher on the spool turns every change of a task,
//! stream or session file into a [`ChangeEvent`], and `GET /api/events`
//! streams them to pages as server-sent events.
//!
//! Watching the files rather than our own handlers is what makes a claim
//! from the CLI, a worker on another process or a file dropped in by hand
//! show up at once. Events are hints ("look again"), not a log: a page that
//! falls behind gets a `reload` event and re-reads everything.

use std::convert::Infallible;
use std::path::Path;
use std::time::Duration;

use crate::spool::{TreeEvent, TreeWatch, watch_tree};
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Serialize;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;

use super::AppState;
use crate::model::{TaskListing, TaskStatus};
use crate::queue::{Change, Queue};

/// How often an idle event stream sends a comment, so proxies and browsers
/// keep the connection open.
const KEEP_ALIVE_SECS: u64 = 15;

/// Something in the spool changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChangeEvent {
    /// `task`, `stream`, `session` or `reload`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// For a task: the folder it is now in (`pending`, `claimed`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// For a task: its row as lists show it, read after the change; absent
    /// when the file is gone (it moved on) or cannot be read. A page
    /// updates that one row instead of refetching its list.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listing: Option<Box<TaskListing>>,
}

impl ChangeEvent {
    /// "Re-read everything": after a reload or when a page fell behind.
    pub fn reload() -> ChangeEvent {
        ChangeEvent {
            kind: "reload",
            stream: None,
            state: None,
            id: None,
            listing: None,
        }
    }

    /// This event with `listing` filled in from `queue`, for a task event
    /// (see [`Queue::listing_at`]); other events are returned as they are.
    pub fn with_listing(mut self, queue: &Queue) -> ChangeEvent {
        if let ("task", Some(stream), Some(state), Some(id)) =
            (self.kind, &self.stream, &self.state, &self.id)
        {
            self.listing = TaskStatus::parse_filter(state)
                .and_then(|status| queue.listing_at(stream, status, id))
                .map(Box::new);
        }
        self
    }

    /// The event for a changed path, relative to the spool root; `None` for
    /// temporary files, locks and anything else that is not spool content.
    /// The spool decides what a path is ([`Change::of_path`]).
    pub fn from_spool_path(relative: &Path) -> Option<ChangeEvent> {
        let event = |kind, stream: Option<String>, state: Option<String>, id: Option<String>| ChangeEvent {
            kind,
            stream,
            state,
            id,
            listing: None,
        };
        Some(match Change::of_path(Path::new(""), relative)? {
            Change::Session => event("session", None, None, None),
            Change::StreamFile { stream } | Change::StreamFolder { stream, .. } => {
                event("stream", Some(stream), None, None)
            }
            Change::Entry { stream, folder, name } => {
                let id = name.strip_suffix(".json").map(str::to_owned);
                event("task", Some(stream), Some(folder), id)
            }
        })
    }
}

/// How a server hears of the spool's changes (see [`watch_spool`]);
/// dropping it stops the events.
#[derive(Debug)]
pub enum SpoolWatch {
    /// Through its index's watch, which covers the whole spool.
    Index(crate::queue::Listening),
    /// A watch of its own: the queue keeps no index.
    Own(TreeWatch),
}

/// Starts watching `state`'s spool; events flow until the returned watch
/// is dropped. With an index of the whole spool (the server's), the events
/// come from the index's own watch, after the index applied them: one
/// inotify watch and one thread woken per change, not two (each claim
/// changes a few files, and on two cores the second watcher's wake-ups
/// took time from the claim). Without one, the spool is watched here. A
/// spool that cannot be watched (no inotify slots left) is reported as an
/// error; the server still works, pages just refresh on their timer.
pub fn watch_spool(state: &AppState) -> std::io::Result<SpoolWatch> {
    let queue = state.queue();
    let root = queue.spool_root().to_path_buf();
    let sender = state.clone();
    let base = root.clone();
    let on = move |event: TreeEvent<'_>| {
        let path = match event {
            TreeEvent::Changed(path) => path,
            TreeEvent::Lost => return sender.publish(ChangeEvent::reload()),
        };
        let relative = path.strip_prefix(&base).unwrap_or(path);
        if let Some(change) = event_for(&sender, relative) {
            sender.publish(change);
        }
    };
    // The index's watch hears every path at most once per batch, after a
    // short pause: a page hears of a change as late, and reads its row as
    // the last change of the batch left it, which is what it shows anyway.
    let on = match queue.listen_to_spool(on) {
        Ok(listening) => return Ok(SpoolWatch::Index(listening)),
        Err(on) => on,
    };
    watch_tree(&root, on).map(SpoolWatch::Own)
}

/// The event to publish for a change of `relative` (a path below the
/// spool root), its task row read here, once per change, not once per open
/// page. `None` when no page listens: a claim changes its task's file three
/// times, and reading it back each time beside the claim (on a second
/// thread of a two-core machine) cost every claim for nothing.
fn event_for(state: &AppState, relative: &Path) -> Option<ChangeEvent> {
    if !state.has_listeners() {
        return None;
    }
    Some(ChangeEvent::from_spool_path(relative)?.with_listing(&state.queue()))
}

/// `GET /api/events`: one SSE message per change, named by its kind.
pub(crate) async fn stream(
    State(state): State<AppState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let (tx, rx) = mpsc::channel::<Event>(64);
    let mut changes = state.subscribe();
    let mut closing = state.closing();
    tokio::spawn(async move {
        // `listings`: task events carry their row (and lack it only when
        // the file is gone), so a page can tell from the first event on.
        let hello = Event::default().event("hello").data(r#"{"listings":true}"#);
        if tx.send(hello).await.is_err() {
            return;
        }
        loop {
            let change = tokio::select! {
                change = changes.recv() => change,
                _ = closing.wait_for(|closing| *closing) => return,
                _ = tx.closed() => return,
            };
            let change = match change {
                Ok(change) => change,
                Err(broadcast::error::RecvError::Lagged(_)) => ChangeEvent::reload(),
                Err(broadcast::error::RecvError::Closed) => return,
            };
            let data = serde_json::to_string(&change).unwrap_or_else(|_| "{}".to_owned());
            if tx
                .send(Event::default().event(change.kind).data(data))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let events = tokio_stream::StreamExt::map(ReceiverStream::new(rx), Ok);
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(KEEP_ALIVE_SECS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_is_read_only_while_a_page_listens() {
        let dir = tempfile::tempdir().unwrap();
        let text = crate::config::render_config(&crate::config::SetupAnswers::defaults("t"));
        let config = crate::config::Config::from_yaml(&text, &dir.path().join("sparkq.yml")).unwrap();
        let queue = Queue::new(config);
        queue.create_session("s", None).unwrap();
        queue.create_stream("a", "s", "Do it.").unwrap();
        let task = queue
            .enqueue(
                "a",
                crate::queue::NewTask {
                    tool_name: "run-bash".to_owned(),
                    payload: serde_json::json!({}),
                    timeout: None,
                    task_class: None,
                },
            )
            .unwrap();
        let state = AppState::new(queue, 0);
        let path = format!("streams/a/pending/{}", task.id.file_name());
        assert_eq!(event_for(&state, Path::new(&path)), None, "nobody listens");
        let page = state.subscribe();
        let event = event_for(&state, Path::new(&path)).expect("a page listens");
        assert_eq!(event.id.as_deref(), Some(task.id.as_str()));
        assert!(event.listing.is_some(), "the row is read for the page");
        drop(page);
        assert_eq!(event_for(&state, Path::new(&path)), None, "the page left");
    }

    #[test]
    fn maps_spool_paths_to_events() {
        let task = |stream: &str, state: &str, id: &str| ChangeEvent {
            kind: "task",
            stream: Some(stream.into()),
            state: Some(state.into()),
            id: Some(id.into()),
            listing: None,
        };
        let cases: Vec<(&str, Option<ChangeEvent>)> = vec![
            (
                "streams/auth/pending/tsk_1.json",
                Some(task("auth", "pending", "tsk_1")),
            ),
            (
                "streams/auth/done/tsk_2.json",
                Some(task("auth", "done", "tsk_2")),
            ),
            ("streams/auth/pending/.tsk_1.json.tmp", None),
            ("streams/auth/.lock", None),
            (
                "sessions/api.json",
                Some(ChangeEvent {
                    kind: "session",
                    stream: None,
                    state: None,
                    id: None,
                    listing: None,
                }),
            ),
            (
                "streams/auth/stream.json",
                Some(ChangeEvent {
                    kind: "stream",
                    stream: Some("auth".into()),
                    state: None,
                    id: None,
                    listing: None,
                }),
            ),
            (".sparkq.lock", None),
            ("streams/auth/.batch-x1.tmp/tsk_01.json", None),
            ("../outside", None),
        ];
        for (path, expected) in cases {
            assert_eq!(
                ChangeEvent::from_spool_path(Path::new(path)),
                expected,
                "path: {path}"
            );
        }
    }
}
