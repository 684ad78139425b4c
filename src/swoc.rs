//! SWOC locks: the directory `SERVICE/swoc/` (locks/, blocked/, disallow), client names, lock files, and waiting for locks to go.

use crate::diag::errstr;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::stat::{Mode, fstatat};
use nix::unistd::{UnlinkatFlags, linkat, unlinkat};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// SWOC's exit codes (not daemontools' 100/111: SWOC scripts test for these).
pub const EXIT_OK: i32 = 0;
/// A minor problem: nothing to release, blocked, timed out, a file system error.
pub const EXIT_MINOR: i32 = 1;
/// Usage error (sysexits' EX_USAGE, as SWOC uses).
pub const EXIT_USAGE: i32 = 64;

/// The service directory when neither `-d` nor `$SWOC_DIR` names one.
pub const DEFAULT_SERVICE: &str = "/service/swoc";
pub const ENV_DIR: &str = "SWOC_DIR";
pub const ENV_CLIENT: &str = "SWOC_CLIENT";
/// The SWOC directory inside the service directory.
pub const SWOC: &str = "swoc";
pub const LOCKS: &str = "locks";
pub const BLOCKED: &str = "blocked";
pub const DISALLOW: &str = "disallow";
/// Lock files are written under this prefix, then linked to their real name: a name
/// starting with '.' can never be a client's, so readers skip them without a race.
pub const TMP_PREFIX: &str = ".tmp.";
/// Longest client name: with the unique part, a lock name stays far below the 255
/// bytes a file name may have.
pub const NAME_MAX: usize = 64;
/// Longest `-m` comment, so a lock file is read with one small read.
pub const COMMENT_MAX: usize = 512;
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);
/// A temp file this old was left by a crash between create and link: garbage.
const STALE_TMP: Duration = Duration::from_secs(60);
/// Lock contents are read in one go; anything longer is not a lock file of ours.
const READ_MAX: usize = 4096;
const DIR_MODE: u32 = 0o755;
/// Group-writable and sticky: group members add locks, and remove only their own.
const SHARED_DIR_MODE: u32 = 0o1775;
const FILE_MODE: u32 = 0o644;

/// What is wrong with a client name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    TooLong,
    LeadingDot,
    TrailingDot,
    DotDot,
    BadChar(char),
}

/// A client name that cannot be used: it would not be a plain file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    pub input: String,
    pub problem: NameProblem,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid client name {:?}: ", self.input)?;
        match self.problem {
            NameProblem::Empty => write!(f, "empty"),
            NameProblem::TooLong => write!(f, "longer than {NAME_MAX} characters"),
            NameProblem::LeadingDot => write!(f, "starts with '.'"),
            NameProblem::TrailingDot => write!(f, "ends with '.'"),
            NameProblem::DotDot => write!(f, "contains '..'"),
            NameProblem::BadChar(c) => write!(
                f,
                "{c:?} not allowed (want letters, digits, '.', '_' and '-')"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// A checked client name: letters, digits, `.`, `_`, `-`, not starting or ending with
/// `.`, no `..`, at most NAME_MAX long. It is used as a file name, never as a path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientName(String);

impl ClientName {
    pub fn new(s: &str) -> Result<ClientName, NameError> {
        let err = |problem| NameError {
            input: s.to_string(),
            problem,
        };
        if s.is_empty() {
            return Err(err(NameProblem::Empty));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(err(NameProblem::BadChar(c)));
        }
        if s.len() > NAME_MAX {
            return Err(err(NameProblem::TooLong));
        }
        if s.starts_with('.') {
            return Err(err(NameProblem::LeadingDot));
        }
        if s.contains("..") {
            return Err(err(NameProblem::DotDot));
        }
        // The client of a lock file is everything before its last '.'.
        if s.ends_with('.') {
            return Err(err(NameProblem::TrailingDot));
        }
        Ok(ClientName(s.to_string()))
    }

    /// From a command-line or environment value, which may not be UTF-8.
    pub fn from_os(s: &OsStr) -> Result<ClientName, NameError> {
        ClientName::new(&s.to_string_lossy())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `-m` comment that cannot be stored on one line of a lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentError {
    TooLong,
    ControlChar,
}

impl std::fmt::Display for CommentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommentError::TooLong => write!(f, "comment longer than {COMMENT_MAX} bytes"),
            CommentError::ControlChar => write!(f, "comment must be one line of printable text"),
        }
    }
}

impl std::error::Error for CommentError {}

pub fn check_comment(s: &str) -> Result<(), CommentError> {
    if s.len() > COMMENT_MAX {
        return Err(CommentError::TooLong);
    }
    if s.chars().any(char::is_control) {
        return Err(CommentError::ControlChar);
    }
    Ok(())
}

/// A file system call that failed, with the path it was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwocError {
    pub verb: &'static str,
    pub path: PathBuf,
    pub errno: Errno,
}

impl std::fmt::Display for SwocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unable to {} {}: {}",
            self.verb,
            self.path.display(),
            errstr(self.errno)
        )
    }
}

impl std::error::Error for SwocError {}

fn sys(verb: &'static str, path: impl Into<PathBuf>, errno: Errno) -> SwocError {
    SwocError {
        verb,
        path: path.into(),
        errno,
    }
}

fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Who holds a lock and since when: the contents of a lock file, `key=value` lines so
/// that `cat` explains a lock. Unknown keys are skipped, for later additions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LockInfo {
    pub client: String,
    pub host: String,
    pub uid: u32,
    /// The process that asked for the lock (for swocclient, its parent: the job).
    pub pid: u32,
    pub created: SystemTime,
    /// From `--ttl`: after this the lock no longer counts.
    pub expires: Option<SystemTime>,
    pub comment: Option<String>,
}

/// Why a lock file's contents were not understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InfoError {
    NotText,
    NoEquals(usize),
    Missing(&'static str),
    BadValue(&'static str),
}

impl std::fmt::Display for InfoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InfoError::NotText => write!(f, "not text"),
            InfoError::NoEquals(n) => write!(f, "line {n} is not key=value"),
            InfoError::Missing(k) => write!(f, "no {k}="),
            InfoError::BadValue(k) => write!(f, "bad {k}= value"),
        }
    }
}

impl std::error::Error for InfoError {}

impl LockInfo {
    pub fn pack(&self) -> String {
        let mut s = format!(
            "client={}\nhost={}\nuid={}\npid={}\ncreated={}\n",
            self.client,
            self.host,
            self.uid,
            self.pid,
            fmt_time(self.created)
        );
        if let Some(e) = self.expires {
            s.push_str(&format!("expires={}\n", fmt_time(e)));
        }
        if let Some(c) = &self.comment {
            s.push_str(&format!("comment={c}\n"));
        }
        s
    }

