//! The service directories clinit makes from the cltab: their files, building new
//! ones whole, rewriting changed ones, retiring and removing those no entry wants,
//! and sweeping up what a clinit killed half way left.

use super::at;
use super::cltab::{Cltab, Mode, Resource};
use super::marks::*;
use super::{Clinit, ClinitError, PROG, Result, service_name};
use crate::control::send;
use crate::diag::{errstr, warn};
use crate::rename::rename_new;
use crate::service_dir::{DOWN, DOWN_SIGNAL, RESTART, RUN, SUPERVISE};
use nix::errno::Errno;
use nix::sys::stat::SFlag;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd};

/// Single quotes for /bin/sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The files clinit writes in an entry's service directory, by name.
fn service_files(tab: &Cltab, e: &Resource) -> Vec<(&'static str, String, u32)> {
    let mut files = vec![
        (
            RUN,
            format!(
                "#!/bin/sh\n# Written by clinit for group {}, tag {}: edit the cltab, not this.\nexec /bin/sh -c {}\n",
                e.group,
                e.tag,
                sh_quote(&e.command)
            ),
            0o755,
        ),
        (MARKER, marker_text(e), 0o644),
        // Cluster::Init stops with INT first; TERM and KILL follow from clinit.
        (DOWN_SIGNAL, "INT\n".to_string(), 0o644),
        // Nothing starts before its group is told (nor at boot, by svscan alone).
        (DOWN, String::new(), 0o644),
    ];
    if e.mode == Mode::Respawn {
        files.push((RESTART, format!("{}\n", tab.restart), 0o644));
    }
    files
}

/// What making the scan directory match the cltab did, for what follows: which
/// service directories to wait for, restart, and retire.
struct ServiceDirChanges {
    /// Entries whose directory was just made: their supervise is not up yet.
    created: Vec<String>,
    /// Entries whose files changed (a new COMMAND, say).
    changed: Vec<String>,
    /// clinit's directories that no entry wants any more.
    orphans: Vec<String>,
}

impl Clinit {
    /// Makes the scan directory match the cltab: new entries get a directory (built
    /// under a dot name that svscan ignores, then renamed in whole), changed ones get
    /// their files rewritten.
    fn sync_service_dirs(&self) -> Result<ServiceDirChanges> {
        let mut s = ServiceDirChanges {
            created: Vec::new(),
            changed: Vec::new(),
            orphans: Vec::new(),
        };
        let scan = self.scan_fd()?;
        let present = self.ours()?;
        // Refuse before touching anything: a bad cltab changes nothing.
        self.refuse_foreign(scan, &present)?;
        for e in self.supervised_entries() {
            let name = service_name(e);
            let files = service_files(&self.tab, e);
            if present.contains(&name) {
                if self.update(scan, &name, e, &files)? {
                    s.changed.push(name);
                }
                continue;
            }
            self.create(scan, &name, &files)?;
            s.created.push(name);
        }
        let wanted: Vec<String> = self.supervised_entries().map(service_name).collect();
        s.orphans = present
            .into_iter()
            .filter(|n| !wanted.contains(n))
            .collect();
        Ok(s)
    }

