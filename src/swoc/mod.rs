//! SWOC locks: the directory `SERVICE/swoc/` (locks/, blocked/, disallow), client names, lock files, and waiting for locks to go.

use crate::diag::{errstr, io_errno};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::stat::{Mode, fstatat};
use nix::unistd::{UnlinkatFlags, linkat, unlinkat};
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
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
/// Which accounts may use which client names (see ClientMap).
pub const CLIENTS: &str = "clients";
/// `clients` is read up to this size.
const CLIENTS_MAX: u64 = 1 << 20;
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

/// Why a SWOC operation on a path failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// A system call failed.
    Sys(Errno),
    /// What was found there is not safe to use, or the caller may not do this.
    Refused(String),
    /// A part of the SWOC tree is missing. It is never made on the way (a share that
    /// did not mount, a misspelt directory): only by `SwocDir::init`.
    Missing,
}

/// A SWOC operation that failed, with the path it was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwocError {
    pub verb: &'static str,
    pub path: PathBuf,
    pub why: Why,
}

impl std::fmt::Display for SwocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unable to {} {}: ", self.verb, self.path.display())?;
        match &self.why {
            Why::Sys(Errno::ELOOP) => write!(f, "a symbolic link"),
            Why::Sys(e) => write!(f, "{}", errstr(*e)),
            Why::Refused(s) => write!(f, "{s}"),
            Why::Missing => write!(
                f,
                "file does not exist (not a SWOC directory: is the share mounted, is the \
                 name right? swocserver --init creates one)"
            ),
        }
    }
}

impl std::error::Error for SwocError {}

fn sys(verb: &'static str, path: impl Into<PathBuf>, errno: Errno) -> SwocError {
    SwocError {
        verb,
        path: path.into(),
        why: Why::Sys(errno),
    }
}

fn refused(verb: &'static str, path: impl Into<PathBuf>, why: impl Into<String>) -> SwocError {
    SwocError {
        verb,
        path: path.into(),
        why: Why::Refused(why.into()),
    }
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
    /// The file's owner: what says whose lock it is (the contents' uid= is only text).
    pub owner: u32,
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

/// A lock or block under a client name whose owner may not use that name: planted by
/// another account. It counts for nothing; only the server's account removes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    /// Relative to the SWOC directory, like `locks/alpha.1`.
    pub path: String,
    pub client: String,
    pub owner: u32,
}

/// Everything `-s` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub locks: Vec<Lock>,
    pub blocked: Vec<String>,
    pub disallowed: bool,
    pub garbage: Vec<Garbage>,
    pub foreign: Vec<Foreign>,
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
    /// The lock file came out owned by `uid`, which may not use this client name (see
    /// `swoc/clients`): it was removed again.
    NotYours {
        uid: u32,
    },
}

/// What blocking a client did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    New,
    Already,
    /// A block that did not count (a client's own, or another account's) was replaced
    /// by the server's.
    Replaced {
        owner: u32,
    },
}

/// What unblocking a client did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblocked {
    Removed,
    NotBlocked,
    /// `blocked/CLIENT` belongs to an account that may not use the name: it does not
    /// block, and is left for the server's account to remove.
    Foreign {
        owner: u32,
    },
}

/// Who asks: a client for itself (swocclient) or the server's account (swocserver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
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

/// The host name, which is also the default client name.
pub fn hostname() -> Result<String, Errno> {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned())
}

/// `swoc/clients`: which accounts may use which client names, `CLIENT UID...` per line
/// (numeric uids: what NFS carries and what fstat reports on every machine), `#`
/// comments. A name may list several uids (root's and a user's cron jobs of one host);
/// several names may list one uid (clients whose root is squashed to one account).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientMap(HashMap<String, Vec<u32>>);

/// A line of `swoc/clients` that is not `CLIENT UID...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    pub line: usize,
    pub what: String,
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for MapError {}

impl ClientMap {
    pub fn parse(text: &str) -> Result<ClientMap, MapError> {
        let mut map: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let err = |what: String| MapError { line: i + 1, what };
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(client) = words.next() else {
                continue;
            };
            let client = ClientName::new(client).map_err(|e| err(e.to_string()))?;
            let uids = map.entry(client.0).or_default();
            let before = uids.len();
            for w in words {
                let uid = w
                    .parse::<u32>()
                    .map_err(|_| err(format!("invalid uid {w:?} (want a number)")))?;
                uids.push(uid);
            }
            if uids.len() == before {
                return Err(err("no uid after the client name".into()));
            }
        }
        Ok(ClientMap(map))
    }

    /// The uids `clients` gives `client`, besides the server's account and root.
    pub fn uids(&self, client: &str) -> &[u32] {
        self.0.get(client).map_or(&[], Vec::as_slice)
    }
}

/// Whose files count: the server's account (the owner of `swoc/`) and root may use every
/// client name; any other uid only the names `swoc/clients` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owners {
    pub server: u32,
    pub map: ClientMap,
}

impl Owners {
    pub fn is_server(&self, uid: u32) -> bool {
        uid == 0 || uid == self.server
    }

    pub fn may_use(&self, client: &str, uid: u32) -> bool {
        self.is_server(uid) || self.map.uids(client).contains(&uid)
    }
}

/// For opening anything in a directory others may write: never through a symlink, never
/// blocking on a FIFO, never taking a terminal.
const SAFE: OFlag = OFlag::O_CLOEXEC
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_NONBLOCK)
    .union(OFlag::O_NOCTTY);

/// What fstat says, as far as SWOC cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Meta {
    kind: FileKind,
    uid: u32,
    mode: u32,
    ino: u64,
    mtime: Option<SystemTime>,
}

