//! Renames that never replace what is already there: renameat2's RENAME_NOREPLACE, made
//! as a raw system call so it is the same on glibc and musl.

use nix::NixPath;
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use std::os::fd::{AsRawFd, BorrowedFd};

/// Renames `from` (in `from_dir`) to `to` (in `to_dir`); EEXIST if `to` exists. On a
/// file system or kernel without RENAME_NOREPLACE, looks first and then renames: the
/// best that is left there, and racy only against a writer of the same name.
pub fn rename_new<P: ?Sized + NixPath, Q: ?Sized + NixPath>(
    from_dir: BorrowedFd<'_>,
    from: &P,
    to_dir: BorrowedFd<'_>,
    to: &Q,
) -> Result<(), Errno> {
    let r = from.with_nix_path(|f| {
        to.with_nix_path(|t| {
            // SAFETY: both names are NUL-terminated C strings alive for the call; the
            // descriptors are borrowed, so open for it.
            unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    from_dir.as_raw_fd(),
                    f.as_ptr(),
                    to_dir.as_raw_fd(),
                    t.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            }
        })
    })??;
    match Errno::result(r) {
        Ok(_) => Ok(()),
        Err(Errno::EINVAL | Errno::ENOSYS) => {
            match nix::sys::stat::fstatat(to_dir, to, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(_) => Err(Errno::EEXIST),
                Err(Errno::ENOENT) => nix::fcntl::renameat(from_dir, from, to_dir, to),
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn renames_and_never_replaces() {
        let d = std::env::temp_dir().join(format!("svkit-rename-{}", std::process::id()));
        std::fs::create_dir(&d).unwrap();
        let dir = std::fs::File::open(&d).unwrap();
        std::fs::write(d.join("a"), b"a").unwrap();
        std::fs::write(d.join("b"), b"b").unwrap();
        assert_eq!(
            rename_new(dir.as_fd(), "a", dir.as_fd(), "b"),
            Err(Errno::EEXIST)
        );
        assert_eq!(std::fs::read(d.join("b")).unwrap(), b"b");
        assert_eq!(rename_new(dir.as_fd(), "a", dir.as_fd(), "c"), Ok(()));
        assert_eq!(std::fs::read(d.join("c")).unwrap(), b"a");
        assert!(!d.join("a").exists());
        assert_eq!(
            rename_new(dir.as_fd(), "a", dir.as_fd(), "d"),
            Err(Errno::ENOENT)
        );
        std::fs::remove_dir_all(&d).unwrap();
    }
}
