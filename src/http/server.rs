//! `sparkq run`'s server half: one server per project, announced in
//! `spool/.sparkq.lock`, purging old results at start and sweeping dead
//! claims while it runs.
//!
//! The watcher half of `run` (starting stream watchers) lives elsewhere and
//! calls [`run_server`] with its own shutdown future.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tokio::net::TcpListener;

use super::{AppState, serve, watch_spool};
use crate::model::Timestamp;
use crate::queue::Queue;
use crate::spool::PidFile;

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
    #[error("could not write the server lock file {path}: {source}")]
    Lock {
        path: PathBuf,
        source: crate::spool::Error,
    },
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
    lock_path: PathBuf,
}

/// Whether process `pid` is alive. A zombie (exited, not yet reaped by its
/// parent) counts as gone: it serves nothing and holds no port.
fn pid_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_none_or(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Binds 127.0.0.1, refusing to start when another live server holds the
/// project's lock file, and writes the lock with this process's pid.
pub async fn run_server(queue: Queue, options: ServerOptions) -> Result<RunningServer, ServerError> {
    let lock_path = queue.spool().server_pid_path();
    if let Some(existing) = PidFile::read(&lock_path).filter(|p| pid_alive(p.pid)) {
        return Err(ServerError::AlreadyRunning {
            pid: existing.pid,
            url: existing.url.unwrap_or_else(|| "no url".to_owned()),
        });
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, options.port))
        .await
        .map_err(|source| ServerError::Bind {
            port: options.port,
            source,
        })?;
    let addr = listener.local_addr()?;
    let url = format!("http://127.0.0.1:{}/", addr.port());
    let pid = PidFile {
        pid: std::process::id(),
        url: Some(url.clone()),
        started_at: Timestamp::now(),
    };
    pid.write(&lock_path).map_err(|source| ServerError::Lock {
        path: lock_path.clone(),
        source,
    })?;
    let state = AppState::new(queue, addr.port());
    Ok(RunningServer {
        addr,
        url,
        listener,
        state,
        lock_path,
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
    /// removed on the way out, unless another server has taken it over.
    pub async fn wait(self, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), ServerError> {
        let RunningServer {
            listener,
            state,
            lock_path,
            ..
        } = self;
        let purger = state.queue();
        tokio::task::spawn_blocking(move || {
            let older_than = purger.config().purge_older_than;
            if let Err(err) = purger.purge(older_than) {
                eprintln!("Error: background purge failed: {err}");
            }
        });
        let sweeper = tokio::spawn(sweep_forever(state.clone()));
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
        drop(watcher);
        if PidFile::read(&lock_path).is_some_and(|p| p.pid == std::process::id()) {
            let _ = std::fs::remove_file(&lock_path);
        }
        Ok(served?)
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

/// Asks the server named in the project's lock file to stop (SIGTERM) and
/// waits up to `wait` for it to exit. Returns the pid stopped, or `None`
/// when no server was running.
pub fn stop_server(queue: &Queue, wait: Duration) -> std::io::Result<Option<u32>> {
    let lock_path = queue.spool().server_pid_path();
    let Some(pid) = PidFile::read(&lock_path)
        .map(|p| p.pid)
        .filter(|pid| pid_alive(*pid))
    else {
        let _ = std::fs::remove_file(&lock_path);
        return Ok(None);
    };
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()?;
    if !status.success() {
        return Err(std::io::Error::other(format!("could not signal pid {pid}")));
    }
    let deadline = std::time::Instant::now() + wait;
    while pid_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if pid_alive(pid) {
        return Err(std::io::Error::other(format!(
            "pid {pid} did not stop within {}s",
            wait.as_secs()
        )));
    }
    Ok(Some(pid))
}