impl Meta {
    fn of(st: &nix::sys::stat::FileStat) -> Meta {
        let kind = match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => FileKind::Dir,
            libc::S_IFREG => FileKind::Regular,
            _ => FileKind::Other,
        };
        let mtime = u64::try_from(st.st_mtime).ok().and_then(|s| {
            let ns = u32::try_from(st.st_mtime_nsec).ok()?;
            UNIX_EPOCH.checked_add(Duration::new(s, ns))
        });
        #[allow(clippy::unnecessary_cast)] // mode_t and ino_t differ between targets
        Meta {
            kind,
            uid: st.st_uid,
            mode: st.st_mode as u32 & 0o7777,
            ino: st.st_ino as u64,
            mtime,
        }
    }
}

fn fstat_meta(fd: BorrowedFd<'_>) -> Result<Meta, Errno> {
    nix::sys::stat::fstat(fd).map(|st| Meta::of(&st))
}

fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Meta, Errno> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(|st| Meta::of(&st))
}

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Reads a small regular file relative to `dir`, and only if it is still the file
/// `seen` (same inode, same owner): what was checked is what is read.
fn read_small(dir: BorrowedFd<'_>, name: &OsStr, seen: &Meta) -> Result<Vec<u8>, Errno> {
    let fd = openat(dir, name, OFlag::O_RDONLY | SAFE, Mode::empty())?;
    let m = fstat_meta(fd.as_fd())?;
    if m.kind != FileKind::Regular || m.ino != seen.ino || m.uid != seen.uid {
        // Replaced since it was looked at: as if it went.
        return Err(Errno::ENOENT);
    }
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

/// The names in the directory `dir`, with their kind where readdir tells it. Reads
/// through a fresh open of `.`, so nothing about `dir` itself changes, and no path is
/// looked up again.
fn read_names(dir: BorrowedFd<'_>) -> Result<Vec<(OsString, Option<FileKind>)>, Errno> {
    use std::ffi::CStr;
    use std::os::fd::{FromRawFd, IntoRawFd};
    use std::os::unix::ffi::OsStrExt;
    let fd = openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let raw = fd.into_raw_fd();
    // SAFETY: raw is an open directory descriptor that we own; on success the stream
    // owns it and closedir closes it.
    let stream = unsafe { libc::fdopendir(raw) };
    if stream.is_null() {
        let e = Errno::last();
        // SAFETY: fdopendir failed, so raw is still ours, and closed exactly once here.
        drop(unsafe { OwnedFd::from_raw_fd(raw) });
        return Err(e);
    }
    struct Stream(*mut libc::DIR);
    impl Drop for Stream {
        fn drop(&mut self) {
            // SAFETY: self.0 came from fdopendir and is closed only here.
            unsafe { libc::closedir(self.0) };
        }
    }
    let stream = Stream(stream);
    let mut out = Vec::new();
    loop {
        Errno::clear();
        // SAFETY: stream.0 is an open directory stream used by this thread only.
        let ent = unsafe { libc::readdir(stream.0) };
        if ent.is_null() {
            return match Errno::last_raw() {
                0 => Ok(out),
                e => Err(Errno::from_raw(e)),
            };
        }
        // SAFETY: ent is not null and stays valid until the next readdir on this stream;
        // d_name is NUL-terminated. Both are copied out before then.
        let (name, ty) = unsafe { (CStr::from_ptr((*ent).d_name.as_ptr()), (*ent).d_type) };
        let name = name.to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let kind = match ty {
            libc::DT_DIR => Some(FileKind::Dir),
            libc::DT_REG => Some(FileKind::Regular),
            libc::DT_UNKNOWN => None,
            _ => Some(FileKind::Other),
        };
        out.push((OsStr::from_bytes(name).to_os_string(), kind));
    }
}

/// Opens the directory `name` in `dir`, never through a symlink (ELOOP for one: with
/// O_DIRECTORY, Linux says ENOTDIR).
fn open_subdir(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    openat(
        dir,
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | SAFE,
        Mode::empty(),
    )
    .map_err(|e| {
        let link = fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW)
            .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFLNK);
        if e == Errno::ENOTDIR && link {
            Errno::ELOOP
        } else {
            e
        }
    })
}

/// Whether a missing part of the SWOC tree is made (`--init`) or is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Create {
    Missing,
    Nothing,
}

fn missing(path: &Path) -> SwocError {
    SwocError {
        verb: "use",
        path: path.into(),
        why: Why::Missing,
    }
}

/// Opens the directory `name` in `dir`, or, with `Create::Missing`, makes it: mkdirat with no access for others,
/// then open it without following a symlink, check that it is the one this process
/// made, and only then give it `mode` through the descriptor (mkdir's mode goes through
/// the umask, which would drop the group and sticky bits).
fn ensure_subdir(
    dir: BorrowedFd<'_>,
    path: &Path,
    name: &str,
    mode: u32,
    create: Create,
) -> Result<OwnedFd, SwocError> {
    for _ in 0..3 {
        match open_subdir(dir, name) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) if create == Create::Missing => {}
            Err(Errno::ENOENT) => return Err(missing(path)),
            Err(e) => return Err(sys("use", path, e)),
        }
        match nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(sys("create", path, e)),
        }
        let fd = open_subdir(dir, name).map_err(|e| sys("open", path, e))?;
        let m = fstat_meta(fd.as_fd()).map_err(|e| sys("stat", path, e))?;
        if m.uid != euid() {
            return Err(refused(
                "create",
                path,
                format!("replaced while being made (now owned by uid {})", m.uid),
            ));
        }
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))
            .map_err(|e| sys("set mode of", path, e))?;
        return Ok(fd);
    }
    Err(sys("create", path, Errno::EEXIST))
}

