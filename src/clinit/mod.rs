//! clinit: resource groups switched between runlevels (Cluster::Init) by turning cltab
//! entries into service directories under svscan and driving their supervise through
//! the control protocol. Here: the `Clinit` handle, the directories it works in and the
//! lock that serialises clinits; the work is in the modules below.

pub(crate) mod at;
pub mod clstat;
pub mod cltab;
mod error;
mod marks;
mod service_dirs;
mod supervised;
mod switch;

pub use error::ClinitError;
pub use marks::MARKER;

use crate::service_dir::ServiceDir;
use cltab::{Cltab, Resource};
use std::cell::OnceCell;
use std::ffi::OsString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::PathBuf;
use std::time::Duration;

const PROG: &str = "clinit";
pub use crate::clinit::clstat::NO_LEVEL;

/// The group word of Cluster::Init's commands to the daemon as a whole:
/// `tell(":::ALL:::", ":::REREAD:::")` and `tell(":::ALL:::", ":::SHUTDOWN:::")`.
pub const ALL: &str = ":::ALL:::";

/// What `clinit GROUP LEVEL` asks for when GROUP is `:::ALL:::`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllCommand {
    /// `:::REREAD:::`: `clinit -r`.
    Reread,
    /// `:::SHUTDOWN:::`: `clinit -k` (there is no daemon to exit).
    Shutdown,
}

/// Cluster::Init's tell() forms for the whole daemon: None for an ordinary group.
pub fn all_command(group: &str, level: &str) -> Result<Option<AllCommand>> {
    if group != ALL {
        return Ok(None);
    }
    match level {
        ":::REREAD:::" => Ok(Some(AllCommand::Reread)),
        ":::SHUTDOWN:::" => Ok(Some(AllCommand::Shutdown)),
        _ => Err(ClinitError::AllCommand {
            level: level.to_string(),
        }),
    }
}

type Result<T> = std::result::Result<T, ClinitError>;

/// The service directory name of an entry: `GROUP.TAG`.
pub fn service_name(e: &Resource) -> String {
    format!("{}.{}", e.group, e.tag)
}

/// clstat's directory, open, and the names in it.
struct StateDir {
    fd: OwnedFd,
    clstat: OsString,
    lock: OsString,
}

/// clinit at work on one scan directory with one cltab.
pub struct Clinit {
    pub tab: Cltab,
    pub scan: PathBuf,
    /// How long supervise may take to appear, and an entry to come up.
    pub timeout: Duration,
    /// How long every respawn entry must then stay up (`--settle`; none by default, as in
    /// Cluster::Init, where started is started).
    pub settle: Duration,
    /// The scan directory, opened once: everything in it is reached from here.
    scan_fd: OnceCell<OwnedFd>,
    /// clstat's directory, opened once (by `lock`).
    state: OnceCell<StateDir>,
}

impl Clinit {
    pub fn new(tab: Cltab, scan: PathBuf, timeout: Duration, settle: Duration) -> Clinit {
        Clinit {
            tab,
            scan,
            timeout,
            settle,
            scan_fd: OnceCell::new(),
            state: OnceCell::new(),
        }
    }

    fn scan_fd(&self) -> Result<BorrowedFd<'_>> {
        if let Some(fd) = self.scan_fd.get() {
            return Ok(fd.as_fd());
        }
        let fd = at::open_dir(&self.scan).map_err(ClinitError::errno("open", &self.scan))?;
        Ok(self.scan_fd.get_or_init(|| fd).as_fd())
    }

    /// clstat's directory (made if need be: /var/run is a tmpfs), opened.
    fn state(&self) -> Result<&StateDir> {
        if let Some(s) = self.state.get() {
            return Ok(s);
        }
        let (fd, name) = clstat::open_parent(&self.tab.clstat, "clstat")?;
        let mut lock = name.to_owned();
        lock.push(".lock");
        Ok(self.state.get_or_init(|| StateDir {
            fd,
            clstat: name.to_owned(),
            lock,
        }))
    }

    fn dir(&self, name: &str) -> ServiceDir {
        ServiceDir::new(self.scan.join(name))
    }

    fn dirs(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .map(|n| self.scan.join(n).to_string_lossy().into_owned())
            .collect()
    }

    fn supervised_entries(&self) -> impl Iterator<Item = &Resource> {
        self.tab.entries.iter().filter(|e| e.mode.supervised())
    }

    /// Holds the lock beside clstat (`CLSTAT.lock`) for as long as the result lives:
    /// one clinit changes things at a time; the next waits. Not inherited by the wait
    /// and test commands: a daemon one of them leaves behind would hold every later
    /// clinit up.
    pub fn lock(&self) -> Result<std::fs::File> {
        let st = self.state()?;
        at::lock(st.fd.as_fd(), &st.lock)
            .map(std::fs::File::from)
            .map_err(|why| {
                let mut p = self.tab.clstat.as_os_str().to_owned();
                p.push(".lock");
                ClinitError::Lock {
                    path: p.into(),
                    why,
                }
            })
    }
}
