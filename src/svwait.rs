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

/// Every failure to wait is temporary (111): supervise may be back soon.
impl crate::cli::Failure for WaitError {}

struct Watched {
    name: PathBuf,
    dir: ServiceDir,
    /// Our FIFO in supervise/event, if the supervise has one.
    events: Option<crate::control::EventFifo>,
    /// A writer on supervise/ok: POLLERR once no supervise reads it.
    ok: OwnedFd,
}

impl Goal {
    /// Whether a service whose status is `st` is where this goal wants it.
    pub fn met_by(self, st: &Status) -> bool {
        use crate::status::Readiness;
        match self {
            Goal::Up => st.pid != 0,
            Goal::Ready => {
                st.pid != 0
                    && matches!(
                        st.ext.map(|e| e.readiness).unwrap_or_default(),
                        Readiness::Untracked | Readiness::Ready(_)
                    )
            }
            Goal::Down => st.pid == 0,
            Goal::Finished => st.pid == 0 && !st.ext.is_some_and(|e| e.finishing),
        }
    }
}

/// Whether `reached` of `total` services is enough: all of them, or with `any` one.
fn enough(reached: usize, total: usize, any: bool) -> bool {
    (any && reached > 0) || (!any && reached == total)
}

impl Watched {
    /// Starts watching the service `name`: its event FIFO, else inotify on its
    /// `supervise/` (made in `inotify` on first need), and a writer on its ok FIFO.
    fn new(name: PathBuf, inotify: &mut Option<Inotify>) -> Result<Watched, WaitError> {
        let dir = ServiceDir::new(&name);
        // Listen first, then look: a change between the two is not missed.
        let events = crate::control::EventFifo::listen(&dir)
            .map_err(|e| WaitError::Sys("listen for events of", name.clone(), e))?;
        if events.is_none() {
            if inotify.is_none() {
                *inotify = Some(
                    Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
                        .map_err(|e| WaitError::Sys("watch", name.clone(), e))?,
                );
            }
            if let Some(i) = inotify {
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
        Ok(Watched {
            name,
            dir,
            events,
            ok,
        })
    }

    /// Whether the service's current status meets `goal`.
    fn meets(&self, goal: Goal) -> Result<bool, WaitError> {
        let st = Status::read(&self.dir).map_err(|e| WaitError::Status(self.name.clone(), e))?;
        Ok(goal.met_by(&st))
    }
}

/// Whether enough of `watched` meet `goal` (see `enough`).
fn reached(watched: &[Watched], goal: Goal, any: bool) -> Result<bool, WaitError> {
    let mut met = 0;
    for w in watched {
        met += usize::from(w.meets(goal)?);
    }
    Ok(enough(met, watched.len(), any))
}

/// Sleeps until something changes or the deadline, then drains what woke us: the
/// index of a service whose supervise went away, if one did.
fn sleep_until_change(
    watched: &[Watched],
    inotify: Option<&Inotify>,
    deadline: Option<Instant>,
    now: Instant,
) -> Result<Option<usize>, WaitError> {
    // Per service: its ok writer (POLLERR when supervise goes), then its event FIFO.
    let mut fds: Vec<PollFd> = Vec::new();
    for w in watched {
        fds.push(PollFd::new(w.ok.as_fd(), PollFlags::empty()));
    }
    for w in watched {
        if let Some(e) = &w.events {
            fds.push(PollFd::new(e.fd.as_fd(), PollFlags::POLLIN));
        }
    }
    if let Some(i) = inotify {
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
    for w in watched {
        if let Some(e) = &w.events {
            e.drain();
        }
    }
    if let Some(i) = inotify {
        while i.read_events().is_ok_and(|ev| !ev.is_empty()) {}
    }
    Ok(gone)
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
        watched.push(Watched::new(name.as_ref().to_path_buf(), &mut inotify)?);
    }
    loop {
        if reached(&watched, goal, any)? {
            return Ok(Outcome::Reached);
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            return Ok(Outcome::TimedOut);
        }
        if let Some(i) = sleep_until_change(&watched, inotify.as_ref(), deadline, now)? {
            // Its last status may complete the wait (svc -dx: down, then exit);
            // otherwise it never will.
            return match reached(&watched, goal, any)? {
                true => Ok(Outcome::Reached),
                false => Err(WaitError::NotRunning(watched[i].name.clone())),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::{Extension, Readiness, Want};
    use crate::tai64::Tai64N;
    use std::os::unix::fs::OpenOptionsExt;

    /// A service directory that looks supervised: `supervise/ok` is a FIFO held open
    /// for reading by the returned file, and `supervise/status` says `status`.
    struct FakeService {
        dir: PathBuf,
        _ok: Option<std::fs::File>,
    }

    impl FakeService {
        fn new(tag: &str, status: &Status) -> FakeService {
            let dir = std::env::temp_dir()
                .join(format!("svkit-unit-svwait-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(dir.join("supervise")).unwrap();
            let ok = dir.join("supervise/ok");
            nix::unistd::mkfifo(&ok, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
            let held = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&ok)
                .unwrap();
            let s = FakeService {
                dir,
                _ok: Some(held),
            };
            s.status(status);
            s
        }

        fn status(&self, st: &Status) {
            std::fs::write(self.dir.join("supervise/status"), st.pack()).unwrap();
        }
    }

    impl Drop for FakeService {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn status(pid: u32, ext: Option<Extension>) -> Status {
        Status {
            changed: Tai64N::from_unix(1_790_000_000, 0),
            pid,
            paused: false,
            want: Want::Up,
            ext,
        }
    }

    fn ext(readiness: Readiness, finishing: bool) -> Option<Extension> {
        Some(Extension {
            readiness,
            finishing,
            ..Extension::default()
        })
    }

    /// The outcome of a wait that must not block: a zero timeout.
    fn now(dirs: &[&FakeService], goal: Goal, any: bool) -> Result<Outcome, WaitError> {
        let dirs: Vec<&Path> = dirs.iter().map(|s| s.dir.as_path()).collect();
        wait(&dirs, goal, any, Some(Duration::ZERO))
    }

    #[test]
    fn which_states_meet_which_goal() {
        let t = Tai64N::from_unix(1_790_000_000, 0);
        let goals = [Goal::Up, Goal::Ready, Goal::Down, Goal::Finished];
        // Each status, and for each goal in that order whether it is met.
        let cases = [
            (status(42, None), [true, true, false, false]),
            (
                status(42, ext(Readiness::Untracked, false)),
                [true, true, false, false],
            ),
            (
                status(42, ext(Readiness::Waiting, false)),
                [true, false, false, false],
            ),
            (
                status(42, ext(Readiness::Failing(t), false)),
                [true, false, false, false],
            ),
            (
                status(42, ext(Readiness::Ready(t), false)),
                [true, true, false, false],
            ),
            (status(0, None), [false, false, true, true]),
            (
                status(0, ext(Readiness::Untracked, true)),
                [false, false, true, false],
            ),
            // A stale readiness of a run that is gone does not make it up.
            (
                status(0, ext(Readiness::Ready(t), false)),
                [false, false, true, true],
            ),
        ];
        for (st, met) in cases {
            for (goal, want) in goals.iter().zip(met) {
                assert_eq!(goal.met_by(&st), want, "{goal:?} {st:?}");
            }
        }
    }

    #[test]
    fn all_or_any_counts() {
        assert!(enough(3, 3, false));
        assert!(!enough(2, 3, false));
        assert!(enough(1, 3, true));
        assert!(!enough(0, 3, true));
        // All of none: reached at once (svwait never asks; its usage wants a service).
        assert!(enough(0, 0, false));
    }

    #[test]
    fn goals_read_the_status() {
        let t = Tai64N::from_unix(1_790_000_000, 0);
        let up = FakeService::new("up", &status(42, None));
        assert_eq!(now(&[&up], Goal::Up, false), Ok(Outcome::Reached));
        // Without readiness tracking (daemontools' 18 bytes too), up is ready.
        assert_eq!(now(&[&up], Goal::Ready, false), Ok(Outcome::Reached));
        assert_eq!(now(&[&up], Goal::Down, false), Ok(Outcome::TimedOut));
        assert_eq!(now(&[&up], Goal::Finished, false), Ok(Outcome::TimedOut));
        up.status(&status(42, ext(Readiness::Waiting, false)));
        assert_eq!(now(&[&up], Goal::Up, false), Ok(Outcome::Reached));
        assert_eq!(now(&[&up], Goal::Ready, false), Ok(Outcome::TimedOut));
        up.status(&status(42, ext(Readiness::Failing(t), false)));
        assert_eq!(now(&[&up], Goal::Ready, false), Ok(Outcome::TimedOut));
        up.status(&status(42, ext(Readiness::Ready(t), false)));
        assert_eq!(now(&[&up], Goal::Ready, false), Ok(Outcome::Reached));

        let down = FakeService::new("down", &status(0, ext(Readiness::Untracked, true)));
        // Down, but ./finish still runs.
        assert_eq!(now(&[&down], Goal::Down, false), Ok(Outcome::Reached));
        assert_eq!(now(&[&down], Goal::Finished, false), Ok(Outcome::TimedOut));
        assert_eq!(now(&[&down], Goal::Up, false), Ok(Outcome::TimedOut));
        down.status(&status(0, None));
        assert_eq!(now(&[&down], Goal::Finished, false), Ok(Outcome::Reached));
    }

    #[test]
    fn all_or_any() {
        let a = FakeService::new("any-a", &status(7, None));
        let b = FakeService::new("any-b", &status(0, None));
        assert_eq!(now(&[&a, &b], Goal::Up, false), Ok(Outcome::TimedOut));
        assert_eq!(now(&[&a, &b], Goal::Up, true), Ok(Outcome::Reached));
        assert_eq!(now(&[&a, &b], Goal::Down, true), Ok(Outcome::Reached));
        b.status(&status(8, None));
        assert_eq!(now(&[&a, &b], Goal::Up, false), Ok(Outcome::Reached));
        assert_eq!(now(&[&a, &b], Goal::Down, true), Ok(Outcome::TimedOut));
    }

    #[test]
    fn a_service_nobody_supervises_is_an_error() {
        let mut s = FakeService::new("gone", &status(0, None));
        // No reader on supervise/ok: no supervise.
        s._ok = None;
        assert_eq!(
            now(&[&s], Goal::Down, false),
            Err(WaitError::NotRunning(s.dir.clone()))
        );
        let missing = s.dir.join("missing");
        assert_eq!(
            wait(&[&missing], Goal::Up, false, None),
            Err(WaitError::NotRunning(missing.clone()))
        );
        assert_eq!(
            WaitError::NotRunning(PathBuf::from("/service/web")).to_string(),
            "unable to wait for /service/web: supervise not running"
        );
    }

    #[test]
    fn a_status_no_supervise_writes_is_an_error() {
        let s = FakeService::new("bad", &status(0, None));
        std::fs::write(s.dir.join("supervise/status"), b"short").unwrap();
        assert_eq!(
            now(&[&s], Goal::Up, false),
            Err(WaitError::Status(s.dir.clone(), StatusError::BadFormat))
        );
        assert_eq!(
            WaitError::Status(PathBuf::from("/service/web"), StatusError::BadFormat).to_string(),
            "unable to read /service/web/supervise/status: bad format"
        );
    }

    #[test]
    fn a_supervise_that_goes_away_ends_the_wait() {
        let mut s = FakeService::new("leaves", &status(0, None));
        let dir = s.dir.clone();
        let waiter = std::thread::spawn(move || wait(&[&dir], Goal::Up, false, None));
        // Whether the waiter holds ok before or after the reader closes, it fails:
        // NotRunning at its start, or POLLERR while it waits.
        s._ok = None;
        assert_eq!(
            waiter.join().unwrap(),
            Err(WaitError::NotRunning(s.dir.clone()))
        );
    }
}