/// Creates `name` in `dir` exclusively, never through a symlink, with exactly `mode`,
/// holding `body`. Returns the owner the file system gave it (over NFS a squashed root
/// is not root). Anything failing after the create removes the file again.
fn create_excl(
    dir: BorrowedFd<'_>,
    name: &str,
    mode: u32,
    body: &[u8],
    check_owner: impl Fn(u32) -> bool,
) -> Result<Result<u32, u32>, Errno> {
    let fd = openat(
        dir,
        name,
        OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | SAFE,
        Mode::from_bits_truncate(0o600),
    )?;
    let remove = || {
        let _ = unlinkat(dir, name, UnlinkatFlags::NoRemoveDir);
    };
    let done = (|| {
        let uid = fstat_meta(fd.as_fd())?.uid;
        if !check_owner(uid) {
            return Ok(Err(uid));
        }
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))?;
        let mut f = std::fs::File::from(fd);
        f.write_all(body).map_err(|e| io_errno(&e))?;
        // NFS reports write errors (quota, space) at close.
        nix::unistd::close(OwnedFd::from(f))?;
        Ok(Ok(uid))
    })();
    if !matches!(done, Ok(Ok(_))) {
        remove();
    }
    done
}

/// What creating a lock file gave.
enum Created {
    Linked(String),
    NotYours(u32),
}

/// Creates `CLIENT.UNIQUE` in `dir` holding `body`, in the way that is atomic on NFS
/// too: write a temp file under an unpredictable name, then link(2) it to the final name
/// (O_EXCL on the final name would let a reader see it empty, and is not atomic on
/// NFSv2). link's reply can be lost on NFS while the link was made, so a failed link is
/// checked by the temp file's link count, as Linux's open(2) advises. A temp file whose
/// owner may not use the client name is removed before it becomes a lock.
fn create_linked(
    dir: BorrowedFd<'_>,
    path: &Path,
    client: &ClientName,
    body: &[u8],
    may_use: impl Fn(u32) -> bool,
) -> Result<Created, SwocError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let unique = unique_part(SystemTime::now(), std::process::id(), random64());
        let name = format!("{client}.{unique}");
        let tmp = format!("{TMP_PREFIX}{name}");
        match create_excl(dir, &tmp, FILE_MODE, body, &may_use) {
            Ok(Ok(_)) => {}
            Ok(Err(uid)) => return Ok(Created::NotYours(uid)),
            Err(Errno::EEXIST) if attempt < 10 => continue,
            Err(e) => return Err(sys("create", path.join(&tmp), e)),
        }
        let remove_tmp = || {
            let _ = unlinkat(dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        };
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
        return Ok(Created::Linked(name));
    }
}

