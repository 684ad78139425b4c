//! `supervise/status`: daemontools' 18-byte record plus svkit's extension after it.
//!
//! Layout (offsets in bytes):
//! - 0..12 TAI64N of the last change of pid (big-endian)
//! - 12..16 pid, little-endian, 0 when down
//! - 16 paused flag (1 while paused by `svc -p`)
//! - 17 want: `u`, `d`, or 0 after `svc -o`
//! - 18 extension version (1); absent in a status written by daemontools
//! - 19 flags: bit 0 set while `finish` runs; bits 1..3 readiness; bit 4 a settings
//!   file could not be used; bit 5 the last exit of `run` was unexpected (it ended by
//!   itself while wanted up)
//! - 20..24 last wait status of `run`, little-endian i32, -1 if it never exited
//! - 24..28 number of times `run` was started, little-endian u32
//! - 28..40 TAI64N of the next start the restart policy waits for, zeros if none
//! - 40..52 TAI64N since when the service is ready, or failing its check (flags say)

use crate::service_dir::{STATUS, ServiceDir, in_supervise};
use crate::tai64::Tai64N;
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat, renameat};
use nix::sys::stat::{Mode, fchmod};
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::OsStr;
use std::os::fd::BorrowedFd;

pub const DAEMONTOOLS_LEN: usize = 18;
pub const EXT_V1_LEN: usize = 52;
/// Records of the first svkit versions end after the start count.
const EXT_V1_MIN_LEN: usize = 28;
const EXT_VERSION: u8 = 1;

/// What supervise has been told the service should be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    Up,
    Down,
    /// `svc -o`: run once, do not restart; daemontools writes a 0 byte.
    Once,
}

impl Want {
    fn byte(self) -> u8 {
        match self {
            Want::Up => b'u',
            Want::Down => b'd',
            Want::Once => 0,
        }
    }

    fn from_byte(b: u8) -> Option<Self> {
        match b {
            b'u' => Some(Want::Up),
            b'd' => Some(Want::Down),
            0 => Some(Want::Once),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Want::Up => "up",
            Want::Down => "down",
            Want::Once => "once",
        }
    }
}

/// How `run` last ended, decoded from its wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LastExit {
    Code(i32),
    Signal(i32),
}

impl LastExit {
    /// svkit's one reading of a wait status: killed by a signal, or exited with a code.
    pub fn from_wait_status(ws: i32) -> Self {
        if libc::WIFSIGNALED(ws) {
            LastExit::Signal(libc::WTERMSIG(ws))
        } else {
            LastExit::Code(libc::WEXITSTATUS(ws))
        }
    }
}

/// How a child std waited for ended (`Child::wait` reports no stopped child).
impl From<std::process::ExitStatus> for LastExit {
    fn from(st: std::process::ExitStatus) -> Self {
        use std::os::unix::process::ExitStatusExt;
        LastExit::from_wait_status(st.into_raw())
    }
}

/// svkit's additions, present when supervise is ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Extension {
    /// Raw wait status of the last exit of `run`.
    pub last_wait_status: Option<i32>,
    pub starts: u32,
    /// `./finish` is running: the service is down but not yet finished.
    pub finishing: bool,
    /// When the restart policy lets the service start again.
    pub next_start: Option<Tai64N>,
    pub readiness: Readiness,
    pub settings_problem: bool,
    /// `run` last ended by itself while wanted up (no svc command stopped or signalled
    /// it): the service is failing, and svstat says how.
    pub crashed: bool,
}

const FLAG_FINISHING: u8 = 1;
/// The service has a readiness check or notification-fd.
const FLAG_READINESS: u8 = 2;
const FLAG_READY: u8 = 4;
const FLAG_CHECK_FAILING: u8 = 8;
/// A settings file of the service could not be used.
const FLAG_SETTINGS_PROBLEM: u8 = 16;
/// The last exit of `run` was unexpected.
const FLAG_CRASHED: u8 = 32;

/// Whether the service works, beyond its process existing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Readiness {
    /// No check and no notification-fd: up is all there is (daemontools).
    #[default]
    Untracked,
    /// Up, not ready yet.
    Waiting,
    Ready(Tai64N),
    /// The check did not pass within its timeout.
    Failing(Tai64N),
}

impl Extension {
    pub fn last_exit(&self) -> Option<LastExit> {
        self.last_wait_status.map(LastExit::from_wait_status)
    }
}

/// One decoded status record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    pub changed: Tai64N,
    /// 0 when the service is down.
    pub pid: u32,
    pub paused: bool,
    pub want: Want,
    pub ext: Option<Extension>,
}

