//! Taking and releasing locks: lock files created atomically (NFS too), released one or all.

use super::block::{Role, Unblocked};
use super::dirfd::{create_excl, euid};
use super::error::{SwocError, sys};
use super::lockfile::{LockInfo, random64, unique_part};
use super::name::{ClientName, hostname};
use super::scan::Lock;
use super::tree::Tree;
use super::{FILE_MODE, LOCKS, SwocDir, TMP_PREFIX};
use nix::errno::Errno;
use nix::fcntl::AtFlags;
use nix::sys::stat::fstatat;
use nix::unistd::{UnlinkatFlags, linkat, unlinkat};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, SystemTime};

/// What asking for a lock gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Locked {
    /// The lock file's name in `locks/`.
    Taken(String),
    Blocked,
    Disallowed,
    /// The lock file came out owned by `uid`, which may not use this client name (see
    /// `swoc/clients`): it was removed again.
    NotYours {
        uid: u32,
    },
}

/// What asking to release one lock gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Released {
    One(String),
    /// The client holds no live lock; this many expired ones were removed.
    None(usize),
}

/// A request for one more lock.
#[derive(Clone, Debug)]
pub struct LockRequest<'a> {
    pub client: &'a ClientName,
    pub pid: u32,
    pub comment: Option<&'a str>,
    pub ttl: Option<Duration>,
}

/// What creating a lock file gave.
enum Created {
    Linked(String),
    NotYours(u32),
}

/// Creates `CLIENT.UNIQUE` in `dir` holding `body`, in the way that is atomic on NFS
/// too: write a temp file under an unpredictable name, then link(2) it to the final name
/// (O_EXCL on the final name would let a reader see it empty, and is not atomic on
/// NFSv2). link's reply can be lost on NFS while the link was made, so a failed link is
/// checked by the temp file's link count, as Linux's open(2) advises. A temp file whose
/// owner may not use the client name is removed before it becomes a lock.
fn create_linked(
    dir: BorrowedFd<'_>,
    path: &Path,
    client: &ClientName,
    body: &[u8],
    may_use: impl Fn(u32) -> bool,
) -> Result<Created, SwocError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let unique = unique_part(SystemTime::now(), std::process::id(), random64());
        let name = format!("{client}.{unique}");
        let tmp = format!("{TMP_PREFIX}{name}");
        match create_excl(dir, &tmp, FILE_MODE, body, &may_use) {
            Ok(Ok(_)) => {}
            Ok(Err(uid)) => return Ok(Created::NotYours(uid)),
            Err(Errno::EEXIST) if attempt < 10 => continue,
            Err(e) => return Err(sys("create", path.join(&tmp), e)),
        }
        let remove_tmp = || {
            let _ = unlinkat(dir, tmp.as_str(), UnlinkatFlags::NoRemoveDir);
        };
        match linkat(dir, tmp.as_str(), dir, name.as_str(), AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EEXIST) if attempt < 10 => {
                remove_tmp();
                continue;
            }
            Err(e) => {
                let linked = fstatat(dir, tmp.as_str(), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| st.st_nlink == 2);
                if !linked {
                    remove_tmp();
                    return Err(sys("create", path.join(&name), e));
                }
            }
        }
        // If this fails the temp file stays, which counting ignores and -s reports.
        remove_tmp();
        return Ok(Created::Linked(name));
    }
}

impl Tree {
    /// Removes the client's expired locks, as far as this account may.
    pub(super) fn reap_expired(&self, client: &ClientName, now: SystemTime) -> usize {
        let Ok((locks, _, _)) = self.scan_locks(Some(client.as_str()), true, None) else {
            return 0;
        };
        locks
            .into_iter()
            .filter(|l| l.expired(now))
            .filter(|l| self.remove_lock(&l.file).is_ok())
            .count()
    }

    pub(super) fn remove_lock(&self, file: &str) -> Result<(), Errno> {
        unlinkat(self.locks.as_fd(), file, UnlinkatFlags::NoRemoveDir)
    }

    /// Removes every lock named for `client`: with `foreign`, also those of accounts
    /// that may not use the name. Returns how many of each.
    pub(super) fn remove_all(
        &self,
        client: &ClientName,
        foreign: bool,
    ) -> Result<(usize, usize), SwocError> {
        let (locks, strangers, _) = self.scan_locks(Some(client.as_str()), false, None)?;
        let mut n = (0, 0);
        let files = locks.iter().map(|l| (l.file.clone(), false));
        let planted = strangers
            .iter()
            .filter(|_| foreign)
            .map(|f| (f.path[LOCKS.len() + 1..].to_string(), true));
        for (file, is_foreign) in files.chain(planted) {
            match self.remove_lock(&file) {
                Ok(()) if is_foreign => n.1 += 1,
                Ok(()) => n.0 += 1,
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(sys("remove", self.locks_path().join(&file), e)),
            }
        }
        Ok(n)
    }
}

