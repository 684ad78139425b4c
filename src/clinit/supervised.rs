//! Driving the supervise of clinit's service directories: waiting for it to appear,
//! sending it commands, waiting for up or down, stopping gracefully (INT, TERM, KILL).

use super::{Clinit, ClinitError, PROG, Result};
use crate::control::{Sent, is_supervised, send};
use crate::diag::{errstr, warn};
use crate::service_dir::SUPERVISE;
use crate::svwait::{Goal, Outcome, wait};
use nix::errno::Errno;
use std::path::Path;
use std::time::{Duration, Instant};

impl Clinit {
    /// Waits until a supervise runs in each directory (svscan starts them; ours at
    /// once through inotify, daemontools' at its next 5 s scan). Only directories
    /// something happened in are looked at again, so a hundred new entries cost a
    /// hundred looks, not ten thousand.
    pub(super) fn wait_supervised(&self, names: &[String]) -> Result<()> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        use std::collections::HashMap;
        // The usual case, every supervise there already, needs no inotify instance
        // (whose set-up and teardown cost milliseconds on every switch).
        let names: Vec<&String> = names
            .iter()
            .filter(|n| !matches!(is_supervised(&self.dir(n)), Ok(true)))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let deadline = crate::units::deadline_after(Instant::now(), self.timeout);
        // Without inotify (the user's instances all taken, say), look ten times a second.
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
        let add_watch =
            |path: &Path, flags| inotify.as_ref().and_then(|i| i.add_watch(path, flags).ok());
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_OPEN
            | AddWatchFlags::IN_CLOSE_WRITE;
        let mut owner = HashMap::new();
        let mut sub_watched = vec![false; names.len()];
        let mut pending = vec![true; names.len()];
        let mut look: Vec<usize> = (0..names.len()).collect();
        for (i, n) in names.iter().enumerate() {
            if let Some(w) = add_watch(&self.scan.join(n), flags) {
                owner.insert(w, i);
            }
        }
        loop {
            // Watch first, then look: nothing between the two is missed.
            for &i in &look {
                if !sub_watched[i]
                    && let Some(w) = add_watch(&self.scan.join(names[i]).join(SUPERVISE), flags)
                {
                    owner.insert(w, i);
                    sub_watched[i] = true;
                }
            }
            for &i in &look {
                if pending[i] && matches!(is_supervised(&self.dir(names[i])), Ok(true)) {
                    pending[i] = false;
                }
            }
            let Some(first) = pending.iter().position(|p| *p) else {
                return Ok(());
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(ClinitError::Temporary(format!(
                    "no supervise in {} after {}: is svscan running on {}?",
                    self.scan.join(names[first]).display(),
                    crate::units::format_duration(self.timeout),
                    self.scan.display()
                )));
            }
            // Also look at all of them every second, in case a watch missed something.
            let every = match inotify {
                Some(_) => Duration::from_secs(1),
                None => Duration::from_millis(100),
            };
            let tick = deadline.min(now + every);
            let woke = match &inotify {
                Some(i) => {
                    let mut fds = [nix::poll::PollFd::new(
                        std::os::fd::AsFd::as_fd(i),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    matches!(
                        nix::poll::poll(&mut fds, crate::wakeup::timeout_until(Some(tick), now)),
                        Ok(n) if n > 0
                    )
                }
                None => {
                    std::thread::sleep(tick.saturating_duration_since(now));
                    false
                }
            };
            look.clear();
            if let (true, Some(i)) = (woke, &inotify) {
                while let Ok(events) = i.read_events() {
                    if events.is_empty() {
                        break;
                    }
                    look.extend(events.iter().filter_map(|e| owner.get(&e.wd).copied()));
                }
                look.sort_unstable();
                look.dedup();
            } else {
                look = (0..names.len()).filter(|i| pending[*i]).collect();
            }
        }
    }

    pub(super) fn control(&self, name: &str, cmds: &[u8]) -> Result<()> {
        let dir = self.dir(name);
        match send(&dir, cmds) {
            Ok(Sent::Delivered) => Ok(()),
            Ok(Sent::NoSupervisor) | Err(Errno::ENOENT) => Err(ClinitError::Temporary(format!(
                "unable to control {}: supervise not running",
                dir.path().display()
            ))),
            Err(e) => Err(ClinitError::Temporary(format!(
                "unable to control {}: {}",
                dir.path().display(),
                errstr(e)
            ))),
        }
    }

    pub(super) fn wait_goal(&self, names: &[String], goal: Goal, limit: Duration) -> Result<bool> {
        if names.is_empty() {
            return Ok(true);
        }
        match wait(&self.dirs(names), goal, false, Some(limit)) {
            Ok(Outcome::Reached) => Ok(true),
            Ok(Outcome::TimedOut) => Ok(false),
            Err(e) => Err(ClinitError::Temporary(e.to_string())),
        }
    }

    pub(super) fn is_up(&self, name: &str) -> bool {
        self.pid(name) != 0
    }

    /// Stops entries gracefully, all at once: down (INT, their down-signal), then TERM,
    /// then KILL, a stop interval apart. Returns those still up after all that.
    pub(super) fn stop(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let interval = self.tab.stop_interval;
        for n in names {
            self.control(n, b"d")?;
        }
        for next in [Some(b't'), Some(b'k'), None] {
            if self.wait_goal(names, Goal::Down, interval)? {
                return Ok(Vec::new());
            }
            let up: Vec<String> = names.iter().filter(|n| self.is_up(n)).cloned().collect();
            match next {
                Some(c) => {
                    for n in &up {
                        self.control(n, &[c])?;
                    }
                }
                None => return Ok(up),
            }
        }
        Ok(Vec::new())
    }

    /// Whether every entry, up now, is still the same process after the settle time;
    /// the ones that are not are named.
    pub(super) fn settled(&self, names: &[String]) -> Result<bool> {
        let pids: Vec<u32> = names.iter().map(|n| self.pid(n)).collect();
        // Waits the whole settle time unless one goes down sooner.
        match wait(&self.dirs(names), Goal::Down, true, Some(self.settle)) {
            Ok(_) => {}
            Err(e) => return Err(ClinitError::Temporary(e.to_string())),
        }
        let mut ok = true;
        for (n, pid) in names.iter().zip(pids) {
            // 0: it was gone already when the settle time began.
            if pid == 0 || self.pid(n) != pid {
                let t = crate::units::format_duration(self.settle);
                warn(PROG, &format!("{n}: did not stay up for {t}"));
                ok = false;
            }
        }
        Ok(ok)
    }

    fn pid(&self, name: &str) -> u32 {
        crate::status::Status::read(&self.dir(name)).map_or(0, |s| s.pid)
    }
}