/// The service directory, opened; made whole with a `down` file if it is missing: the
/// default, /service/swoc, is in svscan's scan directory, whose supervise must find
/// `down` the moment it starts, rather than a directory with no ./run to complain of.
/// The service path is the operator's (-d, $SWOC_DIR) and may hold symlinks; from here
/// on nothing is looked up by path.
fn ensure_service_dir(service: &Path, create: Create) -> Result<OwnedFd, SwocError> {
    let open = |p: &Path| {
        nix::fcntl::open(
            p,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    match open(service) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create == Create::Missing => {}
        Err(Errno::ENOENT) => return Err(missing(service)),
        Err(e) => return Err(sys("use", service, e)),
    }
    let parent = service
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = service.file_name().and_then(OsStr::to_str) else {
        return Err(sys("create", service, Errno::EINVAL));
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(parent)
        .map_err(|e| sys("create", parent, io_errno(&e)))?;
    let pfd = open(parent).map_err(|e| sys("open", parent, e))?;
    let tmp = format!(
        ".{name}.swoc-new.{}.{:016x}",
        std::process::id(),
        random64()
    );
    let tmp_path = parent.join(&tmp);
    let made = ensure_subdir(pfd.as_fd(), &tmp_path, &tmp, DIR_MODE, create).and_then(|t| {
        let _owner = create_excl(t.as_fd(), "down", FILE_MODE, b"", |_| true)
            .map_err(|e| sys("create", tmp_path.join("down"), e))?;
        // Never over a service directory someone made meanwhile.
        match nix::fcntl::renameat2(
            pfd.as_fd(),
            tmp.as_str(),
            pfd.as_fd(),
            name,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        ) {
            Err(Errno::EINVAL) => {
                nix::fcntl::renameat(pfd.as_fd(), tmp.as_str(), pfd.as_fd(), name)
            }
            other => other,
        }
        .map_err(|e| {
            let _ = unlinkat(t.as_fd(), "down", UnlinkatFlags::NoRemoveDir);
            sys("create", service, e)
        })
    });
    if let Err(e) = made {
        let _ = unlinkat(pfd.as_fd(), tmp.as_str(), UnlinkatFlags::RemoveDir);
        // Another swocclient made it meanwhile: fine.
        return open_subdir(pfd.as_fd(), name).map_err(|_| e);
    }
    open_subdir(pfd.as_fd(), name).map_err(|e| sys("open", service, e))
}

/// `locks/` and `blocked/` hold files of many accounts: the directory must be the
/// server's, and sticky if others may write it, or anyone could remove anyone's files.
fn check_shared(fd: BorrowedFd<'_>, path: &Path, owners: &Owners) -> Result<(), SwocError> {
    let m = fstat_meta(fd).map_err(|e| sys("stat", path, e))?;
    if !owners.is_server(m.uid) {
        return Err(refused(
            "use",
            path,
            format!(
                "owned by uid {}, not by the server's account (uid {}) or root",
                m.uid, owners.server
            ),
        ));
    }
    if m.mode & 0o022 != 0 && m.mode & 0o1000 == 0 {
        return Err(refused(
            "use",
            path,
            "writable by others but not sticky: anyone could remove anyone's files",
        ));
    }
    Ok(())
}

/// Reads `swoc/clients`, which only the server's account may have written.
fn read_clients(swoc: BorrowedFd<'_>, path: &Path, server: u32) -> Result<ClientMap, SwocError> {
    let fd = match openat(swoc, CLIENTS, OFlag::O_RDONLY | SAFE, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(ClientMap::default()),
        Err(e) => return Err(sys("open", path, e)),
    };
    let m = fstat_meta(fd.as_fd()).map_err(|e| sys("stat", path, e))?;
    if m.kind != FileKind::Regular {
        return Err(refused("use", path, "not a regular file"));
    }
    if m.uid != 0 && m.uid != server {
        return Err(refused(
            "use",
            path,
            format!(
                "owned by uid {}, not by the server's account (uid {server}) or root",
                m.uid
            ),
        ));
    }
    if m.mode & 0o022 != 0 {
        return Err(refused("use", path, "writable by group or others"));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::from(fd), CLIENTS_MAX),
        &mut text,
    )
    .map_err(|e| sys("read", path, io_errno(&e)))?;
    ClientMap::parse(&text).map_err(|e| refused("use", path, e.to_string()))
}

/// The SWOC directory, opened and checked. Every later open, create, link, rename and
/// remove is relative to these descriptors, so nothing renamed meanwhile redirects it.
struct Tree {
    root: PathBuf,
    swoc: OwnedFd,
    locks: OwnedFd,
    blocked: OwnedFd,
    owners: Owners,
}

impl Tree {
    fn locks_path(&self) -> PathBuf {
        self.root.join(LOCKS)
    }

    fn blocked_path(&self) -> PathBuf {
        self.root.join(BLOCKED)
    }

    /// swocserver's -r, -b and -u act for the server's account only.
    fn require_server(&self, verb: &'static str, path: PathBuf) -> Result<(), SwocError> {
        let me = euid();
        if self.owners.is_server(me) {
            return Ok(());
        }
        Err(refused(
            verb,
            path,
            format!(
                "uid {me} is not the server's account (uid {}, the owner of {}) or root",
                self.owners.server,
                self.root.display()
            ),
        ))
    }

    fn is_disallowed(&self) -> Result<bool, SwocError> {
        match lstat_at(self.swoc.as_fd(), OsStr::new(DISALLOW)) {
            Ok(_) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(sys("access", self.root.join(DISALLOW), e)),
        }
    }

    fn block_of(&self, client: &str) -> Result<Option<Meta>, SwocError> {
        match lstat_at(self.blocked.as_fd(), OsStr::new(client)) {
            Ok(m) => Ok(Some(m)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(sys("access", self.blocked_path().join(client), e)),
        }
    }

    /// A block counts when it is a regular file of the server's account, root, or an
    /// account that may use the client name (a client blocking itself).
    fn counts_as_block(&self, client: &str, m: &Meta) -> bool {
        m.kind == FileKind::Regular && self.owners.may_use(client, m.uid)
    }

    fn is_blocked(&self, client: &str) -> Result<bool, SwocError> {
        Ok(self
            .block_of(client)?
            .is_some_and(|m| self.counts_as_block(client, &m)))
    }

    fn refusal(&self, client: &ClientName) -> Result<Option<Locked>, SwocError> {
        if self.is_disallowed()? {
            return Ok(Some(Locked::Disallowed));
        }
        if self.is_blocked(client.as_str())? {
            return Ok(Some(Locked::Blocked));
        }
        Ok(None)
    }

    /// The locks in `locks/` (of `client`, or everyone's), with their contents if
    /// `read`; the foreign ones; and how many vanished between listing and reading.
    /// Those are left out, but the caller must know: a lock created after the listing
    /// and one released before its read would make "none" out of a directory that was
    /// never without a lock.
    fn scan_locks(
        &self,
        client: Option<&str>,
        read: bool,
        mut garbage: Option<&mut Vec<Garbage>>,
    ) -> Result<(Vec<Lock>, Vec<Foreign>, usize), SwocError> {
        use std::os::unix::ffi::OsStrExt;
        let dir = self.locks.as_fd();
        let names = read_names(dir).map_err(|e| sys("read", self.locks_path(), e))?;
        let now = SystemTime::now();
        let (mut out, mut foreign, mut vanished) = (Vec::new(), Vec::new(), 0);
        for (name, dkind) in names {
            let shown = || format!("{LOCKS}/{}", name.to_string_lossy());
            if name.as_bytes().starts_with(b".") {
                if let Some(g) = garbage.as_deref_mut()
                    && name.as_bytes().starts_with(TMP_PREFIX.as_bytes())
                    && lstat_at(dir, &name).is_ok_and(|m| {
                        m.kind == FileKind::Regular
                            && m.mtime.is_some_and(|t| {
                                now.duration_since(t).unwrap_or_default() > STALE_TMP
                            })
                    })
                {
                    g.push(Garbage {
                        path: shown(),
                        why: "stale temp file",
                    });
                }
                continue;
            }
            if dkind == Some(FileKind::Dir) {
                continue;
            }
            let m = match lstat_at(dir, &name) {
                Ok(m) => m,
                Err(Errno::ENOENT) | Err(Errno::ESTALE) => {
                    vanished += 1;
                    continue;
                }
                Err(e) => return Err(sys("stat", self.locks_path().join(&name), e)),
            };
            let c = match classify(name.as_bytes(), m.kind) {
                Entry::Lock(c) => c,
                Entry::Ignored | Entry::Temp => continue,
                Entry::Garbage(why) => {
                    if let Some(g) = garbage.as_deref_mut() {
                        g.push(Garbage { path: shown(), why });
                    }
                    continue;
                }
            };
            if client.is_some_and(|want| want != c) {
                continue;
            }
            if !self.owners.may_use(&c, m.uid) {
                foreign.push(Foreign {
                    path: shown(),
                    client: c,
                    owner: m.uid,
                });
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
                    owner: m.uid,
                });
                continue;
            }
            let info = match read_small(dir, &name, &m) {
                Ok(b) => LockInfo::unpack(&b),
                Err(Errno::ENOENT) | Err(Errno::ESTALE) => {
                    vanished += 1;
                    continue;
                }
                Err(_) => Err(InfoError::NotText),
            };
            let mtime = match info {
                Ok(_) => None,
                Err(_) => m.mtime,
            };
            out.push(Lock {
                file,
                client: c,
                info,
                mtime,
                owner: m.uid,
            });
        }
        Ok((out, foreign, vanished))
    }

    /// Removes the client's expired locks, as far as this account may.
    fn reap_expired(&self, client: &ClientName, now: SystemTime) -> usize {
        let Ok((locks, _, _)) = self.scan_locks(Some(client.as_str()), true, None) else {
            return 0;
        };
        locks
            .into_iter()
            .filter(|l| l.expired(now))
            .filter(|l| self.remove_lock(&l.file).is_ok())
            .count()
    }

    fn remove_lock(&self, file: &str) -> Result<(), Errno> {
        unlinkat(self.locks.as_fd(), file, UnlinkatFlags::NoRemoveDir)
    }

    /// Removes every lock named for `client`: with `foreign`, also those of accounts
    /// that may not use the name. Returns how many of each.
    fn remove_all(&self, client: &ClientName, foreign: bool) -> Result<(usize, usize), SwocError> {
        let (locks, strangers, _) = self.scan_locks(Some(client.as_str()), false, None)?;
        let mut n = (0, 0);
        let files = locks.iter().map(|l| (l.file.clone(), false));
        let planted = strangers
            .iter()
            .filter(|_| foreign)
            .map(|f| (f.path[LOCKS.len() + 1..].to_string(), true));
        for (file, is_foreign) in files.chain(planted) {
            match self.remove_lock(&file) {
                Ok(()) if is_foreign => n.1 += 1,
                Ok(()) => n.0 += 1,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(sys("remove", self.locks_path().join(&file), e)),
            }
        }
        Ok(n)
    }
}

