//! The settings files of a service directory, read and parsed here once: `down-signal`,
//! `timeout-kill`, `restart`, `down-on-100` and `notification-fd`, read at each start
//! of `run` (a change applies from the next run on), and the durations read when they
//! are needed (`check-interval`, `check-timeout`, `timeout-finish`). Each is read as
//! `service_dir::read_small_file` reads (never blocking, never following a link, at
//! most `SETTINGS_MAX` bytes); what cannot be used is a warning naming its file, and
//! the default stands in.

use crate::restart::{PolicyError, RestartPolicy, parse_policy};
use crate::service_dir::{
    DOWN_ON_100, DOWN_SIGNAL, Extent, Links, NOTIFICATION_FD, RESTART, ServiceDir, SmallFileError,
    TIMEOUT_KILL, read_small_file,
};
use crate::units::ParseUnitError;
use nix::sys::signal::Signal;
use std::ffi::OsStr;
use std::os::fd::{AsFd, RawFd};
use std::time::Duration;

/// The most a settings file may hold: each is one short line.
pub const SETTINGS_MAX: usize = 4096;

/// How the service is brought down: `down-signal` (default TERM, sent with CONT as
/// daemontools does) and `timeout-kill` (default none: after that long, KILL the
/// service's process group). IS::Init's ladder (TERM, then KILL after waits of 1, 2, 4,
/// 8 and 16 s) is `timeout-kill` 31s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StopPolicy {
    pub signal: Signal,
    pub kill_after: Option<Duration>,
}

impl Default for StopPolicy {
    fn default() -> Self {
        StopPolicy {
            signal: Signal::SIGTERM,
            kill_after: None,
        }
    }
}

/// What a start of `run` reads from the service directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StartSettings {
    pub stop: StopPolicy,
    pub restart: RestartPolicy,
    /// `down-on-100`: an exit 100 means stay down.
    pub down_on_100: bool,
    /// `notification-fd`: the descriptor on which run says it is ready.
    pub notification_fd: Option<RawFd>,
    /// What could not be used, one warning each (the text after `PROG: warning: `),
    /// in the order read; svstat shows "bad settings" when there is any.
    pub warnings: Vec<String>,
}

impl StartSettings {
    /// Reads the settings of the service directory `dir`, naming files in warnings
    /// after `shown`, the directory as the operator named it.
    pub fn read(dir: &ServiceDir, shown: &str) -> StartSettings {
        let (stop, mut warnings) = stop_policy(dir, shown);
        let restart = read_policy(dir, shown).unwrap_or_else(|e| {
            warnings.push(format!("{e}, using daemontools'"));
            RestartPolicy::Daemontools
        });
        let down_on_100 = std::fs::symlink_metadata(dir.file(DOWN_ON_100)).is_ok();
        let notification_fd = match read_setting(dir, NOTIFICATION_FD) {
            Ok(None) => None,
            Ok(Some(text)) => parse_notification_fd(&text).or_else(|| {
                warnings.push(format!(
                    "{shown}/{NOTIFICATION_FD}: not a descriptor number from 3 to 1023: {:?}, ignored",
                    text.trim()
                ));
                None
            }),
            Err(e) => {
                warnings.push(format!("{shown}/{NOTIFICATION_FD}: {e}, ignored"));
                None
            }
        };
        StartSettings {
            stop,
            restart,
            down_on_100,
            notification_fd,
            warnings,
        }
    }
}

/// A settings file of the service (one of `service_dir`'s constants, directly in the
/// directory) read with `read_small_file`: at most `SETTINGS_MAX` bytes, as text.
/// `Ok(None)` when it does not exist; the error says why it cannot be used.
pub fn read_setting(dir: &ServiceDir, name: &str) -> Result<Option<String>, SmallFileError> {
    let read = |at: std::os::fd::BorrowedFd<'_>| {
        read_small_file(
            at,
            OsStr::new(name),
            Extent::Whole(SETTINGS_MAX),
            Links::Refuse,
        )
    };
    // supervise reads from inside the directory at every start: the current directory
    // is that descriptor already.
    let text = if dir.path() == std::path::Path::new(".") {
        read(nix::fcntl::AT_FDCWD)?
    } else {
        read(dir.open().map_err(SmallFileError::Io)?.as_fd())?
    };
    Ok(text.map(|b| String::from_utf8_lossy(&b).into_owned()))
}