/// Why a status record could not be decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StatusError {
    Io(Errno),
    /// Shorter than 18 bytes, or bytes no supervise writes.
    BadFormat,
}

impl std::fmt::Display for StatusError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StatusError::Io(e) => f.write_str(crate::diag::errstr(*e)),
            StatusError::BadFormat => f.write_str("bad format"),
        }
    }
}

impl Status {
    pub fn pack(&self) -> [u8; EXT_V1_LEN] {
        let mut b = [0u8; EXT_V1_LEN];
        b[..12].copy_from_slice(&self.changed.pack());
        b[12..16].copy_from_slice(&self.pid.to_le_bytes());
        b[16] = u8::from(self.pid != 0 && self.paused);
        b[17] = self.want.byte();
        let ext = self.ext.unwrap_or_default();
        b[18] = EXT_VERSION;
        let (flags, since) = match ext.readiness {
            Readiness::Untracked => (0, None),
            Readiness::Waiting => (FLAG_READINESS, None),
            Readiness::Ready(t) => (FLAG_READINESS | FLAG_READY, Some(t)),
            Readiness::Failing(t) => (FLAG_READINESS | FLAG_CHECK_FAILING, Some(t)),
        };
        b[19] = flags
            | if ext.finishing { FLAG_FINISHING } else { 0 }
            | if ext.settings_problem {
                FLAG_SETTINGS_PROBLEM
            } else {
                0
            }
            | if ext.crashed { FLAG_CRASHED } else { 0 };
        if let Some(t) = since {
            b[40..52].copy_from_slice(&t.pack());
        }
        b[20..24].copy_from_slice(&ext.last_wait_status.unwrap_or(-1).to_le_bytes());
        b[24..28].copy_from_slice(&ext.starts.to_le_bytes());
        if let Some(t) = ext.next_start {
            b[28..40].copy_from_slice(&t.pack());
        }
        b
    }

    /// Decodes a record of 18 bytes (daemontools) or more (svkit). Trailing bytes of an
    /// unknown extension are ignored, as daemontools' svstat ignores ours.
    pub fn unpack(b: &[u8]) -> Result<Self, StatusError> {
        if b.len() < DAEMONTOOLS_LEN {
            return Err(StatusError::BadFormat);
        }
        let changed = Tai64N::unpack(b[..12].try_into().unwrap()).ok_or(StatusError::BadFormat)?;
        let pid = u32::from_le_bytes(b[12..16].try_into().unwrap());
        let paused = match b[16] {
            0 => false,
            1 => true,
            _ => return Err(StatusError::BadFormat),
        };
        let want = Want::from_byte(b[17]).ok_or(StatusError::BadFormat)?;
        let ext = if b.len() >= EXT_V1_MIN_LEN && b[18] == EXT_VERSION {
            let ws = i32::from_le_bytes(b[20..24].try_into().unwrap());
            Some(Extension {
                last_wait_status: (ws != -1).then_some(ws),
                starts: u32::from_le_bytes(b[24..28].try_into().unwrap()),
                finishing: b[19] & FLAG_FINISHING != 0,
                next_start: b
                    .get(28..40)
                    .and_then(|l| Tai64N::unpack(l.try_into().ok()?)),
                settings_problem: b[19] & FLAG_SETTINGS_PROBLEM != 0,
                crashed: b[19] & FLAG_CRASHED != 0,
                readiness: {
                    let since = b
                        .get(40..52)
                        .and_then(|l| Tai64N::unpack(l.try_into().ok()?));
                    match (b[19] & FLAG_READINESS != 0, since) {
                        (false, _) => Readiness::Untracked,
                        (true, Some(t)) if b[19] & FLAG_READY != 0 => Readiness::Ready(t),
                        (true, Some(t)) if b[19] & FLAG_CHECK_FAILING != 0 => Readiness::Failing(t),
                        (true, _) => Readiness::Waiting,
                    }
                },
            })
        } else {
            None
        };
        Ok(Status {
            changed,
            pid,
            paused,
            want,
            ext,
        })
    }

