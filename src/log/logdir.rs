//! A multilog log directory: `current`, archived `@TAI64N.s`/`.u` files, `state`, `lock`,
//! and the processor's `previous`/`processed`/`newstate`, kept in daemontools' layout.
//! Every finished file is fsynced before it is renamed, and the directory after; a
//! write that fails pauses and is retried, so no line is ever dropped.
//!
//! The directory may belong to an account that multilog (often root) must not trust:
//! every file in it is opened relative to the directory's descriptor, never through a
//! symbolic link, never blocking on a FIFO, and kept only if it is a regular file with
//! one link, owned by multilog's account or the directory's owner; new files are
//! created with O_EXCL, modes are set on descriptors, and renames and removals name
//! entries of that descriptor only.

use crate::diag::{ioerrstr, warn};
use crate::log::timestamp::label;
use crate::tai64::Tai64N;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, Flock, FlockArg, OFlag, openat, renameat};
use nix::sys::stat::{FileStat, Mode, fstat, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PROG: &str = "multilog";

// The names of a log directory's files, as daemontools' multilog has them.

/// The file lines go to; mode 0744 once it is finished (fsynced), 0644 while written.
pub const CURRENT: &str = "current";
/// The processor's state, handed to it on fd 4 (`!processor`).
pub const STATE: &str = "state";
/// The processor's new state, from its fd 5; renamed over `state` when it is done.
pub const NEWSTATE: &str = "newstate";
/// The processor's output (fd 1); archived `.s` once it is marked complete (0744).
pub const PROCESSED: &str = "processed";
/// `current` handed to the processor (its fd 0), removed when it is done.
pub const PREVIOUS: &str = "previous";
/// Held with an exclusive lock by the multilog writing the directory.
pub const LOCK: &str = "lock";
/// Archives are named `@` and 24 hex digits of a TAI64N label, a dot and a suffix.
pub const ARCHIVE_PREFIX: &str = "@";
/// `@` and the 24 hex digits: how long a name must be to count as an archive.
pub const ARCHIVE_STEM_LEN: usize = 25;
/// The suffix of an archive finished cleanly (by rotation, or a processor's output).
pub const COMPLETE: char = 's';
/// The suffix of an archive kept after a crash: it may end in a partial line.
pub const UNFINISHED: char = 'u';
/// daemontools' bounds for `s` (plain numbers) and `n`.
pub const MIN_SIZE: u64 = 4096;
pub const MAX_PLAIN_SIZE: u64 = 16_777_215;
pub const DEFAULT_SIZE: u64 = 99_999;
pub const DEFAULT_NUM: usize = 10;
/// A line ending within this many bytes of the size limit finishes the file.
const NEAR_END: u64 = 2000;
/// How long to wait before retrying a failed write, rename or processor.
const PAUSE: Duration = Duration::from_secs(1);
/// Output is buffered up to this much before it is written.
const BUF: usize = 256 * 1024;
/// Write-back of `current` is started after this many bytes (see `write_out`).
const WRITE_BEHIND: usize = 2 << 20;

/// The settings in effect when a directory appears in the script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    pub max_size: u64,
    /// How many files to keep, `current` included.
    pub num: usize,
    pub processor: Option<std::ffi::OsString>,
    /// Rotate a non-empty `current` once it is this old (svkit's `r` action).
    pub max_age: Option<Duration>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_size: DEFAULT_SIZE,
            num: DEFAULT_NUM,
            processor: None,
            max_age: None,
        }
    }
}

/// An open log directory.
pub struct LogDir {
    dir: Dir,
    settings: Settings,
    _lock: Flock<File>,
    current: File,
    /// Bytes in `current`, written or buffered.
    size: u64,
    buf: Vec<u8>,
    /// When `current` got its first byte.
    started: Option<Instant>,
    /// Bytes written to `current` since its write-back was last started.
    unsynced: usize,
    /// A line ended near the size limit: `current` is rotated before the next byte, or
    /// by `rotate_if_due` once the caller has settled what it read.
    due: bool,
}

