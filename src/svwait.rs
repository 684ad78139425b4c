//! svwait: blocking until services are up, ready, down or finished, woken by a FIFO of
//! its own in each `supervise/event` directory (supervise writes a byte to every one on
//! each change), or by inotify on `supervise/` where the supervise has no event
//! directory (daemontools'), and by poll's POLLERR on the `supervise/ok` FIFO held open
//! for writing, which comes when the supervise reading it exits. No timer runs but the
//! caller's deadline.

use crate::service_dir::{SUPERVISE, ServiceDir};
use crate::status::Status;
use crate::wakeup::timeout_until;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

/// What to wait for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// `-u`: run is running.
    Up,
    /// `-U`: run is running and ready (a service without check or notification-fd is
    /// ready once up, as in daemontools).
    Ready,
    /// `-d`: run is not running.
    Down,
    /// `-D`: run is not running and `./finish` is done.
    Finished,
}

/// How the wait ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Reached,
    TimedOut,
}

/// Why waiting is impossible, with the service concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitError {
    NotRunning(String),
    Sys(String, &'static str, Errno),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::NotRunning(d) => write!(f, "unable to wait for {d}: supervise not running"),
            WaitError::Sys(d, what, e) => {
                write!(f, "unable to {what} {d}: {}", crate::diag::errstr(*e))
            }
        }
    }
}

struct Watched {
    name: String,
    dir: ServiceDir,
    /// Our FIFO in supervise/event, if the supervise has one.
    events: Option<crate::control::EventFifo>,
    /// A writer on supervise/ok: POLLERR once no supervise reads it.
    ok: OwnedFd,
}

/// Whether the service's current status meets `goal`.
fn meets(w: &Watched, goal: Goal) -> Result<bool, WaitError> {
    let st = Status::read(&w.dir).map_err(|e| match e {
        crate::status::StatusError::Io(e) => WaitError::Sys(w.name.clone(), "read status of", e),
        crate::status::StatusError::BadFormat => {
            WaitError::Sys(w.name.clone(), "read status of", Errno::EPROTO)
        }
    })?;
    Ok(match goal {
        Goal::Up => st.pid != 0,
        Goal::Ready => {
            use crate::status::Readiness;
            st.pid != 0
                && matches!(
                    st.ext.map(|e| e.readiness).unwrap_or_default(),
                    Readiness::Untracked | Readiness::Ready(_)
                )
        }
        Goal::Down => st.pid == 0,
        Goal::Finished => st.pid == 0 && !st.ext.is_some_and(|e| e.finishing),
    })
}

/// Waits until all (or, with `any`, one) of `dirs` meet `goal`, or `timeout` passes.
pub fn wait(
    dirs: &[String],
    goal: Goal,
    any: bool,
    timeout: Option<Duration>,
) -> Result<Outcome, WaitError> {
    let deadline = timeout.map(|t| Instant::now() + t);
    // Only made if some supervise has no event directory: closing an inotify instance
    // costs the kernel milliseconds, which a waiter's caller would wait for.
    let mut inotify: Option<Inotify> = None;
    let mut watched = Vec::new();
    for name in dirs {
        let dir = ServiceDir::new(name);
        // Listen first, then look: a change between the two is not missed.
        let events = crate::control::EventFifo::listen(&dir)
            .map_err(|e| WaitError::Sys(name.clone(), "listen for events of", e))?;
        if events.is_none() {
            if inotify.is_none() {
                inotify = Some(
                    Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
                        .map_err(|e| WaitError::Sys(String::new(), "watch", e))?,
                );
            }
            if let Some(i) = &inotify {
                i.add_watch(
                    &dir.file(SUPERVISE),
                    AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
                )
                .map_err(|e| match e {
                    Errno::ENOENT => WaitError::NotRunning(name.clone()),
                    e => WaitError::Sys(name.clone(), "watch", e),
                })?;
            }
        }
        let ok = match crate::control::hold_ok(&dir) {
            Ok(Some(ok)) => ok,
            Ok(None) | Err(Errno::ENOENT) => return Err(WaitError::NotRunning(name.clone())),
            Err(e) => return Err(WaitError::Sys(name.clone(), "open supervise/ok of", e)),
        };
        watched.push(Watched {
            name: name.clone(),
            dir,
            events,
            ok,
        });
    }
    let done = |watched: &[Watched]| -> Result<bool, WaitError> {
        let mut reached = 0;
        for w in watched {
            reached += usize::from(meets(w, goal)?);
        }
        Ok((any && reached > 0) || (!any && reached == watched.len()))
    };
    loop {
        if done(&watched)? {
            return Ok(Outcome::Reached);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(Outcome::TimedOut);
        }
        // Per service: its ok writer (POLLERR when supervise goes), then its event FIFO.
        let mut fds: Vec<PollFd> = Vec::new();
        for w in &watched {
            fds.push(PollFd::new(w.ok.as_fd(), PollFlags::empty()));
        }
        for w in &watched {
            if let Some(e) = &w.events {
                fds.push(PollFd::new(e.fd.as_fd(), PollFlags::POLLIN));
            }
        }
        if let Some(i) = &inotify {
            fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, timeout_until(deadline, now)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(WaitError::Sys(String::new(), "poll for", e)),
        }
        let gone = fds[..watched.len()].iter().position(|f| {
            f.revents()
                .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP))
        });
        drop(fds);
        for w in &watched {
            if let Some(e) = &w.events {
                e.drain();
            }
        }
        if let Some(i) = &inotify {
            while i.read_events().is_ok_and(|ev| !ev.is_empty()) {}
        }
        if let Some(i) = gone {
            // Its last status may complete the wait (svc -dx: down, then exit);
            // otherwise it never will.
            return match done(&watched)? {
                true => Ok(Outcome::Reached),
                false => Err(WaitError::NotRunning(watched[i].name.clone())),
            };
        }
    }
}
