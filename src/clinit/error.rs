//! Why clinit could not do what it was asked: `ClinitError`, its messages and exit
//! classes (100: a bad command line or cltab, nothing changed; 111: the rest).

use super::ALL;
use super::at::{Distrust, LockError};
use crate::diag::{EXIT_TEMP, EXIT_USAGE, ioerrstr};
use nix::errno::Errno;
use std::path::PathBuf;
use std::time::Duration;

/// Why clinit could not do what it was asked. Its Display is the message after
/// `clinit: fatal: `.
#[derive(Debug)]
pub enum ClinitError {
    /// `:::ALL::: LEVEL` with neither of Cluster::Init's words.
    AllCommand {
        level: String,
    },
    BadLevel(String),
    /// A group the cltab does not have.
    NoGroup {
        group: String,
        cltab: PathBuf,
    },
    /// A group with no status line (clstat is made from the cltab: not expected).
    NoGroupStatus(String),
    /// A directory of an entry's name that clinit did not make, in the way.
    NotClinits {
        dir: PathBuf,
        tag: String,
        line: usize,
    },
    /// clstat's or initstat's (`what`) path ends in no file name.
    NamesNoFile {
        what: &'static str,
        path: PathBuf,
    },
    /// `unable to VERB PATH: REASON`.
    Io {
        verb: &'static str,
        path: PathBuf,
        err: std::io::Error,
    },
    /// What `clinit -s` was to read is no regular file.
    NotRegularFile(PathBuf),
    /// clinit's own clstat is not a file of its account's alone.
    NotWrittenByClinit {
        path: PathBuf,
        why: Distrust,
    },
    /// The lock beside clstat could not be held.
    Lock {
        path: PathBuf,
        why: LockError,
    },
    SuperviseNotRunning(PathBuf),
    /// No supervise appeared in `dir` within `timeout`.
    NoSupervise {
        dir: PathBuf,
        timeout: Duration,
        scan: PathBuf,
    },
    /// Waiting for supervised entries to be up or down failed.
    Wait(crate::svwait::WaitError),
    /// A wait or test entry's command could not be run.
    Run {
        command: String,
        tag: String,
        err: std::io::Error,
    },
    /// This signal reached clinit while a wait or test entry ran (which was KILLed):
    /// nothing more is done or written; the main ends as the signal would have.
    Interrupted(i32),
}

impl ClinitError {
    /// `unable to VERB PATH: REASON` for an I/O error.
    pub(crate) fn io(
        verb: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> ClinitError {
        let path = path.into();
        move |err| ClinitError::Io { verb, path, err }
    }

    /// `unable to VERB PATH: REASON` for a failed system call.
    pub(crate) fn errno(
        verb: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(Errno) -> ClinitError {
        let path = path.into();
        move |e| ClinitError::Io {
            verb,
            path,
            err: e.into(),
        }
    }
}

impl std::fmt::Display for ClinitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use ClinitError::*;
        match self {
            AllCommand { level } => write!(
                f,
                "{ALL} {level}: want {ALL} :::REREAD::: (as -r) or {ALL} :::SHUTDOWN::: (as -k)"
            ),
            BadLevel(level) => write!(f, "bad level {level:?} (not empty, no white space)"),
            NoGroup { group, cltab } => write!(
                f,
                "no group {group} in {} (to have the cltab read again: clinit -r)",
                cltab.display()
            ),
            NoGroupStatus(group) => write!(f, "no group {group}"),
            NotClinits { dir, tag, line } => write!(
                f,
                "{} exists and is not clinit's: rename tag {tag} (cltab line {line}) or move it away",
                dir.display()
            ),
            NamesNoFile { what, path } => write!(f, "{what} {} names no file", path.display()),
            Io { verb, path, err } => {
                write!(f, "unable to {verb} {}: {}", path.display(), ioerrstr(err))
            }
            NotRegularFile(path) => {
                write!(f, "unable to read {}: not a regular file", path.display())
            }
            NotWrittenByClinit { path, why } => write!(
                f,
                "unable to read {}: {why}: not written by clinit, remove it",
                path.display()
            ),
            Lock { path, why } => write!(f, "unable to lock {}: {why}", path.display()),
            SuperviseNotRunning(dir) => {
                write!(
                    f,
                    "unable to control {}: supervise not running",
                    dir.display()
                )
            }
            NoSupervise { dir, timeout, scan } => write!(
                f,
                "no supervise in {} after {}: is svscan running on {}?",
                dir.display(),
                crate::units::format_duration(*timeout),
                scan.display()
            ),
            Wait(e) => write!(f, "{e}"),
            Run { command, tag, err } => {
                write!(f, "unable to run {command} (tag {tag}): {}", ioerrstr(err))
            }
            Interrupted(sig) => write!(f, "interrupted by signal {sig}"),
        }
    }
}

impl crate::cli::Failure for ClinitError {
    fn exit_code(&self) -> i32 {
        use ClinitError::*;
        match self {
            AllCommand { .. }
            | BadLevel(_)
            | NoGroup { .. }
            | NoGroupStatus(_)
            | NotClinits { .. }
            | NamesNoFile { .. } => EXIT_USAGE,
            // Interrupted: a main ends as the signal would have (`cli::die_of_signal`).
            _ => EXIT_TEMP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Failure;

    #[test]
    fn messages_and_exit_classes() {
        let e = ClinitError::NotClinits {
            dir: "/service/web.httpd".into(),
            tag: "httpd".into(),
            line: 3,
        };
        assert_eq!(
            e.to_string(),
            "/service/web.httpd exists and is not clinit's: rename tag httpd (cltab line 3) or move it away"
        );
        assert_eq!(e.exit_code(), 100);
        let e = ClinitError::errno("open", "/service")(Errno::ENOENT);
        assert_eq!(
            e.to_string(),
            "unable to open /service: file does not exist"
        );
        assert_eq!(e.exit_code(), 111);
        let e = ClinitError::NoSupervise {
            dir: "/service/g.t".into(),
            timeout: Duration::from_secs(30),
            scan: "/service".into(),
        };
        assert_eq!(
            e.to_string(),
            "no supervise in /service/g.t after 30s: is svscan running on /service?"
        );
        let e = ClinitError::Lock {
            path: "/run/clstat.lock".into(),
            why: LockError::NotClinits(Distrust::Owner(7)),
        };
        assert_eq!(
            e.to_string(),
            "unable to lock /run/clstat.lock: owned by uid 7: not clinit's, remove it"
        );
        assert_eq!(
            ClinitError::AllCommand { level: "x".into() }.to_string(),
            ":::ALL::: x: want :::ALL::: :::REREAD::: (as -r) or :::ALL::: :::SHUTDOWN::: (as -k)"
        );
    }
}
