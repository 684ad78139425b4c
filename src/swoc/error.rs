//! Why a SWOC operation failed: `SwocError`, the path it was about and its cause.

use crate::diag::errstr;
use nix::errno::Errno;
use std::path::Path;
use std::path::PathBuf;

/// Why a SWOC operation on a path failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Why {
    /// A system call failed.
    Sys(Errno),
    /// What was found there is not safe to use, or the caller may not do this.
    Refused(String),
    /// A part of the SWOC tree is missing. It is never made on the way (a share that
    /// did not mount, a misspelt directory): only by `SwocDir::init`.
    Missing,
}

/// A SWOC operation that failed, with the path it was about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwocError {
    pub verb: &'static str,
    pub path: PathBuf,
    pub why: Why,
}

impl std::fmt::Display for SwocError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unable to {} {}: ", self.verb, self.path.display())?;
        match &self.why {
            Why::Sys(Errno::ELOOP) => write!(f, "a symbolic link"),
            Why::Sys(e) => write!(f, "{}", errstr(*e)),
            Why::Refused(s) => write!(f, "{s}"),
            Why::Missing => write!(
                f,
                "file does not exist (not a SWOC directory: is the share mounted, is the \
                 name right? swocserver --init creates one)"
            ),
        }
    }
}

impl std::error::Error for SwocError {}

pub(super) fn sys(verb: &'static str, path: impl Into<PathBuf>, errno: Errno) -> SwocError {
    SwocError {
        verb,
        path: path.into(),
        why: Why::Sys(errno),
    }
}

pub(super) fn refused(
    verb: &'static str,
    path: impl Into<PathBuf>,
    why: impl Into<String>,
) -> SwocError {
    SwocError {
        verb,
        path: path.into(),
        why: Why::Refused(why.into()),
    }
}

pub(super) fn missing(path: &Path) -> SwocError {
    SwocError {
        verb: "use",
        path: path.into(),
        why: Why::Missing,
    }
}