    pub fn unpack(b: &[u8]) -> Result<LockInfo, InfoError> {
        let text = std::str::from_utf8(b).map_err(|_| InfoError::NotText)?;
        let (mut client, mut host, mut uid, mut pid, mut created, mut expires, mut comment) =
            (None, None, None, None, None, None, None);
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let (k, v) = line.split_once('=').ok_or(InfoError::NoEquals(i + 1))?;
            match k {
                "client" => client = Some(v.to_string()),
                "host" => host = Some(v.to_string()),
                "uid" => uid = Some(v.parse().map_err(|_| InfoError::BadValue("uid"))?),
                "pid" => pid = Some(v.parse().map_err(|_| InfoError::BadValue("pid"))?),
                "created" => created = Some(parse_time(v).ok_or(InfoError::BadValue("created"))?),
                "expires" => expires = Some(parse_time(v).ok_or(InfoError::BadValue("expires"))?),
                "comment" => comment = Some(v.to_string()),
                _ => {}
            }
        }
        Ok(LockInfo {
            client: client.ok_or(InfoError::Missing("client"))?,
            host: host.unwrap_or_default(),
            uid: uid.unwrap_or(0),
            pid: pid.unwrap_or(0),
            created: created.ok_or(InfoError::Missing("created"))?,
            expires,
            comment,
        })
    }
}

/// `SECONDS.NANOSECONDS` since the epoch: exact, and sorts as text within a century.
pub fn fmt_time(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

pub fn parse_time(s: &str) -> Option<SystemTime> {
    let (secs, frac) = match s.split_once('.') {
        Some((_, "")) => return None,
        Some((secs, frac)) => (secs, frac),
        None => (s, "0"),
    };
    let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    if !digits(secs) || !digits(frac) || frac.len() > 9 {
        return None;
    }
    let nanos = frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32);
    UNIX_EPOCH.checked_add(Duration::new(secs.parse().ok()?, nanos))
}

/// An age as operators read it: `45s`, `3m05s`, `2h07m`, `4d03h`.
pub fn fmt_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        3600..86400 => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d{:02}h", s / 86400, s % 86400 / 3600),
    }
}

/// The unique part of a lock name: time (so `ls` sorts by age), pid and random bits
/// (so two hosts sharing a client name over NFS never pick the same name). No '.', so
/// the client is everything before the last '.'.
pub fn unique_part(now: SystemTime, pid: u32, random: u64) -> String {
    let d = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!(
        "{}-{:09}-{pid}-{random:016x}",
        d.as_secs(),
        d.subsec_nanos()
    )
}

fn random64() -> u64 {
    // std's RandomState is seeded from the OS's random source once per thread and then
    // stepped per instance: enough to make names unique, with no unsafe and no crate.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// The client a lock file name `CLIENT.UNIQUE` belongs to, or why it is not one.
pub fn lock_client(name: &str) -> Result<&str, &'static str> {
    let (client, unique) = name
        .rsplit_once('.')
        .ok_or("not a lock name (CLIENT.UNIQUE)")?;
    if ClientName::new(client).is_err() {
        return Err("not a lock name (bad client name)");
    }
    if unique.is_empty()
        || !unique
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("not a lock name (bad unique part)");
    }
    Ok(client)
}

/// The type of a directory entry, as far as counting locks cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    Regular,
    Other,
}

/// What a name in `locks/` is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entry {
    Lock(String),
    /// A lock being written (or a crash's leftover): not a lock yet.
    Temp,
    /// Directories, `.`, `..`, and other dot files (NFS's `.nfsXXXX`): not ours.
    Ignored,
    Garbage(&'static str),
}

pub fn classify(name: &[u8], kind: FileKind) -> Entry {
    if name.starts_with(b".") {
        return match name.starts_with(TMP_PREFIX.as_bytes()) && kind == FileKind::Regular {
            true => Entry::Temp,
            false => Entry::Ignored,
        };
    }
    match kind {
        FileKind::Dir => return Entry::Ignored,
        FileKind::Other => return Entry::Garbage("not a regular file"),
        FileKind::Regular => {}
    }
    let Ok(name) = std::str::from_utf8(name) else {
        return Entry::Garbage("not a lock name (not UTF-8)");
    };
    match lock_client(name) {
        Ok(c) => Entry::Lock(c.to_string()),
        Err(why) => Entry::Garbage(why),
    }
}

/// inotify only hears about changes made through this kernel: on a network file
/// system a lock released on another host would never wake us.
pub fn is_network_fs(magic: i64) -> bool {
    const NETWORK: [i64; 12] = [
        0x6969,      // NFS
        0x517b,      // SMB
        0xff53_4d42, // CIFS
        0xfe53_4d42, // SMB2
        0x5346_414f, // AFS
        0x6b41_4653, // kAFS
        0x7375_7245, // Coda
        0x00c3_6400, // Ceph
        0x0102_1997, // 9P
        0x6573_5546, // FUSE (sshfs and friends)
        0x7461_636f, // OCFS2
        0x0116_1970, // GFS2
    ];
    NETWORK.contains(&magic)
}

/// One lock as `-s` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lock {
    pub file: String,
    pub client: String,
    pub info: Result<LockInfo, InfoError>,
    /// Only looked up when the contents do not say when the lock was made.
    pub mtime: Option<SystemTime>,
}

impl Lock {
    pub fn created(&self) -> SystemTime {
        match &self.info {
            Ok(i) => i.created,
            Err(_) => self.mtime.unwrap_or(UNIX_EPOCH),
        }
    }

    pub fn expires(&self) -> Option<SystemTime> {
        self.info.as_ref().ok().and_then(|i| i.expires)
    }

    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires().is_some_and(|e| e <= now)
    }
}

/// A file in the SWOC directory that is neither a lock nor a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Garbage {
    /// Relative to the SWOC directory, like `locks/README`.
    pub path: String,
    pub why: &'static str,
}

/// Everything `-s` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub locks: Vec<Lock>,
    pub blocked: Vec<String>,
    pub disallowed: bool,
    pub garbage: Vec<Garbage>,
}

impl Scan {
    pub fn live(&self, client: Option<&str>, now: SystemTime) -> usize {
        self.locks
            .iter()
            .filter(|l| client.is_none_or(|c| l.client == c) && !l.expired(now))
            .count()
    }
}

/// What asking for a lock gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locked {
    /// The lock file's name in `locks/`.
    Taken(String),
    Blocked,
    Disallowed,
}

/// What asking to release one lock gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Released {
    One(String),
    /// The client holds no live lock; this many expired ones were removed.
    None(usize),
}

/// A request for one more lock.
#[derive(Clone, Debug)]
pub struct LockRequest<'a> {
    pub client: &'a ClientName,
    pub pid: u32,
    pub comment: Option<&'a str>,
    pub ttl: Option<Duration>,
}

/// What to wait for.
#[derive(Clone, Debug)]
pub struct WaitSpec {
    /// Only this client's locks, or everyone's.
    pub client: Option<ClientName>,
    /// Done when at most this many live locks remain.
    pub at_most: usize,
    /// The timeout, the poll interval, and whether inotify may wake it sooner where
    /// the file system is local.
    pub polling: Polling,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    Done,
    TimedOut { remaining: usize },
}

