//! Counting live locks for a waiter, reading each lock's expiry once.

use super::SwocDir;
use super::dirfd::{lstat_at, read_names, read_small};
use super::error::{SwocError, sys};
use super::lockfile::LockInfo;
use super::name::ClientName;
use super::scan::{FileKind, LockDirEntry, classify};
use super::tree::Tree;
use nix::errno::Errno;
use std::collections::HashMap;
use std::os::fd::AsFd;
use std::time::SystemTime;

/// Counts live locks for the waiter. Whose each lock is is looked up on every count
/// (one fstatat), its expiry only once per file (inode and owner unchanged), so a waiter
/// over thousands of locks reads no contents on a wake-up.
pub(super) struct Counter {
    client: Option<String>,
    /// File name -> (inode, owner, expiry).
    expiries: HashMap<String, (u64, u32, Option<SystemTime>)>,
}

impl Counter {
    pub(super) fn new(client: Option<String>) -> Counter {
        Counter {
            client,
            expiries: HashMap::new(),
        }
    }

    pub(super) fn count(
        &mut self,
        t: &Tree,
        now: SystemTime,
    ) -> Result<(usize, Option<SystemTime>), SwocError> {
        use std::os::unix::ffi::OsStrExt;
        let dir = t.locks.as_fd();
        let names = read_names(dir).map_err(|e| sys("read", t.locks_path(), e))?;
        let mut seen = HashMap::with_capacity(self.expiries.len());
        let (mut live, mut next) = (0, None::<SystemTime>);
        for (name, dkind) in names {
            if name.as_bytes().starts_with(b".") || dkind == Some(FileKind::Dir) {
                continue;
            }
            let listed = dkind.unwrap_or(FileKind::Regular);
            let LockDirEntry::Lock(c) = classify(name.as_bytes(), listed) else {
                continue;
            };
            if self.client.as_ref().is_some_and(|want| *want != c) {
                continue;
            }
            let m = match lstat_at(dir, &name) {
                Ok(m) if m.kind == FileKind::Regular => m,
                Ok(_) => continue,
                // Released since the listing, but the listing is the moment counted:
                // one taken meanwhile may not be in it.
                Err(_) => {
                    live += 1;
                    continue;
                }
            };
            if !t.owners.may_use(&c, m.uid) {
                continue;
            }
            let file = name.to_string_lossy().into_owned();
            let expires = match self.expiries.remove(&file) {
                Some((ino, uid, e)) if ino == m.ino && uid == m.uid => e,
                _ => match read_small(dir, &name, &m) {
                    Ok(b) => LockInfo::unpack(&b).ok().and_then(|i| i.expires),
                    // Released since the listing, but the listing is the moment
                    // counted: one taken meanwhile may not be in it.
                    Err(Errno::ENOENT) | Err(Errno::ESTALE) => {
                        live += 1;
                        continue;
                    }
                    // Unreadable: counts, and never expires, so no job is cut short.
                    Err(_) => None,
                },
            };
            match expires {
                Some(e) if e <= now => {}
                Some(e) => {
                    live += 1;
                    next = Some(next.map_or(e, |n| n.min(e)));
                }
                None => live += 1,
            }
            seen.insert(file, (m.ino, m.uid, expires));
        }
        self.expiries = seen;
        Ok((live, next))
    }
}

impl SwocDir {
    /// How many live locks (of `client`, or everyone's) one listing of `locks/` shows.
    pub fn count(&self, client: Option<&ClientName>) -> Result<usize, SwocError> {
        let t = self.tree()?;
        let mut c = Counter::new(client.map(|c| c.as_str().to_string()));
        Ok(c.count(&t, SystemTime::now())?.0)
    }
}
