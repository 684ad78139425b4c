//! setlock's file locks: flock(2) on a file that stays open, and inherited, for as long
//! as the program that holds the lock runs.

use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long to wait for a lock another process holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wait {
    /// Fail at once (`-n`).
    No,
    /// Until it is free (`-N`, the default).
    Forever,
    /// At most this long (`-t`).
    AtMost(Duration),
}

/// Why the lock was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockError {
    Open(Errno),
    /// The path is a symbolic link: not followed (a link planted in a directory others
    /// may write would make us create or lock a file of its choosing).
    Symlink,
    /// A FIFO, a device, a directory: locking it means nothing, and opening a FIFO
    /// could hang.
    NotRegular,
    /// Held by another process and `Wait::No`.
    Busy,
    /// Still held when `Wait::AtMost` ran out.
    TimedOut,
    Lock(Errno),
}

impl LockError {
    /// Another process holds the lock (as opposed to the file being unusable).
    pub fn is_busy(&self) -> bool {
        matches!(self, LockError::Busy | LockError::TimedOut)
    }
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Open(e) | LockError::Lock(e) => f.write_str(crate::diag::errstr(*e)),
            LockError::Symlink => f.write_str("is a symbolic link, not followed"),
            LockError::NotRegular => f.write_str("not a regular file"),
            LockError::Busy => f.write_str("temporary failure"),
            LockError::TimedOut => f.write_str("timed out: still locked by another process"),
        }
    }
}

/// setlock's failure on a file (as named): `unable to open FILE: WHY` when the file is
/// unusable, `unable to lock FILE: WHY` when the lock is not had. Its exit class is 111,
/// or `busy_code` (`-E`) when another process holds the lock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotLocked {
    pub file: PathBuf,
    pub error: LockError,
    pub busy_code: i32,
}

impl std::fmt::Display for NotLocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = match self.error {
            LockError::Open(_) | LockError::Symlink | LockError::NotRegular => "open",
            LockError::Busy | LockError::TimedOut | LockError::Lock(_) => "lock",
        };
        let file = self.file.to_string_lossy();
        write!(f, "unable to {verb} {file}: {}", self.error)
    }
}

impl crate::cli::Failure for NotLocked {
    fn exit_code(&self) -> i32 {
        if self.error.is_busy() {
            self.busy_code
        } else {
            crate::diag::EXIT_TEMP
        }
    }
}

/// setlock's `-E CODE`: the exit code when the lock is busy, 1 to 255. The error is the
/// line a usage error shows.
pub fn parse_busy_code(v: &OsStr) -> Result<i32, String> {
    v.to_string_lossy()
        .parse::<u8>()
        .ok()
        .filter(|c| *c > 0)
        .map(i32::from)
        .ok_or_else(|| format!("invalid exit code {v:?} (want 1 to 255)"))
}

/// Opens (creating it mode 0600, as daemontools does) and locks `path`. The returned
/// descriptor is deliberately not close-on-exec: the program exec'd next inherits it
/// and the lock lives exactly as long as that program.
///
/// Unlike daemontools' setlock, a symbolic link is not followed, and what is opened
/// must be a regular file: opened without blocking, a FIFO is refused at once instead
/// of hanging (daemontools fails on one too, with ENXIO, as it opens for writing).
pub fn acquire(path: &Path, shared: bool, wait: Wait) -> Result<OwnedFd, LockError> {
    let fd = match open(
        path,
        OFlag::O_RDONLY | OFlag::O_CREAT | OFlag::O_NOCTTY | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK,
        Mode::from_bits_truncate(0o600),
    ) {
        Ok(fd) => fd,
        Err(Errno::ELOOP) => return Err(LockError::Symlink),
        Err(e) => return Err(LockError::Open(e)),
    };
    let st = nix::sys::stat::fstat(&fd).map_err(LockError::Open)?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(LockError::NotRegular);
    }
    // The program inherits the descriptor: as an ordinary blocking one.
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))
        .map_err(LockError::Open)?;
    let op = if shared { libc::LOCK_SH } else { libc::LOCK_EX };
    let try_lock = |extra: libc::c_int| {
        // SAFETY: flock(2) on a descriptor we own; no memory is passed.
        let r = unsafe { libc::flock(fd.as_raw_fd(), op | extra) };
        if r == 0 { Ok(()) } else { Err(Errno::last()) }
    };
    match try_lock(libc::LOCK_NB) {
        Ok(()) => return Ok(fd),
        Err(Errno::EWOULDBLOCK) => {}
        Err(e) => return Err(LockError::Lock(e)),
    }
    match wait {
        Wait::No => Err(LockError::Busy),
        Wait::Forever => loop {
            match try_lock(0) {
                Ok(()) => return Ok(fd),
                Err(Errno::EINTR) => {}
                Err(e) => return Err(LockError::Lock(e)),
            }
        },
        Wait::AtMost(limit) => {
            let deadline = crate::units::deadline_after(Instant::now(), limit);
            let _alarm = AlarmClock::start(limit).map_err(LockError::Lock)?;
            loop {
                match try_lock(0) {
                    Ok(()) => return Ok(fd),
                    Err(Errno::EINTR) if Instant::now() >= deadline => {
                        return Err(LockError::TimedOut);
                    }
                    Err(Errno::EINTR) => {}
                    Err(e) => return Err(LockError::Lock(e)),
                }
            }
        }
    }
}

