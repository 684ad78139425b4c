//! Listing `locks/` and `blocked/`: what each name is, and the `Scan` that `-s` reports.

use super::dirfd::{Meta, lstat_at, read_names, read_small};
use super::error::{SwocError, sys};
use super::lockfile::{InfoError, LockInfo, lock_client};
use super::name::ClientName;
use super::tree::Tree;
use super::{BLOCKED, LOCKS, STALE_TMP, SwocDir, TMP_PREFIX};
use nix::errno::Errno;
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::{SystemTime, UNIX_EPOCH};

/// The type of a directory entry, as far as counting locks cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    Regular,
    Other,
}

/// What a name in `locks/` is: a lock (of which client), a lock being written, not ours, or garbage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LockDirEntry {
    Lock(String),
    /// A lock being written (or a crash's leftover): not a lock yet.
    Temp,
    /// Directories, `.`, `..`, and other dot files (NFS's `.nfsXXXX`): not ours.
    Ignored,
    Garbage(&'static str),
}

pub fn classify(name: &[u8], kind: FileKind) -> LockDirEntry {
    if name.starts_with(b".") {
        return match name.starts_with(TMP_PREFIX.as_bytes()) && kind == FileKind::Regular {
            true => LockDirEntry::Temp,
            false => LockDirEntry::Ignored,
        };
    }
    match kind {
        FileKind::Dir => return LockDirEntry::Ignored,
        FileKind::Other => return LockDirEntry::Garbage("not a regular file"),
        FileKind::Regular => {}
    }
    let Ok(name) = std::str::from_utf8(name) else {
        return LockDirEntry::Garbage("not a lock name (not UTF-8)");
    };
    match lock_client(name) {
        Ok(c) => LockDirEntry::Lock(c.to_string()),
        Err(why) => LockDirEntry::Garbage(why),
    }
}

/// One lock as `-s` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lock {
    pub file: String,
    pub client: String,
    pub info: Result<LockInfo, InfoError>,
    /// Only looked up when the contents do not say when the lock was made.
    pub mtime: Option<SystemTime>,
    /// The file's owner: what says whose lock it is (the contents' uid= is only text).
    pub owner: u32,
}

impl Lock {
    pub fn created(&self) -> SystemTime {
        match &self.info {
            Ok(i) => i.created,
            Err(_) => self.mtime.unwrap_or(UNIX_EPOCH),
        }
    }

    pub fn expires(&self) -> Option<SystemTime> {
        self.info.as_ref().ok().and_then(|i| i.expires)
    }

    pub fn expired(&self, now: SystemTime) -> bool {
        self.expires().is_some_and(|e| e <= now)
    }
}

/// A file in the SWOC directory that is neither a lock nor a block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Garbage {
    /// Relative to the SWOC directory, like `locks/README`.
    pub path: String,
    pub why: &'static str,
}

/// A lock or block under a client name whose owner may not use that name: planted by
/// another account. It counts for nothing; only the server's account removes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Foreign {
    /// Relative to the SWOC directory, like `locks/alpha.1`.
    pub path: String,
    pub client: String,
    pub owner: u32,
}

/// Everything `-s` reports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Scan {
    pub locks: Vec<Lock>,
    pub blocked: Vec<String>,
    pub disallowed: bool,
    pub garbage: Vec<Garbage>,
    pub foreign: Vec<Foreign>,
}

impl Scan {
    pub fn live(&self, client: Option<&str>, now: SystemTime) -> usize {
        self.locks
            .iter()
            .filter(|l| client.is_none_or(|c| l.client == c) && !l.expired(now))
            .count()
    }
}

/// A temp file left by a crash between create and link (see `STALE_TMP`).
fn is_stale_temp(dir: BorrowedFd<'_>, name: &OsStr, now: SystemTime) -> bool {
    use std::os::unix::ffi::OsStrExt;
    name.as_bytes().starts_with(TMP_PREFIX.as_bytes())
        && lstat_at(dir, name).is_ok_and(|m| {
            m.kind == FileKind::Regular
                && m.mtime
                    .is_some_and(|t| now.duration_since(t).unwrap_or_default() > STALE_TMP)
        })
}

/// The lock `name` of `client`, seen as `m`, with its contents if `read`; None if it
/// went before it could be read.
fn read_lock(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    m: &Meta,
    client: String,
    read: bool,
) -> Option<Lock> {
    let file = name.to_string_lossy().into_owned();
    if !read {
        return Some(Lock {
            file,
            client,
            // Not read: the caller only wants names.
            info: Err(InfoError::Missing("created")),
            mtime: None,
            owner: m.uid,
        });
    }
    let info = match read_small(dir, name, m) {
        Ok(b) => LockInfo::unpack(&b),
        Err(Errno::ENOENT) | Err(Errno::ESTALE) => return None,
        Err(_) => Err(InfoError::NotText),
    };
    let mtime = match info {
        Ok(_) => None,
        Err(_) => m.mtime,
    };
    Some(Lock {
        file,
        client,
        info,
        mtime,
        owner: m.uid,
    })
}