    /// Reads `DIR/supervise/status`. Opened without blocking and without following a
    /// symlink, and refused unless it is a regular file: a FIFO or a device put in its
    /// place would hang every reader (svstat, svwait, the frontends, svscan) or feed it
    /// endless bytes. Such a file reads as `BadFormat`, as daemontools' svstat says.
    pub fn read(dir: &ServiceDir) -> Result<Self, StatusError> {
        let fd = match nix::fcntl::open(
            &dir.file(STATUS),
            OFlag::O_RDONLY
                | OFlag::O_NONBLOCK
                | OFlag::O_NOFOLLOW
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            // A symlink: supervise renames a regular file into place, never a link.
            Err(Errno::ELOOP) => return Err(StatusError::BadFormat),
            Err(e) => return Err(StatusError::Io(e)),
        };
        let st = nix::sys::stat::fstat(&fd).map_err(StatusError::Io)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(StatusError::BadFormat);
        }
        let mut buf = [0u8; 64];
        let n = crate::diag::read_up_to(std::os::fd::AsFd::as_fd(&fd), &mut buf)
            .map_err(StatusError::Io)?;
        Status::unpack(&buf[..n])
    }

    /// Replaces `status` in the `supervise/` directory open at `dir` atomically: readers
    /// see the old record or the new one, never a mix. `status.new` is made anew with
    /// O_EXCL and O_NOFOLLOW (a stale one is removed first), so whatever was put in its
    /// place, a symbolic link or a link to another file, is never written through.
    pub fn write_at(&self, dir: BorrowedFd<'_>) -> Result<(), Errno> {
        replace_at(
            dir,
            in_supervise::STATUS_NEW,
            in_supervise::STATUS,
            &self.pack(),
        )
    }
}

/// What `supervise/pid` holds (runit's runsv writes the same): the pid and a newline
/// while the service is up, nothing while it is down.
pub fn pid_file_bytes(pid: u32) -> Vec<u8> {
    if pid == 0 {
        Vec::new()
    } else {
        format!("{pid}\n").into_bytes()
    }
}

/// Replaces `supervise/pid` in the `supervise/` directory open at `dir`, as
/// `Status::write_at` replaces the status.
pub fn write_pid_at(dir: BorrowedFd<'_>, pid: u32) -> Result<(), Errno> {
    replace_at(
        dir,
        in_supervise::PID_NEW,
        in_supervise::PID,
        &pid_file_bytes(pid),
    )
}

/// Writes `bytes` to `name` in the directory open at `dir` atomically: `tmp` is made
/// anew with O_EXCL and O_NOFOLLOW (a stale one is removed first), so whatever was put
/// in its place, a symbolic link or a link to another file, is never written through;
/// then it is renamed over `name`.
pub fn replace_at(dir: BorrowedFd<'_>, tmp: &str, name: &str, bytes: &[u8]) -> Result<(), Errno> {
    let how = NewFile {
        mode: 0o644,
        set_mode: false,
        durable: false,
    };
    match write_new(dir, tmp.as_ref(), bytes, how) {
        Err(Errno::EEXIST) => {
            unlinkat(dir, tmp, UnlinkatFlags::NoRemoveDir)?;
            write_new(dir, tmp.as_ref(), bytes, how)?;
        }
        r => r?,
    }
    rename_into(dir, tmp.as_ref(), name.as_ref())
}

/// How `write_new` makes a file.
#[derive(Clone, Copy, Debug)]
pub struct NewFile {
    pub mode: u32,
    /// Set `mode` on the descriptor, whatever the umask (else it is the mode to create
    /// with, less the umask).
    pub set_mode: bool,
    /// fsync it before it is renamed.
    pub durable: bool,
}

/// The first half of temp-file-then-rename, svkit's one copy: makes `tmp` in `dir`
/// new (O_EXCL and O_NOFOLLOW: nothing in its place is written through; EEXIST is the
/// caller's to handle) with `bytes`, as `how` says. A file it made and could not
/// finish is removed.
pub fn write_new(
    dir: BorrowedFd<'_>,
    tmp: &OsStr,
    bytes: &[u8],
    how: NewFile,
) -> Result<(), Errno> {
    let tmp = crate::diag::c_name(tmp)?;
    let tmp = tmp.as_c_str();
    let fd = openat(
        dir,
        tmp,
        OFlag::O_WRONLY
            | OFlag::O_CREAT
            | OFlag::O_EXCL
            | OFlag::O_NOFOLLOW
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        Mode::from_bits_truncate(if how.set_mode { 0o600 } else { how.mode }),
    )?;
    let r = (|| {
        crate::diag::write_whole(std::os::fd::AsFd::as_fd(&fd), bytes)?;
        if how.set_mode {
            fchmod(&fd, Mode::from_bits_truncate(how.mode))?;
        }
        if how.durable {
            nix::unistd::fsync(&fd)?;
        }
        Ok(())
    })();
    if r.is_err() {
        let _ = unlinkat(dir, tmp, UnlinkatFlags::NoRemoveDir);
    }
    r
}

