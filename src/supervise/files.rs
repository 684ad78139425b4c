//! The `supervise/` directory: opened and checked to be ours, its lock, its FIFOs and
//! its event directory, nothing in it followed.

use super::StartError;
use crate::diag::{errstr, warn};
use crate::service_dir::{SUPERVISE, in_supervise};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, open, openat};
use nix::sys::stat::{Mode, fchmod, fstat, mkdirat};
use nix::unistd::{UnlinkatFlags, mkfifoat, unlinkat};
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;

/// The open files a running supervise holds.
pub(super) struct Files {
    /// The `supervise/` directory, checked to be ours: every file in it is reached
    /// relative to this descriptor.
    pub dir: OwnedFd,
    /// `supervise/event`, if it could be made and is ours.
    pub event: Option<OwnedFd>,
    _lock: Flock<std::fs::File>,
    pub control: OwnedFd,
    _control_writer: OwnedFd,
}

/// Opens `supervise/` (making it if need be) and checks that it is ours and that no
/// other account may write in it; takes the lock; opens the control FIFO both ways,
/// the event directory.
///
/// A `supervise` that is a symbolic link is followed (a read-only service tree may
/// point it into /run, as Debian's daemontools allows): whoever can put it there can
/// change `run` as well. Whatever it leads to must pass the same checks. Inside it,
/// nothing is followed: every file is opened relative to the directory with
/// O_NOFOLLOW and checked once open, and what is not what supervise made is replaced,
/// saying so.
pub(super) fn open_files(dir_arg: &str) -> Result<Files, StartError> {
    let sup_name = |name: &str| format!("{dir_arg}/{SUPERVISE}/{name}");
    if let Ok(target) = std::fs::read_link(SUPERVISE)
        && !std::path::Path::new(SUPERVISE).exists()
    {
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&target);
    }
    match nix::unistd::mkdir(SUPERVISE, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            return Err(StartError::io("create", format!("{dir_arg}/{SUPERVISE}"))(
                e,
            ));
        }
    }
    let dir = open(
        SUPERVISE,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(StartError::io("open", format!("{dir_arg}/{SUPERVISE}")))?;
    own_directory(&dir, &format!("{dir_arg}/{SUPERVISE}"))?;

    let lock = lock_at(&dir, &sup_name(in_supervise::LOCK))?;
    let control = fifo_at(
        &dir,
        in_supervise::CONTROL,
        &sup_name(in_supervise::CONTROL),
    )
    .map_err(StartError::io("read", sup_name(in_supervise::CONTROL)))?;
    // Holding a writer keeps reads from seeing end-of-file when svc closes its end.
    let control_writer = openat(
        &dir,
        in_supervise::CONTROL,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .and_then(|w| same_file(&control, &w).then_some(w).ok_or(Errno::ESTALE))
    .map_err(StartError::io("write", sup_name(in_supervise::CONTROL)))?;
    let event = event_dir(&dir, &sup_name(in_supervise::EVENT));
    Ok(Files {
        dir,
        event,
        _lock: lock,
        control,
        _control_writer: control_writer,
    })
}

/// Whether two descriptors are the same file.
fn same_file(a: &OwnedFd, b: &OwnedFd) -> bool {
    match (fstat(a), fstat(b)) {
        (Ok(x), Ok(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

/// Checks that the directory open at `fd` belongs to us and that no other account may
/// write in it. One owned by another account is refused: it may hold anything, and
/// its owner may change it at any time. One of ours that others may write in is made
/// unwritable to them (on the descriptor), with a warning; its entries are checked
/// one by one after that.
fn own_directory(fd: &OwnedFd, shown: &str) -> Result<(), StartError> {
    let st = fstat(fd).map_err(StartError::io("stat", shown))?;
    let euid = nix::unistd::geteuid().as_raw();
    if st.st_uid != euid {
        return Err(StartError::ForeignDirectory {
            path: shown.to_string(),
            owner: st.st_uid,
            euid,
        });
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let fixed = mode & !0o022;
        fchmod(fd, Mode::from_bits_truncate(fixed)).map_err(StartError::io("chmod", shown))?;
        warn(
            "supervise",
            &format!(
                "{shown} was writable by other accounts (mode {mode:04o}): made it {fixed:04o}"
            ),
        );
    }
    Ok(())
}

/// What is wrong with a file supervise finds in place of one it makes, if anything.
fn not_ours(st: &nix::sys::stat::FileStat, kind: libc::mode_t) -> Option<&'static str> {
    let euid = nix::unistd::geteuid().as_raw();
    if st.st_mode & libc::S_IFMT != kind {
        Some(if kind == libc::S_IFIFO {
            "not a FIFO"
        } else {
            "not a regular file"
        })
    } else if st.st_uid != euid {
        Some("owned by another account")
    } else if st.st_nlink != 1 {
        Some("a link to another file")
    } else if st.st_mode & 0o077 != 0 {
        Some("open to other accounts")
    } else {
        None
    }
}

/// Removes `name` from the directory `dir` and says why, so it can be made anew.
fn replace(dir: &OwnedFd, name: &str, shown: &str, why: &str) -> Result<(), Errno> {
    warn("supervise", &format!("replacing {shown}: {why}"));
    unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
}

/// Opens the FIFO `name` of `supervise/` for reading, making it first. Anything else
/// in its place (a symbolic link, a regular file, a FIFO of another account's or one
/// other accounts could open) is replaced by a new FIFO: a new one is open to nobody
/// else.
pub(super) fn fifo_at(dir: &OwnedFd, name: &str, shown: &str) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_RDONLY
        | OFlag::O_NONBLOCK
        | OFlag::O_NOFOLLOW
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    for _ in 0..3 {
        match openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => {
                let st = fstat(&fd)?;
                match not_ours(&st, libc::S_IFIFO) {
                    None => {
                        if st.st_mode & 0o7777 != 0o600 {
                            fchmod(&fd, Mode::from_bits_truncate(0o600))?;
                        }
                        return Ok(fd);
                    }
                    Some(why) => replace(dir, name, shown, why)?,
                }
            }
            Err(Errno::ENOENT) => {}
            Err(Errno::ELOOP) => replace(dir, name, shown, "a symbolic link")?,
            Err(e) => return Err(e),
        }
        match mkfifoat(dir, name, Mode::from_bits_truncate(0o600)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EAGAIN)
}

/// Opens and locks `supervise/lock`, making it first; a symbolic link, a FIFO or
/// another account's file in its place is replaced.
fn lock_at(dir: &OwnedFd, shown: &str) -> Result<Flock<std::fs::File>, StartError> {
    let failed = |e: Errno| StartError::io("acquire", shown)(e);
    let open_lock = |extra: OFlag| {
        openat(
            dir,
            in_supervise::LOCK,
            OFlag::O_WRONLY
                | OFlag::O_APPEND
                | OFlag::O_CREAT
                | OFlag::O_NONBLOCK
                | OFlag::O_NOFOLLOW
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC
                | extra,
            Mode::from_bits_truncate(0o600),
        )
    };
    let fd = match open_lock(OFlag::empty()) {
        Ok(fd) => match fstat(&fd).map(|st| not_ours(&st, libc::S_IFREG)) {
            Ok(None) => fd,
            // A lock other accounts may read does no harm: daemontools' is 0644.
            Ok(Some("open to other accounts")) => fd,
            Ok(Some(why)) => {
                drop(fd);
                replace(dir, in_supervise::LOCK, shown, why).map_err(failed)?;
                open_lock(OFlag::O_EXCL).map_err(failed)?
            }
            Err(e) => return Err(failed(e)),
        },
        // ENXIO: a FIFO nobody reads.
        Err(e @ (Errno::ELOOP | Errno::ENXIO)) => {
            let why = if e == Errno::ELOOP {
                "a symbolic link"
            } else {
                "not a regular file"
            };
            replace(dir, in_supervise::LOCK, shown, why).map_err(failed)?;
            open_lock(OFlag::O_EXCL).map_err(failed)?
        }
        Err(e) => return Err(failed(e)),
    };
    Flock::lock(std::fs::File::from(fd), FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| failed(e))
}

/// Makes and opens `supervise/event`, checked as `supervise/` is; without it waiters
/// poll instead, so a problem is a warning.
fn event_dir(dir: &OwnedFd, shown: &str) -> Option<OwnedFd> {
    match mkdirat(dir, in_supervise::EVENT, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            warn(
                "supervise",
                &format!("unable to create {shown}: {}", errstr(e)),
            );
            return None;
        }
    }
    let fd = match openat(
        dir,
        in_supervise::EVENT,
        OFlag::O_RDONLY
            | OFlag::O_DIRECTORY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            warn(
                "supervise",
                &format!("unable to open {shown}: {}", errstr(e)),
            );
            return None;
        }
    };
    match own_directory(&fd, shown) {
        Ok(()) => Some(fd),
        Err(e) => {
            warn("supervise", &e.to_string());
            None
        }
    }
}
