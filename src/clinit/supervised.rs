//! Driving the supervise of clinit's service directories: waiting for it to appear,
//! sending it commands, waiting for up or down, stopping gracefully (INT, TERM, KILL).

use super::{Clinit, ClinitError, PROG, Result};
use crate::control::{Sent, is_supervised, send};
use crate::diag::warn;
use crate::service_dir::SUPERVISE;
use crate::svwait::{Goal, Outcome, wait};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::Path;
use std::time::{Duration, Instant};

impl Clinit {
    /// Waits until a supervise runs in each directory (svscan starts them; ours at
    /// once through inotify, daemontools' at its next 5 s scan). Only directories
    /// something happened in are looked at again, so a hundred new entries cost a
    /// hundred looks, not ten thousand.
    pub(super) fn wait_supervised(&self, names: &[String]) -> Result<()> {
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
        let mut watch = DirWatch::new(names.len());
        let mut pending = vec![true; names.len()];
        let mut look: Vec<usize> = (0..names.len()).collect();
        for (i, n) in names.iter().enumerate() {
            watch.add(&self.scan.join(n), i);
        }
        loop {
            // Watch first, then look: nothing between the two is missed.
            for &i in &look {
                watch.add_supervise(&self.scan.join(names[i]).join(SUPERVISE), i);
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
                return Err(ClinitError::NoSupervise {
                    dir: self.scan.join(names[first]),
                    timeout: self.timeout,
                    scan: self.scan.clone(),
                });
            }
            look = match watch.wait(deadline, now) {
                Some(touched) => touched,
                None => (0..names.len()).filter(|i| pending[*i]).collect(),
            };
        }
    }

    pub(super) fn control(&self, name: &str, cmds: &[u8]) -> Result<()> {
        let dir = self.dir(name);
        match send(&dir, cmds) {
            Ok(Sent::Delivered) => Ok(()),
            Ok(Sent::NoSupervisor) | Err(Errno::ENOENT) => {
                Err(ClinitError::SuperviseNotRunning(dir.path().to_path_buf()))
            }
            Err(e) => Err(ClinitError::errno("control", dir.path())(e)),
        }
    }

    pub(super) fn wait_goal(&self, names: &[String], goal: Goal, limit: Duration) -> Result<bool> {
        if names.is_empty() {
            return Ok(true);
        }
        match wait(&self.dirs(names), goal, false, Some(limit)) {
            Ok(Outcome::Reached) => Ok(true),
            Ok(Outcome::TimedOut) => Ok(false),
            Err(e) => Err(ClinitError::Wait(e)),
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
            Err(e) => return Err(ClinitError::Wait(e)),
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

/// The directories `wait_supervised` waits in, and their `supervise/`, watched through
/// inotify for what makes a supervise appear, each watch knowing its directory's index.
/// Without inotify (the user's instances all taken, say), it only keeps time.
struct DirWatch {
    inotify: Option<Inotify>,
    owner: HashMap<WatchDescriptor, usize>,
    supervise_watched: Vec<bool>,
}

impl DirWatch {
    const FLAGS: AddWatchFlags = AddWatchFlags::IN_CREATE
        .union(AddWatchFlags::IN_MOVED_TO)
        .union(AddWatchFlags::IN_OPEN)
        .union(AddWatchFlags::IN_CLOSE_WRITE);

    fn new(dirs: usize) -> DirWatch {
        DirWatch {
            inotify: Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok(),
            owner: HashMap::new(),
            supervise_watched: vec![false; dirs],
        }
    }

    /// Watches `path` for directory `i`; whether it could.
    fn add(&mut self, path: &Path, i: usize) -> bool {
        let watch = self
            .inotify
            .as_ref()
            .and_then(|n| n.add_watch(path, Self::FLAGS).ok());
        if let Some(w) = watch {
            self.owner.insert(w, i);
        }
        watch.is_some()
    }

    /// Watches directory `i`'s `supervise/` once it is there.
    fn add_supervise(&mut self, path: &Path, i: usize) {
        if !self.supervise_watched[i] && self.add(path, i) {
            self.supervise_watched[i] = true;
        }
    }

    /// Waits for an event, at most until a tick a second from `now` (a tenth of a
    /// second without inotify) or `deadline`: the directories something happened in,
    /// or None for "look at all of them" (in case a watch missed something).
    fn wait(&self, deadline: Instant, now: Instant) -> Option<Vec<usize>> {
        let every = match self.inotify {
            Some(_) => Duration::from_secs(1),
            None => Duration::from_millis(100),
        };
        let tick = deadline.min(now + every);
        let Some(inotify) = &self.inotify else {
            std::thread::sleep(tick.saturating_duration_since(now));
            return None;
        };
        let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
        let timeout = crate::wakeup::timeout_until(Some(tick), now);
        if !matches!(nix::poll::poll(&mut fds, timeout), Ok(n) if n > 0) {
            return None;
        }
        let mut touched = Vec::new();
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            touched.extend(events.iter().filter_map(|e| self.owner.get(&e.wd).copied()));
        }
        touched.sort_unstable();
        touched.dedup();
        Some(touched)
    }
}
