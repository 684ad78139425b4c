//! svwait: blocking until services are up, ready, down or finished, woken by a FIFO of
//! its own in each `supervise/event` directory (supervise writes a byte to every one on
//! each change), or by inotify on `supervise/` where the supervise has no event
//! directory (daemontools'), and by poll's POLLERR on the `supervise/ok` FIFO held open
//! for writing, which comes when the supervise reading it exits. No timer runs but the
//! caller's deadline.

use crate::diag::errstr;
use crate::service_dir::{SUPERVISE, ServiceDir};
use crate::status::{Status, StatusError};
use crate::wakeup::timeout_until;
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
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

/// Why waiting is impossible, with the service concerned (as the caller named it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WaitError {
    NotRunning(PathBuf),
    /// Its `supervise/status` could not be read or is not what a supervise writes.
    Status(PathBuf, StatusError),
    /// A system call failed: what was being done, to which service.
    Sys(&'static str, PathBuf, Errno),
    Poll(Errno),
}

impl std::fmt::Display for WaitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WaitError::NotRunning(d) => {
                write!(
                    f,
                    "unable to wait for {}: supervise not running",
                    d.display()
                )
            }
            WaitError::Status(d, e) => write!(
                f,
                "unable to read {}: {e}",
                d.join(crate::service_dir::STATUS).display()
            ),
            WaitError::Sys(what, d, e) => {
                write!(f, "unable to {what} {}: {}", d.display(), errstr(*e))
            }
            WaitError::Poll(e) => write!(f, "unable to poll: {}", errstr(*e)),
        }
    }
}

struct Watched {
    name: PathBuf,
    dir: ServiceDir,
    /// Our FIFO in supervise/event, if the supervise has one.
    events: Option<crate::control::EventFifo>,
    /// A writer on supervise/ok: POLLERR once no supervise reads it.
    ok: OwnedFd,
}

/// Whether the service's current status meets `goal`.
fn meets(w: &Watched, goal: Goal) -> Result<bool, WaitError> {
    let st = Status::read(&w.dir).map_err(|e| WaitError::Status(w.name.clone(), e))?;
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
pub fn wait<P: AsRef<Path>>(
    dirs: &[P],
    goal: Goal,
    any: bool,
    timeout: Option<Duration>,
) -> Result<Outcome, WaitError> {
    let deadline = timeout.map(|t| crate::units::deadline_after(Instant::now(), t));
    // Only made if some supervise has no event directory: closing an inotify instance
    // costs the kernel milliseconds, which a waiter's caller would wait for.
    let mut inotify: Option<Inotify> = None;
    let mut watched = Vec::new();
    for name in dirs {
        let name = name.as_ref().to_path_buf();
        let dir = ServiceDir::new(&name);
        // Listen first, then look: a change between the two is not missed.
        let events = crate::control::EventFifo::listen(&dir)
            .map_err(|e| WaitError::Sys("listen for events of", name.clone(), e))?;
        if events.is_none() {
            if inotify.is_none() {
                inotify = Some(
                    Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
                        .map_err(|e| WaitError::Sys("watch", name.clone(), e))?,
                );
            }
            if let Some(i) = &inotify {
                i.add_watch(
                    &dir.file(SUPERVISE),
                    AddWatchFlags::IN_MOVED_TO | AddWatchFlags::IN_CLOSE_WRITE,
                )
                .map_err(|e| match e {
                    Errno::ENOENT => WaitError::NotRunning(name.clone()),
                    e => WaitError::Sys("watch", name.clone(), e),
                })?;
            }
        }
        let ok = match crate::control::hold_ok(&dir) {
            Ok(Some(ok)) => ok,
            Ok(None) | Err(Errno::ENOENT) => return Err(WaitError::NotRunning(name.clone())),
            Err(e) => return Err(WaitError::Sys("open supervise/ok of", name, e)),
        };
        watched.push(Watched {
            name,
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
            Err(e) => return Err(WaitError::Poll(e)),
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