/// A SWOC directory, `SERVICE/swoc/`.
#[derive(Clone, Debug)]
pub struct SwocDir {
    service: PathBuf,
    root: PathBuf,
}

impl SwocDir {
    /// The SWOC directory of the service directory `service`.
    pub fn new(service: impl AsRef<Path>) -> SwocDir {
        SwocDir {
            service: service.as_ref().to_path_buf(),
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

    /// Opens the SWOC directory and checks it: `swoc/` writable by its owner only (that
    /// owner is the server's account), `locks/` and `blocked/` the server's and sticky
    /// if shared, `clients` the server's. Touches nothing that exists, so a waiter works
    /// on a read-only mount. A missing part is an error (`Why::Missing`), never made on
    /// the way: a client whose share did not mount would take a lock no server sees,
    /// and a server given a misspelt directory would find no lock and say "all done".
    fn tree(&self) -> Result<Tree, SwocError> {
        self.tree_with(Create::Nothing)
    }

    fn tree_with(&self, create: Create) -> Result<Tree, SwocError> {
        let service = ensure_service_dir(&self.service, create)?;
        let swoc = ensure_subdir(service.as_fd(), &self.root, SWOC, DIR_MODE, create)?;
        let m = fstat_meta(swoc.as_fd()).map_err(|e| sys("stat", &self.root, e))?;
        if m.mode & 0o022 != 0 {
            return Err(refused(
                "use",
                &self.root,
                "writable by group or others: only the server's account may write it",
            ));
        }
        let server = m.uid;
        let owners = Owners {
            server,
            map: read_clients(swoc.as_fd(), &self.root.join(CLIENTS), server)?,
        };
        let locks = ensure_subdir(
            swoc.as_fd(),
            &self.locks_dir(),
            LOCKS,
            SHARED_DIR_MODE,
            create,
        )?;
        check_shared(locks.as_fd(), &self.locks_dir(), &owners)?;
        let blocked = ensure_subdir(
            swoc.as_fd(),
            &self.blocked_dir(),
            BLOCKED,
            SHARED_DIR_MODE,
            create,
        )?;
        check_shared(blocked.as_fd(), &self.blocked_dir(), &owners)?;
        Ok(Tree {
            root: self.root.clone(),
            swoc,
            locks,
            blocked,
            owners,
        })
    }

    /// Checks the layout: Ok when it is whole and safe, else why not.
    pub fn check(&self) -> Result<(), SwocError> {
        self.tree().map(|_| ())
    }

    /// The explicit setup step (`swocserver --init`): creates whatever of the layout is
    /// missing (the service directory whole, with a `down` file), and checks what is
    /// there. Nothing else ever creates any of it.
    pub fn init(&self) -> Result<(), SwocError> {
        self.tree_with(Create::Missing).map(|_| ())
    }

    pub fn is_disallowed(&self) -> Result<bool, SwocError> {
        self.tree()?.is_disallowed()
    }

    /// Whether a block that counts is on `client`.
    pub fn is_blocked(&self, client: &ClientName) -> Result<bool, SwocError> {
        self.tree()?.is_blocked(client.as_str())
    }

    /// Takes one more lock for `req.client`, unless the server disallows new locks, the
    /// client is blocked, or the lock file would not be the client's (its owner may not
    /// use the name). Expired locks of the client are removed on the way.
    pub fn lock(&self, req: &LockRequest<'_>) -> Result<Locked, SwocError> {
        let t = self.tree()?;
        if let Some(r) = t.refusal(req.client)? {
            return Ok(r);
        }
        let now = SystemTime::now();
        let info = LockInfo {
            client: req.client.to_string(),
            host: hostname().unwrap_or_default(),
            uid: euid(),
            pid: req.pid,
            created: now,
            expires: req.ttl.and_then(|t| now.checked_add(t)),
            comment: req.comment.map(str::to_string),
        };
        let path = t.locks_path();
        let may_use = |uid| t.owners.may_use(req.client.as_str(), uid);
        let name = match create_linked(
            t.locks.as_fd(),
            &path,
            req.client,
            info.pack().as_bytes(),
            may_use,
        )? {
            Created::Linked(name) => name,
            Created::NotYours(uid) => return Ok(Locked::NotYours { uid }),
        };
        // A block or disallow that raced with us wins: look again now the lock exists,
        // so that once `swocserver -d` or `-b` has returned, no lock taken after stays.
        if let Some(r) = t.refusal(req.client)? {
            let _ = t.remove_lock(&name);
            return Ok(r);
        }
        t.reap_expired(req.client, now);
        Ok(Locked::Taken(name))
    }

    /// Releases one of the client's live locks: one taken by the same job (same host
    /// and pid) if there is one, else one of this account's, else the oldest. Foreign
    /// locks are never touched; expired locks are removed on the way and do not count.
    /// "None" is only said of a listing that held none.
    pub fn release_one(&self, client: &ClientName, pid: u32) -> Result<Released, SwocError> {
        let t = self.tree()?;
        let host = hostname().unwrap_or_default();
        let me = euid();
        let now = SystemTime::now();
        let mut reaped = 0;
        loop {
            let (all, _, vanished) = t.scan_locks(Some(client.as_str()), true, None)?;
            let (expired, mut live): (Vec<Lock>, Vec<Lock>) =
                all.into_iter().partition(|l| l.expired(now));
            reaped += expired
                .iter()
                .filter(|l| t.remove_lock(&l.file).is_ok())
                .count();
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
                    .then((b.owner == me).cmp(&(a.owner == me)))
                    .then(a.created().cmp(&b.created()))
                    .then(a.file.cmp(&b.file))
            });
            let mut denied = None;
            for l in live {
                match t.remove_lock(&l.file) {
                    Ok(()) => return Ok(Released::One(l.file)),
                    // Another release of the same client took it first: try the next,
                    // then look again, so each release removes exactly one lock.
                    Err(Errno::ENOENT) => {}
                    // Another account's lock of the same client (sticky directory).
                    Err(e @ (Errno::EPERM | Errno::EACCES)) => {
                        denied.get_or_insert((l.file, e));
                    }
                    Err(e) => return Err(sys("remove", t.locks_path().join(&l.file), e)),
                }
            }
            if let Some((file, e)) = denied {
                return Err(sys("remove", t.locks_path().join(file), e));
            }
        }
    }