/// The waiting options both commands take: `-t`, the poll interval, `--no-inotify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polling {
    pub timeout: Option<Duration>,
    pub interval: Duration,
    pub inotify: bool,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            timeout: None,
            interval: DEFAULT_INTERVAL,
            inotify: true,
        }
    }
}

impl Polling {
    /// Which waiting option `arg` is, as the usage names it, if it is one;
    /// `interval_short` is the short letter of `--interval` where a command has one.
    pub fn option(arg: &lexopt::Arg, interval_short: Option<char>) -> Option<&'static str> {
        use lexopt::Arg::{Long, Short};
        match arg {
            Short('t') | Long("timeout") => Some("-t"),
            Long("interval") => Some("--interval"),
            Short(c) if Some(*c) == interval_short => Some("-i"),
            Long("no-inotify") => Some("--no-inotify"),
            _ => None,
        }
    }

    /// Sets the option `option` named, taking its value from `p`.
    pub fn set(&mut self, option: &str, p: &mut lexopt::Parser) -> Result<(), String> {
        match option {
            "-t" => self.timeout = Some(duration_arg(p)?),
            "--no-inotify" => self.inotify = false,
            _ => self.interval = interval_arg(p)?,
        }
        Ok(())
    }
}

fn interval_arg(p: &mut lexopt::Parser) -> Result<Duration, String> {
    Some(duration_arg(p)?)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "the interval must be more than 0".to_string())
}

/// `-h`/`--help` prints `help`, `-V`/`--version` the version; both exit 0.
pub fn help_or_version(arg: &lexopt::Arg, prog: &str, help: &str) {
    use lexopt::Arg::{Long, Short};
    match arg {
        Short('h') | Long("help") => {
            let _ = writeln!(std::io::stdout(), "{help}");
        }
        Short('V') | Long("version") => {
            let _ = writeln!(
                std::io::stdout(),
                "{prog} (svkit) {}",
                env!("CARGO_PKG_VERSION")
            );
        }
        _ => return,
    }
    std::process::exit(EXIT_OK)
}

/// `-t`, `--ttl`, `--interval` and such: the option's value as a duration.
pub fn duration_arg(p: &mut lexopt::Parser) -> Result<std::time::Duration, String> {
    let v = p.value().map_err(|e| e.to_string())?;
    crate::units::parse_duration(&v.to_string_lossy()).map_err(|e| e.to_string())
}

/// The host name, which is also the default client name.
pub fn hostname() -> Result<String, Errno> {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned())
}

fn open_dir(path: &Path) -> Result<OwnedFd, SwocError> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| sys("open", path, e))
}

