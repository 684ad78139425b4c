//! The service directory: where `run`, `down`, `log` and the `supervise/` files live.

use nix::errno::Errno;
use std::path::{Path, PathBuf};

pub const RUN: &str = "run";
pub const DOWN: &str = "down";
pub const LOG: &str = "log";
pub const SUPERVISE: &str = "supervise";
pub const STATUS: &str = "supervise/status";
pub const STATUS_NEW: &str = "supervise/status.new";
pub const CONTROL: &str = "supervise/control";
pub const OK: &str = "supervise/ok";
pub const LOCK: &str = "supervise/lock";

/// A path to a service directory, as the operator named it.
#[derive(Clone, Debug)]
pub struct ServiceDir {
    path: PathBuf,
}

impl ServiceDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ServiceDir { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of a file inside the directory (one of this module's constants).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// What daemontools' `chdir(dir)` would say: Ok for a directory one can enter.
    pub fn check(&self) -> Result<(), Errno> {
        let st = nix::sys::stat::stat(&self.path)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(Errno::ENOTDIR);
        }
        nix::unistd::access(&self.path, nix::unistd::AccessFlags::X_OK)
    }

    /// Whether the service is normally up, i.e. has no `down` file.
    pub fn normally_up(&self) -> Result<bool, Errno> {
        match nix::sys::stat::stat(&self.file(DOWN)) {
            Ok(_) => Ok(false),
            Err(Errno::ENOENT) => Ok(true),
            Err(e) => Err(e),
        }
    }

    /// Whether `log` is a subdirectory (the service then gets a logger, as svscan does it).
    pub fn has_log(&self) -> bool {
        std::fs::metadata(self.file(LOG))
            .map(|m| m.is_dir())
            .unwrap_or(false)
    }
}
