//! `sparkq run`'s server half: one server per project, holding the lock
//! file `spool/.sparkq.lock` (with its pid and url) for its life, purging old results at start and sweeping dead
//! claims while it runs.
//!
//! The watcher half of `run` (starting stream watchers) lives elsewhere and
//! calls [`run_server`] with its own shutdown future.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};

use super::{AppState, serve, watch_spool};
use crate::queue::Queue;
use crate::runtime::{Acquired, LockFile, PidFile};

/// How often running tasks are checked for dead claims (SPEC 4.6).
pub const DEAD_CLAIM_SWEEP_INTERVAL_SECS: u64 = 5;

/// How to start the server.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Port on 127.0.0.1; 0 picks a free one (tests).
    pub port: u16,
}

/// Why a server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(
        "a SparkQ server is already running for this project (pid {pid}, {url})\n  Stop it with 'sparkq stop', or open {url}."
    )]
    AlreadyRunning { pid: u32, url: String },
    #[error(
        "could not listen on 127.0.0.1:{port}: {source}\n  Another program uses the port; change 'server: port' in sparkq.yml."
    )]
    Bind { port: u16, source: std::io::Error },
    /// The error names the lock file.
    #[error("could not take the server lock: {source}")]
    Lock { source: crate::runtime::Error },
    #[error("the server failed: {0}")]
    Serve(#[from] std::io::Error),
}

/// A server that is listening; [`RunningServer::wait`] serves until the
/// shutdown future resolves.
pub struct RunningServer {
    /// The address it listens on.
    pub addr: SocketAddr,
    /// `http://127.0.0.1:<port>/`.
    pub url: String,
    listener: TcpListener,
    state: AppState,
    /// Held for the server's life; dropping it removes the file.
    lock: LockFile,
    /// SIGHUP, which `sparkq reload` sends: installed before the pid is
    /// written, so no reload can kill a server that is starting.
    hangups: Signal,
}

/// Takes the project's server lock (atomically: of two servers started at
/// once, one gets it), then binds 127.0.0.1 and writes this process's pid
/// and url into the lock file. The lock is held until the server stops.
pub async fn run_server(queue: Queue, options: ServerOptions) -> Result<RunningServer, ServerError> {
    let lock_error = |source| ServerError::Lock { source };
    let lock = match queue.take_server_lock().map_err(lock_error)? {
        Acquired::Ours(lock) => lock,
        Acquired::Held { content } => {
            let holder = PidFile::parse(&content);
            return Err(ServerError::AlreadyRunning {
                pid: holder.as_ref().map_or(0, |p| p.pid),
                url: holder
                    .and_then(|p| p.url)
                    .unwrap_or_else(|| "still starting".to_owned()),
            });
        }
    };
    let hangups = signal(SignalKind::hangup())?;
    let mut pid = PidFile::this_process();
    lock.write(&pid.to_json()).map_err(lock_error)?;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, options.port))
        .await
        .map_err(|source| ServerError::Bind {
            port: options.port,
            source,
        })?;
    let addr = listener.local_addr()?;
    let url = format!("http://127.0.0.1:{}/", addr.port());
    pid.url = Some(url.clone());
    lock.write(&pid.to_json()).map_err(lock_error)?;
    // The server lives long: claims, peeks and sweeps use an index the
    // spool's events keep current instead of reading whole folders, and
    // the dashboard's numbers are read into it right after start.
    let mut queue = queue;
    if let Err(err) = queue.start_index_with_summaries() {
        eprintln!("Warning: cannot index the spool ({err}); claims will read the folders instead.");
    }
    let state = AppState::new(queue, addr.port());
    Ok(RunningServer {
        addr,
        url,
        listener,
        state,
        lock,
        hangups,
    })
}

impl RunningServer {
    /// The state the server's handlers share (for reload and tests).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Purges old results in the background, sweeps dead claims every
    /// [`DEAD_CLAIM_SWEEP_INTERVAL_SECS`], watches the spool for live
    /// updates, and serves until `shutdown` resolves. The lock file is
    /// released and removed on the way out.
    pub async fn wait(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let RunningServer {
            listener,
            state,
            lock,
            hangups,
            ..
        } = self;
        let purger = state.queue();
        tokio::task::spawn_blocking(move || {
            // After the index's reading of the spool at start, which the
            // first requests wait for: not a second reading beside it.
            purger.after_warm_up();
            // Temp files of writers killed since the last run.
            if let Err(err) = purger.remove_stale_temp_files() {
                eprintln!("Error: removing old temp files failed: {err}");
            }
            let older_than = purger.config().purge_older_than;
            if let Err(err) = purger.purge(older_than) {
                eprintln!("Error: background purge failed: {err}");
            }
        });
        let sweeper = tokio::spawn(sweep_forever(state.clone()));
        let reloader = tokio::spawn(reload_on_hangup(state.clone(), hangups));
        let watcher = match watch_spool(&state) {
            Ok(w) => Some(w),
            Err(err) => {
                eprintln!(
                    "Error: cannot watch the spool for live updates: {err}\n  Pages will refresh every 30 s instead."
                );
                None
            }
        };
        let served = serve(listener, state, shutdown).await;
        sweeper.abort();
        reloader.abort();
        drop(watcher);
        drop(lock);
        Ok(served?)
    }
}

/// Reloads on every SIGHUP (what `sparkq reload` sends), as `POST
/// /api/reload` does: re-reads sparkq.yml and rescans scripts. A broken
/// config is reported here and the running one kept.
async fn reload_on_hangup(state: AppState, mut hangups: Signal) {
    while hangups.recv().await.is_some() {
        let reloader = state.clone();
        match tokio::task::spawn_blocking(move || reloader.reload()).await {
            Ok(Ok((tools, scripts))) => eprintln!("Reloaded (SIGHUP): {tools} tools, {scripts} scripts."),
            Ok(Err(err)) => eprintln!(
                "Error: reload (SIGHUP) failed: {err}\n  The running configuration is unchanged; fix the file and reload again."
            ),
            Err(_) => eprintln!("Error: the reload panicked; the running configuration is unchanged"),
        }
    }
}

async fn sweep_forever(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(DEAD_CLAIM_SWEEP_INTERVAL_SECS));
    loop {
        tick.tick().await;
        let queue = state.queue();
        let swept = tokio::task::spawn_blocking(move || {
            let Ok(streams) = queue.all_streams() else { return };
            // Ended streams too: ending a stream stops new work, not the sweep.
            for stream in &streams {
                if let Err(err) = queue.sweep_dead(stream.name.as_str()) {
                    eprintln!(
                        "Error: sweeping dead claims of stream '{}' failed: {err}",
                        stream.name
                    );
                }
            }
        })
        .await;
        if swept.is_err() {
            eprintln!("Error: the dead-claim sweep panicked; it will run again");
        }
    }
}
