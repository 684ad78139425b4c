//! `-p`: the reached state made to survive a reboot through the `down` file, written
//! relative to the service directory and never through a symbolic link.

use crate::diag::errstr;
use crate::service_dir::{DOWN, ServiceDir};
use nix::errno::Errno;

/// Makes the state survive a reboot: a `down` file for a stopped service, none for
/// a started one. Done relative to the service directory, never through a symbolic
/// link: whoever may write the directory may have put one at `down`.
pub(super) fn persist(dir: &ServiceDir, down: bool) -> Result<(), String> {
    let verb = if down { "create" } else { "remove" };
    let fail = |e: Errno| {
        format!(
            "unable to {verb} {}: {}",
            dir.file(DOWN).display(),
            errstr(e)
        )
    };
    let dirfd = dir.open().map_err(fail)?;
    if down {
        make_down(&dirfd).map_err(fail)
    } else {
        // unlinkat removes a link itself, never what it names.
        match nix::unistd::unlinkat(&dirfd, DOWN, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(fail(e)),
        }
    }
}

/// Makes `down` in the directory `dirfd` an empty regular file: created new (O_EXCL,
/// so nothing in its place is opened, let alone written), or kept if it already is
/// one; anything else there (a symbolic link, a FIFO) is replaced by a new file
/// renamed over it, atomically.
fn make_down(dirfd: &std::os::fd::OwnedFd) -> Result<(), Errno> {
    use nix::fcntl::{AtFlags, OFlag, openat};
    let flags = OFlag::O_WRONLY
        | OFlag::O_CREAT
        | OFlag::O_EXCL
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o644);
    match openat(dirfd, DOWN, flags, mode) {
        Ok(_) => return Ok(()),
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let st = nix::sys::stat::fstatat(dirfd, DOWN, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFREG {
        return Ok(());
    }
    let tmp = format!(".{DOWN}.{}", std::process::id());
    crate::status::replace_at(std::os::fd::AsFd::as_fd(dirfd), &tmp, DOWN, b"")
}