/// A settings file that cannot be used: the file as shown (`SHOWN/NAME`) and why. Its
/// Display is the start of a warning, to which the caller adds what it does instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingError {
    pub file: String,
    pub cause: SettingCause,
}

/// Why a settings file cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SettingCause {
    Read(SmallFileError),
    Duration(ParseUnitError),
    Policy(PolicyError),
}

impl std::fmt::Display for SettingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: ", self.file)?;
        match &self.cause {
            SettingCause::Read(e) => e.fmt(f),
            SettingCause::Duration(e) => e.fmt(f),
            SettingCause::Policy(e) => e.fmt(f),
        }
    }
}

/// A duration from a settings file (`check-timeout`, `timeout-kill`, ...): `Ok(None)`
/// without the file; more than `units::MAX_DURATION` is taken as that much (the
/// operator meant "for ever"). The error names the file as `SHOWN/NAME`.
pub fn read_duration(
    dir: &ServiceDir,
    name: &str,
    shown: &str,
) -> Result<Option<Duration>, SettingError> {
    let error = |cause| SettingError {
        file: format!("{shown}/{name}"),
        cause,
    };
    match read_setting(dir, name) {
        Ok(None) => Ok(None),
        Ok(Some(text)) => crate::units::parse_duration_saturating(text.trim())
            .map(Some)
            .map_err(|e| error(SettingCause::Duration(e))),
        Err(e) => Err(error(SettingCause::Read(e))),
    }
}

/// The stop policy from `down-signal` and `timeout-kill`; what cannot be used is
/// reported in the returned warnings and left at its default. These two files are
/// named `SHOWN/DIR/NAME` (`svc/./down-signal` for supervise, which reads `.`), as
/// supervise has always named them.
pub fn stop_policy(dir: &ServiceDir, shown: &str) -> (StopPolicy, Vec<String>) {
    let mut policy = StopPolicy::default();
    let mut warnings = Vec::new();
    let within = format!("{shown}/{}", dir.path().display());
    match read_setting(dir, DOWN_SIGNAL) {
        Ok(None) => {}
        Ok(Some(text)) => match parse_signal(&text) {
            Some(sig) => policy.signal = sig,
            None => warnings.push(format!(
                "{within}/{DOWN_SIGNAL}: not a signal: {:?}, using TERM",
                text.trim()
            )),
        },
        Err(e) => warnings.push(format!("{within}/{DOWN_SIGNAL}: {e}, using TERM")),
    }
    match read_duration(dir, TIMEOUT_KILL, &within) {
        Ok(Some(d)) if !d.is_zero() => policy.kill_after = Some(d),
        Ok(_) => {}
        Err(e) => warnings.push(format!("{e}, not killing")),
    }
    (policy, warnings)
}

/// The policy the service's `restart` file chooses (daemontools' without one). The
/// error names the file `SHOWN/restart`; the caller then uses daemontools'.
pub fn read_policy(dir: &ServiceDir, shown: &str) -> Result<RestartPolicy, SettingError> {
    let error = |cause| SettingError {
        file: format!("{shown}/{RESTART}"),
        cause,
    };
    match read_setting(dir, RESTART) {
        Ok(None) => Ok(RestartPolicy::Daemontools),
        Ok(Some(text)) => parse_policy(&text).map_err(|e| error(SettingCause::Policy(e))),
        Err(e) => Err(error(SettingCause::Read(e))),
    }
}