    /// Fails on the first entry whose directory name is taken by something not clinit's.
    fn refuse_foreign(&self, scan: BorrowedFd<'_>, present: &[String]) -> Result<()> {
        for e in self.supervised_entries() {
            let name = service_name(e);
            if !present.contains(&name)
                && nix::sys::stat::fstatat(
                    scan,
                    name.as_str(),
                    nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .is_ok()
            {
                return Err(ClinitError::NotClinits {
                    dir: self.scan.join(&name),
                    tag: e.tag.clone(),
                    line: e.line,
                });
            }
        }
        Ok(())
    }

    /// Makes an entry's directory `name` whole under a dot name svscan ignores, then
    /// renames it into place; what was built is removed if that fails.
    fn create(
        &self,
        scan: BorrowedFd<'_>,
        name: &str,
        files: &[(&'static str, String, u32)],
    ) -> Result<()> {
        let tmp = format!("{NEW_PREFIX}{name}.{}", at::random());
        let build = || -> std::io::Result<()> {
            let dir = at::mkdir(scan, &tmp)?;
            for (f, body, mode) in files {
                at::create(dir.as_fd(), OsStr::new(f), body.as_bytes(), *mode)?;
            }
            rename_new(scan, tmp.as_str(), scan, name)?;
            Ok(())
        };
        build().map_err(|e| {
            let _ = self.remove(scan, OsStr::new(&tmp));
            ClinitError::io("create", self.scan.join(name))(e)
        })
    }

    /// Rewrites what differs in an entry's existing directory; whether anything did.
    fn update(
        &self,
        scan: BorrowedFd<'_>,
        name: &str,
        e: &Resource,
        files: &[(&'static str, String, u32)],
    ) -> Result<bool> {
        let path = self.scan.join(name);
        let failed = |f: &str| ClinitError::io("write", path.join(f));
        let (dir, _) =
            at::open_subdir(scan, OsStr::new(name)).map_err(ClinitError::errno("open", &path))?;
        let dir = dir.as_fd();
        let mut changed = false;
        for (f, body, mode) in files {
            if *f == DOWN {
                continue;
            }
            let same = matches!(
                at::read_own(dir, OsStr::new(f), false),
                Ok(at::Found::File(t)) if t == body.as_bytes()
            );
            if !same {
                at::replace(dir, OsStr::new(f), body.as_bytes(), *mode, false)
                    .map_err(failed(f))?;
                changed = true;
            }
        }
        // A respawn entry turned once keeps no respawn throttle.
        if e.mode != Mode::Respawn {
            match at::unlink(dir, OsStr::new(RESTART)) {
                Ok(()) => changed = true,
                Err(Errno::ENOENT) => {}
                Err(err) => return Err(ClinitError::errno("remove", path.join(RESTART))(err)),
            }
        }
        match at::create(dir, OsStr::new(DOWN), b"", 0o644) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(err) => return Err(failed(DOWN)(err)),
        }
        Ok(changed)
    }

    /// Removes a directory of clinit's from the scan directory, and of it only what
    /// clinit made (`OWN_FILES`, their temp files) and supervise's `supervise/`: never
    /// through a symbolic link, never anything another account could have put there.
    /// A directory holding anything else stays, and why is said.
    fn remove(&self, scan: BorrowedFd<'_>, name: &OsStr) -> std::result::Result<(), Leftover> {
        let (dir, st) = at::open_subdir(scan, name).map_err(Leftover::Errno)?;
        if let Some(why) = at::untrusted(&st, SFlag::S_IFDIR) {
            return Err(Leftover::UntrustedDir(why));
        }
        let dir = dir.as_fd();
        let mut foreign = Vec::new();
        for n in at::names(dir).map_err(Leftover::Errno)? {
            let s = n.to_str().unwrap_or_default();
            let gone = if OWN_FILES.contains(&s) || own_temp(s) {
                at::unlink(dir, &n).map_err(Leftover::Errno)
            } else if s == SUPERVISE {
                clear_supervise(dir)
            } else {
                Err(Leftover::NotClinits)
            };
            if let Err(why) = gone {
                foreign.push((n, why));
            }
        }
        match at::rmdir(scan, name) {
            Ok(()) => Ok(()),
            Err(Errno::ENOTEMPTY | Errno::EEXIST) if !foreign.is_empty() => {
                Err(Leftover::Holds(foreign))
            }
            Err(e) => Err(Leftover::Errno(e)),
        }
    }

    /// Stops directories no entry wants any more, then takes them out of svscan's
    /// sight (a dot name), lets their supervise exit and removes them.
    fn retire(&self, names: &[String]) -> Result<Vec<String>> {
        let stuck = self.stop(names)?;
        let scan = self.scan_fd()?;
        for n in names {
            if stuck.contains(n) {
                continue;
            }
            let to = format!("{REMOVED_PREFIX}{n}.{}", at::random());
            rename_new(scan, n.as_str(), scan, to.as_str())
                .map_err(ClinitError::errno("rename", self.scan.join(n)))?;
            self.dismiss(scan, &to);
        }
        Ok(stuck)
    }

    /// Tells the supervise of a directory svscan no longer sees to exit, waits for it
    /// (at most the timeout) and removes the directory.
    fn dismiss(&self, scan: BorrowedFd<'_>, name: &str) {
        let dir = self.dir(name);
        let _ = send(&dir, b"dx");
        // supervise exits as soon as the service is down.
        crate::control::wait_unsupervised(&dir, self.timeout);
        self.remove_or_warn(scan, OsStr::new(name));
    }

    fn remove_or_warn(&self, scan: BorrowedFd<'_>, name: &OsStr) {
        if let Err(why) = self.remove(scan, name) {
            warn(
                PROG,
                &format!(
                    "unable to remove {}: {why}: left in place",
                    self.scan.join(name).display()
                ),
            );
        }
    }

    /// What a clinit killed half way left: a directory being built, or one taken out
    /// of svscan's sight whose supervise may still run. Only clinit's own: a dot
    /// directory another account made under such a name is left alone.
    fn sweep(&self) -> Result<()> {
        let scan = self.scan_fd()?;
        let Ok(names) = at::names(scan) else {
            return Ok(());
        };
        for n in names {
            let name = n.to_string_lossy();
            if name.starts_with(NEW_PREFIX) {
                // Half built, perhaps before its marker: `remove` takes only what
                // clinit makes, from a directory of its account's.
                self.remove_or_warn(scan, &n);
            } else if name.starts_with(REMOVED_PREFIX) {
                match self.claim(scan, &n, None) {
                    Claim::Ours => self.dismiss(scan, &name),
                    Claim::NotMarked => {
                        warn(
                            PROG,
                            &format!(
                                "{}: not clinit's (no {MARKER} file): left alone",
                                self.scan.join(&n).display()
                            ),
                        );
                    }
                    Claim::Forged(why) => warn(
                        PROG,
                        &format!(
                            "{}: not clinit's ({why}): left alone",
                            self.scan.join(&n).display()
                        ),
                    ),
                }
            }
        }
        Ok(())
    }

    /// Brings the scan directory in line with the cltab: new directories supervised,
    /// changed running ones restarted, unwanted ones stopped and removed.
    pub(super) fn apply_cltab(&self) -> Result<bool> {
        self.sweep()?;
        let s = self.sync_service_dirs()?;
        self.wait_supervised(&s.created)?;
        for n in &s.changed {
            let respawn = self
                .supervised_entries()
                .any(|e| service_name(e) == *n && e.mode == Mode::Respawn);
            if respawn && self.is_up(n) {
                // The new run script takes over at once.
                self.control(n, b"t")?;
            }
        }
        let stuck = self.retire(&s.orphans)?;
        for n in &stuck {
            warn(
                PROG,
                &format!("{n}: still running after INT, TERM and KILL"),
            );
        }
        Ok(stuck.is_empty())
    }
}

/// Empties and removes supervise's `supervise/` in a directory of clinit's: its status
/// files, FIFOs and lock, and `event/` with the waiters' FIFOs, unlinked (a symbolic
/// link among them is unlinked, not followed). Only from a directory of clinit's
/// account that no other may write.
fn clear_supervise(dir: BorrowedFd<'_>) -> std::result::Result<(), Leftover> {
    fn clear(dir: BorrowedFd<'_>, name: &OsStr, depth: u32) -> std::result::Result<(), Leftover> {
        let (fd, st) = at::open_subdir(dir, name).map_err(Leftover::Errno)?;
        if let Some(why) = at::untrusted(&st, SFlag::S_IFDIR) {
            return Err(Leftover::UntrustedSubdir(name.to_owned(), why));
        }
        for n in at::names(fd.as_fd()).map_err(Leftover::Errno)? {
            match at::unlink(fd.as_fd(), &n) {
                Ok(()) => {}
                Err(Errno::EISDIR) if depth > 0 => clear(fd.as_fd(), &n, depth - 1)?,
                Err(e) => return Err(Leftover::Unremovable(n, e)),
            }
        }
        at::rmdir(dir, name).map_err(Leftover::Errno)
    }
    clear(dir, OsStr::new(SUPERVISE), 1)
}

/// Why a directory of clinit's, or something in it, stays where it is. Its Display
/// follows "unable to remove DIR: ".
#[derive(Debug, PartialEq, Eq)]
enum Leftover {
    Errno(Errno),
    /// The directory is not one of clinit's account's alone.
    UntrustedDir(at::Distrust),
    /// A name clinit does not make.
    NotClinits,
    /// `supervise/` or its `event/`, which is not one of clinit's account's alone.
    UntrustedSubdir(OsString, at::Distrust),
    /// A name in `supervise/` that could not be unlinked.
    Unremovable(OsString, Errno),
    /// What the directory still holds, each with why.
    Holds(Vec<(OsString, Leftover)>),
}

impl std::fmt::Display for Leftover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Leftover::Errno(e) => f.write_str(errstr(*e)),
            Leftover::UntrustedDir(why) => write!(f, "the directory is {why}"),
            Leftover::NotClinits => f.write_str("not made by clinit"),
            Leftover::UntrustedSubdir(name, why) => {
                write!(f, "{} is {why}", name.to_string_lossy())
            }
            Leftover::Unremovable(name, e) => {
                write!(f, "{}: {}", name.to_string_lossy(), errstr(*e))
            }
            Leftover::Holds(names) => {
                f.write_str("it holds ")?;
                for (i, (name, why)) in names.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    write!(f, "{sep}{} ({why})", name.to_string_lossy())?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn run_scripts_quote_the_command() {
        let tab =
            crate::clinit::cltab::parse(Path::new("t"), "g:t:1:respawn:echo 'a b' \"$HOME\"\n")
                .unwrap();
        let files = service_files(&tab, &tab.entries[0]);
        assert_eq!(
            files[0].1,
            "#!/bin/sh\n# Written by clinit for group g, tag t: edit the cltab, not this.\nexec /bin/sh -c 'echo '\\''a b'\\'' \"$HOME\"'\n"
        );
        assert_eq!(
            files.last().unwrap(),
            &(RESTART, "burst 5 10s 60s\n".to_string(), 0o644)
        );
    }

    #[test]
    fn leftovers_say_why() {
        let holds = Leftover::Holds(vec![
            ("log".into(), Leftover::NotClinits),
            (
                SUPERVISE.into(),
                Leftover::UntrustedSubdir("event".into(), at::Distrust::Owner(7)),
            ),
            (
                "run".into(),
                Leftover::Unremovable("x".into(), Errno::EACCES),
            ),
        ]);
        assert_eq!(
            holds.to_string(),
            "it holds log (not made by clinit), supervise (event is owned by uid 7), run (x: access denied)"
        );
        assert_eq!(
            Leftover::UntrustedDir(at::Distrust::Writable(0o777)).to_string(),
            "the directory is mode 777: writable by others"
        );
    }
}
