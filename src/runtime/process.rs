//! Whether a process lives, and stopping one: `kill(2)` through rustix,
//! never the `kill` command.

use std::path::Path;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

/// Whether process `pid` is alive. A zombie (exited, not yet reaped) counts
/// as dead, and so does a thread id: `/proc/<tid>` exists for every thread
/// of every process, and a dead process's pid is soon reused as some
/// thread's id. Without `/proc`, asks the kernel with signal 0.
pub fn pid_alive(pid: u32) -> bool {
    let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return false;
    };
    if Path::new("/proc/self").exists() {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            return false;
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(key))
                .map(str::trim)
                .unwrap_or("")
        };
        return field("Tgid:") == pid.to_string() && !field("State:").starts_with('Z');
    }
    // EPERM: it exists but is another user's.
    match rustix::process::test_kill_process(raw) {
        Ok(()) => true,
        Err(e) => e == rustix::io::Errno::PERM,
    }
}

/// Sends SIGTERM to `pid` and waits up to `wait` for it to exit; returns
/// whether it is gone. The caller has checked that `pid` is the process it
/// means to stop (it holds that project's lock).
pub fn terminate(pid: u32, wait: Duration) -> bool {
    let Some(raw) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return true;
    };
    if let Err(e) = rustix::process::kill_process(raw, Signal::TERM) {
        // ESRCH: already gone.
        return e == rustix::io::Errno::SRCH;
    }
    let deadline = Instant::now() + wait;
    while pid_alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Asks the server in process `pid` to reload (SIGHUP: it re-reads
/// sparkq.yml and rescans scripts). The caller has checked that `pid` is
/// this project's server (it holds the project's server lock).
pub fn signal_reload(pid: u32) -> std::io::Result<()> {
    let raw = i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("no process has pid {pid}"),
        )
    })?;
    rustix::process::kill_process(raw, Signal::HUP).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn liveness_of_self_a_dead_child_and_nonsense() {
        assert!(pid_alive(std::process::id()));
        assert!(!pid_alive(0));
        assert!(!pid_alive(u32::MAX));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(!pid_alive(pid));
    }

    #[test]
    fn terminate_stops_a_child_and_waits_for_it() {
        let mut child = std::process::Command::new("sleep").arg("30").spawn().unwrap();
        let pid = child.id();
        // The test reaps its child on another thread, as a parent would.
        let reaper = std::thread::spawn(move || child.wait());
        assert!(terminate(pid, Duration::from_secs(10)));
        assert!(reaper.join().unwrap().is_ok());
        assert!(!pid_alive(pid));
    }
}
