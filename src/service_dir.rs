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
/// Waiters' FIFOs: supervise writes a byte to each on every status change.
pub const EVENT: &str = "supervise/event";
pub const DOWN_SIGNAL: &str = "down-signal";
pub const FINISH: &str = "finish";
pub const RESTART: &str = "restart";
pub const NOTIFY: &str = "notify";
pub const CHECK: &str = "check";
pub const CHECK_INTERVAL: &str = "check-interval";
pub const CHECK_TIMEOUT: &str = "check-timeout";
pub const NOTIFICATION_FD: &str = "notification-fd";
pub const TIMEOUT_FINISH: &str = "timeout-finish";
pub const TIMEOUT_KILL: &str = "timeout-kill";

/// The `supervise/` files by their names inside it: supervise works relative to the
/// directory's descriptor, never through a path another account could redirect.
pub mod in_supervise {
    pub const STATUS: &str = "status";
    pub const STATUS_NEW: &str = "status.new";
    pub const CONTROL: &str = "control";
    pub const OK: &str = "ok";
    pub const LOCK: &str = "lock";
    pub const EVENT: &str = "event";
}

/// How the service is brought down: `down-signal` (default TERM, sent with CONT as
/// daemontools does) and `timeout-kill` (default none: after that long, KILL the
/// service's process group). IS::Init's ladder (TERM, then KILL after waits of 1, 2, 4,
/// 8 and 16 s) is `timeout-kill` 31s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopPolicy {
    pub signal: nix::sys::signal::Signal,
    pub kill_after: Option<std::time::Duration>,
}

impl Default for StopPolicy {
    fn default() -> Self {
        StopPolicy {
            signal: nix::sys::signal::Signal::SIGTERM,
            kill_after: None,
        }
    }
}

/// A signal as written in a settings file: `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Option<nix::sys::signal::Signal> {
    use std::str::FromStr;
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    nix::sys::signal::Signal::from_str(&name).ok()
}

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

    /// The stop policy from `down-signal` and `timeout-kill`; what cannot be used is
    /// reported in the returned warnings and left at its default.
    pub fn stop_policy(&self) -> (StopPolicy, Vec<String>) {
        let mut policy = StopPolicy::default();
        let mut warnings = Vec::new();
        let read = |name: &str| std::fs::read_to_string(self.file(name)).ok();
        if let Some(text) = read(DOWN_SIGNAL) {
            match parse_signal(&text) {
                Some(sig) => policy.signal = sig,
                None => warnings.push(format!(
                    "{}/{DOWN_SIGNAL}: not a signal: {:?}, using TERM",
                    self.path.display(),
                    text.trim()
                )),
            }
        }
        if let Some(text) = read(TIMEOUT_KILL) {
            match crate::units::parse_duration(text.trim()) {
                Ok(d) if !d.is_zero() => policy.kill_after = Some(d),
                Ok(_) => {}
                Err(e) => warnings.push(format!(
                    "{}/{TIMEOUT_KILL}: {e}, not killing",
                    self.path.display()
                )),
            }
        }
        (policy, warnings)
    }

    /// Whether `log` is a subdirectory (the service then gets a logger, as svscan does it).
    pub fn has_log(&self) -> bool {
        std::fs::metadata(self.file(LOG))
            .map(|m| m.is_dir())
            .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::sys::signal::Signal;

    #[test]
    fn signal_names() {
        assert_eq!(parse_signal("TERM\n"), Some(Signal::SIGTERM));
        assert_eq!(parse_signal("sighup"), Some(Signal::SIGHUP));
        assert_eq!(parse_signal("2"), Some(Signal::SIGINT));
        assert_eq!(parse_signal("QUIT"), Some(Signal::SIGQUIT));
        assert_eq!(parse_signal("nonsense"), None);
        assert_eq!(parse_signal("999"), None);
        assert_eq!(parse_signal(""), None);
    }
}