/// Why a log directory could not be opened: the step, the path and the cause.
#[derive(Debug)]
pub enum OpenError {
    /// Making or opening the directory itself.
    Directory(PathBuf, std::io::Error),
    /// Its `lock`: opening it, or another multilog holds it.
    Lock(PathBuf, std::io::Error),
    /// One of its files (the path names it).
    File(PathBuf, std::io::Error),
}

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (what, path, e) = match self {
            OpenError::Directory(p, e) => ("open directory ", p, e),
            OpenError::Lock(p, e) => ("lock directory ", p, e),
            OpenError::File(p, e) => ("open ", p, e),
        };
        write!(f, "unable to {what}{}: {}", path.display(), ioerrstr(e))
    }
}

/// A log directory held open: every name multilog uses is looked up in it.
struct Dir {
    fd: OwnedFd,
    /// The directory's owner: the files it made are trusted like our own.
    uid: u32,
    /// As given on the command line, for messages (and the processor's `PWD`).
    path: PathBuf,
}

/// Why a file of the directory is refused.
fn refused(why: &str) -> std::io::Error {
    std::io::Error::other(why.to_string())
}

impl Dir {
    /// Makes (0700) and opens the directory. The path itself is the operator's
    /// argument and may be a symbolic link; nothing inside it is followed.
    fn open(path: &Path) -> std::io::Result<Dir> {
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        let fd = openat(
            nix::fcntl::AT_FDCWD,
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        )?;
        let uid = fstat(&fd)?.st_uid;
        Ok(Dir {
            fd,
            uid,
            path: path.to_path_buf(),
        })
    }

    /// Takes the directory's `lock` (exclusive, without waiting): one multilog per
    /// directory.
    fn lock(&self) -> Result<Flock<File>, OpenError> {
        let refused = |e| OpenError::Lock(self.path.clone(), e);
        let lockfile = self
            .open_file(
                LOCK,
                OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT,
                0o600,
            )
            .map_err(refused)?;
        Flock::lock(lockfile, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| refused(e.into()))
    }

    /// `path/name`, for messages.
    fn show(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// Opens `name` with `flags` (O_CREAT may be among them, with `mode`): no symbolic
    /// link, no blocking open of a FIFO, and only a regular file with one link owned by
    /// us or by the directory's owner is kept.
    fn open_file(&self, name: &str, flags: OFlag, mode: u32) -> std::io::Result<File> {
        let flags = flags | OFlag::O_NOFOLLOW | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC;
        let fd = match openat(&self.fd, name, flags, Mode::from_bits_truncate(mode)) {
            // One name in a directory we hold: ELOOP can only be that name.
            Err(Errno::ELOOP) => return Err(refused("is a symbolic link")),
            r => r?,
        };
        self.check(&fstat(&fd)?)?;
        Ok(File::from(fd))
    }

    /// Creates `name` afresh (0644): whatever had the name is removed first, and the
    /// new file is made with O_EXCL, so nothing planted there is opened.
    fn create_new(&self, name: &str) -> std::io::Result<File> {
        self.remove(name)?;
        self.open_file(
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL,
            0o644,
        )
    }

    fn check(&self, st: &FileStat) -> std::io::Result<()> {
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(refused("not a regular file"));
        }
        if st.st_nlink > 1 {
            return Err(refused("has other links"));
        }
        let me = nix::unistd::geteuid().as_raw();
        if st.st_uid != me && st.st_uid != self.uid {
            return Err(refused("owned by another account"));
        }
        Ok(())
    }

