//! Running a helper command to completion within a deadline: in a process group of its
//! own, KILLed whole when it overruns, and taken along when we are interrupted (the
//! admin frontends' start/stop scripts, clinit's wait and test entries).

use nix::errno::Errno;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// How a bounded command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    Signaled(i32),
    /// Still running at the deadline: its process group was KILLed. Holds the limit.
    TimedOut(Duration),
}

impl Ending {
    pub fn success(self) -> bool {
        self == Ending::Exited(0)
    }
}

impl From<std::process::ExitStatus> for Ending {
    fn from(st: std::process::ExitStatus) -> Self {
        match crate::status::LastExit::from(st) {
            crate::status::LastExit::Code(c) => Ending::Exited(c),
            crate::status::LastExit::Signal(s) => Ending::Signaled(s),
        }
    }
}

impl std::fmt::Display for Ending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Ending::Exited(c) => write!(f, "exited {c}"),
            Ending::Signaled(s) => {
                let name = nix::sys::signal::Signal::try_from(*s)
                    .map(|s| s.as_str().trim_start_matches("SIG"))
                    .unwrap_or("?");
                write!(f, "killed by signal {s} ({name})")
            }
            Ending::TimedOut(t) => write!(
                f,
                "still running after {}, killed",
                crate::units::format_duration(*t)
            ),
        }
    }
}

/// Why a bounded command has no ending to tell.
#[derive(Debug)]
pub enum RunError {
    /// It could not be started, or waited for.
    Io(std::io::Error),
    /// This signal (INT, TERM or HUP) reached us while it ran: its process group was
    /// KILLed and it was reaped. The caller stops its work and the main ends as the
    /// signal would have (`cli::die_of_signal`).
    Interrupted(i32),
}

impl From<std::io::Error> for RunError {
    fn from(e: std::io::Error) -> Self {
        RunError::Io(e)
    }
}

/// Runs `cmd` until it exits or `limit` passes, calling `tick` every `tick_every`
/// while it runs. The command gets a process group of its own, so the terminal's ^C
/// does not reach it: an INT, TERM or HUP that reaches us instead KILLs its group and
/// is returned as `RunError::Interrupted`.
pub fn run_within(
    cmd: &mut Command,
    limit: Duration,
    tick_every: Duration,
    tick: &mut dyn FnMut(),
) -> Result<Ending, RunError> {
    // Duration::MAX: no limit at all.
    let deadline = Instant::now().checked_add(limit);
    let mut child = crate::spawn::reset_signals(cmd).process_group(0).spawn()?;
    let pid = child.id() as libc::pid_t;
    let pidfd = pidfd_open(pid);
    let caught = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let ids: Vec<_> = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP]
        .into_iter()
        .filter_map(|sig| signal_hook::flag::register_usize(sig, caught.clone(), sig as usize).ok())
        .collect();
    let kill_group = || {
        let _ = crate::procstat::signal_group(pid, Some(nix::sys::signal::Signal::SIGKILL));
    };
    let end = loop {
        let sig = caught.load(std::sync::atomic::Ordering::SeqCst);
        if sig != 0 {
            kill_group();
            let _ = child.wait();
            break Err(RunError::Interrupted(sig as i32));
        }
        let left = deadline.map_or(Duration::MAX, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            kill_group();
            let _ = child.wait();
            break Ok(Ending::TimedOut(limit));
        }
        let slice = left.min(tick_every);
        match &pidfd {
            Ok(fd) => {
                let mut fds = [nix::poll::PollFd::new(
                    fd.as_fd(),
                    nix::poll::PollFlags::POLLIN,
                )];
                let _ = nix::poll::poll(&mut fds, crate::wakeup::timeout_for(slice));
            }
            // No pidfd (a kernel before 5.3): look again at each tick.
            Err(_) => std::thread::sleep(slice),
        }
        match child.try_wait() {
            Ok(Some(st)) => break Ok(Ending::from(st)),
            Ok(None) => tick(),
            Err(e) => break Err(RunError::Io(e)),
        }
    };
    for id in ids {
        signal_hook::low_level::unregister(id);
    }
    end
}

fn pidfd_open(pid: libc::pid_t) -> Result<OwnedFd, Errno> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// run's handlers are the process's: a test that signals it runs alone.
    static SIGNALS: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn endings() {
        let _one = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        let mut ticks = 0;
        let t = Duration::from_secs(20);
        let tick = Duration::from_millis(10);
        assert_eq!(
            run_within(&mut sh("exit 3"), t, tick, &mut || ticks += 1).unwrap(),
            Ending::Exited(3)
        );
        assert_eq!(
            run_within(&mut sh("kill -9 $$"), t, tick, &mut || {}).unwrap(),
            Ending::Signaled(9)
        );
        let started = Instant::now();
        let end = run_within(
            &mut sh("sleep 1000 & wait"),
            Duration::from_millis(200),
            tick,
            &mut || ticks += 1,
        );
        assert_eq!(end.unwrap(), Ending::TimedOut(Duration::from_millis(200)));
        assert!(started.elapsed() < Duration::from_secs(15));
        assert!(ticks >= 5);
        assert_eq!(
            Ending::TimedOut(Duration::from_secs(30)).to_string(),
            "still running after 30s, killed"
        );
        assert_eq!(Ending::Signaled(9).to_string(), "killed by signal 9 (KILL)");
    }

    #[test]
    fn a_signal_to_us_is_returned_not_exited_on() {
        let _one = SIGNALS.lock().unwrap_or_else(|e| e.into_inner());
        // A HUP before run has its handler would end this test process: a flag of the
        // test's own catches those, and the command sends HUP until run takes it.
        let early = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let id = signal_hook::flag::register(libc::SIGHUP, early).unwrap();
        let started = Instant::now();
        let end = run_within(
            &mut sh("while :; do kill -HUP $PPID; sleep 0.05; done"),
            Duration::from_secs(60),
            Duration::from_millis(10),
            &mut || {},
        );
        signal_hook::low_level::unregister(id);
        assert!(
            matches!(end, Err(RunError::Interrupted(libc::SIGHUP))),
            "{end:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(50));
    }
}
