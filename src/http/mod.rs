//! The HTTP front door: the JSON API of SPEC 6, the embedded web UI, and the
//! server-sent events that keep it live.
//!
//! Handlers are thin: they parse the request, call [`Queue`] on a blocking
//! thread (the queue does file I/O), and serialize what it returns. Every
//! rule lives in `queue`; every refusal of a foreign caller lives in
//! [`guard`]. [`router`] needs no socket, so tests drive it with `oneshot`;
//! [`serve`] takes its listener and a shutdown future, so tests run it on
//! port 0.

mod assets;
mod error;
mod events;
mod guard;
mod listen;
mod meta;
mod review;
mod server;
mod sessions;
mod tasks;
mod turns;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use tokio::sync::{broadcast, watch};

pub use error::{ApiError, Json};
pub use events::{ChangeEvent, SpoolWatch, watch_spool};
pub use listen::{HEADER_READ_TIMEOUT_SECS, MAX_CONNECTIONS, serve};
pub use server::{DEAD_CLAIM_SWEEP_INTERVAL_SECS, RunningServer, ServerError, ServerOptions, run_server};

use crate::config::Config;
use crate::queue::{self, Queue};
use crate::scripts::ScriptIndex;
use error::ApiResult;

/// How many change events may wait for a slow SSE client before it is told
/// to reload everything instead.
const EVENT_BUFFER: usize = 1024;

/// Room in a request body beyond the configured payload and output limits,
/// for JSON syntax and the small fields around them.
const BODY_OVERHEAD_BYTES: usize = 64 * 1024;

/// What every handler shares: the queue, the script index and the event
/// channel. Cloning is cheap; all clones see a reload.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    queue: RwLock<Arc<Queue>>,
    scripts: RwLock<Arc<ScriptIndex>>,
    events: broadcast::Sender<ChangeEvent>,
    port: AtomicU16,
    /// Flips to `true` when the server shuts down, so that open event
    /// streams end and graceful shutdown does not wait on them forever.
    closing: watch::Sender<bool>,
    /// Fair turns between claims and enqueues (see `turns`).
    turns: turns::Turns,
}

impl AppState {
    /// State for the project `queue` serves, scanning its script folders.
    /// `port` is the one the `Host` header must name; [`serve`] replaces it
    /// with the port actually bound.
    pub fn new(queue: Queue, port: u16) -> AppState {
        let scripts = scan_scripts(queue.config());
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        AppState {
            inner: Arc::new(Inner {
                queue: RwLock::new(Arc::new(queue)),
                scripts: RwLock::new(Arc::new(scripts)),
                events,
                port: AtomicU16::new(port),
                closing: watch::channel(false).0,
                turns: turns::Turns::default(),
            }),
        }
    }

    /// The queue as of the last reload.
    pub fn queue(&self) -> Arc<Queue> {
        match self.inner.queue.read() {
            Ok(q) => q.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The script index as of the last reload.
    pub fn scripts(&self) -> Arc<ScriptIndex> {
        match self.inner.scripts.read() {
            Ok(s) => s.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The port requests must be addressed to.
    pub fn port(&self) -> u16 {
        self.inner.port.load(Ordering::Relaxed)
    }

    fn set_port(&self, port: u16) {
        self.inner.port.store(port, Ordering::Relaxed);
    }

    /// Sends a change to every live page.
    pub fn publish(&self, event: ChangeEvent) {
        // No subscriber is not an error: nobody is looking.
        let _ = self.inner.events.send(event);
    }

    pub(crate) fn turns(&self) -> &turns::Turns {
        &self.inner.turns
    }

    pub(crate) fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    fn close_streams(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Whether a page listens to the changes (see `events`).
    pub(crate) fn has_listeners(&self) -> bool {
        self.inner.events.receiver_count() > 0
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<ChangeEvent> {
        self.inner.events.subscribe()
    }

    /// Re-reads `sparkq.yml` (tools, classes, limits) and rescans scripts.
    /// A config with errors is refused and the running one kept.
    pub fn reload(&self) -> Result<(usize, usize), crate::config::Error> {
        let path = self.queue().config().path.clone();
        let config = Config::load(&path)?;
        let scripts = scan_scripts(&config);
        let counts = (config.tools.len(), scripts.all().len());
        let mut queue = (*self.queue()).clone();
        queue.set_config(config);
        match self.inner.queue.write() {
            Ok(mut q) => *q = Arc::new(queue),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(queue),
        }
        match self.inner.scripts.write() {
            Ok(mut s) => *s = Arc::new(scripts),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(scripts),
        }
        self.publish(ChangeEvent::reload());
        Ok(counts)
    }

    /// Largest request body: a payload or result plus stdout and stderr.
    fn body_limit(&self) -> usize {
        let limits = self.queue().config().limits;
        limits
            .payload_bytes
            .saturating_add(limits.output_bytes.saturating_mul(2))
            .saturating_add(BODY_OVERHEAD_BYTES)
    }
}

fn scan_scripts(config: &Config) -> ScriptIndex {
    ScriptIndex::scan(&config.root, &config.script_dirs)
}

/// Runs a queue call on a blocking thread: every queue call reads or writes
/// files, which must not stall the async workers.
pub(crate) async fn blocking<T, F>(state: &AppState, call: F) -> ApiResult<T>
where
    F: FnOnce(&Queue) -> queue::Result<T> + Send + 'static,
    T: Send + 'static,
{
    let queue = state.queue();
    match tokio::task::spawn_blocking(move || call(&queue)).await {
        Ok(result) => result.map_err(ApiError::from),
        Err(join) => Err(ApiError::internal(format!("the request handler failed: {join}"))),
    }
}

/// Every route, guarded. Needs no socket.
pub fn router(state: AppState) -> Router {
    let limit = state.body_limit();
    Router::new()
        .merge(assets::routes())
        .merge(meta::routes())
        .merge(sessions::routes())
        .merge(tasks::routes())
        .merge(review::routes())
        .route("/api/events", axum::routing::get(events::stream))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), serving))
        .layer(axum::middleware::from_fn_with_state(state.clone(), guard::guard))
        .with_state(state)
}

/// Marks the request as being served until its handler answers (an event
/// stream: until it starts), so that the index's reading of summaries at
/// start gives way to it (see `Queue::serving`).
async fn serving(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let _serving = state.queue().serving();
    next.run(request).await
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "no such endpoint: {}\n  See /api/openapi.json for the API.",
            uri.path()
        ),
    )
}
