//! The service directory: where `run`, `down`, `log` and the `supervise/` files live.

use nix::errno::Errno;
use nix::fcntl::{OFlag, open, openat};
use nix::sys::stat::Mode;
use std::ffi::OsStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

pub const RUN: &str = "run";
pub const DOWN: &str = "down";
pub const LOG: &str = "log";
pub const SUPERVISE: &str = "supervise";
pub const STATUS: &str = "supervise/status";
pub const STATUS_NEW: &str = "supervise/status.new";
pub const CONTROL: &str = "supervise/control";
pub const OK: &str = "supervise/ok";
pub const LOCK: &str = "supervise/lock";
pub const PID: &str = "supervise/pid";
/// Waiters' FIFOs: supervise writes a byte to each on every status change.
pub const EVENT: &str = "supervise/event";
pub const DOWN_SIGNAL: &str = "down-signal";
pub const FINISH: &str = "finish";
pub const RESTART: &str = "restart";
/// daemontools-encore's "exit 100 means do not restart", where the service asks for it.
pub const DOWN_ON_100: &str = "down-on-100";
pub const NOTIFY: &str = "notify";
pub const CHECK: &str = "check";
pub const CHECK_INTERVAL: &str = "check-interval";
pub const CHECK_TIMEOUT: &str = "check-timeout";
pub const NOTIFICATION_FD: &str = "notification-fd";
/// Asks supervise for an sd_notify socket (`NOTIFY_SOCKET`) for readiness.
pub const NOTIFY_SOCKET: &str = "notify-socket";
pub const TIMEOUT_FINISH: &str = "timeout-finish";
pub const TIMEOUT_KILL: &str = "timeout-kill";
/// Marks the tree's main service: run once, and svscan exits with its exit code.
pub const MAIN: &str = "main";

/// The `supervise/` files by their names inside it: supervise works relative to the
/// directory's descriptor, never through a path another account could redirect.
pub mod in_supervise {
    pub const STATUS: &str = "status";
    pub const STATUS_NEW: &str = "status.new";
    pub const CONTROL: &str = "control";
    pub const OK: &str = "ok";
    pub const LOCK: &str = "lock";
    pub const EVENT: &str = "event";
    /// runit's: the pid of the service and a newline while up, empty while down.
    pub const PID: &str = "pid";
    pub const PID_NEW: &str = "pid.new";
    /// The last `STATUS=` text a service sent to its notify-socket, and a newline.
    pub const NOTIFY_STATUS: &str = "notify-status";
    pub const NOTIFY_STATUS_NEW: &str = "notify-status.new";
}

/// Why a small file (a setting, an envdir variable) could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallFileError {
    Io(Errno),
    /// It is a symbolic link: these files are read without following one.
    Symlink,
    /// A FIFO, a device, a directory: nothing an operator writes settings in.
    NotRegular,
    /// Longer than the limit (for a first line: no newline within it).
    TooLarge(usize),
}

impl std::fmt::Display for SmallFileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SmallFileError::Io(e) => f.write_str(crate::diag::errstr(*e)),
            SmallFileError::Symlink => f.write_str("is a symbolic link, not followed"),
            SmallFileError::NotRegular => f.write_str("not a regular file"),
            SmallFileError::TooLarge(n) => write!(f, "longer than {n} bytes"),
        }
    }
}

/// How much of a small file to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extent {
    /// All of it, which must be at most this many bytes.
    Whole(usize),
    /// Up to and with its first newline (all of it if it has none), which must come
    /// within this many bytes; the rest is never read.
    FirstLine(usize),
}

/// Whether a symbolic link is followed to the file it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Links {
    /// Settings of a service directory: supervise renames or writes none of them, and
    /// a link out of a directory someone else may write is not read as root.
    Refuse,
    /// envdir's variables, as daemontools' envdir reads them (whoever writes that
    /// directory chooses the child's environment anyway).
    Follow,
}

