//! SWOC locks: the directory `SERVICE/swoc/` (locks/, blocked/, disallow), client names, lock files, and waiting for locks to go.

mod block;
mod clients;
mod count;
mod dirfd;
mod disallow;
mod error;
mod lock;
mod lockfile;
mod name;
mod report;
mod scan;
mod tree;
mod wait;

pub use block::{Blocked, Role, Unblocked};
pub use clients::{ClientMap, MapError, Owners};
pub use error::{SwocError, Why};
pub use lock::{LockRequest, Locked, Released};
pub use lockfile::{InfoError, LockInfo, fmt_time, lock_client, parse_time, unique_part};
pub use name::{ClientName, CommentError, NameError, NameProblem, check_comment, hostname};
pub use report::{fmt_age, plural, write_client_status, write_server_status};
pub use scan::{FileKind, Foreign, Garbage, Lock, LockDirEntry, Scan, classify};
pub use wait::{Polling, WaitSpec, Waited, is_network_fs};

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}