impl SwocDir {
    /// Takes one more lock for `req.client`, unless the server disallows new locks, the
    /// client is blocked, or the lock file would not be the client's (its owner may not
    /// use the name). Expired locks of the client are removed on the way.
    pub fn lock(&self, req: &LockRequest<'_>) -> Result<Locked, SwocError> {
        let t = self.tree()?;
        if let Some(r) = t.refusal(req.client)? {
            return Ok(r);
        }
        let now = SystemTime::now();
        let info = LockInfo {
            client: req.client.to_string(),
            host: hostname().unwrap_or_default(),
            uid: euid(),
            pid: req.pid,
            created: now,
            expires: req.ttl.and_then(|t| now.checked_add(t)),
            comment: req.comment.map(str::to_string),
        };
        let path = t.locks_path();
        let may_use = |uid| t.owners.may_use(req.client.as_str(), uid);
        let name = match create_linked(
            t.locks.as_fd(),
            &path,
            req.client,
            info.pack().as_bytes(),
            may_use,
        )? {
            Created::Linked(name) => name,
            Created::NotYours(uid) => return Ok(Locked::NotYours { uid }),
        };
        // A block or disallow that raced with us wins: look again now the lock exists,
        // so that once `swocserver -d` or `-b` has returned, no lock taken after stays.
        if let Some(r) = t.refusal(req.client)? {
            let _ = t.remove_lock(&name);
            return Ok(r);
        }
        t.reap_expired(req.client, now);
        Ok(Locked::Taken(name))
    }

    /// Releases one of the client's live locks: one taken by the same job (same host
    /// and pid) if there is one, else one of this account's, else the oldest. Foreign
    /// locks are never touched; expired locks are removed on the way and do not count.
    /// "None" is only said of a listing that held none.
    pub fn release_one(&self, client: &ClientName, pid: u32) -> Result<Released, SwocError> {
        let t = self.tree()?;
        let host = hostname().unwrap_or_default();
        let me = euid();
        let now = SystemTime::now();
        let mut reaped = 0;
        loop {
            let (all, _, vanished) = t.scan_locks(Some(client.as_str()), true, None)?;
            let (expired, mut live): (Vec<Lock>, Vec<Lock>) =
                all.into_iter().partition(|l| l.expired(now));
            reaped += expired
                .iter()
                .filter(|l| t.remove_lock(&l.file).is_ok())
                .count();
            if live.is_empty() {
                if vanished == 0 {
                    return Ok(Released::None(reaped));
                }
                continue;
            }
            let same_job = |l: &Lock| {
                l.info
                    .as_ref()
                    .is_ok_and(|i| i.pid == pid && i.host == host)
            };
            live.sort_by(|a, b| {
                same_job(b)
                    .cmp(&same_job(a))
                    .then((b.owner == me).cmp(&(a.owner == me)))
                    .then(a.created().cmp(&b.created()))
                    .then(a.file.cmp(&b.file))
            });
            let mut denied = None;
            for l in live {
                match t.remove_lock(&l.file) {
                    Ok(()) => return Ok(Released::One(l.file)),
                    // Another release of the same client took it first: try the next,
                    // then look again, so each release removes exactly one lock.
                    Err(Errno::ENOENT) => {}
                    // Another account's lock of the same client (sticky directory).
                    Err(e @ (Errno::EPERM | Errno::EACCES)) => {
                        denied.get_or_insert((l.file, e));
                    }
                    Err(e) => return Err(sys("remove", t.locks_path().join(&l.file), e)),
                }
            }
            if let Some((file, e)) = denied {
                return Err(sys("remove", t.locks_path().join(file), e));
            }
        }
    }

    /// swocserver -r: removes every lock of `client`, and any lock planted under its
    /// name by an account that may not use it. Returns how many of each.
    pub fn release_all(&self, client: &ClientName) -> Result<(usize, usize), SwocError> {
        let t = self.tree()?;
        t.require_server("release the locks of", t.locks_path().join(client.as_str()))?;
        t.remove_all(client, true)
    }

    /// Removes every lock of `client` and unblocks it (`swocclient -i`).
    pub fn reset(&self, client: &ClientName) -> Result<(usize, Unblocked), SwocError> {
        let n = self.tree()?.remove_all(client, false)?.0;
        Ok((n, self.unblock(client, Role::Client)?))
    }
}
