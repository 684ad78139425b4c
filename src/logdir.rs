//! A multilog log directory: `current`, archived `@TAI64N.s`/`.u` files, `state`, `lock`,
//! and the processor's `previous`/`processed`/`newstate`, kept in daemontools' layout.
//! Every finished file is fsynced before it is renamed, and the directory after; a
//! write that fails pauses and is retried, so no line is ever dropped.

use crate::diag::{ioerrstr, warn};
use crate::tai64::Tai64N;
use crate::timestamp::label;
use nix::fcntl::{Flock, FlockArg};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PROG: &str = "multilog";
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
    path: PathBuf,
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
}

/// Why a log directory could not be opened; the message says which path.
#[derive(Debug)]
pub struct OpenError(pub String);

fn file_at(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
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

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn archive_name(suffix: char) -> String {
    let l = label(Tai64N::now());
    format!("{}.{suffix}", std::str::from_utf8(&l[..25]).unwrap_or("@"))
}

impl LogDir {
    /// Creates and locks the directory and recovers from a crash: an unfinished
    /// `current` (not mode 0744) becomes `@TAI64N.u`, and so does an interrupted
    /// processor's `previous`, unless its `processed` was marked complete.
    pub fn open(path: &Path, settings: Settings) -> Result<LogDir, OpenError> {
        let show = path.display();
        match std::fs::DirBuilder::new().mode(0o700).create(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(OpenError(format!(
                    "unable to open directory {show}: {}",
                    ioerrstr(&e)
                )));
            }
        }
        let lockfile = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .open(file_at(path, "lock"))
            .map_err(|e| OpenError(format!("unable to lock directory {show}: {}", ioerrstr(&e))))?;
        let lock = Flock::lock(lockfile, FlockArg::LockExclusiveNonblock).map_err(|(_, e)| {
            OpenError(format!(
                "unable to lock directory {show}: {}",
                crate::diag::errstr(e)
            ))
        })?;
        let cur = file_at(path, "current");
        let finished = std::fs::metadata(&cur).map(|m| m.permissions().mode() & 0o100 != 0);
        if !matches!(finished, Ok(true)) {
            // No cleanly finished `current`: recover as daemontools does. A `processed`
            // marked complete (0744) is the archive of `previous`; otherwise `previous`
            // and `current` are kept as unfinished (.u) files and `state` starts empty.
            let at = |n: &str| file_at(path, n);
            let _ = std::fs::remove_file(at("newstate"));
            let processed_done = std::fs::metadata(at("processed"))
                .is_ok_and(|m| m.permissions().mode() & 0o100 != 0);
            if processed_done {
                let _ = std::fs::remove_file(at("previous"));
                archive(path, "processed", 's');
            } else {
                let _ = std::fs::remove_file(at("processed"));
                archive(path, "previous", 'u');
            }
            archive(path, "current", 'u');
            let _ = std::fs::remove_file(at("state"));
        }
        if !file_at(path, "state").exists() {
            let _ = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .open(file_at(path, "state"));
        }
        let current = Self::open_current(path)?;
        let size = current.metadata().map(|m| m.len()).unwrap_or(0);
        let mut d = LogDir {
            path: path.to_path_buf(),
            settings,
            _lock: lock,
            current,
            size,
            buf: Vec::with_capacity(BUF),
            started: (size > 0).then(Instant::now),
            unsynced: 0,
        };
        d.trim();
        Ok(d)
    }

    fn open_current(path: &Path) -> Result<File, OpenError> {
        Self::create_current(path).map_err(|e| {
            let cur = file_at(path, "current");
            OpenError(format!(
                "unable to open {}: {}",
                cur.display(),
                ioerrstr(&e)
            ))
        })
    }

    fn create_current(path: &Path) -> std::io::Result<File> {
        let f = OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o644)
            .open(file_at(path, "current"))?;
        // Being written: not marked complete.
        f.set_permissions(std::fs::Permissions::from_mode(0o644))?;
        Ok(f)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes `current` takes before a line ending in them may rotate it.
    pub fn room(&self) -> u64 {
        self.settings
            .max_size
            .saturating_sub(NEAR_END)
            .saturating_sub(self.size)
    }

    /// Whether `current` is full: the next byte starts a new file.
    pub fn is_full(&self) -> bool {
        self.size >= self.settings.max_size
    }

    /// Appends part of a line; `ends_line` when `bytes` ends with its newline. A line
    /// that would pass the size limit is split there, as daemontools does.
    pub fn write(&mut self, mut bytes: &[u8], ends_line: bool) {
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
            self.rotate();
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
        let cur = file_at(&self.path, "current");
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
        self.flush();
        if self.size == 0 {
            return;
        }
        let cur = file_at(&self.path, "current");
        retry(
            || format!("unable to fsync {}", cur.display()),
            || self.current.sync_all(),
        );
        retry(
            || format!("unable to chmod {}", cur.display()),
            || {
                self.current
                    .set_permissions(std::fs::Permissions::from_mode(0o744))
            },
        );
        if self.settings.processor.is_some() {
            let prev = file_at(&self.path, "previous");
            retry(
                || format!("unable to rename {}", cur.display()),
                || std::fs::rename(&cur, &prev),
            );
            sync_dir_retrying(&self.path);
            self.process_previous();
        } else {
            archive(&self.path, "current", 's');
        }
        self.current = retry(
            || format!("unable to create {}", cur.display()),
            || Self::create_current(&self.path),
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
        let dir = self.path.clone();
        retry(
            || {
                format!(
                    "processor {} failed in {}",
                    proc_.to_string_lossy(),
                    dir.display()
                )
            },
            || run_processor(&dir, &proc_),
        );
        commit_processed(&dir);
        archive(&self.path, "processed", 's');
    }

    /// Removes the oldest archived files while there are `num` files or more, counting
    /// `current`.
    fn trim(&mut self) {
        let Ok(rd) = std::fs::read_dir(&self.path) else {
            return;
        };
        let mut old: Vec<String> = rd
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            // Archive names only, as daemontools counts them: a stray "@notes" is left be.
            .filter(|n| n.starts_with('@') && n.len() >= 25)
            .collect();
        old.sort();
        let keep = self.settings.num.saturating_sub(1);
        let excess = old.len().saturating_sub(keep);
        for name in &old[..excess] {
            let p = file_at(&self.path, name);
            if let Err(e) = std::fs::remove_file(&p) {
                warn(
                    PROG,
                    &format!("unable to remove {}: {}", p.display(), ioerrstr(&e)),
                );
            }
        }
    }

    /// At the end: everything written and fsynced, `current` marked complete (0744).
    pub fn finish(&mut self) {
        self.flush();
        let cur = file_at(&self.path, "current");
        retry(
            || format!("unable to fsync {}", cur.display()),
            || self.current.sync_all(),
        );
        let _ = self
            .current
            .set_permissions(std::fs::Permissions::from_mode(0o744));
    }
}

fn run_processor(dir: &Path, processor: &std::ffi::OsStr) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    use std::os::unix::process::CommandExt;
    let at = |n: &str| file_at(dir, n);
    let input = File::open(at("previous"))?;
    let output = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(at("processed"))?;
    let state = File::open(at("state"))?;
    let newstate = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(at("newstate"))?;
    let (s, n) = (state.as_raw_fd(), newstate.as_raw_fd());
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(processor)
        .current_dir(dir)
        .stdin(input)
        .stdout(output.try_clone()?);
    // SAFETY: dup2(2) is async-signal-safe; it gives the processor the state files on
    // the descriptors daemontools' protocol names (4: old state, 5: new state).
    unsafe {
        cmd.pre_exec(move || {
            if libc::dup2(s, 4) < 0 || libc::dup2(n, 5) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status()?;
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
fn commit_processed(dir: &Path) {
    let prev = file_at(dir, "previous");
    retry(
        || format!("unable to remove {}", prev.display()),
        || match std::fs::remove_file(&prev) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r,
        },
    );
    let newstate = file_at(dir, "newstate");
    retry(
        || format!("unable to rename {}", newstate.display()),
        || std::fs::rename(&newstate, file_at(dir, "state")),
    );
    sync_dir_retrying(dir);
}

fn sync_dir_retrying(dir: &Path) {
    retry(
        || format!("unable to fsync {}", dir.display()),
        || sync_dir(dir),
    );
}

/// Renames `name` (if it exists) to `@TAI64N.SUFFIX`, durably: atomic, so a crash
/// leaves one name or the other, and never over an existing archive (a name taken is
/// retried with the next timestamp).
fn archive(dir: &Path, name: &str, suffix: char) {
    use nix::fcntl::{AT_FDCWD, RenameFlags, renameat2};
    let from = file_at(dir, name);
    if std::fs::symlink_metadata(&from).is_err() {
        return;
    }
    retry(
        || format!("unable to rename {}", from.display()),
        || {
            let to = file_at(dir, &archive_name(suffix));
            renameat2(
                AT_FDCWD,
                &from,
                AT_FDCWD,
                &to,
                RenameFlags::RENAME_NOREPLACE,
            )
            .map_err(std::io::Error::from)
        },
    );
    sync_dir_retrying(dir);
}