    /// swocserver -r: removes every lock of `client`, and any lock planted under its
    /// name by an account that may not use it. Returns how many of each.
    pub fn release_all(&self, client: &ClientName) -> Result<(usize, usize), SwocError> {
        let t = self.tree()?;
        t.require_server("release the locks of", t.locks_path().join(client.as_str()))?;
        t.remove_all(client, true)
    }

    /// Blocks `client` from taking new locks. The server's block (Role::Server) is a file
    /// of the server's account, put in place by rename(2), so it replaces whatever was
    /// there (a client's own block, which the client could lift, or another account's,
    /// which does not count) without a moment unblocked. A client blocks only itself,
    /// and a foreign file in the way is an error.
    pub fn block(&self, client: &ClientName, role: Role) -> Result<Blocked, SwocError> {
        let t = self.tree()?;
        let path = t.blocked_path().join(client.as_str());
        let dir = t.blocked.as_fd();
        let body = format!("uid={}\ncreated={}\n", euid(), fmt_time(SystemTime::now()));
        let body = body.as_bytes();
        let c = client.as_str();
        match role {
            Role::Server => {
                t.require_server("block", path.clone())?;
                let old = t.block_of(c)?;
                if let Some(m) = old
                    && m.kind == FileKind::Regular
                    && t.owners.is_server(m.uid)
                {
                    return Ok(Blocked::Already);
                }
                let unique = unique_part(SystemTime::now(), std::process::id(), random64());
                let tmp = format!("{TMP_PREFIX}{c}.{unique}");
                let _owner = create_excl(dir, &tmp, FILE_MODE, body, |_| true)
                    .map_err(|e| sys("create", t.blocked_path().join(&tmp), e))?;
                crate::status::rename_into(dir, tmp.as_ref(), c.as_ref())
                    .map_err(|e| sys("create", path, e))?;
                Ok(match old {
                    None => Blocked::New,
                    Some(m) => Blocked::Replaced { owner: m.uid },
                })
            }
            Role::Client => {
                match create_excl(dir, c, FILE_MODE, body, |uid| t.owners.may_use(c, uid)) {
                    Ok(Ok(_)) => Ok(Blocked::New),
                    Ok(Err(uid)) => Err(refused(
                        "block",
                        path,
                        format!("uid {uid} may not use client {c} (see {CLIENTS})"),
                    )),
                    Err(Errno::EEXIST) => match t.block_of(c)? {
                        Some(m) if t.counts_as_block(c, &m) => Ok(Blocked::Already),
                        Some(m) => Err(refused(
                            "block",
                            path,
                            format!(
                                "a foreign file of uid {} is in the way: only the server's account can remove it",
                                m.uid
                            ),
                        )),
                        // Lifted meanwhile.
                        None => Err(sys("create", path, Errno::EAGAIN)),
                    },
                    Err(e) => Err(sys("create", path, e)),
                }
            }
        }
    }