/// The second half: renames `tmp` over `name` in `dir`, removing `tmp` if it cannot.
pub fn rename_into(dir: BorrowedFd<'_>, tmp: &OsStr, name: &OsStr) -> Result<(), Errno> {
    let (tmp, name) = (crate::diag::c_name(tmp)?, crate::diag::c_name(name)?);
    let tmp = tmp.as_c_str();
    renameat(dir, tmp, dir, name.as_c_str()).inspect_err(|_| {
        let _ = unlinkat(dir, tmp, UnlinkatFlags::NoRemoveDir);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            changed: Tai64N::from_unix(1_790_000_000, 123),
            pid: 0x0102_0304,
            paused: true,
            want: Want::Down,
            ext: Some(Extension {
                last_wait_status: Some(256),
                starts: 7,
                finishing: true,
                next_start: Some(Tai64N::from_unix(1_790_000_060, 0)),
                readiness: Readiness::Ready(Tai64N::from_unix(1_790_000_001, 7)),
                settings_problem: true,
                crashed: true,
            }),
        }
    }

    #[test]
    fn roundtrip() {
        let s = sample();
        assert_eq!(Status::unpack(&s.pack()), Ok(s));
    }

    #[test]
    fn daemontools_bytes() {
        let b = sample().pack();
        assert_eq!(&b[12..16], &[4, 3, 2, 1]);
        assert_eq!(b[16], 1);
        assert_eq!(b[17], b'd');
    }

    #[test]
    fn paused_only_while_up() {
        let mut s = sample();
        s.pid = 0;
        assert_eq!(s.pack()[16], 0);
    }

    #[test]
    fn daemontools_record_has_no_extension() {
        let b = sample().pack();
        let s = Status::unpack(&b[..18]).unwrap();
        assert_eq!(s.ext, None);
        assert_eq!(s.want, Want::Down);
        assert_eq!(s.pid, 0x0102_0304);
    }

    #[test]
    fn once_is_a_zero_byte() {
        let mut s = sample();
        s.want = Want::Once;
        assert_eq!(s.pack()[17], 0);
        assert_eq!(Status::unpack(&s.pack()).unwrap().want, Want::Once);
    }

    #[test]
    fn corrupt_records() {
        let b = sample().pack();
        assert_eq!(Status::unpack(&b[..17]), Err(StatusError::BadFormat));
        assert_eq!(Status::unpack(&[]), Err(StatusError::BadFormat));
        let mut c = b;
        c[17] = b'z';
        assert_eq!(Status::unpack(&c), Err(StatusError::BadFormat));
        let mut c = b;
        c[16] = 7;
        assert_eq!(Status::unpack(&c), Err(StatusError::BadFormat));
        let mut c = b;
        c[0] = 0;
        assert_eq!(Status::unpack(&c), Err(StatusError::BadFormat));
    }

    #[test]
    fn last_exit_decoding() {
        assert_eq!(LastExit::from_wait_status(1 << 8), LastExit::Code(1));
        assert_eq!(LastExit::from_wait_status(9), LastExit::Signal(9));
        use std::os::unix::process::ExitStatusExt;
        let st = |raw| LastExit::from(std::process::ExitStatus::from_raw(raw));
        assert_eq!(st(3 << 8), LastExit::Code(3));
        assert_eq!(st(0x80 | 11), LastExit::Signal(11));
    }

    #[test]
    fn temp_file_then_rename() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir().join(format!("svkit-status-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir(&base).unwrap();
        let dir =
            nix::fcntl::open(&base, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty()).unwrap();
        let d = std::os::fd::AsFd::as_fd(&dir);
        // A stale temp file and a symbolic link at the name: neither is written through.
        std::fs::write(base.join("victim"), b"keep").unwrap();
        std::os::unix::fs::symlink(base.join("victim"), base.join("x.new")).unwrap();
        std::os::unix::fs::symlink(base.join("victim"), base.join("x")).unwrap();
        replace_at(d, "x.new", "x", b"one").unwrap();
        assert_eq!(std::fs::read(base.join("x")).unwrap(), b"one");
        assert_eq!(std::fs::read(base.join("victim")).unwrap(), b"keep");
        assert!(!base.join("x.new").exists());
        // The mode on the descriptor, fsynced; EEXIST is the caller's.
        let how = NewFile {
            mode: 0o640,
            set_mode: true,
            durable: true,
        };
        write_new(d, "t".as_ref(), b"two", how).unwrap();
        assert_eq!(write_new(d, "t".as_ref(), b"", how), Err(Errno::EEXIST));
        let meta = std::fs::metadata(base.join("t")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o640);
        // A rename that fails takes its temp file away.
        std::fs::create_dir_all(base.join("full/sub")).unwrap();
        assert!(rename_into(d, "t".as_ref(), "full".as_ref()).is_err());
        assert!(!base.join("t").exists());
        std::fs::remove_dir_all(&base).unwrap();
    }
}
