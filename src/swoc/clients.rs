//! Who may use which client name: `swoc/clients` (`ClientMap`) and the server's account (`Owners`).

use super::dirfd::{SAFE, fstat_meta};
use super::error::{SwocError, refused, sys};
use super::name::ClientName;
use super::scan::FileKind;
use super::{CLIENTS, CLIENTS_MAX};
use crate::diag::io_errno;
use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::Mode;
use std::collections::HashMap;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// `swoc/clients`: which accounts may use which client names, `CLIENT UID...` per line
/// (numeric uids: what NFS carries and what fstat reports on every machine), `#`
/// comments. A name may list several uids (root's and a user's cron jobs of one host);
/// several names may list one uid (clients whose root is squashed to one account).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientMap(HashMap<String, Vec<u32>>);

/// A line of `swoc/clients` that is not `CLIENT UID...`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapError {
    pub line: usize,
    pub what: String,
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.what)
    }
}

impl std::error::Error for MapError {}

impl ClientMap {
    pub fn parse(text: &str) -> Result<ClientMap, MapError> {
        let mut map: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let err = |what: String| MapError { line: i + 1, what };
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let Some(client) = words.next() else {
                continue;
            };
            let client = ClientName::new(client).map_err(|e| err(e.to_string()))?;
            let uids = map.entry(client.0).or_default();
            let before = uids.len();
            for w in words {
                let uid = w
                    .parse::<u32>()
                    .map_err(|_| err(format!("invalid uid {w:?} (want a number)")))?;
                uids.push(uid);
            }
            if uids.len() == before {
                return Err(err("no uid after the client name".into()));
            }
        }
        Ok(ClientMap(map))
    }

    /// The uids `clients` gives `client`, besides the server's account and root.
    pub fn uids(&self, client: &str) -> &[u32] {
        self.0.get(client).map_or(&[], Vec::as_slice)
    }
}

/// Whose files count: the server's account (the owner of `swoc/`) and root may use every
/// client name; any other uid only the names `swoc/clients` gives it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owners {
    pub server: u32,
    pub map: ClientMap,
}

impl Owners {
    pub fn is_server(&self, uid: u32) -> bool {
        uid == 0 || uid == self.server
    }

    pub fn may_use(&self, client: &str, uid: u32) -> bool {
        self.is_server(uid) || self.map.uids(client).contains(&uid)
    }
}

/// Reads `swoc/clients`, which only the server's account may have written.
pub(super) fn read_clients(
    swoc: BorrowedFd<'_>,
    path: &Path,
    server: u32,
) -> Result<ClientMap, SwocError> {
    let fd = match openat(swoc, CLIENTS, OFlag::O_RDONLY | SAFE, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(ClientMap::default()),
        Err(e) => return Err(sys("open", path, e)),
    };
    let m = fstat_meta(fd.as_fd()).map_err(|e| sys("stat", path, e))?;
    if m.kind != FileKind::Regular {
        return Err(refused("use", path, "not a regular file"));
    }
    if m.uid != 0 && m.uid != server {
        return Err(refused(
            "use",
            path,
            format!(
                "owned by uid {}, not by the server's account (uid {server}) or root",
                m.uid
            ),
        ));
    }
    if m.mode & 0o022 != 0 {
        return Err(refused("use", path, "writable by group or others"));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut std::io::Read::take(std::fs::File::from(fd), CLIENTS_MAX),
        &mut text,
    )
    .map_err(|e| sys("read", path, io_errno(&e)))?;
    ClientMap::parse(&text).map_err(|e| refused("use", path, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_maps() {
        let m = ClientMap::parse(
            "# client uid...\n\nweb1 2001\nweb2 2002 # squashed root of web2\n\
             alpha 0 1000\nweb1 2003\n",
        )
        .unwrap();
        assert_eq!(m.uids("web1"), [2001, 2003]);
        assert_eq!(m.uids("web2"), [2002]);
        assert_eq!(m.uids("alpha"), [0, 1000]);
        assert_eq!(m.uids("beta"), [] as [u32; 0]);
        let bad = |t: &str| ClientMap::parse(t).unwrap_err();
        assert_eq!(bad("web1\n").what, "no uid after the client name");
        assert_eq!(bad("ok 1\nweb1 x\n").line, 2);
        assert!(bad("../x 1\n").what.contains("invalid client name"));
        assert!(bad("web1 -1\n").what.contains("invalid uid"));
        let o = Owners { server: 7, map: m };
        assert!(o.may_use("anything", 0) && o.may_use("anything", 7));
        assert!(o.may_use("web1", 2003) && !o.may_use("web1", 2002));
        assert!(!o.may_use("beta", 1000) && o.may_use("alpha", 1000));
        assert!(o.is_server(0) && o.is_server(7) && !o.is_server(2001));
    }
}