    /// Lets `client` take locks again. The server removes any block; a client may not
    /// lift the server's block, and leaves a foreign one (which does not count) alone.
    pub fn unblock(&self, client: &ClientName, role: Role) -> Result<Unblocked, SwocError> {
        let t = self.tree()?;
        let c = client.as_str();
        let path = t.blocked_path().join(c);
        let remove = || match unlinkat(t.blocked.as_fd(), c, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(Unblocked::Removed),
            Err(Errno::ENOENT) => Ok(Unblocked::NotBlocked),
            Err(e) => Err(sys("remove", t.blocked_path().join(c), e)),
        };
        match role {
            Role::Server => {
                t.require_server("unblock", path)?;
                remove()
            }
            Role::Client => match t.block_of(c)? {
                None => Ok(Unblocked::NotBlocked),
                Some(m) if !t.counts_as_block(c, &m) => Ok(Unblocked::Foreign { owner: m.uid }),
                Some(m) if t.owners.is_server(m.uid) && !t.owners.is_server(euid()) => {
                    Err(refused(
                        "unblock",
                        path,
                        "blocked by the server's account: only swocserver -u lifts it",
                    ))
                }
                Some(_) => remove(),
            },
        }
    }

    /// Refuses new locks from every client; false if already so.
    pub fn disallow(&self) -> Result<bool, SwocError> {
        let t = self.tree()?;
        match create_excl(t.swoc.as_fd(), DISALLOW, FILE_MODE, b"", |_| true) {
            Ok(_) => Ok(true),
            Err(Errno::EEXIST) => Ok(false),
            Err(e) => Err(sys("create", self.disallow_file(), e)),
        }
    }

    /// Accepts new locks again; false if they were not refused.
    pub fn allow(&self) -> Result<bool, SwocError> {
        let t = self.tree()?;
        match unlinkat(t.swoc.as_fd(), DISALLOW, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(sys("remove", self.disallow_file(), e)),
        }
    }

    /// Removes every lock of `client` and unblocks it (`swocclient -i`).
    pub fn reset(&self, client: &ClientName) -> Result<(usize, Unblocked), SwocError> {
        let n = self.tree()?.remove_all(client, false)?.0;
        Ok((n, self.unblock(client, Role::Client)?))
    }

    /// Locks (of one client, or all), blocks, allow state, garbage and foreign files,
    /// for `-s`.
    pub fn scan(&self, client: Option<&ClientName>) -> Result<Scan, SwocError> {
        let t = self.tree()?;
        let mut garbage = Vec::new();
        let (mut locks, mut foreign) = (Vec::new(), Vec::new());
        // A lock released while being read is left out; look again for a listing
        // where none was, so the counts shown are those of one moment.
        for _ in 0..5 {
            garbage.clear();
            let vanished;
            (locks, foreign, vanished) =
                t.scan_locks(client.map(ClientName::as_str), true, Some(&mut garbage))?;
            if vanished == 0 {
                break;
            }
        }
        let dir = t.blocked.as_fd();
        let names = read_names(dir).map_err(|e| sys("read", t.blocked_path(), e))?;
        let mut blocked = Vec::new();
        for (name, dkind) in names {
            let n = name.to_string_lossy();
            if n.starts_with('.') || dkind == Some(FileKind::Dir) {
                continue;
            }
            let Ok(m) = lstat_at(dir, &name) else {
                continue;
            };
            let path = format!("{BLOCKED}/{n}");
            match (m.kind, ClientName::new(&n)) {
                (FileKind::Dir, _) => {}
                (FileKind::Regular, Ok(c)) => {
                    if client.is_some_and(|want| *want != c) {
                    } else if t.counts_as_block(c.as_str(), &m) {
                        blocked.push(c.0);
                    } else {
                        foreign.push(Foreign {
                            path,
                            client: c.0,
                            owner: m.uid,
                        });
                    }
                }
                (FileKind::Regular, Err(_)) => garbage.push(Garbage {
                    path,
                    why: "not a client name",
                }),
                (FileKind::Other, _) => garbage.push(Garbage {
                    path,
                    why: "not a regular file",
                }),
            }
        }
        blocked.sort();
        garbage.sort_by(|a, b| a.path.cmp(&b.path));
        foreign.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(Scan {
            locks,
            blocked,
            disallowed: t.is_disallowed()?,
            garbage,
            foreign,
        })
    }

    /// How many live locks (of `client`, or everyone's) one listing of `locks/` shows.
    pub fn count(&self, client: Option<&ClientName>) -> Result<usize, SwocError> {
        let t = self.tree()?;
        let mut c = Counter::new(client.map(|c| c.as_str().to_string()));
        Ok(c.count(&t, SystemTime::now())?.0)
    }

    /// Waits until at most `spec.at_most` live locks (of `spec.client`, or everyone's)
    /// remain; foreign locks do not count. Looks every `spec.polling.interval`, which
    /// works on any file system, and on a local one also wakes at once through inotify
    /// when a lock goes. Expiring locks set a deadline of their own.
    pub fn wait(&self, spec: &WaitSpec) -> Result<Waited, SwocError> {
        let t = self.tree()?;
        let start = Instant::now();
        let deadline = spec
            .polling
            .timeout
            .map(|d| crate::units::deadline_after(start, d));
        let locks = t.locks_path();
        // Watch first, then count: a release between the two still wakes us.
        let mut inotify = if spec.polling.inotify {
            watch(t.locks.as_fd())
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
            let (live, next_expiry) = counter.count(&t, now)?;
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
                    None => counter.count(&t, SystemTime::now())?.0 <= spec.at_most,
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
            let timeout = crate::wakeup::timeout_for(nap);
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
                // The watched directory went away: polling stays.
                inotify = None;
            }
        }
    }
}