/// Reads a small file relative to `dir`, without following a symlink or blocking on a
/// FIFO someone left there.
fn read_small(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Vec<u8>, Errno> {
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY
            | OFlag::O_CLOEXEC
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY,
        Mode::empty(),
    )?;
    let mut buf = vec![0u8; READ_MAX];
    let mut n = 0;
    while n < buf.len() {
        match nix::unistd::read(&fd, &mut buf[n..]) {
            Ok(0) => break,
            // A short read of a regular file is its end: spare -s a read per lock.
            Ok(k) if n + k < buf.len() => {
                n += k;
                break;
            }
            Ok(k) => n += k,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(buf)
}

fn mtime_of(dir: BorrowedFd<'_>, name: &OsStr) -> Option<SystemTime> {
    let st = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).ok()?;
    UNIX_EPOCH.checked_add(Duration::new(
        u64::try_from(st.st_mtime).ok()?,
        u32::try_from(st.st_mtime_nsec).ok()?,
    ))
}

/// The names in a directory with their kind, and the directory open for reading the
/// files. The whole listing comes first, so that what the caller then reads or
/// removes cannot disturb it.
fn list(path: &Path) -> Result<(OwnedFd, Vec<(std::ffi::OsString, FileKind)>), SwocError> {
    let fd = open_dir(path)?;
    let rd = std::fs::read_dir(path).map_err(|e| sys("open", path, io_errno(&e)))?;
    let mut out = Vec::new();
    for e in rd {
        let e = e.map_err(|e| sys("read", path, io_errno(&e)))?;
        // From readdir's d_type; std asks lstat only where the file system leaves it out.
        let kind = match e.file_type() {
            Ok(t) if t.is_dir() => FileKind::Dir,
            Ok(t) if t.is_file() => FileKind::Regular,
            Ok(_) => FileKind::Other,
            // Gone since readdir: leave it out, as a released lock.
            Err(_) => continue,
        };
        out.push((e.file_name(), kind));
    }
    Ok((fd, out))
}

/// A SWOC directory, `SERVICE/swoc/`.
#[derive(Clone, Debug)]
pub struct SwocDir {
    root: PathBuf,
}

impl SwocDir {
    /// The SWOC directory of the service directory `service`.
    pub fn new(service: impl AsRef<Path>) -> SwocDir {
        SwocDir {
            root: service.as_ref().join(SWOC),
        }
    }

    /// From `-d DIR`, else `$SWOC_DIR`, else DEFAULT_SERVICE.
    pub fn locate(dir: Option<&OsStr>) -> SwocDir {
        match dir {
            Some(d) => SwocDir::new(d),
            None => match std::env::var_os(ENV_DIR) {
                Some(d) if !d.is_empty() => SwocDir::new(d),
                _ => SwocDir::new(DEFAULT_SERVICE),
            },
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn locks_dir(&self) -> PathBuf {
        self.root.join(LOCKS)
    }

    pub fn blocked_dir(&self) -> PathBuf {
        self.root.join(BLOCKED)
    }

    pub fn disallow_file(&self) -> PathBuf {
        self.root.join(DISALLOW)
    }

    /// Creates whatever of the layout is missing. Touches nothing that exists, so a
    /// waiter works on a read-only mount of a set-up directory.
    pub fn ensure(&self) -> Result<(), SwocError> {
        if let Some(service) = self.root.parent().filter(|p| !p.as_os_str().is_empty()) {
            ensure_service_dir(service)?;
        }
        ensure_dir(&self.root, DIR_MODE, false)?;
        ensure_dir(&self.locks_dir(), SHARED_DIR_MODE, false)?;
        ensure_dir(&self.blocked_dir(), SHARED_DIR_MODE, false)
    }

    pub fn is_disallowed(&self) -> Result<bool, SwocError> {
        exists(&self.disallow_file())
    }

    pub fn is_blocked(&self, client: &ClientName) -> Result<bool, SwocError> {
        exists(&self.blocked_dir().join(client.as_str()))
    }

    fn refusal(&self, client: &ClientName) -> Result<Option<Locked>, SwocError> {
        if self.is_disallowed()? {
            return Ok(Some(Locked::Disallowed));
        }
        if self.is_blocked(client)? {
            return Ok(Some(Locked::Blocked));
        }
        Ok(None)
    }

    /// Takes one more lock for `req.client`, unless the server disallows new locks or
    /// the client is blocked. Expired locks of the client are removed on the way.
    pub fn lock(&self, req: &LockRequest<'_>) -> Result<Locked, SwocError> {
        self.ensure()?;
        if let Some(r) = self.refusal(req.client)? {
            return Ok(r);
        }
        let now = SystemTime::now();
        let info = LockInfo {
            client: req.client.to_string(),
            host: hostname().unwrap_or_default(),
            uid: nix::unistd::getuid().as_raw(),
            pid: req.pid,
            created: now,
            expires: req.ttl.map(|t| now + t),
            comment: req.comment.map(str::to_string),
        };
        let locks = self.locks_dir();
        let dir = open_dir(&locks)?;
        let name = create_linked(dir.as_fd(), &locks, req.client, info.pack().as_bytes())?;
        // A block or disallow that raced with us wins: look again now the lock exists,
        // so that once `swocserver -d` or `-b` has returned, no lock taken after stays.
        if let Some(r) = self.refusal(req.client)? {
            let _ = unlinkat(dir.as_fd(), name.as_str(), UnlinkatFlags::NoRemoveDir);
            return Ok(r);
        }
        self.reap_expired(req.client, now);
        Ok(Locked::Taken(name))
    }

    /// Removes the client's expired locks; a lock someone else owns in a sticky
    /// directory stays, for swocserver to remove.
    fn reap_expired(&self, client: &ClientName, now: SystemTime) -> usize {
        let Ok((scan, _)) = self.scan_locks(Some(client.as_str()), true) else {
            return 0;
        };
        let Ok(dir) = open_dir(&self.locks_dir()) else {
            return 0;
        };
        scan.into_iter()
            .filter(|l| l.expired(now))
            .filter(|l| unlinkat(dir.as_fd(), l.file.as_str(), UnlinkatFlags::NoRemoveDir).is_ok())
            .count()
    }

    /// Releases one of the client's live locks: one taken by the same job (same host
    /// and pid) if there is one, else the oldest. Expired locks are removed on the way
    /// and do not count. "None" is only said of a listing that held none.
    pub fn release_one(&self, client: &ClientName, pid: u32) -> Result<Released, SwocError> {
        self.ensure()?;
        let locks = self.locks_dir();
        let dir = open_dir(&locks)?;
        let host = hostname().unwrap_or_default();
        let now = SystemTime::now();
        let mut reaped = 0;
        let remove = |file: &str| unlinkat(dir.as_fd(), file, UnlinkatFlags::NoRemoveDir);
        loop {
            let (all, vanished) = self.scan_locks(Some(client.as_str()), true)?;
            let (expired, mut live): (Vec<Lock>, Vec<Lock>) =
                all.into_iter().partition(|l| l.expired(now));
            reaped += expired.iter().filter(|l| remove(&l.file).is_ok()).count();
            if live.is_empty() {
                if vanished == 0 {
                    return Ok(Released::None(reaped));
                }
                continue;
            }
            let same_job = |l: &Lock| {
                l.info
                    .as_ref()
                    .is_ok_and(|i| i.pid == pid && i.host == host)
            };
            live.sort_by(|a, b| {
                same_job(b)
                    .cmp(&same_job(a))
                    .then(a.created().cmp(&b.created()))
                    .then(a.file.cmp(&b.file))
            });
            for l in live {
                match remove(&l.file) {
                    Ok(()) => return Ok(Released::One(l.file)),
                    // Another release of the same client took it first: try the next,
                    // then look again, so each release removes exactly one lock.
                    Err(Errno::ENOENT) => {}
                    Err(e) => return Err(sys("remove", locks.join(&l.file), e)),
                }
            }
        }
    }

    /// Removes every lock of `client`; returns how many.
    pub fn release_all(&self, client: &ClientName) -> Result<usize, SwocError> {
        self.ensure()?;
        let locks = self.locks_dir();
        let dir = open_dir(&locks)?;
        let mut n = 0;
        for l in self.scan_locks(Some(client.as_str()), false)?.0 {
            match unlinkat(dir.as_fd(), l.file.as_str(), UnlinkatFlags::NoRemoveDir) {
                Ok(()) => n += 1,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(sys("remove", locks.join(&l.file), e)),
            }
        }
        Ok(n)
    }

    /// Blocks `client` from taking new locks; false if it already was.
    pub fn block(&self, client: &ClientName) -> Result<bool, SwocError> {
        self.ensure()?;
        let body = format!(
            "uid={}\ncreated={}\n",
            nix::unistd::getuid().as_raw(),
            fmt_time(SystemTime::now())
        );
        create_flag(&self.blocked_dir().join(client.as_str()), &body)
    }

    /// Lets `client` take locks again; false if it was not blocked.
    pub fn unblock(&self, client: &ClientName) -> Result<bool, SwocError> {
        self.ensure()?;
        remove_flag(&self.blocked_dir().join(client.as_str()))
    }

    /// Refuses new locks from every client; false if already so.
    pub fn disallow(&self) -> Result<bool, SwocError> {
        self.ensure()?;
        create_flag(&self.disallow_file(), "")
    }

    /// Accepts new locks again; false if they were not refused.
    pub fn allow(&self) -> Result<bool, SwocError> {
        self.ensure()?;
        remove_flag(&self.disallow_file())
    }

    /// Removes every lock of `client` and unblocks it (`swocclient -i`).
    pub fn reset(&self, client: &ClientName) -> Result<usize, SwocError> {
        let n = self.release_all(client)?;
        self.unblock(client)?;
        Ok(n)
    }

    /// Locks (of one client, or all), blocks, allow state and garbage, for `-s`.
    pub fn scan(&self, client: Option<&ClientName>) -> Result<Scan, SwocError> {
        self.ensure()?;
        let mut garbage = Vec::new();
        let mut locks = Vec::new();
        // A lock released while being read is left out; look again for a listing
        // where none was, so the counts shown are those of one moment.
        for _ in 0..5 {
            garbage.clear();
            let vanished;
            (locks, vanished) =
                self.scan_into(client.map(ClientName::as_str), true, Some(&mut garbage))?;
            if vanished == 0 {
                break;
            }
        }
        let blocked_dir = self.blocked_dir();
        let (_, names) = list(&blocked_dir)?;
        let mut blocked = Vec::new();
        for (name, kind) in names {
            let n = name.to_string_lossy();
            match (kind, ClientName::new(&n)) {
                (FileKind::Dir, _) => {}
                _ if n.starts_with('.') => {}
                (FileKind::Regular, Ok(c)) => {
                    if client.is_none_or(|want| *want == c) {
                        blocked.push(c.0);
                    }
                }
                (FileKind::Regular, Err(_)) => garbage.push(Garbage {
                    path: format!("{BLOCKED}/{n}"),
                    why: "not a client name",
                }),
                (FileKind::Other, _) => garbage.push(Garbage {
                    path: format!("{BLOCKED}/{n}"),
                    why: "not a regular file",
                }),
            }
        }
        blocked.sort();
        garbage.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Scan {
            locks,
            blocked,
            disallowed: self.is_disallowed()?,
            garbage,
        })
    }

    fn scan_locks(
        &self,
        client: Option<&str>,
        read: bool,
    ) -> Result<(Vec<Lock>, usize), SwocError> {
        self.scan_into(client, read, None)
    }

    /// The locks in `locks/`, with their contents if `read`, and how many vanished
    /// between listing and reading. Those are left out, but the caller must know: a
    /// lock created after the listing and one released before its read would make
    /// "none" out of a directory that was never without a lock.
    fn scan_into(
        &self,
        client: Option<&str>,
        read: bool,
        mut garbage: Option<&mut Vec<Garbage>>,
    ) -> Result<(Vec<Lock>, usize), SwocError> {
        let path = self.locks_dir();
        let (fd, names) = list(&path)?;
        let now = SystemTime::now();
        let (mut out, mut vanished) = (Vec::new(), 0);
        for (name, kind) in names {
            use std::os::unix::ffi::OsStrExt;
            let entry = classify(name.as_bytes(), kind);
            let c = match entry {
                Entry::Lock(c) => c,
                Entry::Ignored => continue,
                Entry::Temp => {
                    if let Some(g) = garbage.as_deref_mut()
                        && mtime_of(fd.as_fd(), &name)
                            .is_some_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TMP)
                    {
                        g.push(Garbage {
                            path: format!("{LOCKS}/{}", name.to_string_lossy()),
                            why: "stale temp file",
                        });
                    }
                    continue;
                }
                Entry::Garbage(why) => {
                    if let Some(g) = garbage.as_deref_mut() {
                        g.push(Garbage {
                            path: format!("{LOCKS}/{}", name.to_string_lossy()),
                            why,
                        });
                    }
                    continue;
                }
            };
            if client.is_some_and(|want| want != c) {
                continue;
            }
            let file = name.to_string_lossy().into_owned();
            if !read {
                out.push(Lock {
                    file,
                    client: c,
                    // Not read: the caller only wants names.
                    info: Err(InfoError::Missing("created")),
                    mtime: None,
                });
                continue;
            }
            let info = match read_small(fd.as_fd(), &name) {
                Ok(b) => LockInfo::unpack(&b),
                Err(Errno::ENOENT) | Err(Errno::ESTALE) => {
                    vanished += 1;
                    continue;
                }
                Err(_) => Err(InfoError::NotText),
            };
            let mtime = match info {
                Ok(_) => None,
                Err(_) => mtime_of(fd.as_fd(), &name),
            };
            out.push(Lock {
                file,
                client: c,
                info,
                mtime,
            });
        }
        Ok((out, vanished))
    }

    /// How many live locks (of `client`, or everyone's) one listing of `locks/` shows.
    pub fn count(&self, client: Option<&ClientName>) -> Result<usize, SwocError> {
        self.ensure()?;
        let mut c = Counter::new(client.map(|c| c.as_str().to_string()));
        Ok(c.count(&self.locks_dir(), SystemTime::now())?.0)
    }

    /// Waits until at most `spec.at_most` live locks (of `spec.client`, or everyone's)
    /// remain. Looks every `spec.polling.interval`, which works on any file system, and on a
    /// local one also wakes at once through inotify when a lock goes. Expiring locks
    /// set a deadline of their own.
    pub fn wait(&self, spec: &WaitSpec) -> Result<Waited, SwocError> {
        self.ensure()?;
        let start = Instant::now();
        let deadline = spec.polling.timeout.map(|t| start + t);
        let locks = self.locks_dir();
        // Watch first, then count: a release between the two still wakes us.
        let mut inotify = if spec.polling.inotify {
            watch(&locks)
        } else {
            None
        };
        let mut counter = Counter::new(spec.client.as_ref().map(|c| c.as_str().to_string()));
        loop {
            // What happened so far, the count below sees.
            if let Some(i) = &inotify
                && drain(i).gone
            {
                inotify = None;
            }
            let now = SystemTime::now();
            let (live, next_expiry) = counter.count(&locks, now)?;
            if live <= spec.at_most {
                // Listing a big directory takes several getdents(2), so it is not one
                // moment: a lock taken in a part already read while another goes in a
                // part not yet read would be missed by both. Believe "few enough" only
                // if no lock appeared meanwhile, or, without inotify, a second listing
                // agrees.
                let settled = match &inotify {
                    Some(i) => {
                        let d = drain(i);
                        if d.gone {
                            inotify = None;
                        }
                        !d.created
                    }
                    None => counter.count(&locks, SystemTime::now())?.0 <= spec.at_most,
                };
                if settled {
                    return Ok(Waited::Done);
                }
                continue;
            }
            let instant = Instant::now();
            if deadline.is_some_and(|d| instant >= d) {
                return Ok(Waited::TimedOut { remaining: live });
            }
            let mut nap = spec.polling.interval;
            if let Some(d) = deadline {
                nap = nap.min(d.saturating_duration_since(instant));
            }
            if let Some(e) = next_expiry {
                nap = nap.min(e.duration_since(now).unwrap_or_default());
            }
            let timeout = ms_timeout(nap);
            let gone = match &inotify {
                Some(i) => {
                    let mut fds = [PollFd::new(i.as_fd(), PollFlags::POLLIN)];
                    match poll(&mut fds, timeout) {
                        Ok(_) | Err(Errno::EINTR) => {}
                        Err(e) => return Err(sys("poll for changes in", &locks, e)),
                    }
                    drain(i).gone
                }
                None => {
                    let mut none: [PollFd; 0] = [];
                    match poll(&mut none, timeout) {
                        Ok(_) | Err(Errno::EINTR) => {}
                        Err(e) => return Err(sys("poll for changes in", &locks, e)),
                    }
                    false
                }
            };
            if gone {
                // The watched directory went away or was replaced: the next count says
                // why, and polling stays.
                inotify = None;
            }
        }
    }
}

/// Rounds up to whole milliseconds so the loop never wakes just before a deadline.
fn ms_timeout(d: Duration) -> PollTimeout {
    let ms = d.as_micros().div_ceil(1000).min(60_000) as u32;
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

/// An inotify watch on `locks/` for lock files going, if the file system is local.
/// Any failure means polling only, never an error: the poll is always there.
fn watch(locks: &Path) -> Option<Inotify> {
    let fs = nix::sys::statfs::statfs(locks).ok()?;
    #[allow(clippy::unnecessary_cast)] // f_type is 32 bits on some targets
    let magic = fs.filesystem_type().0 as i64;
    if is_network_fs(magic) {
        return None;
    }
    let i = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
    i.add_watch(
        locks,
        AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ONLYDIR,
    )
    .ok()?;
    Some(i)
}

/// What an emptied inotify queue held.
struct Drained {
    /// A lock may have appeared (or events were lost).
    created: bool,
    /// The watch itself is gone: the directory was removed or moved.
    gone: bool,
}

fn drain(i: &Inotify) -> Drained {
    use std::os::unix::ffi::OsStrExt;
    let mut d = Drained {
        created: false,
        gone: false,
    };
    while let Ok(events) = i.read_events() {
        if events.is_empty() {
            break;
        }
        for e in events {
            // Temp files become locks by link(2), which is an IN_CREATE of its own.
            let temp = e
                .name
                .as_ref()
                .is_some_and(|n| n.as_bytes().starts_with(b"."));
            d.created |= e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW)
                || (!temp
                    && e.mask
                        .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO));
            d.gone |= e.mask.intersects(
                AddWatchFlags::IN_IGNORED
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF,
            );
        }
    }
    d
}

