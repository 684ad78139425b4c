//! Accounts for setuidgid and envuidgid: looking one up, and dropping to it for good.
//!
//! The binaries are linked statically (for supervise's memory), and a static glibc that
//! loads an NSS module such as libnss_systemd crashes; musl has no NSS modules at all.
//! So lookups in this process use the files only (/etc/passwd, /etc/group); an account
//! found nowhere there is asked of `getent`, a dynamic program that has every NSS
//! source. Both C libraries therefore find the same accounts.

use nix::errno::Errno;
use nix::unistd::{Gid, Uid, User};
use std::ffi::CString;

/// A user from the password database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

/// Why privileges could not be dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DropError {
    /// A system call failed: which one, and why.
    Call(&'static str, Errno),
    /// The calls succeeded but the ids are not what they must be.
    NotDropped(String),
}

impl std::fmt::Display for DropError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DropError::Call(what, e) => write!(f, "unable to {what}: {}", crate::diag::errstr(*e)),
            DropError::NotDropped(why) => write!(f, "privileges were not dropped: {why}"),
        }
    }
}

/// Where an account was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// /etc/passwd, read in this process.
    Files,
    /// Another NSS source, through getent(1).
    Getent,
}

/// Looks `name` up; `Ok(None)` if there is no such account.
pub fn lookup(name: &str) -> Result<Option<(Account, Source)>, Errno> {
    files_only();
    if let Some(u) = User::from_name(name)? {
        let acct = Account {
            name: u.name,
            uid: u.uid,
            gid: u.gid,
        };
        return Ok(Some((acct, Source::Files)));
    }
    Ok(getent(&["passwd", name])
        .and_then(|out| parse_passwd_line(name, &out))
        .map(|a| (a, Source::Getent)))
}

/// Keeps glibc from loading NSS modules into this static process.
fn files_only() {
    #[cfg(target_env = "gnu")]
    {
        unsafe extern "C" {
            fn __nss_configure_lookup(
                db: *const libc::c_char,
                line: *const libc::c_char,
            ) -> libc::c_int;
        }
        // SAFETY: glibc's exported function, given NUL-terminated static strings; it
        // only records the service line for later lookups in this process.
        unsafe {
            __nss_configure_lookup(c"passwd".as_ptr(), c"files".as_ptr());
            __nss_configure_lookup(c"group".as_ptr(), c"files".as_ptr());
        }
    }
}

/// What `getent ARGS` prints, if it finds something.
fn getent(args: &[&str]) -> Option<String> {
    // A fixed path: a root caller's $PATH must not choose who we become.
    let getent = ["/usr/bin/getent", "/bin/getent"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())?;
    let out = std::process::Command::new(getent)
        .args(args)
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `name:password:uid:gid:...` for `name`.
fn parse_passwd_line(name: &str, out: &str) -> Option<Account> {
    let f: Vec<&str> = out.lines().next()?.split(':').collect();
    if f.len() < 4 || f[0] != name {
        return None;
    }
    Some(Account {
        name: name.to_string(),
        uid: Uid::from_raw(f[2].parse().ok()?),
        gid: Gid::from_raw(f[3].parse().ok()?),
    })
}

/// `getent initgroups NAME`: the name, then every gid.
fn parse_initgroups(out: &str) -> Option<Vec<Gid>> {
    out.split_whitespace()
        .skip(1)
        .map(|g| g.parse().ok().map(Gid::from_raw))
        .collect()
}

/// Sets the groups (the primary one only, as daemontools does, or with
/// `supplementary` also those the group database lists for the account), then the gid,
/// then the uid; then checks that every id took and that root cannot be regained.
pub fn become_account(
    acct: &Account,
    source: Source,
    supplementary: bool,
) -> Result<(), DropError> {
    let groups = match (supplementary, source) {
        (false, _) => vec![acct.gid],
        (true, Source::Files) => {
            let name = CString::new(acct.name.as_str())
                .map_err(|_| DropError::Call("getgrouplist", Errno::EINVAL))?;
            nix::unistd::getgrouplist(&name, acct.gid)
                .map_err(|e| DropError::Call("getgrouplist", e))?
        }
        (true, Source::Getent) => {
            let mut g = getent(&["initgroups", &acct.name])
                .and_then(|out| parse_initgroups(&out))
                .ok_or(DropError::Call("get groups from getent", Errno::ENOENT))?;
            g.insert(0, acct.gid);
            g
        }
    };
    nix::unistd::setgroups(&groups).map_err(|e| DropError::Call("setgroups", e))?;
    nix::unistd::setgid(acct.gid).map_err(|e| DropError::Call("setgid", e))?;
    nix::unistd::setuid(acct.uid).map_err(|e| DropError::Call("setuid", e))?;
    verify(acct, &groups)
}

fn verify(acct: &Account, groups: &[Gid]) -> Result<(), DropError> {
    let res = nix::unistd::getresuid().map_err(|e| DropError::Call("getresuid", e))?;
    let resg = nix::unistd::getresgid().map_err(|e| DropError::Call("getresgid", e))?;
    if [res.real, res.effective, res.saved] != [acct.uid; 3] {
        return Err(DropError::NotDropped(format!(
            "uids are {}/{}/{}, not {}",
            res.real, res.effective, res.saved, acct.uid
        )));
    }
    if [resg.real, resg.effective, resg.saved] != [acct.gid; 3] {
        return Err(DropError::NotDropped(format!(
            "gids are {}/{}/{}, not {}",
            resg.real, resg.effective, resg.saved, acct.gid
        )));
    }
    let mut have = nix::unistd::getgroups().map_err(|e| DropError::Call("getgroups", e))?;
    let mut want = groups.to_vec();
    have.sort_by_key(|g| g.as_raw());
    have.dedup();
    want.sort_by_key(|g| g.as_raw());
    want.dedup();
    if have != want {
        return Err(DropError::NotDropped("supplementary groups differ".into()));
    }
    if !acct.uid.is_root() && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(DropError::NotDropped("root could be regained".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn getent_output() {
        let a =
            parse_passwd_line("ldapuser", "ldapuser:*:5001:600:LDAP:/home/l:/bin/sh\n").unwrap();
        assert_eq!((a.uid.as_raw(), a.gid.as_raw()), (5001, 600));
        assert_eq!(parse_passwd_line("x", "y:*:1:1::/:/bin/sh\n"), None);
        assert_eq!(parse_passwd_line("x", "x:*:one:1::/:/bin/sh\n"), None);
        assert_eq!(
            parse_initgroups("ldapuser      600,601\n".replace(',', " ").as_str()),
            Some(vec![Gid::from_raw(600), Gid::from_raw(601)])
        );
        assert_eq!(parse_initgroups("u x"), None);
    }
}
