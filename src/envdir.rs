//! envdir's rules: each file in a directory sets or unsets the variable it names.

use crate::service_dir::{Extent, Links, SmallFileError, read_small_file};
use nix::errno::Errno;
use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

/// The longest first line a file may have: the kernel takes no longer environment
/// string (MAX_ARG_STRLEN, 32 pages).
pub const VALUE_MAX: usize = 128 * 1024;

/// One change to the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvChange {
    Set(OsString, OsString),
    Unset(OsString),
}

/// Why the directory (as named) could not be read, with the file concerned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EnvdirError {
    OpenDir(PathBuf, Errno),
    ReadDir(PathBuf, Errno),
    Read(PathBuf, OsString, SmallFileError),
    /// A file name that cannot be a variable name (it contains `=`).
    BadName(PathBuf, OsString),
    /// A `-p` prefix that cannot begin a variable name (it contains `=`): a usage
    /// error, whose Display is the line said before the usage.
    BadPrefix(OsString),
}

impl std::fmt::Display for EnvdirError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::diag::errstr;
        match self {
            EnvdirError::OpenDir(d, e) => write!(
                f,
                "unable to switch to directory {}: {}",
                d.display(),
                errstr(*e)
            ),
            EnvdirError::ReadDir(d, e) => {
                write!(
                    f,
                    "unable to read directory {}: {}",
                    d.display(),
                    errstr(*e)
                )
            }
            EnvdirError::Read(d, name, e) => write!(
                f,
                "unable to read {}/{}: {e}",
                d.display(),
                name.to_string_lossy()
            ),
            EnvdirError::BadName(d, name) => write!(
                f,
                "invalid variable name {}/{}: contains =",
                d.display(),
                name.to_string_lossy()
            ),
            EnvdirError::BadPrefix(_) => f.write_str("prefix must not contain ="),
        }
    }
}

/// Every failure is temporary (111), as in daemontools' envdir.
impl crate::cli::Failure for EnvdirError {}

/// The value a file's content gives: `None` (unset) for an empty file, else its first
/// line without trailing spaces and tabs, NUL bytes turned into newlines.
pub fn value_of(content: &[u8]) -> Option<Vec<u8>> {
    if content.is_empty() {
        return None;
    }
    let line = content.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let end = line
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(0, |i| i + 1);
    Some(
        line[..end]
            .iter()
            .map(|&b| if b == 0 { b'\n' } else { b })
            .collect(),
    )
}

/// Reads every file of `dir` not starting with a dot, in directory order. Each is
/// read with `read_small_file` relative to the directory: symbolic links are followed
/// as daemontools' envdir follows them, but what is not a regular file in the end (a
/// FIFO, /dev/zero) is refused, not waited on or read, and only its first line is
/// read, which must fit in `VALUE_MAX` bytes.
///
/// Each variable's name is the file's name after `prefix` (envdir's `-p`; empty for
/// none). A prefix holding `=` is refused as `BadName`.
pub fn read_envdir(dir: &Path, prefix: &[u8]) -> Result<Vec<EnvChange>, EnvdirError> {
    if prefix.contains(&b'=') {
        return Err(EnvdirError::BadPrefix(OsString::from_vec(prefix.to_vec())));
    }
    let errno = |e: std::io::Error| Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO));
    let dirfd = crate::service_dir::ServiceDir::new(dir)
        .open()
        .map_err(|e| EnvdirError::OpenDir(dir.into(), e))?;
    let mut changes = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| EnvdirError::OpenDir(dir.into(), errno(e)))? {
        let entry = entry.map_err(|e| EnvdirError::ReadDir(dir.into(), errno(e)))?;
        let name = entry.file_name();
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        if name.as_bytes().contains(&b'=') {
            return Err(EnvdirError::BadName(dir.into(), name));
        }
        let first = read_small_file(&dirfd, &name, Extent::FirstLine(VALUE_MAX), Links::Follow)
            .map_err(|e| EnvdirError::Read(dir.into(), name.clone(), e))?
            // Gone since the directory was listed.
            .ok_or_else(|| {
                EnvdirError::Read(dir.into(), name.clone(), SmallFileError::Io(Errno::ENOENT))
            })?;
        let mut var = prefix.to_vec();
        var.extend_from_slice(name.as_bytes());
        let var = OsString::from_vec(var);
        changes.push(match value_of(&first) {
            Some(v) => EnvChange::Set(var, OsString::from_vec(v)),
            None => EnvChange::Unset(var),
        });
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemontools_rules() {
        assert_eq!(value_of(b""), None);
        assert_eq!(value_of(b"\n"), Some(b"".to_vec()));
        assert_eq!(value_of(b"hello  \t\nsecond\n"), Some(b"hello".to_vec()));
        assert_eq!(value_of(b"x\0y"), Some(b"x\ny".to_vec()));
        assert_eq!(value_of(b" lead"), Some(b" lead".to_vec()));
        assert_eq!(value_of(b"a\tb \t "), Some(b"a\tb".to_vec()));
        assert_eq!(value_of(b"  "), Some(b"".to_vec()));
        assert_eq!(value_of(b"trail\0 "), Some(b"trail\n".to_vec()));
    }

    #[test]
    fn daemontools_messages() {
        use crate::cli::Failure;
        let d = PathBuf::from("/etc/env");
        let errors = [
            (
                EnvdirError::OpenDir(d.clone(), Errno::ENOENT),
                "unable to switch to directory /etc/env: file does not exist",
            ),
            (
                EnvdirError::Read(d.clone(), "X".into(), SmallFileError::Io(Errno::ENOENT)),
                "unable to read /etc/env/X: file does not exist",
            ),
            (
                EnvdirError::BadName(d.clone(), "A=B".into()),
                "invalid variable name /etc/env/A=B: contains =",
            ),
            (
                EnvdirError::BadPrefix("P=".into()),
                "prefix must not contain =",
            ),
        ];
        for (e, msg) in errors {
            assert_eq!(e.to_string(), msg);
            // daemontools' envdir exits 111 on everything, usage errors too.
            assert_eq!(e.exit_code(), 111);
        }
        let missing = std::path::Path::new("/nonexistent/svkit-envdir");
        assert_eq!(
            read_envdir(missing, b""),
            Err(EnvdirError::OpenDir(missing.into(), Errno::ENOENT))
        );
        assert_eq!(
            read_envdir(missing, b"A="),
            Err(EnvdirError::BadPrefix("A=".into()))
        );
    }
}
