//! The marks clinit leaves on what it makes: the marker file naming a service
//! directory's entry, the names of its files and temp files, the dot prefixes of
//! directories being built or taken away, and which directories are clinit's (claims).

use super::at;
use super::cltab::Resource;
use super::{Clinit, ClinitError, PROG, Result};
use crate::diag::warn;
use crate::service_dir::{DOWN, DOWN_SIGNAL, RESTART, RUN};
use nix::sys::stat::SFlag;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};

/// The file that marks a service directory as clinit's, saying which entry it is. It
/// counts only as a regular file with one link, owned by clinit's account and writable
/// by no other, in a directory of that account's that no other may write, and naming
/// the directory's own entry: another account cannot make one (see `claim`).
pub const MARKER: &str = "clinit";
/// Prefixes of clinit's directories that svscan must not see: one being built, one
/// being taken away. A random word follows the entry's name.
pub(super) const NEW_PREFIX: &str = ".clinit-new.";
pub(super) const REMOVED_PREFIX: &str = ".clinit-removed.";

/// The marker's text: which entry the directory is.
pub(super) fn marker_text(e: &Resource) -> String {
    format!("group {}\ntag {}\nmode {}\n", e.group, e.tag, e.mode.name())
}

/// The directory name a marker's text says it belongs to (`GROUP.TAG`).
fn marker_names(text: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(text).ok()?;
    let field = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(' '))
    };
    Some(format!("{}.{}", field("group")?, field("tag")?))
}

/// The names clinit writes in an entry's directory, and nothing else: what it
/// removes. (`supervise/` is supervise's, and goes with the directory.)
pub(super) const OWN_FILES: [&str; 5] = [RUN, MARKER, DOWN_SIGNAL, DOWN, RESTART];

/// A temp file of `at::replace` for one of `OWN_FILES` (`.run.RANDOM.tmp`), or of
/// the clinits before it (`.run.PID.tmp`).
pub(super) fn own_temp(name: &str) -> bool {
    OWN_FILES.iter().any(|f| {
        name.strip_prefix('.')
            .and_then(|r| r.strip_prefix(f))
            .and_then(|r| r.strip_prefix('.'))
            .and_then(|r| r.strip_suffix(".tmp"))
            .is_some_and(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric()))
    })
}

/// What a directory in the scan directory is to clinit.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Claim {
    /// Made by clinit: it may change and remove it.
    Ours,
    /// No marker: someone else's, left alone.
    NotMarked,
    /// A marker clinit cannot have made, or in a directory it cannot trust: left alone
    /// and said so.
    Forged(Forgery),
}

/// Why a marked directory is not clinit's after all. Its Display completes "not
/// clinit's (...)".
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Forgery {
    /// The marker is not a file clinit's account made and alone may write.
    UntrustedMarker(at::Distrust),
    /// The directory is not one of clinit's account's alone.
    UntrustedDir(at::Distrust),
    /// The marker names another entry's directory.
    NamesOther(String),
    /// The marker names no entry.
    NamesNone,
}

impl std::fmt::Display for Forgery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Forgery::UntrustedMarker(why) => write!(f, "its {MARKER} file is {why}"),
            Forgery::UntrustedDir(why) => write!(f, "the directory is {why}"),
            Forgery::NamesOther(n) => write!(f, "its {MARKER} file names {n}"),
            Forgery::NamesNone => write!(f, "its {MARKER} file names no entry"),
        }
    }
}

impl Clinit {
    /// What directory `name` of the scan directory is to clinit. `as_name`: the entry
    /// its marker must name (a directory being taken away has another name).
    pub(super) fn claim(&self, scan: BorrowedFd<'_>, name: &OsStr, as_name: Option<&str>) -> Claim {
        let Ok((fd, st)) = at::open_subdir(scan, name) else {
            // Not a directory, or a symbolic link to one: not clinit's.
            return Claim::NotMarked;
        };
        let text = match at::read_own(fd.as_fd(), OsStr::new(MARKER), true) {
            Ok(at::Found::File(t)) => t,
            Ok(at::Found::Missing) | Err(_) => return Claim::NotMarked,
            Ok(at::Found::Untrusted(why)) => {
                return Claim::Forged(Forgery::UntrustedMarker(why));
            }
        };
        if let Some(why) = at::untrusted(&st, SFlag::S_IFDIR) {
            return Claim::Forged(Forgery::UntrustedDir(why));
        }
        match (marker_names(&text), as_name) {
            (Some(n), Some(want)) if n != want => Claim::Forged(Forgery::NamesOther(n)),
            (None, _) => Claim::Forged(Forgery::NamesNone),
            _ => Claim::Ours,
        }
    }

    /// The names of the directories in the scan directory that are clinit's; those
    /// that only pretend to be are named in a warning and left alone.
    pub(super) fn ours(&self) -> Result<Vec<String>> {
        let scan = self.scan_fd()?;
        let names = at::names(scan).map_err(ClinitError::errno("read", &self.scan))?;
        let mut out = Vec::new();
        for n in names {
            // Entries' names are ASCII; a dot name is svscan's to ignore.
            let Some(name) = n.to_str().filter(|n| !n.starts_with('.')) else {
                continue;
            };
            match self.claim(scan, &n, Some(name)) {
                Claim::Ours => out.push(name.to_string()),
                Claim::NotMarked => {}
                Claim::Forged(why) => warn(
                    PROG,
                    &format!(
                        "{}: not clinit's ({why}): left alone",
                        self.scan.join(name).display()
                    ),
                ),
            }
        }
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn markers_and_temp_names() {
        let tab = crate::clinit::cltab::parse(Path::new("t"), "g:a.b:1:once:x\n").unwrap();
        let text = marker_text(&tab.entries[0]);
        assert_eq!(text, "group g\ntag a.b\nmode once\n");
        assert_eq!(marker_names(text.as_bytes()).as_deref(), Some("g.a.b"));
        assert_eq!(marker_names(b"tag x\n"), None);
        assert_eq!(marker_names(b"\xff"), None);
        assert!(own_temp(".run.0123456789abcdef.tmp") && own_temp(".down-signal.4242.tmp"));
        for other in [
            ".run..tmp",
            ".log.1.tmp",
            "run",
            ".run.1/2.tmp",
            ".run.1.tmp.x",
        ] {
            assert!(!own_temp(other), "{other}");
        }
    }
}
