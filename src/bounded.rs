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
        use std::os::unix::process::ExitStatusExt;
        match (st.code(), st.signal()) {
            (Some(c), _) => Ending::Exited(c),
            (None, Some(s)) => Ending::Signaled(s),
            (None, None) => Ending::Exited(-1),
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

/// Runs `cmd` until it exits or `limit` passes, calling `tick` every `tick_every`
/// while it runs. The command gets a process group of its own, so the terminal's ^C
/// does not reach it: an INT, TERM or HUP that reaches us instead KILLs its group and
/// then ends us as that signal would have.
pub fn run(
    cmd: &mut Command,
    limit: Duration,
    tick_every: Duration,
    tick: &mut dyn FnMut(),
) -> std::io::Result<Ending> {
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
        // SAFETY: killpg on the group the command leads; no memory is involved.
        unsafe { libc::killpg(pid, libc::SIGKILL) };
    };
    let end = loop {
        let sig = caught.load(std::sync::atomic::Ordering::SeqCst);
        if sig != 0 {
            kill_group();
            let _ = child.wait();
            let _ = signal_hook::low_level::emulate_default_handler(sig as i32);
            std::process::exit(128 + sig as i32);
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
                let ms = u16::try_from(slice.as_millis()).unwrap_or(u16::MAX);
                let _ = nix::poll::poll(&mut fds, ms);
            }
            // No pidfd (a kernel before 5.3): look again at each tick.
            Err(_) => std::thread::sleep(slice),
        }
        match child.try_wait() {
            Ok(Some(st)) => break Ok(Ending::from(st)),
            Ok(None) => tick(),
            Err(e) => break Err(e),
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

    fn sh(script: &str) -> Command {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn endings() {
        let mut ticks = 0;
        let t = Duration::from_secs(20);
        let tick = Duration::from_millis(10);
        assert_eq!(
            run(&mut sh("exit 3"), t, tick, &mut || ticks += 1).unwrap(),
            Ending::Exited(3)
        );
        assert_eq!(
            run(&mut sh("kill -9 $$"), t, tick, &mut || {}).unwrap(),
            Ending::Signaled(9)
        );
        let started = Instant::now();
        let end = run(
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
}