impl Tree {
    /// The locks in `locks/` (of `client`, or everyone's), with their contents if
    /// `read`; the foreign ones; and how many vanished between listing and reading.
    /// Those are left out, but the caller must know: a lock created after the listing
    /// and one released before its read would make "none" out of a directory that was
    /// never without a lock.
    pub(super) fn scan_locks(
        &self,
        client: Option<&str>,
        read: bool,
        mut garbage: Option<&mut Vec<Garbage>>,
    ) -> Result<(Vec<Lock>, Vec<Foreign>, usize), SwocError> {
        use std::os::unix::ffi::OsStrExt;
        let dir = self.locks.as_fd();
        let names = read_names(dir).map_err(|e| sys("read", self.locks_path(), e))?;
        let now = SystemTime::now();
        let (mut out, mut foreign, mut vanished) = (Vec::new(), Vec::new(), 0);
        for (name, dkind) in names {
            let shown = || format!("{LOCKS}/{}", name.to_string_lossy());
            if name.as_bytes().starts_with(b".") {
                if let Some(g) = garbage.as_deref_mut()
                    && is_stale_temp(dir, &name, now)
                {
                    g.push(Garbage {
                        path: shown(),
                        why: "stale temp file",
                    });
                }
                continue;
            }
            if dkind == Some(FileKind::Dir) {
                continue;
            }
            let m = match lstat_at(dir, &name) {
                Ok(m) => m,
                Err(Errno::ENOENT) | Err(Errno::ESTALE) => {
                    vanished += 1;
                    continue;
                }
                Err(e) => return Err(sys("stat", self.locks_path().join(&name), e)),
            };
            let c = match classify(name.as_bytes(), m.kind) {
                LockDirEntry::Lock(c) => c,
                LockDirEntry::Ignored | LockDirEntry::Temp => continue,
                LockDirEntry::Garbage(why) => {
                    if let Some(g) = garbage.as_deref_mut() {
                        g.push(Garbage { path: shown(), why });
                    }
                    continue;
                }
            };
            if client.is_some_and(|want| want != c) {
                continue;
            }
            if !self.owners.may_use(&c, m.uid) {
                foreign.push(Foreign {
                    path: shown(),
                    client: c,
                    owner: m.uid,
                });
                continue;
            }
            match read_lock(dir, &name, &m, c, read) {
                Some(lock) => out.push(lock),
                None => vanished += 1,
            }
        }
        Ok((out, foreign, vanished))
    }

    /// Adds what `blocked/` holds (for `client`, or everyone) to `scan`: blocks that
    /// count, foreign ones, garbage.
    fn scan_blocked(&self, client: Option<&ClientName>, scan: &mut Scan) -> Result<(), SwocError> {
        let dir = self.blocked.as_fd();
        let names = read_names(dir).map_err(|e| sys("read", self.blocked_path(), e))?;
        for (name, dkind) in names {
            let n = name.to_string_lossy();
            if n.starts_with('.') || dkind == Some(FileKind::Dir) {
                continue;
            }
            let Ok(m) = lstat_at(dir, &name) else {
                continue;
            };
            let path = format!("{BLOCKED}/{n}");
            match (m.kind, ClientName::new(&n)) {
                (FileKind::Dir, _) => {}
                (FileKind::Regular, Ok(c)) => {
                    if client.is_some_and(|want| *want != c) {
                    } else if self.counts_as_block(c.as_str(), &m) {
                        scan.blocked.push(c.0);
                    } else {
                        scan.foreign.push(Foreign {
                            path,
                            client: c.0,
                            owner: m.uid,
                        });
                    }
                }
                (FileKind::Regular, Err(_)) => scan.garbage.push(Garbage {
                    path,
                    why: "not a client name",
                }),
                (FileKind::Other, _) => scan.garbage.push(Garbage {
                    path,
                    why: "not a regular file",
                }),
            }
        }
        Ok(())
    }
}

impl SwocDir {
    /// Locks (of one client, or all), blocks, allow state, garbage and foreign files,
    /// for `-s`.
    pub fn scan(&self, client: Option<&ClientName>) -> Result<Scan, SwocError> {
        let t = self.tree()?;
        let mut garbage = Vec::new();
        let (mut locks, mut foreign) = (Vec::new(), Vec::new());
        // A lock released while being read is left out; look again for a listing
        // where none was, so the counts shown are those of one moment.
        for _ in 0..5 {
            garbage.clear();
            let vanished;
            (locks, foreign, vanished) =
                t.scan_locks(client.map(ClientName::as_str), true, Some(&mut garbage))?;
            if vanished == 0 {
                break;
            }
        }
        let mut scan = Scan {
            locks,
            blocked: Vec::new(),
            disallowed: false,
            garbage,
            foreign,
        };
        t.scan_blocked(client, &mut scan)?;
        scan.blocked.sort();
        scan.garbage.sort_by(|a, b| a.path.cmp(&b.path));
        scan.foreign.sort_by(|a, b| a.path.cmp(&b.path));
        scan.disallowed = t.is_disallowed()?;
        Ok(scan)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries() {
        let c = |n: &str, k| classify(n.as_bytes(), k);
        assert_eq!(
            c("alpha.1-2", FileKind::Regular),
            LockDirEntry::Lock("alpha".into())
        );
        assert_eq!(c(".tmp.alpha.1", FileKind::Regular), LockDirEntry::Temp);
        assert_eq!(c(".nfs0001", FileKind::Regular), LockDirEntry::Ignored);
        assert_eq!(c("sub.dir", FileKind::Dir), LockDirEntry::Ignored);
        assert!(matches!(
            c("alpha.1", FileKind::Other),
            LockDirEntry::Garbage(_)
        ));
        assert!(matches!(
            c("README", FileKind::Regular),
            LockDirEntry::Garbage(_)
        ));
        assert!(matches!(
            classify(b"al\xffpha.1", FileKind::Regular),
            LockDirEntry::Garbage(_)
        ));
    }
}
