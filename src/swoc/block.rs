//! Blocking a client from new locks: the server's block and a client's own.

use super::dirfd::{Meta, create_excl, euid, lstat_at};
use super::error::{SwocError, refused, sys};
use super::lock::Locked;
use super::lockfile::{fmt_time, random64, unique_part};
use super::name::ClientName;
use super::scan::FileKind;
use super::tree::Tree;
use super::{CLIENTS, FILE_MODE, SwocDir, TMP_PREFIX};
use nix::errno::Errno;
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::OsStr;
use std::os::fd::AsFd;
use std::time::SystemTime;

/// What blocking a client did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Blocked {
    New,
    Already,
    /// A block that did not count (a client's own, or another account's) was replaced
    /// by the server's.
    Replaced {
        owner: u32,
    },
}

/// What unblocking a client did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unblocked {
    Removed,
    NotBlocked,
    /// `blocked/CLIENT` belongs to an account that may not use the name: it does not
    /// block, and is left for the server's account to remove.
    Foreign {
        owner: u32,
    },
}

/// Who asks: a client for itself (swocclient) or the server's account (swocserver).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Client,
    Server,
}

impl Tree {
    pub(super) fn block_of(&self, client: &str) -> Result<Option<Meta>, SwocError> {
        match lstat_at(self.blocked.as_fd(), OsStr::new(client)) {
            Ok(m) => Ok(Some(m)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(sys("access", self.blocked_path().join(client), e)),
        }
    }

    /// A block counts when it is a regular file of the server's account, root, or an
    /// account that may use the client name (a client blocking itself).
    pub(super) fn counts_as_block(&self, client: &str, m: &Meta) -> bool {
        m.kind == FileKind::Regular && self.owners.may_use(client, m.uid)
    }

    pub(super) fn is_blocked(&self, client: &str) -> Result<bool, SwocError> {
        Ok(self
            .block_of(client)?
            .is_some_and(|m| self.counts_as_block(client, &m)))
    }

    pub(super) fn refusal(&self, client: &ClientName) -> Result<Option<Locked>, SwocError> {
        if self.is_disallowed()? {
            return Ok(Some(Locked::Disallowed));
        }
        if self.is_blocked(client.as_str())? {
            return Ok(Some(Locked::Blocked));
        }
        Ok(None)
    }
}

impl SwocDir {
    /// Whether a block that counts is on `client`.
    pub fn is_blocked(&self, client: &ClientName) -> Result<bool, SwocError> {
        self.tree()?.is_blocked(client.as_str())
    }

    /// Blocks `client` from taking new locks. The server's block (Role::Server) is a file
    /// of the server's account, put in place by rename(2), so it replaces whatever was
    /// there (a client's own block, which the client could lift, or another account's,
    /// which does not count) without a moment unblocked. A client blocks only itself,
    /// and a foreign file in the way is an error.
    pub fn block(&self, client: &ClientName, role: Role) -> Result<Blocked, SwocError> {
        let t = self.tree()?;
        let path = t.blocked_path().join(client.as_str());
        let dir = t.blocked.as_fd();
        let body = format!("uid={}\ncreated={}\n", euid(), fmt_time(SystemTime::now()));
        let body = body.as_bytes();
        let c = client.as_str();
        match role {
            Role::Server => {
                t.require_server("block", path.clone())?;
                let old = t.block_of(c)?;
                if let Some(m) = old
                    && m.kind == FileKind::Regular
                    && t.owners.is_server(m.uid)
                {
                    return Ok(Blocked::Already);
                }
                let unique = unique_part(SystemTime::now(), std::process::id(), random64());
                let tmp = format!("{TMP_PREFIX}{c}.{unique}");
                let _owner = create_excl(dir, &tmp, FILE_MODE, body, |_| true)
                    .map_err(|e| sys("create", t.blocked_path().join(&tmp), e))?;
                crate::status::rename_into(dir, tmp.as_ref(), c.as_ref())
                    .map_err(|e| sys("create", path, e))?;
                Ok(match old {
                    None => Blocked::New,
                    Some(m) => Blocked::Replaced { owner: m.uid },
                })
            }
            Role::Client => {
                match create_excl(dir, c, FILE_MODE, body, |uid| t.owners.may_use(c, uid)) {
                    Ok(Ok(_)) => Ok(Blocked::New),
                    Ok(Err(uid)) => Err(refused(
                        "block",
                        path,
                        format!("uid {uid} may not use client {c} (see {CLIENTS})"),
                    )),
                    Err(Errno::EEXIST) => match t.block_of(c)? {
                        Some(m) if t.counts_as_block(c, &m) => Ok(Blocked::Already),
                        Some(m) => Err(refused(
                            "block",
                            path,
                            format!(
                                "a foreign file of uid {} is in the way: only the server's account can remove it",
                                m.uid
                            ),
                        )),
                        // Lifted meanwhile.
                        None => Err(sys("create", path, Errno::EAGAIN)),
                    },
                    Err(e) => Err(sys("create", path, e)),
                }
            }
        }
    }

    /// Lets `client` take locks again. The server removes any block; a client may not
    /// lift the server's block, and leaves a foreign one (which does not count) alone.
    pub fn unblock(&self, client: &ClientName, role: Role) -> Result<Unblocked, SwocError> {
        let t = self.tree()?;
        let c = client.as_str();
        let path = t.blocked_path().join(c);
        let remove = || match unlinkat(t.blocked.as_fd(), c, UnlinkatFlags::NoRemoveDir) {
            Ok(()) => Ok(Unblocked::Removed),
            Err(Errno::ENOENT) => Ok(Unblocked::NotBlocked),
            Err(e) => Err(sys("remove", t.blocked_path().join(c), e)),
        };
        match role {
            Role::Server => {
                t.require_server("unblock", path)?;
                remove()
            }
            Role::Client => match t.block_of(c)? {
                None => Ok(Unblocked::NotBlocked),
                Some(m) if !t.counts_as_block(c, &m) => Ok(Unblocked::Foreign { owner: m.uid }),
                Some(m) if t.owners.is_server(m.uid) && !t.owners.is_server(euid()) => {
                    Err(refused(
                        "unblock",
                        path,
                        "blocked by the server's account: only swocserver -u lifts it",
                    ))
                }
                Some(_) => remove(),
            },
        }
    }
}
