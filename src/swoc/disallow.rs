//! The `disallow` flag: the server refusing new locks from every client.

use super::dirfd::{create_excl, lstat_at};
use super::error::{SwocError, sys};
use super::tree::Tree;
use super::{DISALLOW, FILE_MODE, SwocDir};
use nix::errno::Errno;
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::OsStr;
use std::os::fd::AsFd;

impl Tree {
    pub(super) fn is_disallowed(&self) -> Result<bool, SwocError> {
        match lstat_at(self.swoc.as_fd(), OsStr::new(DISALLOW)) {
            Ok(_) => Ok(true),
            Err(Errno::ENOENT) => Ok(false),
            Err(e) => Err(sys("access", self.root.join(DISALLOW), e)),
        }
    }
}

impl SwocDir {
    pub fn is_disallowed(&self) -> Result<bool, SwocError> {
        self.tree()?.is_disallowed()
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
}