    /// What `name` is, without following it; None if there is no such entry.
    fn stat(&self, name: &str) -> std::io::Result<Option<FileStat>> {
        match fstatat(&self.fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Refuses anything but a regular file at `name` (a missing one is fine).
    fn expect_regular(&self, name: &str) -> std::io::Result<()> {
        match self.stat(name)? {
            Some(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                Err(refused("is a symbolic link"))
            }
            Some(st) if st.st_mode & libc::S_IFMT != libc::S_IFREG => {
                Err(refused("not a regular file"))
            }
            _ => Ok(()),
        }
    }

    /// Whether `name` is a regular file marked complete (mode 0744's user x bit).
    fn is_complete(&self, name: &str) -> bool {
        matches!(self.stat(name), Ok(Some(st))
            if st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o100 != 0)
    }

    /// Removes the entry `name` (a symbolic link itself, never its target); a missing
    /// one is fine.
    fn remove(&self, name: impl AsRef<std::ffi::OsStr>) -> std::io::Result<()> {
        match unlinkat(&self.fd, name.as_ref(), UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        Ok(renameat(&self.fd, from, &self.fd, to)?)
    }

    fn sync(&self) -> std::io::Result<()> {
        Ok(nix::unistd::fsync(&self.fd)?)
    }

    /// The names in the directory, read through its descriptor.
    fn list(&self) -> std::io::Result<Vec<OsString>> {
        let fd = nix::unistd::dup(&self.fd)?;
        // SAFETY: fdopendir takes ownership of a descriptor we own (the dup, released
        // here); on failure it is still ours and closed below.
        let dirp = unsafe { libc::fdopendir(fd.as_raw_fd()) };
        if dirp.is_null() {
            return Err(std::io::Error::last_os_error());
        }
        std::mem::forget(fd);
        // SAFETY: rewinding our own open DIR (the dup shares the offset of `self.fd`).
        unsafe { libc::rewinddir(dirp) };
        let mut names = Vec::new();
        loop {
            // SAFETY: readdir on our open DIR; the entry is read before the next call.
            let ent = unsafe { libc::readdir(dirp) };
            if ent.is_null() {
                break;
            }
            // SAFETY: d_name of a live dirent is a NUL-terminated string.
            let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
            names.push(OsString::from_vec(name.to_bytes().to_vec()));
        }
        // SAFETY: closes the DIR (and the dup) exactly once.
        unsafe { libc::closedir(dirp) };
        Ok(names)
    }
}

/// Repeats `op` until it succeeds, saying why it pauses each time.
pub fn retry<T>(what: impl Fn() -> String, mut op: impl FnMut() -> std::io::Result<T>) -> T {
    loop {
        match op() {
            Ok(v) => return v,
            Err(e) => {
                warn(PROG, &format!("{}, pausing: {}", what(), ioerrstr(&e)));
                std::thread::sleep(PAUSE);
            }
        }
    }
}

fn archive_name(suffix: char) -> String {
    let l = label(Tai64N::now());
    format!(
        "{}.{suffix}",
        std::str::from_utf8(&l[..ARCHIVE_STEM_LEN]).unwrap_or(ARCHIVE_PREFIX)
    )
}

impl LogDir {
    /// Creates, opens and locks the directory and recovers from a crash: an unfinished
    /// `current` (not mode 0744) becomes `@TAI64N.u`, and so does an interrupted
    /// processor's `previous`, unless its `processed` was marked complete. A symbolic
    /// link or other non-regular file where multilog keeps a file is refused.
    pub fn open(path: &Path, settings: Settings) -> Result<LogDir, OpenError> {
        let dir = Dir::open(path).map_err(|e| OpenError::Directory(path.to_path_buf(), e))?;
        let lock = dir.lock()?;
        for name in [CURRENT, STATE, PREVIOUS, PROCESSED, NEWSTATE] {
            dir.expect_regular(name)
                .map_err(|e| OpenError::File(dir.show(name), e))?;
        }
        if !dir.is_complete(CURRENT) {
            recover(&dir);
        }
        dir.open_file(STATE, OFlag::O_WRONLY | OFlag::O_CREAT, 0o644)
            .map_err(|e| OpenError::File(dir.show(STATE), e))?;
        let current =
            Self::create_current(&dir, false).map_err(|e| OpenError::File(dir.show(CURRENT), e))?;
        let size = current.metadata().map(|m| m.len()).unwrap_or(0);
        let mut d = LogDir {
            dir,
            settings,
            _lock: lock,
            current,
            size,
            buf: Vec::with_capacity(BUF),
            started: (size > 0).then(Instant::now),
            unsynced: 0,
            due: false,
        };
        d.trim();
        Ok(d)
    }

    /// Opens `current` for appending (`fresh`: a new one, right after a rotation moved
    /// the old away) and marks it as being written (0644), on the descriptor.
    fn create_current(dir: &Dir, fresh: bool) -> std::io::Result<File> {
        let mut flags = OFlag::O_WRONLY | OFlag::O_APPEND | OFlag::O_CREAT;
        if fresh {
            flags |= OFlag::O_EXCL;
        }
        let f = dir.open_file(CURRENT, flags, 0o644)?;
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.dir.path
    }

    /// Bytes `current` takes before a line ending in them may rotate it.
    pub fn room(&self) -> u64 {
        self.settings
            .max_size
            .saturating_sub(NEAR_END)
            .saturating_sub(self.size)
    }

    /// Bytes in `current`, written or buffered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The size limit, and the size from which a line's end rotates the file.
    pub fn limits(&self) -> (u64, u64) {
        let max = self.settings.max_size;
        (max, max.saturating_sub(NEAR_END))
    }

    /// Whether `current` is full: the next byte starts a new file.
    pub fn is_full(&self) -> bool {
        self.size >= self.settings.max_size
    }

    /// Appends part of a line; `ends_line` when `bytes` ends with its newline. A line
    /// that would pass the size limit is split there, as daemontools does.
    pub fn write(&mut self, mut bytes: &[u8], ends_line: bool) {
        self.rotate_if_due();
        if self.started.is_none() && !bytes.is_empty() {
            self.started = Some(Instant::now());
        }
        while self.size + bytes.len() as u64 > self.settings.max_size {
            let room = self.settings.max_size.saturating_sub(self.size) as usize;
            let (now, later) = bytes.split_at(room.min(bytes.len()));
            self.push(now);
            self.rotate();
            bytes = later;
        }
        self.push(bytes);
        if ends_line && self.size + NEAR_END >= self.settings.max_size {
            self.due = true;
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.buf.len() + bytes.len() > BUF {
            self.flush();
            if bytes.len() > BUF {
                self.write_out(bytes);
                return;
            }
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Writes what is buffered to `current`.
    pub fn flush(&mut self) {
        if !self.buf.is_empty() {
            let buf = std::mem::take(&mut self.buf);
            self.write_out(&buf);
            self.buf = buf;
            self.buf.clear();
        }
    }

    fn write_out(&mut self, mut bytes: &[u8]) {
        let cur = self.dir.show(CURRENT);
        while !bytes.is_empty() {
            let n = retry(
                || format!("unable to write to {}", cur.display()),
                || match self.current.write(bytes) {
                    Ok(0) => Err(std::io::Error::from_raw_os_error(libc::ENOSPC)),
                    r => r,
                },
            );
            bytes = &bytes[n..];
            self.unsynced += n;
        }
        // Start write-back early so that the fsync at rotation finds little left to do,
        // and the disk works while we do: the same durability, less waiting for it.
        if self.unsynced >= WRITE_BEHIND {
            self.unsynced = 0;
            // SAFETY: sync_file_range on our own open descriptor; no memory is passed.
            // Failure only means the fsync at rotation does all the work.
            let _ = unsafe {
                libc::sync_file_range(
                    std::os::fd::AsRawFd::as_raw_fd(&self.current),
                    0,
                    0,
                    libc::SYNC_FILE_RANGE_WRITE,
                )
            };
        }
    }

    /// Whether `current` is non-empty and older than the `r` setting allows.
    pub fn too_old(&self, now: Instant) -> bool {
        match (self.settings.max_age, self.started) {
            (Some(age), Some(t)) => self.size > 0 && t.checked_add(age).is_some_and(|d| now >= d),
            _ => false,
        }
    }

    /// When `too_old` will turn true.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.settings.max_age, self.started) {
            (Some(age), Some(t)) if self.size > 0 => t.checked_add(age),
            _ => None,
        }
    }

    /// Finishes `current` (fsync, mode 0744), archives it (through the processor if
    /// there is one), starts a new `current`, and removes the oldest archives.
    pub fn rotate(&mut self) {
        self.due = false;
        self.flush();
        if self.size == 0 {
            return;
        }
        let cur = self.dir.show(CURRENT);
        retry(
            || format!("unable to fsync {}", cur.display()),
            || self.current.sync_all(),
        );
        // On the descriptor: whatever the name `current` points at now is not touched.
        retry(
            || format!("unable to chmod {}", cur.display()),
            || {
                self.current
                    .set_permissions(std::fs::Permissions::from_mode(0o744))
            },
        );
        if self.settings.processor.is_some() {
            retry(
                || format!("unable to rename {}", cur.display()),
                || self.dir.rename(CURRENT, PREVIOUS),
            );
            sync_dir_retrying(&self.dir);
            self.process_previous();
        } else {
            archive(&self.dir, CURRENT, COMPLETE);
        }
        self.current = retry(
            || format!("unable to create {}", cur.display()),
            || Self::create_current(&self.dir, true),
        );
        self.size = 0;
        self.unsynced = 0;
        self.started = None;
        self.trim();
    }

    /// Runs the processor on `previous` until it succeeds; its output becomes the
    /// archived file and what it writes to fd 5 the new `state`.
    fn process_previous(&mut self) {
        let Some(proc_) = self.settings.processor.clone() else {
            return;
        };
        // `previous` must be the file just finished, not one put in its place.
        let ours = fstat(&self.current).map(|st| (st.st_dev, st.st_ino)).ok();
        let dir = &self.dir;
        retry(
            || {
                format!(
                    "processor {} failed in {}",
                    proc_.to_string_lossy(),
                    dir.path.display()
                )
            },
            || run_processor(dir, &proc_, ours),
        );
        commit_processed(dir);
        archive(dir, PROCESSED, COMPLETE);
    }

    /// Removes the oldest archived files while there are `num` files or more, counting
    /// `current`: names listed through the directory's descriptor and removed there
    /// (a symbolic link among them goes itself, its target is never touched).
    fn trim(&mut self) {
        let Ok(names) = self.dir.list() else {
            return;
        };
        for name in &oldest_archives(names, self.settings.num) {
            if let Err(e) = self.dir.remove(name) {
                warn(
                    PROG,
                    &format!(
                        "unable to remove {}: {}",
                        self.dir.show(name).display(),
                        ioerrstr(&e)
                    ),
                );
            }
        }
    }

    /// The rotation a line's end made due, if any: its place in the log is the same
    /// whether it happens now or before the next byte.
    pub fn rotate_if_due(&mut self) {
        if self.due {
            self.rotate();
        }
    }

    /// At the end: everything written and fsynced, `current` marked complete (0744).
    pub fn finish(&mut self) {
        self.rotate_if_due();
        self.flush();
        let cur = self.dir.show(CURRENT);
        retry(
            || format!("unable to fsync {}", cur.display()),
            || self.current.sync_all(),
        );
        let _ = self
            .current
            .set_permissions(std::fs::Permissions::from_mode(0o744));
    }
}

/// The archives to remove so that `num` files are left, `current` counted: the oldest
/// (the names sort by their TAI64N label). Archive names only, as daemontools counts
/// them: a stray "@notes" is left be.
fn oldest_archives(names: Vec<OsString>, num: usize) -> Vec<String> {
    let mut old: Vec<String> = names
        .into_iter()
        .filter_map(|n| n.into_string().ok())
        .filter(|n| n.starts_with(ARCHIVE_PREFIX) && n.len() >= ARCHIVE_STEM_LEN)
        .collect();
    old.sort();
    let keep = num.saturating_sub(1);
    let excess = old.len().saturating_sub(keep);
    old.truncate(excess);
    old
}

/// `ours`: the device and inode of the file renamed to `previous`.
fn run_processor(
    dir: &Dir,
    processor: &std::ffi::OsStr,
    ours: Option<(u64, u64)>,
) -> std::io::Result<()> {
    use std::os::unix::process::CommandExt;
    let input = dir.open_file(PREVIOUS, OFlag::O_RDONLY, 0)?;
    let st = fstat(&input)?;
    if ours.is_some_and(|o| o != (st.st_dev, st.st_ino)) {
        return Err(refused("previous is not the file multilog finished"));
    }
    let output = dir.create_new(PROCESSED)?;
    let state = dir.open_file(STATE, OFlag::O_RDONLY, 0)?;
    let newstate = dir.create_new(NEWSTATE)?;
    let (s, n, d) = (
        state.as_raw_fd(),
        newstate.as_raw_fd(),
        dir.fd.as_fd().as_raw_fd(),
    );
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(processor)
        .stdin(input)
        .stdout(output.try_clone()?);
    // SAFETY: fchdir(2) and dup2(2) are async-signal-safe. The processor runs in the
    // directory multilog holds (not whatever its path names now), with the state files
    // on the descriptors daemontools' protocol names (4: old state, 5: new state).
    unsafe {
        cmd.pre_exec(move || {
            if libc::fchdir(d) < 0 || libc::dup2(s, 4) < 0 || libc::dup2(n, 5) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = crate::spawn::reset_signals(&mut cmd).status()?;
    if !status.success() {
        return Err(std::io::Error::other(status.to_string()));
    }
    // Marking `processed` complete (0744) is the commit point a restart looks for.
    output.sync_all()?;
    output.set_permissions(std::fs::Permissions::from_mode(0o744))?;
    newstate.sync_all()
}

/// After the processor: `previous` goes, `newstate` becomes `state`; each step retried
/// on its own, so a step that succeeded is never repeated.
fn commit_processed(dir: &Dir) {
    retry(
        || format!("unable to remove {}", dir.show(PREVIOUS).display()),
        || dir.remove(PREVIOUS),
    );
    retry(
        || format!("unable to rename {}", dir.show(NEWSTATE).display()),
        || dir.rename(NEWSTATE, STATE),
    );
    sync_dir_retrying(dir);
}

fn sync_dir_retrying(dir: &Dir) {
    retry(
        || format!("unable to fsync {}", dir.path.display()),
        || dir.sync(),
    );
}

/// After a crash (no cleanly finished `current`), as daemontools recovers: a
/// `processed` marked complete (0744) is the archive of `previous`; otherwise `previous`
/// and `current` are kept as unfinished (.u) files; `state` starts empty.
fn recover(dir: &Dir) {
    let _ = dir.remove(NEWSTATE);
    if dir.is_complete(PROCESSED) {
        let _ = dir.remove(PREVIOUS);
        archive(dir, PROCESSED, COMPLETE);
    } else {
        let _ = dir.remove(PROCESSED);
        archive(dir, PREVIOUS, UNFINISHED);
    }
    archive(dir, CURRENT, UNFINISHED);
    let _ = dir.remove(STATE);
}

/// Renames `name` (if it exists) to `@TAI64N.SUFFIX`, durably: atomic, so a crash
/// leaves one name or the other, and never over an existing archive (a name taken is
/// retried with the next timestamp).
fn archive(dir: &Dir, name: &str, suffix: char) {
    if !matches!(dir.stat(name), Ok(Some(_))) {
        return;
    }
    retry(
        || format!("unable to rename {}", dir.show(name).display()),
        || {
            let to = archive_name(suffix);
            Ok(crate::rename::rename_new(
                dir.fd.as_fd(),
                name,
                dir.fd.as_fd(),
                to.as_str(),
            )?)
        },
    );
    sync_dir_retrying(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(tag: &str) -> PathBuf {
        let p =
            std::env::temp_dir().join(format!("svkit-unit-logdir-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        p
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn write_rotate_and_finish() {
        let p = scratch("rotate");
        let mut log = LogDir::open(&p, Settings::default()).unwrap();
        // The lock is held: a second multilog on the directory is refused.
        let again = LogDir::open(&p, Settings::default()).err().unwrap();
        assert!(
            again.to_string().starts_with("unable to lock directory"),
            "{again}"
        );
        log.write(b"one\n", true);
        log.flush();
        assert_eq!(std::fs::read(p.join("current")).unwrap(), b"one\n");
        log.rotate();
        log.write(b"two\n", true);
        log.finish();
        let n = names(&p);
        let archived: Vec<&String> = n.iter().filter(|f| f.starts_with('@')).collect();
        assert_eq!(archived.len(), 1, "{n:?}");
        assert!(archived[0].ends_with(".s"), "{n:?}");
        assert_eq!(std::fs::read(p.join(archived[0])).unwrap(), b"one\n");
        assert_eq!(std::fs::read(p.join("current")).unwrap(), b"two\n");
        // A finished current is marked complete (0744), as daemontools does.
        let mode = std::fs::metadata(p.join("current"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o744);
        let _ = std::fs::remove_dir_all(&p);
    }

    #[test]
    fn a_symlink_in_place_of_current_is_refused() {
        let p = scratch("symlink");
        std::fs::create_dir_all(&p).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", p.join("current")).unwrap();
        let e = LogDir::open(&p, Settings::default()).err().unwrap();
        assert!(
            e.to_string()
                .starts_with(&format!("unable to open {}/current: ", p.display())),
            "{e}"
        );
        let _ = std::fs::remove_dir_all(&p);
    }

    #[test]
    fn archive_names_are_what_trim_counts() {
        for suffix in [COMPLETE, UNFINISHED] {
            let n = archive_name(suffix);
            assert!(n.starts_with(ARCHIVE_PREFIX), "{n}");
            assert_eq!(n.len(), ARCHIVE_STEM_LEN + 2, "{n}");
            assert!(
                n[1..ARCHIVE_STEM_LEN]
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit())
            );
            assert_eq!(&n[ARCHIVE_STEM_LEN..], format!(".{suffix}"));
        }
    }

    fn archives(dir: &Path, suffix: &str) -> Vec<Vec<u8>> {
        names(dir)
            .iter()
            .filter(|n| n.starts_with('@') && n.ends_with(suffix))
            .map(|n| std::fs::read(dir.join(n)).unwrap())
            .collect()
    }

    fn write_mode(path: &Path, bytes: &[u8], mode: u32) {
        std::fs::write(path, bytes).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_oldest_archives_go() {
        use std::os::unix::ffi::OsStringExt;
        let a = |hex: char, suffix: &str| format!("@{}.{suffix}", hex.to_string().repeat(24));
        let names: Vec<OsString> = [
            a('3', "s"),
            "current".into(),
            a('1', "u"),
            "@notes".into(),
            "state".into(),
            a('2', "s"),
            "lock".into(),
        ]
        .into_iter()
        .map(OsString::from)
        .chain([OsString::from_vec([b"@".as_slice(), &[0xff; 30]].concat())])
        .collect();
        assert_eq!(oldest_archives(names.clone(), 10), Vec::<String>::new());
        assert_eq!(oldest_archives(names.clone(), 4), Vec::<String>::new());
        assert_eq!(oldest_archives(names.clone(), 3), vec![a('1', "u")]);
        assert_eq!(
            oldest_archives(names.clone(), 2),
            vec![a('1', "u"), a('2', "s")]
        );
        assert_eq!(oldest_archives(names, 0).len(), 3);
    }

    #[test]
    fn trim_keeps_num_files() {
        let p = scratch("trim");
        let settings = Settings {
            num: 3,
            ..Settings::default()
        };
        let mut log = LogDir::open(&p, settings).unwrap();
        for line in [b"1\n", b"2\n", b"3\n", b"4\n"] {
            log.write(line, true);
            log.rotate();
        }
        log.finish();
        // `current` and the two newest archives.
        assert_eq!(archives(&p, ".s"), vec![b"3\n".to_vec(), b"4\n".to_vec()]);
        let _ = std::fs::remove_dir_all(&p);
    }

    #[test]
    fn an_unfinished_current_is_kept_after_a_crash() {
        let p = scratch("crash");
        std::fs::create_dir_all(&p).unwrap();
        write_mode(&p.join(CURRENT), b"partial", 0o644);
        write_mode(&p.join(STATE), b"old state", 0o644);
        write_mode(&p.join(NEWSTATE), b"half", 0o644);
        let log = LogDir::open(&p, Settings::default()).unwrap();
        assert_eq!(archives(&p, ".u"), vec![b"partial".to_vec()]);
        assert_eq!(std::fs::read(p.join(STATE)).unwrap(), b"");
        assert_eq!(std::fs::read(p.join(CURRENT)).unwrap(), b"");
        assert!(!p.join(NEWSTATE).exists());
        assert_eq!(log.size(), 0);
        drop(log);
        // A cleanly finished current (0744) is simply appended to.
        write_mode(&p.join(CURRENT), b"done\n", 0o744);
        let log = LogDir::open(&p, Settings::default()).unwrap();
        assert_eq!(archives(&p, ".u").len(), 1);
        assert_eq!(log.size(), 5);
        let _ = std::fs::remove_dir_all(&p);
    }

    #[test]
    fn a_processed_marked_complete_is_the_archive_of_previous() {
        let p = scratch("processed");
        std::fs::create_dir_all(&p).unwrap();
        write_mode(&p.join(CURRENT), b"cur", 0o644);
        write_mode(&p.join(PREVIOUS), b"raw", 0o744);
        write_mode(&p.join(PROCESSED), b"out", 0o744);
        let _log = LogDir::open(&p, Settings::default()).unwrap();
        assert_eq!(archives(&p, ".s"), vec![b"out".to_vec()]);
        assert_eq!(archives(&p, ".u"), vec![b"cur".to_vec()]);
        assert!(!p.join(PREVIOUS).exists());
        assert!(!p.join(PROCESSED).exists());
        let _ = std::fs::remove_dir_all(&p);
        // Not marked complete: the processor's output is dropped, previous kept as .u.
        std::fs::create_dir_all(&p).unwrap();
        write_mode(&p.join(PREVIOUS), b"raw", 0o744);
        write_mode(&p.join(PROCESSED), b"half", 0o644);
        let _log = LogDir::open(&p, Settings::default()).unwrap();
        assert_eq!(archives(&p, ".u"), vec![b"raw".to_vec()]);
        assert!(archives(&p, ".s").is_empty());
        assert!(!p.join(PROCESSED).exists());
        let _ = std::fs::remove_dir_all(&p);
    }

    #[test]
    fn sizes_split_lines_and_rotate_near_the_end() {
        let p = scratch("size");
        let settings = Settings {
            max_size: MIN_SIZE,
            ..Settings::default()
        };
        let mut log = LogDir::open(&p, settings).unwrap();
        assert_eq!(log.limits(), (MIN_SIZE, MIN_SIZE - NEAR_END));
        log.write(&[b'a'; 100], true);
        assert_eq!((log.size(), log.room()), (100, MIN_SIZE - NEAR_END - 100));
        assert!(!log.is_full());
        // A line past the limit is split there, as daemontools does.
        let long = [&[b'b'; 5000][..], b"\n"].concat();
        log.write(&long, true);
        assert_eq!(log.size(), 100 + 5001 - MIN_SIZE);
        log.rotate_if_due();
        assert_eq!(archives(&p, ".s").len(), 1);
        // A line that ends within NEAR_END of the limit makes the rotation due: done
        // before the next byte, or when the caller settles.
        log.write(&[b'c'; 1100], false);
        log.write(b"\n", true);
        assert_eq!(archives(&p, ".s").len(), 1);
        log.rotate_if_due();
        let done = archives(&p, ".s");
        assert_eq!(done.len(), 2);
        assert_eq!(done.iter().map(Vec::len).sum::<usize>(), 5101 + 1101);
        assert_eq!(log.size(), 0);
        let _ = std::fs::remove_dir_all(&p);
    }
}
