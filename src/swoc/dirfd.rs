//! Files opened, read, listed and created relative to directory descriptors, never through a symlink.

use super::READ_MAX;
use super::scan::FileKind;
use crate::diag::io_errno;
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, openat};
use nix::sys::stat::{Mode, fstatat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::{OsStr, OsString};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// For opening anything in a directory others may write: never through a symlink, never
/// blocking on a FIFO, never taking a terminal.
pub(super) const SAFE: OFlag = OFlag::O_CLOEXEC
    .union(OFlag::O_NOFOLLOW)
    .union(OFlag::O_NONBLOCK)
    .union(OFlag::O_NOCTTY);

/// What fstat says, as far as SWOC cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Meta {
    pub(super) kind: FileKind,
    pub(super) uid: u32,
    pub(super) mode: u32,
    pub(super) ino: u64,
    pub(super) mtime: Option<SystemTime>,
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

pub(super) fn fstat_meta(fd: BorrowedFd<'_>) -> Result<Meta, Errno> {
    nix::sys::stat::fstat(fd).map(|st| Meta::of(&st))
}

pub(super) fn lstat_at(dir: BorrowedFd<'_>, name: &OsStr) -> Result<Meta, Errno> {
    fstatat(dir, name, AtFlags::AT_SYMLINK_NOFOLLOW).map(|st| Meta::of(&st))
}

pub(super) fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Reads a small regular file relative to `dir`, and only if it is still the file
/// `seen` (same inode, same owner): what was checked is what is read.
pub(super) fn read_small(dir: BorrowedFd<'_>, name: &OsStr, seen: &Meta) -> Result<Vec<u8>, Errno> {
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
pub(super) fn read_names(dir: BorrowedFd<'_>) -> Result<Vec<(OsString, Option<FileKind>)>, Errno> {
    let fd = openat(
        dir,
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )?;
    let names = crate::dirlist::names_at(fd.as_fd())?;
    Ok(names
        .into_iter()
        .map(|(name, d_type)| {
            let kind = match d_type {
                libc::DT_DIR => Some(FileKind::Dir),
                libc::DT_REG => Some(FileKind::Regular),
                libc::DT_UNKNOWN => None,
                _ => Some(FileKind::Other),
            };
            (name, kind)
        })
        .collect())
}

/// Opens the directory `name` in `dir`, never through a symlink (ELOOP for one: with
/// O_DIRECTORY, Linux says ENOTDIR).
pub(super) fn open_subdir(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
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

/// Creates `name` in `dir` exclusively, never through a symlink, with exactly `mode`,
/// holding `body`. Returns the owner the file system gave it (over NFS a squashed root
/// is not root). Anything failing after the create removes the file again.
pub(super) fn create_excl(
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