/// Counts live locks for the waiter. Expiry times are read once per lock and kept,
/// so a waiter over thousands of locks reads only names on each wake-up.
struct Counter {
    client: Option<String>,
    expiries: HashMap<String, Option<SystemTime>>,
}

impl Counter {
    fn new(client: Option<String>) -> Counter {
        Counter {
            client,
            expiries: HashMap::new(),
        }
    }

    fn count(
        &mut self,
        locks: &Path,
        now: SystemTime,
    ) -> Result<(usize, Option<SystemTime>), SwocError> {
        use std::os::unix::ffi::OsStrExt;
        let (fd, names) = list(locks)?;
        let mut seen = HashMap::with_capacity(self.expiries.len());
        let (mut live, mut next) = (0, None::<SystemTime>);
        for (name, kind) in names {
            let Entry::Lock(c) = classify(name.as_bytes(), kind) else {
                continue;
            };
            if self.client.as_ref().is_some_and(|want| *want != c) {
                continue;
            }
            let file = name.to_string_lossy().into_owned();
            let expires = match self.expiries.remove(&file) {
                Some(e) => e,
                None => match read_small(fd.as_fd(), &name) {
                    Ok(b) => LockInfo::unpack(&b).ok().and_then(|i| i.expires),
                    // Released since the listing, but the listing is the moment
                    // counted: one taken meanwhile may not be in it.
                    Err(Errno::ENOENT) | Err(Errno::ESTALE) => {
                        live += 1;
                        continue;
                    }
                    // Unreadable: counts, and never expires, so no job is cut short.
                    Err(_) => None,
                },
            };
            match expires {
                Some(e) if e <= now => {}
                Some(e) => {
                    live += 1;
                    next = Some(next.map_or(e, |n| n.min(e)));
                }
                None => live += 1,
            }
            seen.insert(file, expires);
        }
        self.expiries = seen;
        Ok((live, next))
    }
}