/// Reads the file `name` of the directory `dir` (an open directory, or `AT_FDCWD`)
/// safely, whoever may write that directory: opened without blocking (a FIFO neither
/// hangs nor is read) and, with `Links::Refuse`, without following a symbolic link;
/// refused unless it is a regular file; read no further than `extent` allows (a huge
/// file or one that never ends costs no memory). `Ok(None)` when there is no such file.
pub fn read_small_file(
    dir: impl AsFd,
    name: &OsStr,
    extent: Extent,
    links: Links,
) -> Result<Option<Vec<u8>>, SmallFileError> {
    let Some(fd) = open_regular(dir, name, links)? else {
        return Ok(None);
    };
    let (limit, line) = match extent {
        Extent::Whole(n) => (n, false),
        Extent::FirstLine(n) => (n, true),
    };
    // One byte past the limit tells a file that is too long from one that fits.
    let want = limit.saturating_add(1);
    // Read straight into the result, which doubles from 64 bytes: settings files are a
    // few bytes, and supervise reads them at every start (no stack page for a buffer).
    let mut buf = Vec::new();
    while buf.len() < want {
        let len = buf.len();
        let room = (want - len).min(len.max(64));
        buf.resize(len + room, 0);
        match nix::unistd::read(&fd, &mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                break;
            }
            Ok(k) => {
                buf.truncate(len + k);
                if line && buf[len..].contains(&b'\n') {
                    break;
                }
            }
            Err(Errno::EINTR) => buf.truncate(len),
            Err(e) => return Err(SmallFileError::Io(e)),
        }
    }
    if line && let Some(i) = buf.iter().position(|&b| b == b'\n') {
        buf.truncate(i + 1);
    }
    if buf.len() > limit {
        return Err(SmallFileError::TooLarge(limit));
    }
    Ok(Some(buf))
}

/// Opens `name` in `dir` without blocking, following a symbolic link only with
/// `Links::Follow`, and checks it is a regular file; `Ok(None)` when there is none.
fn open_regular(
    dir: impl AsFd,
    name: &OsStr,
    links: Links,
) -> Result<Option<OwnedFd>, SmallFileError> {
    let nofollow = match links {
        Links::Refuse => OFlag::O_NOFOLLOW,
        Links::Follow => OFlag::empty(),
    };
    let name = crate::diag::c_name(name).map_err(SmallFileError::Io)?;
    let fd = match openat(
        dir,
        name.as_c_str(),
        OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC | nofollow,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) if links == Links::Refuse => return Err(SmallFileError::Symlink),
        Err(e) => return Err(SmallFileError::Io(e)),
    };
    let st = nix::sys::stat::fstat(&fd).map_err(SmallFileError::Io)?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => {}
        // What read(2) would say, as daemontools' envdir says it.
        libc::S_IFDIR => return Err(SmallFileError::Io(Errno::EISDIR)),
        _ => return Err(SmallFileError::NotRegular),
    }
    Ok(Some(fd))
}

/// A service named on the command line: a path, or a bare name under `$SVDIR`
/// (default `/service`). Names are bytes, kept as given.
pub fn resolve(arg: &OsStr, svdir: Option<&OsStr>) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    if arg.as_bytes().contains(&b'/') || arg == "." || arg == ".." {
        PathBuf::from(arg)
    } else {
        Path::new(
            svdir
                .filter(|s| !s.is_empty())
                .unwrap_or("/service".as_ref()),
        )
        .join(arg)
    }
}

/// As `resolve`, for the daemontools tools (svc, svstat, svok, svwait), whose
/// argument has always been a directory relative to the current one: a name that is
/// a directory there stays itself (`svc -u .`, `cd /service; svc -u squid`), any
/// other bare name is looked up under `$SVDIR`.
pub fn lookup(arg: &OsStr, svdir: Option<&OsStr>) -> PathBuf {
    if Path::new(arg).is_dir() {
        PathBuf::from(arg)
    } else {
        resolve(arg, svdir)
    }
}

/// `lookup` with `$SVDIR` from the environment.
pub fn lookup_env(arg: &OsStr) -> PathBuf {
    lookup(arg, std::env::var_os("SVDIR").as_deref())
}

/// A path to a service directory, as the operator named it.
#[derive(Clone, Debug)]
pub struct ServiceDir {
    path: PathBuf,
}

impl ServiceDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ServiceDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of a file inside the directory (one of this module's constants).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// What daemontools' `chdir(dir)` would say: Ok for a directory one can enter.
    pub fn check(&self) -> Result<(), Errno> {
        let st = nix::sys::stat::stat(&self.path)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        nix::unistd::access(&self.path, nix::unistd::AccessFlags::X_OK)
    }

    /// The directory itself, open for `*at` calls (it may be a symbolic link, as
    /// `/service/NAME` often is; what is inside it is looked at without following any).
    pub fn open(&self) -> Result<OwnedFd, Errno> {
        open(
            &self.path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    }

    /// Whether the service is normally up, i.e. has no `down` file.
    pub fn normally_up(&self) -> Result<bool, Errno> {
        match nix::sys::stat::stat(&self.file(DOWN)) {
            Ok(_) => Ok(false),
            Err(Errno::ENOENT) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Whether `log` is a subdirectory (the service then gets a logger, as svscan does it).
    pub fn has_log(&self) -> bool {
        std::fs::metadata(self.file(LOG))
            .map(|m| m.is_dir())
            .unwrap_or(false)
    }
}