/// An inotify watch on the open `locks/` for lock files going, if the file system is
/// local. The watch is put on the descriptor's own /proc link, so it is on the very
/// directory that is counted. Any failure means polling only, never an error: the poll
/// is always there.
fn watch(locks: BorrowedFd<'_>) -> Option<Inotify> {
    use std::os::fd::AsRawFd;
    let fs = nix::sys::statfs::fstatfs(locks).ok()?;
    #[allow(clippy::unnecessary_cast)] // f_type is 32 bits on some targets
    let magic = fs.filesystem_type().0 as i64;
    if is_network_fs(magic) {
        return None;
    }
    let i = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
    i.add_watch(
        format!("/proc/self/fd/{}", locks.as_raw_fd()).as_str(),
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

/// Counts live locks for the waiter. Whose each lock is is looked up on every count
/// (one fstatat), its expiry only once per file (inode and owner unchanged), so a waiter
/// over thousands of locks reads no contents on a wake-up.
struct Counter {
    client: Option<String>,
    /// File name -> (inode, owner, expiry).
    expiries: HashMap<String, (u64, u32, Option<SystemTime>)>,
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
        t: &Tree,
        now: SystemTime,
    ) -> Result<(usize, Option<SystemTime>), SwocError> {
        use std::os::unix::ffi::OsStrExt;
        let dir = t.locks.as_fd();
        let names = read_names(dir).map_err(|e| sys("read", t.locks_path(), e))?;
        let mut seen = HashMap::with_capacity(self.expiries.len());
        let (mut live, mut next) = (0, None::<SystemTime>);
        for (name, dkind) in names {
            if name.as_bytes().starts_with(b".") || dkind == Some(FileKind::Dir) {
                continue;
            }
            let listed = dkind.unwrap_or(FileKind::Regular);
            let Entry::Lock(c) = classify(name.as_bytes(), listed) else {
                continue;
            };
            if self.client.as_ref().is_some_and(|want| *want != c) {
                continue;
            }
            let m = match lstat_at(dir, &name) {
                Ok(m) if m.kind == FileKind::Regular => m,
                Ok(_) => continue,
                // Released since the listing, but the listing is the moment counted:
                // one taken meanwhile may not be in it.
                Err(_) => {
                    live += 1;
                    continue;
                }
            };
            if !t.owners.may_use(&c, m.uid) {
                continue;
            }
            let file = name.to_string_lossy().into_owned();
            let expires = match self.expiries.remove(&file) {
                Some((ino, uid, e)) if ino == m.ino && uid == m.uid => e,
                _ => match read_small(dir, &name, &m) {
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
            seen.insert(file, (m.ino, m.uid, expires));
        }
        self.expiries = seen;
        Ok((live, next))
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
                l.owner
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
    for f in &scan.foreign {
        writeln!(
            out,
            "foreign: {}: owned by uid {}, which may not use client {}: ignored",
            printable(&f.path),
            f.owner,
            f.client
        )?;
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
            owner: 0,
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
                    owner: 1000,
                },
            ],
            blocked: vec!["b".into(), "e".into()],
            disallowed: true,
            garbage: vec![Garbage {
                path: "locks/README".into(),
                why: "not a lock name (CLIENT.UNIQUE)",
            }],
            foreign: vec![Foreign {
                path: "blocked/a".into(),
                client: "a".into(),
                owner: 65534,
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
             foreign: blocked/a: owned by uid 65534, which may not use client a: ignored\n\
             total: 4 locks from 3 clients\n"
        );
        let mut out = Vec::new();
        write_client_status(&mut out, &scan, &ClientName::new("b").unwrap(), now).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "client b: 1 lock, blocked\n\
             \x20 b.2: age 5s, pid 7, host h, uid 0\n\
             server: new locks disallowed\n\
             garbage: locks/README: not a lock name (CLIENT.UNIQUE)\n\
             foreign: blocked/a: owned by uid 65534, which may not use client a: ignored\n"
        );
    }

    #[test]
    fn client_maps() {
        let m = ClientMap::parse(
            "# client uid...\n\nweb1 2001\nweb2 2002 # squashed root of web2\n\
             alpha 0 1000\nweb1 2003\n",
        )
        .unwrap();
        assert_eq!(m.uids("web1"), [2001, 2003]);
        assert_eq!(m.uids("web2"), [2002]);
        assert_eq!(m.uids("alpha"), [0, 1000]);
        assert_eq!(m.uids("beta"), [] as [u32; 0]);
        let bad = |t: &str| ClientMap::parse(t).unwrap_err();
        assert_eq!(bad("web1\n").what, "no uid after the client name");
        assert_eq!(bad("ok 1\nweb1 x\n").line, 2);
        assert!(bad("../x 1\n").what.contains("invalid client name"));
        assert!(bad("web1 -1\n").what.contains("invalid uid"));
        let o = Owners { server: 7, map: m };
        assert!(o.may_use("anything", 0) && o.may_use("anything", 7));
        assert!(o.may_use("web1", 2003) && !o.may_use("web1", 2002));
        assert!(!o.may_use("beta", 1000) && o.may_use("alpha", 1000));
        assert!(o.is_server(0) && o.is_server(7) && !o.is_server(2001));
    }
}