fn exists(path: &Path) -> Result<bool, SwocError> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(sys("access", path, io_errno(&e))),
    }
}

/// A service directory made for SWOC gets a `down` file, and appears whole: the
/// default, /service/swoc, is in svscan's scan directory, whose supervise must find
/// `down` the moment it starts, rather than a directory with no ./run to complain of.
fn ensure_service_dir(service: &Path) -> Result<(), SwocError> {
    if exists(service)? {
        return ensure_dir(service, DIR_MODE, false);
    }
    let parent = service.parent().filter(|p| !p.as_os_str().is_empty());
    if let Some(parent) = parent {
        ensure_dir(parent, DIR_MODE, true)?;
    }
    let name = service.file_name().unwrap_or_default().to_string_lossy();
    let tmp = service.with_file_name(format!(".{name}.swoc-new.{}", std::process::id()));
    ensure_dir(&tmp, DIR_MODE, false)?;
    let made = create_flag(&tmp.join("down"), "").and_then(|_| {
        std::fs::rename(&tmp, service).map_err(|e| sys("create", service, io_errno(&e)))
    });
    if made.is_err() {
        let _ = std::fs::remove_file(tmp.join("down"));
        let _ = std::fs::remove_dir(&tmp);
        // Another swocclient made it meanwhile: fine.
        if exists(service)? {
            return Ok(());
        }
    }
    made
}

fn ensure_dir(path: &Path, mode: u32, parents: bool) -> Result<(), SwocError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => return Ok(()),
        Ok(_) => return Err(sys("use", path, Errno::ENOTDIR)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(sys("access", path, io_errno(&e))),
    }
    match std::fs::DirBuilder::new()
        .mode(mode)
        .recursive(parents)
        .create(path)
    {
        Ok(()) => {
            // mkdir's mode went through the umask, which would drop the sticky and group
            // bits this layout relies on.
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
                .map_err(|e| sys("set mode of", path, io_errno(&e)))
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(sys("create", path, io_errno(&e))),
    }
}

fn create_flag(path: &Path, body: &str) -> Result<bool, SwocError> {
    use std::os::unix::fs::OpenOptionsExt;
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(mut f) => {
            f.write_all(body.as_bytes())
                .map_err(|e| sys("write", path, io_errno(&e)))?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(sys("create", path, io_errno(&e))),
    }
}

fn remove_flag(path: &Path) -> Result<bool, SwocError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(sys("remove", path, io_errno(&e))),
    }
}

/// Creates `CLIENT.UNIQUE` in `dir` holding `body`, in the way that is atomic on NFS
/// too: write a temp file, then link(2) it to the final name (O_EXCL on the final name
/// would let a reader see it empty, and is not atomic on NFSv2). link's reply can be
/// lost on NFS while the link was made, so a failed link is checked by the temp file's
/// link count, as Linux's open(2) advises.
fn create_linked(
    dir: BorrowedFd<'_>,
    path: &Path,
    client: &ClientName,
    body: &[u8],
) -> Result<String, SwocError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let unique = unique_part(SystemTime::now(), std::process::id(), random64());
        let name = format!("{client}.{unique}");
        let tmp = format!("{TMP_PREFIX}{name}");
        let fd = match openat(
            dir,
            tmp.as_str(),
            OFlag::O_WRONLY
                | OFlag::O_CREAT
                | OFlag::O_EXCL
                | OFlag::O_CLOEXEC
                | OFlag::O_NOFOLLOW
                | OFlag::O_NOCTTY,
            Mode::from_bits_truncate(FILE_MODE),
        ) {
            Ok(fd) => fd,
            Err(Errno::EEXIST) if attempt < 10 => continue,
            Err(e) => return Err(sys("create", path.join(&tmp), e)),
        };
        let remove_tmp = || {
            let _ = unlinkat(dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        };
        let mut f = std::fs::File::from(fd);
        if let Err(e) = f.write_all(body) {
            remove_tmp();
            return Err(sys("write", path.join(&tmp), io_errno(&e)));
        }
        // NFS reports write errors (quota, space) at close.
        if let Err(e) = nix::unistd::close(OwnedFd::from(f)) {
            remove_tmp();
            return Err(sys("write", path.join(&tmp), e));
        }
        match linkat(dir, tmp.as_str(), dir, name.as_str(), AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EEXIST) if attempt < 10 => {
                remove_tmp();
                continue;
            }
            Err(e) => {
                let linked = fstatat(dir, tmp.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| st.st_nlink == 2);
                if !linked {
                    remove_tmp();
                    return Err(sys("create", path.join(&name), e));
                }
            }
        }
        // If this fails the temp file stays, which counting ignores and -s reports.
        remove_tmp();
        return Ok(name);
    }
}

/// `1 lock`, `2 locks`.
pub fn plural(n: usize, what: &str) -> String {
    match n {
        1 => format!("1 {what}"),
        _ => format!("{n} {what}s"),
    }
}

