//! The switch that ends every wait of a process: fired by SIGINT/SIGTERM
//! (see [`Shutdown::on_signals`]), by a server shutting down, or by a test.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Arc, Mutex, PoisonError};

use super::events::Wake;
use super::{Error, Result};

/// A shutdown switch, cheap to clone; every clone fires the same switch.
///
/// Invariant: a wait that listens after the switch fired still sees it,
/// because `listen` checks the flag under the same mutex `fire` sets it in.
#[derive(Debug, Clone, Default)]
pub(crate) struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    fired: AtomicBool,
    listeners: Mutex<Vec<Sender<Wake>>>,
}

impl Shutdown {
    /// A switch that has not fired.
    pub(crate) fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Fires the switch: every wait listening on it returns soon.
    pub(crate) fn fire(&self) {
        let listeners = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.fired.store(true, Ordering::SeqCst);
        for tx in listeners.iter() {
            let _ = tx.send(Wake::Stop);
        }
    }

    /// Whether the switch has fired.
    pub(crate) fn is_fired(&self) -> bool {
        self.inner.fired.load(Ordering::SeqCst)
    }

    /// Blocks until the switch fires.
    pub(crate) fn wait(&self) {
        let (tx, rx) = std::sync::mpsc::channel();
        self.listen(tx);
        let _ = rx.recv();
    }

    /// Blocks until the switch fires or `timeout` passes; returns whether
    /// it fired.
    pub(crate) fn wait_for(&self, timeout: std::time::Duration) -> bool {
        let (tx, rx) = std::sync::mpsc::channel();
        self.listen(tx);
        let _ = rx.recv_timeout(timeout);
        self.is_fired()
    }

    /// Sends [`Wake::Stop`] to `tx` when the switch fires (at once if it
    /// already has).
    pub(crate) fn listen(&self, tx: Sender<Wake>) {
        let mut listeners = self
            .inner
            .listeners
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if self.inner.fired.load(Ordering::SeqCst) {
            let _ = tx.send(Wake::Stop);
        }
        listeners.push(tx);
    }

    /// Fires the switch on the first SIGINT or SIGTERM; a second one ends
    /// the process at once (exit 130), for a shutdown that hangs.
    ///
    /// The handlers are installed before this returns, so no signal that
    /// follows can take the default action (dying without cleaning up).
    pub(crate) fn on_signals(&self) -> Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("(signal handler)", "start", e))?;
        let (mut int, mut term) = runtime
            .block_on(async {
                Ok::<_, std::io::Error>((signal(SignalKind::interrupt())?, signal(SignalKind::terminate())?))
            })
            .map_err(|e| Error::io("(signal handler)", "install", e))?;
        let shutdown = self.clone();
        std::thread::Builder::new()
            .name("sparkq-signals".to_owned())
            .spawn(move || {
                runtime.block_on(async {
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                    shutdown.fire();
                    tokio::select! {
                        _ = int.recv() => {}
                        _ = term.recv() => {}
                    }
                });
                std::process::exit(130);
            })
            .map_err(|e| Error::io("(signal handler)", "start", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_listener_still_hears_the_switch() {
        let shutdown = Shutdown::new();
        shutdown.fire();
        let (tx, rx) = std::sync::mpsc::channel();
        shutdown.listen(tx);
        assert!(matches!(rx.try_recv(), Ok(Wake::Stop)));
    }
}