extern "C" fn interrupt(_: libc::c_int) {}

/// SIGALRM that interrupts a blocking flock(2) after a while, then every 100 ms in
/// case the first one came before the call. Stopped, and SIGALRM set back to its
/// default, on drop: an interval timer would survive exec.
struct AlarmClock;

impl AlarmClock {
    fn start(after: Duration) -> Result<Self, Errno> {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
        // No SA_RESTART: the point is to make flock return EINTR.
        let sa = SigAction::new(
            SigHandler::Handler(interrupt),
            SaFlags::empty(),
            SigSet::empty(),
        );
        // SAFETY: the handler does nothing, which is async-signal-safe.
        unsafe { sigaction(Signal::SIGALRM, &sa) }?;
        // A zero it_value would disarm the timer: wait at least a microsecond.
        let first = after.max(Duration::from_micros(1));
        set_timer(first, Duration::from_millis(100))?;
        Ok(AlarmClock)
    }
}

impl Drop for AlarmClock {
    fn drop(&mut self) {
        use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
        let _ = set_timer(Duration::ZERO, Duration::ZERO);
        let sa = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
        // SAFETY: restoring the default disposition installs no handler.
        let _ = unsafe { sigaction(Signal::SIGALRM, &sa) };
    }
}

/// `d` as a timeval, at most 2^31-1 s (68 years, longer than any deadline means):
/// what a 32-bit time_t holds, so the cast never wraps to a negative time.
fn timeval_of(d: Duration) -> libc::timeval {
    libc::timeval {
        tv_sec: d.as_secs().min(i32::MAX as u64) as _,
        tv_usec: d.subsec_micros() as _,
    }
}

