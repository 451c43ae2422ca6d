//! The watcher's FIFO, `<stream>.pipe` in the project's runtime folder,
//! and how a wake is delivered through it so that the worker's
//! `cat <pipe >/dev/null` returns exactly once per wake.
//!
//! `cat` returns only at end of file, which a FIFO gives a reader when its
//! last writer closes. So the watcher cannot simply keep the FIFO open
//! read-write and write `wake` into it (the reader would get the line and
//! then wait forever), nor close it blindly (a line written before the
//! reader opened would be thrown away with the pipe's buffer). A wake goes
//! through three states:
//!
//! 1. **Holding**: the watcher holds the FIFO open read-write, as SPEC 5
//!    says. A worker's `cat` opens at once and blocks reading; if the
//!    watcher dies, `cat` sees end of file instead of hanging forever.
//! 2. **Delivering**: to wake, open a write-only end, write `wake\n`, close
//!    the read-write end. The line stays in the pipe while the writer is
//!    open; once a reader has the FIFO open, close the writer: the reader
//!    gets the line, then end of file.
//! 3. **Draining**: wait until that reader has gone (or the worker has set
//!    its done flag again, which it does only after its `cat` returned),
//!    then hold the FIFO again. Holding it earlier would keep the reader
//!    from seeing end of file.
//!
//! "Is there a reader?" is asked by opening a write end without blocking:
//! the kernel refuses (`ENXIO`) when no one has the FIFO open for reading.
//! Delivering and Draining last as long as the worker takes to open and
//! close its `cat`, normally milliseconds; they are checked on a short
//! timer that backs off to a second.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Error, Result};
use crate::runtime;

/// The first and the longest pause between checks while a wake is in flight.
const FIRST_CHECK: Duration = Duration::from_millis(2);
const LONGEST_CHECK: Duration = Duration::from_secs(1);

/// A watcher's FIFO and the state of the wake in flight, if any.
#[derive(Debug)]
pub(crate) struct Fifo {
    path: PathBuf,
    state: State,
    pause: Duration,
    next_check: Instant,
}

#[derive(Debug)]
enum State {
    /// The read-write end, kept open only to be held.
    Holding {
        _held: File,
    },
    /// The write end holding the `wake` line until a reader opens.
    Delivering {
        _writer: File,
    },
    Draining,
}

impl Fifo {
    /// Creates the FIFO at `path` (mode 0600) if it is missing and holds
    /// it open read-write. Anything at `path` that is not the user's own
    /// FIFO is refused: another user's FIFO could overhear the wakes.
    ///
    /// If the FIFO was left behind by an earlier watcher and a worker is
    /// already blocked on it (that watcher was killed, perhaps between
    /// removing the worker's flag and waking it), the worker is woken
    /// instead, and the second value is `true`: it then claims, or finds
    /// nothing and sets its flag again.
    pub(crate) fn open(path: &Path) -> Result<(Fifo, bool)> {
        if runtime::check_fifo(path)? {
            // Opening a write end succeeds only if someone reads.
            if let Ok(mut writer) = open_writer(path) {
                writer
                    .write_all(b"wake\n")
                    .map_err(|e| Error::io(path, "write to", e))?;
                let fifo = Fifo {
                    path: path.to_owned(),
                    state: State::Delivering { _writer: writer },
                    pause: FIRST_CHECK,
                    next_check: Instant::now(),
                };
                return Ok((fifo, true));
            }
        } else {
            runtime::make_fifo(path)?;
        }
        let fifo = Fifo {
            path: path.to_owned(),
            state: State::Holding { _held: hold(path)? },
            pause: FIRST_CHECK,
            next_check: Instant::now(),
        };
        Ok((fifo, false))
    }

    /// Whether no wake is in flight.
    pub(crate) fn is_idle(&self) -> bool {
        matches!(self.state, State::Holding { .. })
    }

    /// Starts delivering a wake; call [`Fifo::advance`] until it is idle.
    /// Does nothing while a wake is already in flight: one wake at a time.
    pub(crate) fn wake(&mut self) -> Result<()> {
        if !self.is_idle() {
            return Ok(());
        }
        if !runtime::check_fifo(&self.path)? {
            // Someone removed the FIFO under us: make a new one to hold.
            self.state = State::Holding {
                _held: recreate(&self.path)?,
            };
        }
        // The read-write end we hold is a reader, so this open succeeds.
        let mut writer = open_writer(&self.path).map_err(|e| Error::io(&self.path, "open for writing", e))?;
        writer
            .write_all(b"wake\n")
            .map_err(|e| Error::io(&self.path, "write to", e))?;
        self.state = State::Delivering { _writer: writer };
        self.pause = FIRST_CHECK;
        self.next_check = Instant::now();
        Ok(())
    }

    /// When [`Fifo::advance`] should be called next; `None` while idle.
    pub(crate) fn next_check(&self) -> Option<Instant> {
        (!self.is_idle()).then_some(self.next_check)
    }

    /// Moves a wake in flight along; `flag_set` says whether the worker's
    /// done flag exists again. Cheap to call early: it just checks again.
    pub(crate) fn advance(&mut self, flag_set: bool) -> Result<()> {
        match &self.state {
            State::Holding { .. } => return Ok(()),
            State::Delivering { .. } => {
                if has_reader(&self.path) {
                    // Dropping the writer ends the reader's file.
                    self.state = State::Draining;
                    self.pause = FIRST_CHECK;
                }
            }
            State::Draining => {
                if flag_set || !has_reader(&self.path) {
                    self.state = State::Holding {
                        _held: recreate(&self.path)?,
                    };
                    return Ok(());
                }
            }
        }
        self.next_check = Instant::now() + self.pause;
        self.pause = (self.pause * 2).min(LONGEST_CHECK);
        Ok(())
    }

    /// Closes the FIFO (a reader still waiting sees end of file) and, if
    /// `remove`, deletes it, so the next worker's `cat` fails loudly
    /// instead of waiting for a watcher that is gone.
    pub(crate) fn close(self, remove: bool) {
        let path = self.path.clone();
        drop(self);
        if remove {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Holds the FIFO at `path` again, making it first if it has been removed.
fn recreate(path: &Path) -> Result<File> {
    if !runtime::check_fifo(path)? {
        runtime::make_fifo(path)?;
    }
    hold(path)
}

/// Opens the FIFO read-write; on Linux this never blocks.
fn hold(path: &Path) -> Result<File> {
    File::options()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| Error::io(path, "open", e))
}

/// Opens a write end without blocking; fails with `ENXIO` if no one has the
/// FIFO open for reading.
fn open_writer(path: &Path) -> std::io::Result<File> {
    File::options()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
}

fn has_reader(path: &Path) -> bool {
    open_writer(path).is_ok()
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn a_reader_gets_the_line_then_end_of_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe");
        let (mut fifo, _) = Fifo::open(&path).unwrap();
        // Wake before the reader opens: the line must not be lost.
        fifo.wake().unwrap();
        let reader_path = path.clone();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            File::open(reader_path)
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            text
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fifo.is_idle() {
            assert!(Instant::now() < deadline, "wake never delivered");
            fifo.advance(false).unwrap();
            if let Some(next) = fifo.next_check() {
                std::thread::sleep(next.saturating_duration_since(Instant::now()));
            }
        }
        assert_eq!(reader.join().unwrap(), "wake\n");
        fifo.close(true);
        assert!(!path.exists());
    }
}