/// Printable on one line whatever a hand-made lock file holds.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn write_lock(out: &mut impl Write, l: &Lock, now: SystemTime) -> std::io::Result<()> {
    let age = fmt_age(now.duration_since(l.created()).unwrap_or_default());
    write!(out, "  {}: age {age}", printable(&l.file))?;
    match &l.info {
        Ok(i) => {
            write!(
                out,
                ", pid {}, host {}, uid {}",
                i.pid,
                printable(&i.host),
                i.uid
            )?;
            match i.expires {
                Some(e) if e <= now => write!(
                    out,
                    ", expired {} ago",
                    fmt_age(now.duration_since(e).unwrap_or_default())
                )?,
                Some(e) => write!(
                    out,
                    ", expires in {}",
                    fmt_age(e.duration_since(now).unwrap_or_default())
                )?,
                None => {}
            }
            if let Some(c) = &i.comment {
                write!(out, ": {}", printable(c))?;
            }
        }
        Err(e) => write!(out, " (from mtime), unreadable contents: {e}")?,
    }
    writeln!(out)
}

fn write_client(
    out: &mut impl Write,
    client: &str,
    locks: &[&Lock],
    blocked: bool,
    now: SystemTime,
) -> std::io::Result<()> {
    let expired = locks.iter().filter(|l| l.expired(now)).count();
    write!(
        out,
        "client {client}: {}",
        plural(locks.len() - expired, "lock")
    )?;
    if expired > 0 {
        write!(out, " (and {expired} expired)")?;
    }
    writeln!(out, ", {}", if blocked { "blocked" } else { "not blocked" })?;
    for l in locks {
        write_lock(out, l, now)?;
    }
    Ok(())
}

fn write_server_line(out: &mut impl Write, scan: &Scan) -> std::io::Result<()> {
    match scan.disallowed {
        true => writeln!(out, "server: new locks disallowed"),
        false => writeln!(out, "server: new locks allowed"),
    }
}

fn write_garbage(out: &mut impl Write, scan: &Scan) -> std::io::Result<()> {
    for g in &scan.garbage {
        writeln!(out, "garbage: {}: {}", printable(&g.path), g.why)?;
    }
    Ok(())
}

fn by_age<'a>(locks: impl Iterator<Item = &'a Lock>) -> Vec<&'a Lock> {
    let mut v: Vec<&Lock> = locks.collect();
    v.sort_by(|a, b| {
        a.created()
            .cmp(&b.created())
            .then_with(|| a.file.cmp(&b.file))
    });
    v
}

/// `swocclient -s`: the client's locks with their ages, whether it is blocked, and
/// whether the server takes new locks.
pub fn write_client_status(
    out: &mut impl Write,
    scan: &Scan,
    client: &ClientName,
    now: SystemTime,
) -> std::io::Result<()> {
    let mine = by_age(scan.locks.iter().filter(|l| l.client == client.as_str()));
    let blocked = scan.blocked.iter().any(|b| b == client.as_str());
    write_client(out, client.as_str(), &mine, blocked, now)?;
    write_server_line(out, scan)?;
    write_garbage(out, scan)
}