fn set_timer(value: Duration, interval: Duration) -> Result<(), Errno> {
    let it = libc::itimerval {
        it_interval: timeval_of(interval),
        it_value: timeval_of(value),
    };
    // SAFETY: setitimer reads the itimerval we pass and writes nothing (old is NULL).
    let r = unsafe { libc::setitimer(libc::ITIMER_REAL, &it, std::ptr::null_mut()) };
    if r == 0 { Ok(()) } else { Err(Errno::last()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Failure;
    use std::os::unix::fs::PermissionsExt;

    /// A directory of the test's own, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str) -> Scratch {
            let p =
                std::env::temp_dir().join(format!("svkit-unit-lock-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Scratch(p)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_longest_wait_is_a_positive_time_on_every_time_t() {
        // setlock -t takes up to 36500 days; a 32-bit time_t wrapped that to a negative
        // number of seconds, and setitimer refused it.
        // Compared as text: the fields are i32 or i64 by target.
        let tv = timeval_of(Duration::from_secs(36_500 * 86_400));
        assert_eq!(tv.tv_sec.to_string(), i32::MAX.to_string());
        let tv = timeval_of(Duration::from_millis(1500));
        let fields = (tv.tv_sec.to_string(), tv.tv_usec.to_string());
        assert_eq!(fields, ("1".to_string(), "500000".to_string()));
    }

    #[test]
    fn creates_a_private_file_and_locks_it() {
        let d = Scratch::new("create");
        let path = d.0.join("lock");
        let fd = acquire(&path, false, Wait::No).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        // Inherited by the program exec'd next, and blocking as an ordinary descriptor.
        let fd_flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
        assert_eq!(fd_flags & libc::FD_CLOEXEC, 0);
        let fl = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFL).unwrap();
        assert_eq!(fl & libc::O_NONBLOCK, 0);
        // An existing file keeps its mode.
        drop(fd);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(acquire(&path, false, Wait::No).unwrap());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn exclusive_and_shared() {
        // flock(2) locks belong to open files: two opens in one process conflict as
        // two processes would.
        let d = Scratch::new("modes");
        let path = d.0.join("lock");
        let held = acquire(&path, false, Wait::No).unwrap();
        let busy = acquire(&path, false, Wait::No).unwrap_err();
        assert_eq!(busy, LockError::Busy);
        assert!(busy.is_busy());
        assert_eq!(busy.to_string(), "temporary failure");
        assert_eq!(acquire(&path, true, Wait::No).unwrap_err(), LockError::Busy);
        drop(held);
        let a = acquire(&path, true, Wait::No).unwrap();
        let b = acquire(&path, true, Wait::No).unwrap();
        assert_eq!(
            acquire(&path, false, Wait::No).unwrap_err(),
            LockError::Busy
        );
        drop((a, b));
        // Free again: -N takes it at once.
        drop(acquire(&path, false, Wait::Forever).unwrap());
    }

    #[test]
    fn what_is_not_a_regular_file_is_refused() {
        let d = Scratch::new("refused");
        let target = d.0.join("target");
        std::fs::write(&target, "").unwrap();
        let link = d.0.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        let e = acquire(&link, false, Wait::No).unwrap_err();
        assert_eq!(e, LockError::Symlink);
        assert!(!e.is_busy());
        assert_eq!(e.to_string(), "is a symbolic link, not followed");
        // A link to nowhere is not followed to create its target either.
        let dangling = d.0.join("dangling");
        std::os::unix::fs::symlink(d.0.join("nowhere"), &dangling).unwrap();
        assert_eq!(
            acquire(&dangling, false, Wait::No).unwrap_err(),
            LockError::Symlink
        );
        assert!(!d.0.join("nowhere").exists());
        // A FIFO nobody writes: refused at once, not hung in open.
        let fifo = d.0.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let e = acquire(&fifo, false, Wait::Forever).unwrap_err();
        assert_eq!(e, LockError::NotRegular);
        assert_eq!(e.to_string(), "not a regular file");
        // A directory: open(2) with O_CREAT refuses it before fstat could.
        assert_eq!(
            acquire(&d.0, false, Wait::No).unwrap_err(),
            LockError::Open(Errno::EISDIR)
        );
        let e = acquire(&d.0.join("no/such"), false, Wait::No).unwrap_err();
        assert_eq!(e, LockError::Open(Errno::ENOENT));
        assert!(!e.is_busy());
        assert_eq!(
            LockError::TimedOut.to_string(),
            "timed out: still locked by another process"
        );
        assert!(LockError::TimedOut.is_busy());
    }

    #[test]
    fn busy_codes() {
        assert_eq!(parse_busy_code(OsStr::new("1")), Ok(1));
        assert_eq!(parse_busy_code(OsStr::new("255")), Ok(255));
        for bad in ["0", "256", "-1", "x", ""] {
            assert_eq!(
                parse_busy_code(OsStr::new(bad)),
                Err(format!("invalid exit code {bad:?} (want 1 to 255)"))
            );
        }
    }

    #[test]
    fn setlock_messages_and_exit_classes() {
        let not_locked = |error| NotLocked {
            file: PathBuf::from("/var/lock/x"),
            error,
            busy_code: 3,
        };
        let e = not_locked(LockError::Busy);
        assert_eq!(
            e.to_string(),
            "unable to lock /var/lock/x: temporary failure"
        );
        assert_eq!(e.exit_code(), 3);
        let e = not_locked(LockError::TimedOut);
        assert_eq!(
            e.to_string(),
            "unable to lock /var/lock/x: timed out: still locked by another process"
        );
        assert_eq!(e.exit_code(), 3);
        let e = not_locked(LockError::Symlink);
        assert_eq!(
            e.to_string(),
            "unable to open /var/lock/x: is a symbolic link, not followed"
        );
        assert_eq!(e.exit_code(), 111);
        let e = not_locked(LockError::Open(Errno::EACCES));
        assert!(e.to_string().starts_with("unable to open /var/lock/x: "));
        assert_eq!(e.exit_code(), 111);
        let e = not_locked(LockError::Lock(Errno::ENOLCK));
        assert!(e.to_string().starts_with("unable to lock /var/lock/x: "));
        assert_eq!(e.exit_code(), 111);
        assert_eq!(not_locked(LockError::NotRegular).exit_code(), 111);
    }
}