/// A signal as written in a settings file: `TERM`, `SIGTERM`, `term` or `15`.
pub fn parse_signal(s: &str) -> Option<Signal> {
    use std::str::FromStr;
    let s = s.trim();
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).ok();
    }
    let upper = s.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).ok()
}

/// The number in `notification-fd`, if it is a usable one (3 to 1023: 0 to 2 are the
/// service's standard descriptors).
pub fn parse_notification_fd(text: &str) -> Option<RawFd> {
    text.trim()
        .parse::<RawFd>()
        .ok()
        .filter(|n| (3..1024).contains(n))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn notification_fd_numbers() {
        assert_eq!(parse_notification_fd("3\n"), Some(3));
        assert_eq!(parse_notification_fd(" 1023 "), Some(1023));
        assert_eq!(parse_notification_fd("2"), None);
        assert_eq!(parse_notification_fd("1024"), None);
        assert_eq!(parse_notification_fd("-1"), None);
        assert_eq!(parse_notification_fd("four"), None);
    }

    /// A directory of settings, some unusable: each unusable one is one warning naming
    /// its file, and its default stands in; no global flag is left behind.
    #[test]
    fn start_settings_read_once_with_their_warnings() {
        let tmp = std::env::temp_dir().join(format!("svkit-settings-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).unwrap();
        let dir = ServiceDir::new(&tmp);
        let clean = StartSettings::read(&dir, "S");
        assert_eq!(clean, StartSettings::default());
        std::fs::write(tmp.join(DOWN_SIGNAL), "HUP\n").unwrap();
        std::fs::write(tmp.join(TIMEOUT_KILL), "2s\n").unwrap();
        std::fs::write(tmp.join(RESTART), "sometimes\n").unwrap();
        std::fs::write(tmp.join(NOTIFICATION_FD), "1\n").unwrap();
        std::fs::write(tmp.join(DOWN_ON_100), "").unwrap();
        let s = StartSettings::read(&dir, "S");
        assert_eq!(
            s.stop,
            StopPolicy {
                signal: Signal::SIGHUP,
                kill_after: Some(Duration::from_secs(2))
            }
        );
        assert_eq!(s.restart, RestartPolicy::Daemontools);
        assert!(s.down_on_100);
        assert_eq!(s.notification_fd, None);
        assert_eq!(s.warnings.len(), 2, "{:?}", s.warnings);
        assert!(
            s.warnings[0].starts_with("S/restart: not a restart policy"),
            "{:?}",
            s.warnings
        );
        assert!(
            s.warnings[1].starts_with("S/notification-fd: not a descriptor number"),
            "{:?}",
            s.warnings
        );
        std::fs::write(tmp.join(DOWN_SIGNAL), "NOSUCH\n").unwrap();
        let (_, w) = stop_policy(&ServiceDir::new(&tmp), "S");
        assert_eq!(
            w,
            vec![format!(
                "S/{}/down-signal: not a signal: \"NOSUCH\", using TERM",
                tmp.display()
            )]
        );
        std::fs::write(tmp.join("check-timeout"), "soon\n").unwrap();
        let e = read_duration(&dir, "check-timeout", "S").unwrap_err();
        assert_eq!(e.file, "S/check-timeout");
        assert!(
            e.to_string()
                .starts_with("S/check-timeout: invalid duration \"soon\""),
            "{e}"
        );
        std::fs::remove_file(tmp.join("check-timeout")).unwrap();
        std::fs::remove_file(tmp.join(DOWN_SIGNAL)).unwrap();
        std::fs::write(tmp.join(NOTIFICATION_FD), "4\n").unwrap();
        std::fs::write(tmp.join(RESTART), "exponential 1s 8s\n").unwrap();
        let s = StartSettings::read(&dir, "S");
        assert!(s.warnings.is_empty(), "{:?}", s.warnings);
        assert_eq!(s.notification_fd, Some(4));
        let _ = std::fs::remove_dir_all(&tmp);
    }
}