/// `swocserver -s`: the allow state, every client that holds a lock or is blocked
/// with its locks (ages, comments), garbage files, and the total.
pub fn write_server_status(
    out: &mut impl Write,
    scan: &Scan,
    now: SystemTime,
) -> std::io::Result<()> {
    write_server_line(out, scan)?;
    let mut by_client: std::collections::BTreeMap<&str, Vec<&Lock>> = Default::default();
    for b in &scan.blocked {
        by_client.entry(b.as_str()).or_default();
    }
    for l in &scan.locks {
        by_client.entry(l.client.as_str()).or_default().push(l);
    }
    let mut clients = 0;
    for (client, locks) in &by_client {
        let locks = by_age(locks.iter().copied());
        let blocked = scan
            .blocked
            .binary_search_by(|b| b.as_str().cmp(client))
            .is_ok();
        clients += usize::from(locks.iter().any(|l| !l.expired(now)));
        write_client(out, client, &locks, blocked, now)?;
    }
    write_garbage(out, scan)?;
    writeln!(
        out,
        "total: {} from {}",
        plural(scan.live(None, now), "lock"),
        plural(clients, "client")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        for good in [
            "alpha",
            "host.example.com",
            "a_b-c",
            "A1",
            "x.y",
            &"n".repeat(64),
        ] {
            assert_eq!(ClientName::new(good).unwrap().as_str(), good);
        }
        let bad = |s: &str| ClientName::new(s).unwrap_err().problem;
        assert_eq!(bad(""), NameProblem::Empty);
        assert_eq!(bad(&"n".repeat(65)), NameProblem::TooLong);
        assert_eq!(bad(".hidden"), NameProblem::LeadingDot);
        assert_eq!(bad(".."), NameProblem::LeadingDot);
        assert_eq!(bad("a..b"), NameProblem::DotDot);
        assert_eq!(bad("a."), NameProblem::TrailingDot);
        assert_eq!(bad("a/b"), NameProblem::BadChar('/'));
        assert_eq!(bad("../x"), NameProblem::BadChar('/'));
        assert_eq!(bad("a b"), NameProblem::BadChar(' '));
        assert_eq!(bad("a\0b"), NameProblem::BadChar('\0'));
        assert_eq!(bad("héllo"), NameProblem::BadChar('é'));
        assert_eq!(
            ClientName::new("a/b").unwrap_err().to_string(),
            "invalid client name \"a/b\": '/' not allowed (want letters, digits, '.', '_' and '-')"
        );
    }

    #[test]
    fn comments() {
        assert!(check_comment("nightly backup, see #42").is_ok());
        assert_eq!(check_comment("a\nb"), Err(CommentError::ControlChar));
        assert_eq!(check_comment(&"x".repeat(513)), Err(CommentError::TooLong));
    }

    #[test]
    fn times() {
        let t = UNIX_EPOCH + Duration::new(1_732_233_444, 5);
        assert_eq!(fmt_time(t), "1732233444.000000005");
        assert_eq!(parse_time("1732233444.000000005"), Some(t));
        assert_eq!(
            parse_time("1732233444"),
            Some(UNIX_EPOCH + Duration::from_secs(1_732_233_444))
        );
        assert_eq!(
            parse_time("1.5"),
            Some(UNIX_EPOCH + Duration::from_millis(1500))
        );
        for bad in [
            "",
            ".5",
            "1.",
            "x",
            "-1",
            "1.0000000001",
            "1.2.3",
            "1e9",
            "+1",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn ages() {
        assert_eq!(fmt_age(Duration::from_millis(300)), "0s");
        assert_eq!(fmt_age(Duration::from_secs(59)), "59s");
        assert_eq!(fmt_age(Duration::from_secs(185)), "3m05s");
        assert_eq!(fmt_age(Duration::from_secs(7620)), "2h07m");
        assert_eq!(
            fmt_age(Duration::from_secs(4 * 86400 + 3 * 3600 + 59)),
            "4d03h"
        );
    }

    fn info() -> LockInfo {
        LockInfo {
            client: "alpha".into(),
            host: "alpha.example.com".into(),
            uid: 1000,
            pid: 4242,
            created: UNIX_EPOCH + Duration::new(1_732_233_444, 123_456_789),
            expires: Some(UNIX_EPOCH + Duration::from_secs(1_732_237_044)),
            comment: Some("nightly = backup".into()),
        }
    }

    #[test]
    fn lock_info_round_trip() {
        let i = info();
        let packed = i.pack();
        assert_eq!(
            packed,
            "client=alpha\nhost=alpha.example.com\nuid=1000\npid=4242\n\
             created=1732233444.123456789\nexpires=1732237044.000000000\n\
             comment=nightly = backup\n"
        );
        assert_eq!(LockInfo::unpack(packed.as_bytes()), Ok(i));
        let plain = LockInfo {
            expires: None,
            comment: None,
            ..info()
        };
        assert_eq!(LockInfo::unpack(plain.pack().as_bytes()), Ok(plain));
    }

    #[test]
    fn lock_info_tolerates_and_rejects() {
        let min = LockInfo::unpack(b"created=5\nclient=x\nfuture=thing\n\n").unwrap();
        assert_eq!(min.client, "x");
        assert_eq!(min.created, UNIX_EPOCH + Duration::from_secs(5));
        assert_eq!(min.expires, None);
        assert_eq!(LockInfo::unpack(b""), Err(InfoError::Missing("client")));
        assert_eq!(
            LockInfo::unpack(b"client=x\n"),
            Err(InfoError::Missing("created"))
        );
        assert_eq!(
            LockInfo::unpack(b"client=x\nrubbish\n"),
            Err(InfoError::NoEquals(2))
        );
        assert_eq!(
            LockInfo::unpack(b"client=x\ncreated=soon\n"),
            Err(InfoError::BadValue("created"))
        );
        assert_eq!(
            LockInfo::unpack(b"client=x\ncreated=1\npid=-1\n"),
            Err(InfoError::BadValue("pid"))
        );
        assert_eq!(LockInfo::unpack(b"\xff\xfe"), Err(InfoError::NotText));
    }

    #[test]
    fn lock_names() {
        let u = unique_part(UNIX_EPOCH + Duration::new(1_732_233_444, 7), 42, 0xabc);
        assert_eq!(u, "1732233444-000000007-42-0000000000000abc");
        let name = format!("host.example.com.{u}");
        assert_eq!(lock_client(&name), Ok("host.example.com"));
        assert_eq!(lock_client("alpha.1"), Ok("alpha"));
        assert!(lock_client("README").is_err());
        assert!(lock_client("alpha.").is_err());
        assert!(lock_client(".x").is_err());
        assert!(lock_client("a b.1").is_err());
        assert!(lock_client("a.b c").is_err());
        assert!(lock_client("a..1").is_err());
    }

    #[test]
    fn entries() {
        let c = |n: &str, k| classify(n.as_bytes(), k);
        assert_eq!(
            c("alpha.1-2", FileKind::Regular),
            Entry::Lock("alpha".into())
        );
        assert_eq!(c(".tmp.alpha.1", FileKind::Regular), Entry::Temp);
        assert_eq!(c(".nfs0001", FileKind::Regular), Entry::Ignored);
        assert_eq!(c("sub.dir", FileKind::Dir), Entry::Ignored);
        assert!(matches!(c("alpha.1", FileKind::Other), Entry::Garbage(_)));
        assert!(matches!(c("README", FileKind::Regular), Entry::Garbage(_)));
        assert!(matches!(
            classify(b"al\xffpha.1", FileKind::Regular),
            Entry::Garbage(_)
        ));
    }

    #[test]
    fn network_file_systems() {
        assert!(is_network_fs(0x6969));
        assert!(is_network_fs(0xff53_4d42));
        assert!(!is_network_fs(0xef53)); // ext4
        assert!(!is_network_fs(0x0102_1994)); // tmpfs
    }

    #[test]
    fn status_reports() {
        let now = UNIX_EPOCH + Duration::from_secs(1_732_237_000);
        let lock = |file: &str, client: &str, age: u64, expires: Option<u64>, comment| Lock {
            file: file.into(),
            client: client.into(),
            info: Ok(LockInfo {
                client: client.into(),
                host: "h".into(),
                uid: 0,
                pid: 7,
                created: now - Duration::from_secs(age),
                expires: expires.map(|e| now + Duration::from_secs(e) - Duration::from_secs(100)),
                comment,
            }),
            mtime: None,
        };
        let scan = Scan {
            locks: vec![
                lock("b.2", "b", 5, None, None),
                lock("a.1", "a", 3700, None, Some("backup".to_string())),
                lock("a.2", "a", 10, Some(160), None),
                lock("c.1", "c", 200, Some(50), None),
                Lock {
                    file: "d.1".into(),
                    client: "d".into(),
                    info: Err(InfoError::Missing("created")),
                    mtime: Some(now - Duration::from_secs(61)),
                },
            ],
            blocked: vec!["b".into(), "e".into()],
            disallowed: true,
            garbage: vec![Garbage {
                path: "locks/README".into(),
                why: "not a lock name (CLIENT.UNIQUE)",
            }],
        };
        let mut out = Vec::new();
        write_server_status(&mut out, &scan, now).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "server: new locks disallowed\n\
             client a: 2 locks, not blocked\n\
             \x20 a.1: age 1h01m, pid 7, host h, uid 0: backup\n\
             \x20 a.2: age 10s, pid 7, host h, uid 0, expires in 1m00s\n\
             client b: 1 lock, blocked\n\
             \x20 b.2: age 5s, pid 7, host h, uid 0\n\
             client c: 0 locks (and 1 expired), not blocked\n\
             \x20 c.1: age 3m20s, pid 7, host h, uid 0, expired 50s ago\n\
             client d: 1 lock, not blocked\n\
             \x20 d.1: age 1m01s (from mtime), unreadable contents: no created=\n\
             client e: 0 locks, blocked\n\
             garbage: locks/README: not a lock name (CLIENT.UNIQUE)\n\
             total: 4 locks from 3 clients\n"
        );
        let mut out = Vec::new();
        write_client_status(&mut out, &scan, &ClientName::new("b").unwrap(), now).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "client b: 1 lock, blocked\n\
             \x20 b.2: age 5s, pid 7, host h, uid 0\n\
             server: new locks disallowed\n\
             garbage: locks/README: not a lock name (CLIENT.UNIQUE)\n"
        );
    }

    #[test]
    fn poll_timeouts_round_up() {
        assert_eq!(ms_timeout(Duration::ZERO), PollTimeout::ZERO);
        assert_eq!(
            ms_timeout(Duration::from_micros(1)),
            PollTimeout::try_from(1u32).unwrap()
        );
        assert_eq!(
            ms_timeout(Duration::from_secs(3600)),
            PollTimeout::try_from(60_000u32).unwrap()
        );
    }
}
