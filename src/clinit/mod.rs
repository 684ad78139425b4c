//! clinit: resource groups switched between runlevels (Cluster::Init) by turning cltab
//! entries into service directories under svscan and driving their supervise through
//! the control protocol; the lock that serialises clinits. The clstat status file is
//! `clstat`'s.

pub mod clstat;
pub mod cltab;

use crate::bounded::RunError;
use crate::control::{Sent, is_supervised, send};
use crate::diag::{errstr, ioerrstr, warn};
use crate::service_dir::{DOWN, DOWN_SIGNAL, RESTART, RUN, SUPERVISE, ServiceDir};
use crate::svwait::{Goal, Outcome, wait};
use clstat::{GroupStatus, State};
use cltab::{Cltab, Mode, Resource};
use nix::errno::Errno;
use nix::sys::stat::SFlag;
use std::cell::OnceCell;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PROG: &str = "clinit";
/// The file that marks a service directory as clinit's, saying which entry it is. It
/// counts only as a regular file with one link, owned by clinit's account and writable
/// by no other, in a directory of that account's that no other may write, and naming
/// the directory's own entry: another account cannot make one (see `claim`).
pub const MARKER: &str = "clinit";
/// Prefixes of clinit's directories that svscan must not see: one being built, one
/// being taken away. A random word follows the entry's name.
const NEW_PREFIX: &str = ".clinit-new.";
const REMOVED_PREFIX: &str = ".clinit-removed.";
pub use crate::clinit::clstat::NO_LEVEL;

/// The group word of Cluster::Init's commands to the daemon as a whole:
/// `tell(":::ALL:::", ":::REREAD:::")` and `tell(":::ALL:::", ":::SHUTDOWN:::")`.
pub const ALL: &str = ":::ALL:::";

/// What `clinit GROUP LEVEL` asks for when GROUP is `:::ALL:::`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllCommand {
    /// `:::REREAD:::`: `clinit -r`.
    Reread,
    /// `:::SHUTDOWN:::`: `clinit -k` (there is no daemon to exit).
    Shutdown,
}

/// Cluster::Init's tell() forms for the whole daemon: None for an ordinary group.
pub fn all_command(group: &str, level: &str) -> Result<Option<AllCommand>> {
    if group != ALL {
        return Ok(None);
    }
    match level {
        ":::REREAD:::" => Ok(Some(AllCommand::Reread)),
        ":::SHUTDOWN:::" => Ok(Some(AllCommand::Shutdown)),
        _ => Err(ClinitError::Usage(format!(
            "{ALL} {level}: want {ALL} :::REREAD::: (as -r) or {ALL} :::SHUTDOWN::: (as -k)"
        ))),
    }
}

/// Why clinit could not do what it was asked, by exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum ClinitError {
    /// 100: a bad command line or cltab; nothing was changed.
    Usage(String),
    /// 111: supervise is not there, or a file could not be written.
    Temporary(String),
    /// This signal reached clinit while a wait or test entry ran (which was KILLed):
    /// nothing more is done or written; the main ends as the signal would have.
    Interrupted(i32),
}

impl std::fmt::Display for ClinitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClinitError::Usage(s) | ClinitError::Temporary(s) => f.write_str(s),
            ClinitError::Interrupted(sig) => write!(f, "interrupted by signal {sig}"),
        }
    }
}

type Result<T> = std::result::Result<T, ClinitError>;

pub(crate) fn temporary(what: String) -> impl FnOnce(std::io::Error) -> ClinitError {
    move |e| ClinitError::Temporary(format!("{what}: {}", ioerrstr(&e)))
}

/// The service directory name of an entry: `GROUP.TAG`.
pub fn service_name(e: &Resource) -> String {
    format!("{}.{}", e.group, e.tag)
}

/// Single quotes for /bin/sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The marker's text: which entry the directory is.
fn marker_text(e: &Resource) -> String {
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
const OWN_FILES: [&str; 5] = [RUN, MARKER, DOWN_SIGNAL, DOWN, RESTART];

/// A temp file of `at::replace` for one of `OWN_FILES` (`.run.RANDOM.tmp`), or of
/// the clinits before it (`.run.PID.tmp`).
fn own_temp(name: &str) -> bool {
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
enum Claim {
    /// Made by clinit: it may change and remove it.
    Ours,
    /// No marker: someone else's, left alone.
    NotMarked,
    /// A marker clinit cannot have made, or in a directory it cannot trust: left alone
    /// and said so.
    Forged(String),
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

/// clstat's directory, open, and the names in it.
struct StateDir {
    fd: OwnedFd,
    clstat: OsString,
    lock: OsString,
}

/// clinit at work on one scan directory with one cltab.
pub struct Clinit {
    pub tab: Cltab,
    pub scan: PathBuf,
    /// How long supervise may take to appear, and an entry to come up.
    pub timeout: Duration,
    /// How long every respawn entry must then stay up (`--settle`; none by default, as in
    /// Cluster::Init, where started is started).
    pub settle: Duration,
    /// The scan directory, opened once: everything in it is reached from here.
    scan_fd: OnceCell<OwnedFd>,
    /// clstat's directory, opened once (by `lock`).
    state: OnceCell<StateDir>,
}

impl Clinit {
    pub fn new(tab: Cltab, scan: PathBuf, timeout: Duration, settle: Duration) -> Clinit {
        Clinit {
            tab,
            scan,
            timeout,
            settle,
            scan_fd: OnceCell::new(),
            state: OnceCell::new(),
        }
    }

    fn scan_fd(&self) -> Result<BorrowedFd<'_>> {
        if let Some(fd) = self.scan_fd.get() {
            return Ok(fd.as_fd());
        }
        let fd = at::open_dir(&self.scan).map_err(|e| {
            ClinitError::Temporary(format!(
                "unable to open {}: {}",
                self.scan.display(),
                errstr(e)
            ))
        })?;
        Ok(self.scan_fd.get_or_init(|| fd).as_fd())
    }

    /// clstat's directory (made if need be: /var/run is a tmpfs), opened.
    fn state(&self) -> Result<&StateDir> {
        if let Some(s) = self.state.get() {
            return Ok(s);
        }
        let (fd, name) = clstat::open_parent(&self.tab.clstat, "clstat")?;
        let mut lock = name.to_owned();
        lock.push(".lock");
        Ok(self.state.get_or_init(|| StateDir {
            fd,
            clstat: name.to_owned(),
            lock,
        }))
    }

    fn dir(&self, name: &str) -> ServiceDir {
        ServiceDir::new(self.scan.join(name))
    }

    fn dirs(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .map(|n| self.scan.join(n).to_string_lossy().into_owned())
            .collect()
    }

    fn supervised_entries(&self) -> impl Iterator<Item = &Resource> {
        self.tab.entries.iter().filter(|e| e.mode.supervised())
    }

    /// What directory `name` of the scan directory is to clinit. `as_name`: the entry
    /// its marker must name (a directory being taken away has another name).
    fn claim(&self, scan: BorrowedFd<'_>, name: &OsStr, as_name: Option<&str>) -> Claim {
        let Ok((fd, st)) = at::open_subdir(scan, name) else {
            // Not a directory, or a symbolic link to one: not clinit's.
            return Claim::NotMarked;
        };
        let text = match at::read_own(fd.as_fd(), OsStr::new(MARKER), true) {
            Ok(at::Found::File(t)) => t,
            Ok(at::Found::Missing) | Err(_) => return Claim::NotMarked,
            Ok(at::Found::Untrusted(why)) => {
                return Claim::Forged(format!("its {MARKER} file is {why}"));
            }
        };
        if let Some(why) = at::untrusted(&st, SFlag::S_IFDIR) {
            return Claim::Forged(format!("the directory is {why}"));
        }
        match (marker_names(&text), as_name) {
            (Some(n), Some(want)) if n != want => {
                Claim::Forged(format!("its {MARKER} file names {n}"))
            }
            (None, _) => Claim::Forged(format!("its {MARKER} file names no entry")),
            _ => Claim::Ours,
        }
    }

    /// The names of the directories in the scan directory that are clinit's; those
    /// that only pretend to be are named in a warning and left alone.
    fn ours(&self) -> Result<Vec<String>> {
        let scan = self.scan_fd()?;
        let names = at::names(scan).map_err(|e| {
            ClinitError::Temporary(format!(
                "unable to read {}: {}",
                self.scan.display(),
                errstr(e)
            ))
        })?;
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
                return Err(ClinitError::Usage(format!(
                    "{} exists and is not clinit's: rename tag {} (cltab line {}) or move it away",
                    self.scan.join(&name).display(),
                    e.tag,
                    e.line
                )));
            }
        }
        for e in self.supervised_entries() {
            let name = service_name(e);
            let files = service_files(&self.tab, e);
            let path = self.scan.join(&name);
            if present.contains(&name) {
                if self.update(scan, &name, e, &files)? {
                    s.changed.push(name);
                }
                continue;
            }
            let tmp = format!("{NEW_PREFIX}{name}.{}", at::random());
            let build = || -> std::io::Result<()> {
                let dir = at::mkdir(scan, &tmp)?;
                for (f, body, mode) in &files {
                    at::create(dir.as_fd(), OsStr::new(f), body.as_bytes(), *mode)?;
                }
                at::rename_new(scan, OsStr::new(&tmp), OsStr::new(&name))?;
                Ok(())
            };
            if let Err(e) = build() {
                let _ = self.remove(scan, OsStr::new(&tmp));
                return Err(temporary(format!("unable to create {}", path.display()))(e));
            }
            s.created.push(name);
        }
        let wanted: Vec<String> = self.supervised_entries().map(service_name).collect();
        s.orphans = present
            .into_iter()
            .filter(|n| !wanted.contains(n))
            .collect();
        Ok(s)
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
        let failed = |f: &str| temporary(format!("unable to write {}", path.join(f).display()));
        let (dir, _) = at::open_subdir(scan, OsStr::new(name)).map_err(|e| {
            ClinitError::Temporary(format!("unable to open {}: {}", path.display(), errstr(e)))
        })?;
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
                Err(err) => {
                    return Err(ClinitError::Temporary(format!(
                        "unable to remove {}: {}",
                        path.join(RESTART).display(),
                        errstr(err)
                    )));
                }
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
    fn remove(&self, scan: BorrowedFd<'_>, name: &OsStr) -> std::result::Result<(), String> {
        let (dir, st) = at::open_subdir(scan, name).map_err(|e| errstr(e).to_string())?;
        if let Some(why) = at::untrusted(&st, SFlag::S_IFDIR) {
            return Err(format!("the directory is {why}"));
        }
        let dir = dir.as_fd();
        let mut foreign = Vec::new();
        for n in at::names(dir).map_err(|e| errstr(e).to_string())? {
            let s = n.to_str().unwrap_or_default();
            let gone = if OWN_FILES.contains(&s) || own_temp(s) {
                at::unlink(dir, &n).map_err(|e| errstr(e).to_string())
            } else if s == SUPERVISE {
                clear_supervise(dir)
            } else {
                Err("not made by clinit".to_string())
            };
            if let Err(why) = gone {
                foreign.push(format!("{} ({why})", n.to_string_lossy()));
            }
        }
        match at::rmdir(scan, name) {
            Ok(()) => Ok(()),
            Err(Errno::ENOTEMPTY | Errno::EEXIST) if !foreign.is_empty() => {
                Err(format!("it holds {}", foreign.join(", ")))
            }
            Err(e) => Err(errstr(e).to_string()),
        }
    }

    /// Waits until a supervise runs in each directory (svscan starts them; ours at
    /// once through inotify, daemontools' at its next 5 s scan). Only directories
    /// something happened in are looked at again, so a hundred new entries cost a
    /// hundred looks, not ten thousand.
    fn wait_supervised(&self, names: &[String]) -> Result<()> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        use std::collections::HashMap;
        // The usual case, every supervise there already, needs no inotify instance
        // (whose set-up and teardown cost milliseconds on every switch).
        let names: Vec<&String> = names
            .iter()
            .filter(|n| !matches!(is_supervised(&self.dir(n)), Ok(true)))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let deadline = crate::units::deadline_after(Instant::now(), self.timeout);
        // Without inotify (the user's instances all taken, say), look ten times a second.
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
        let add_watch =
            |path: &Path, flags| inotify.as_ref().and_then(|i| i.add_watch(path, flags).ok());
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_OPEN
            | AddWatchFlags::IN_CLOSE_WRITE;
        let mut owner = HashMap::new();
        let mut sub_watched = vec![false; names.len()];
        let mut pending = vec![true; names.len()];
        let mut look: Vec<usize> = (0..names.len()).collect();
        for (i, n) in names.iter().enumerate() {
            if let Some(w) = add_watch(&self.scan.join(n), flags) {
                owner.insert(w, i);
            }
        }
        loop {
            // Watch first, then look: nothing between the two is missed.
            for &i in &look {
                if !sub_watched[i]
                    && let Some(w) = add_watch(&self.scan.join(names[i]).join(SUPERVISE), flags)
                {
                    owner.insert(w, i);
                    sub_watched[i] = true;
                }
            }
            for &i in &look {
                if pending[i] && matches!(is_supervised(&self.dir(names[i])), Ok(true)) {
                    pending[i] = false;
                }
            }
            let Some(first) = pending.iter().position(|p| *p) else {
                return Ok(());
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(ClinitError::Temporary(format!(
                    "no supervise in {} after {}: is svscan running on {}?",
                    self.scan.join(names[first]).display(),
                    crate::units::format_duration(self.timeout),
                    self.scan.display()
                )));
            }
            // Also look at all of them every second, in case a watch missed something.
            let every = match inotify {
                Some(_) => Duration::from_secs(1),
                None => Duration::from_millis(100),
            };
            let tick = deadline.min(now + every);
            let woke = match &inotify {
                Some(i) => {
                    let mut fds = [nix::poll::PollFd::new(
                        std::os::fd::AsFd::as_fd(i),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    matches!(
                        nix::poll::poll(&mut fds, crate::wakeup::timeout_until(Some(tick), now)),
                        Ok(n) if n > 0
                    )
                }
                None => {
                    std::thread::sleep(tick.saturating_duration_since(now));
                    false
                }
            };
            look.clear();
            if let (true, Some(i)) = (woke, &inotify) {
                while let Ok(events) = i.read_events() {
                    if events.is_empty() {
                        break;
                    }
                    look.extend(events.iter().filter_map(|e| owner.get(&e.wd).copied()));
                }
                look.sort_unstable();
                look.dedup();
            } else {
                look = (0..names.len()).filter(|i| pending[*i]).collect();
            }
        }
    }

    fn control(&self, name: &str, cmds: &[u8]) -> Result<()> {
        let dir = self.dir(name);
        match send(&dir, cmds) {
            Ok(Sent::Delivered) => Ok(()),
            Ok(Sent::NoSupervisor) | Err(Errno::ENOENT) => Err(ClinitError::Temporary(format!(
                "unable to control {}: supervise not running",
                dir.path().display()
            ))),
            Err(e) => Err(ClinitError::Temporary(format!(
                "unable to control {}: {}",
                dir.path().display(),
                errstr(e)
            ))),
        }
    }

    fn wait_goal(&self, names: &[String], goal: Goal, limit: Duration) -> Result<bool> {
        if names.is_empty() {
            return Ok(true);
        }
        match wait(&self.dirs(names), goal, false, Some(limit)) {
            Ok(Outcome::Reached) => Ok(true),
            Ok(Outcome::TimedOut) => Ok(false),
            Err(e) => Err(ClinitError::Temporary(e.to_string())),
        }
    }

    fn is_up(&self, name: &str) -> bool {
        self.pid(name) != 0
    }

    /// Stops entries gracefully, all at once: down (INT, their down-signal), then TERM,
    /// then KILL, a stop interval apart. Returns those still up after all that.
    fn stop(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let interval = self.tab.stop_interval;
        for n in names {
            self.control(n, b"d")?;
        }
        for next in [Some(b't'), Some(b'k'), None] {
            if self.wait_goal(names, Goal::Down, interval)? {
                return Ok(Vec::new());
            }
            let up: Vec<String> = names.iter().filter(|n| self.is_up(n)).cloned().collect();
            match next {
                Some(c) => {
                    for n in &up {
                        self.control(n, &[c])?;
                    }
                }
                None => return Ok(up),
            }
        }
        Ok(Vec::new())
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
            at::rename_new(scan, OsStr::new(n), OsStr::new(&to)).map_err(|e| {
                ClinitError::Temporary(format!(
                    "unable to rename {}: {}",
                    self.scan.join(n).display(),
                    errstr(e)
                ))
            })?;
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
    fn apply_cltab(&self) -> Result<bool> {
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

    fn load_status(&self) -> Result<Vec<GroupStatus>> {
        let st = self.state()?;
        let old = clstat::load(st.fd.as_fd(), &st.clstat, &self.tab.clstat)?;
        // Every group of the cltab, in its order; groups no longer in it are gone.
        Ok(self
            .tab
            .groups()
            .into_iter()
            .map(|g| {
                old.iter()
                    .find(|o| o.group == g)
                    .cloned()
                    .unwrap_or(GroupStatus {
                        group: g.to_string(),
                        level: NO_LEVEL.to_string(),
                        state: State::Stopped,
                    })
            })
            .collect())
    }

    /// Writes clstat whole, and IS::Init's status file when the cltab names one
    /// (`:::initstat:PATH`).
    fn save_status(&self, groups: &[GroupStatus]) -> Result<()> {
        let st = self.state()?;
        clstat::save(
            st.fd.as_fd(),
            &st.clstat,
            &self.tab.clstat,
            groups,
            self.tab.words,
        )?;
        match &self.tab.initstat {
            Some(p) => clstat::save_initstat(p, groups),
            None => Ok(()),
        }
    }

    fn set_status(
        &self,
        groups: &mut [GroupStatus],
        group: &str,
        level: &str,
        state: State,
    ) -> Result<()> {
        if let Some(g) = groups.iter_mut().find(|g| g.group == group) {
            g.level = level.to_string();
            g.state = state;
        }
        self.save_status(groups)
    }

    /// `clinit GROUP LEVEL`: Ok(true) when the group is at LEVEL with every test
    /// passed and every respawn entry up.
    pub fn switch(&self, group: &str, level: &str) -> Result<bool> {
        if !crate::clinit::cltab::valid_level(level) {
            return Err(ClinitError::Usage(format!(
                "bad level {level:?} (not empty, no white space)"
            )));
        }
        if !self.tab.groups().contains(&group) {
            // Cluster::Init re-read its cltab on any tell(): here every run does,
            // and -r is the way to ask for only that.
            return Err(ClinitError::Usage(format!(
                "no group {group} in {} (to have the cltab read again: clinit -r)",
                self.tab.path.display()
            )));
        }
        if let Some(why) = self.unknown_level(group, level) {
            warn(PROG, &why);
        }
        let mut ok = self.apply_cltab()?;
        let mut groups = self.load_status()?;
        ok &= self.switch_loaded(&mut groups, group, level)?;
        Ok(ok)
    }

    /// Why a switch to `level` is likely a mistake: no entry of the group has it, so
    /// every entry of the group is stopped (Cluster::Init's way of stopping a group,
    /// `clinit foo 999`, which still works).
    fn unknown_level(&self, group: &str, level: &str) -> Option<String> {
        let known = self
            .tab
            .entries
            .iter()
            .any(|e| e.group == group && e.mode != Mode::Off && e.in_level(level));
        if known {
            return None;
        }
        let mut why = format!("{group}: no entry has level {level}: the whole group is stopped");
        if level.chars().count() > 1 {
            why.push_str(&format!(
                " (a LEVELS field without a comma is one level per character: write {level},{level} for a level named {level})"
            ));
        }
        Some(why)
    }

    /// Switches a group whose status is loaded; a switch that breaks off leaves the
    /// group failed, not starting.
    fn switch_loaded(&self, groups: &mut [GroupStatus], group: &str, level: &str) -> Result<bool> {
        let r = self.switch_steps(groups, group, level);
        // Interrupted: left as it was, as a clinit killed there would have left it.
        if r.is_err() && !matches!(r, Err(ClinitError::Interrupted(_))) {
            let _ = self.set_status(groups, group, level, State::Failed);
        }
        r
    }

    fn switch_steps(&self, groups: &mut [GroupStatus], group: &str, level: &str) -> Result<bool> {
        let old = groups
            .iter()
            .find(|g| g.group == group)
            .cloned()
            .ok_or_else(|| ClinitError::Usage(format!("no group {group}")))?;
        self.set_status(groups, group, level, State::Starting)?;
        let entries: Vec<&Resource> = self
            .tab
            .entries
            .iter()
            .filter(|e| e.group == group)
            .collect();
        // svscan may have been (re)started just now, at boot say: wait for the group's
        // supervises rather than fail on the first one not there yet.
        let supervised: Vec<String> = entries
            .iter()
            .filter(|e| e.mode.supervised())
            .map(|e| service_name(e))
            .collect();
        self.wait_supervised(&supervised)?;
        let leaving: Vec<String> = entries
            .iter()
            .filter(|e| e.mode.supervised() && !e.in_level(level))
            .map(|e| service_name(e))
            .collect();
        let mut ok = true;
        for n in self.stop(&leaving)? {
            warn(
                PROG,
                &format!("{n}: still running after INT, TERM and KILL"),
            );
            ok = false;
        }
        let mut started = Vec::new();
        for e in entries.iter().filter(|e| e.in_level(level)) {
            // once, wait and test run on entering a level, not again while in it.
            let fresh = !(old.state.is_at_level() && e.in_level(&old.level));
            let name = service_name(e);
            match e.mode {
                Mode::Respawn => {
                    self.control(&name, b"u")?;
                    started.push(name);
                }
                Mode::Once if fresh && !self.is_up(&name) => self.control(&name, b"o")?,
                Mode::Wait | Mode::Test if fresh => {
                    let mut cmd = std::process::Command::new("/bin/sh");
                    cmd.arg("-c")
                        .arg(&e.command)
                        .stdin(std::process::Stdio::null());
                    // None: as long as it takes (init's semantics), by choice only.
                    let limit = match self.tab.wait_timeout {
                        d if d.is_zero() => Duration::MAX,
                        d => d,
                    };
                    let end = match crate::bounded::run(
                        &mut cmd,
                        limit,
                        Duration::from_secs(1),
                        &mut || {},
                    ) {
                        Ok(end) => end,
                        Err(RunError::Interrupted(sig)) => {
                            return Err(ClinitError::Interrupted(sig));
                        }
                        Err(RunError::Io(io)) => {
                            return Err(temporary(format!(
                                "unable to run {} (tag {})",
                                e.command, e.tag
                            ))(io));
                        }
                    };
                    let failed = match end {
                        crate::bounded::Ending::TimedOut(_) => true,
                        end => e.mode == Mode::Test && !end.success(),
                    };
                    if failed {
                        warn(PROG, &format!("{group}: {} {} {end}", e.mode.name(), e.tag));
                        ok = false;
                    }
                }
                _ => {}
            }
        }
        if !self.wait_goal(&started, Goal::Up, self.timeout)? {
            for n in started.iter().filter(|n| !self.is_up(n)) {
                warn(
                    PROG,
                    &format!(
                        "{n}: not up after {}",
                        crate::units::format_duration(self.timeout)
                    ),
                );
            }
            ok = false;
        } else if !self.settle.is_zero() {
            ok &= self.settled(&started)?;
        }
        // Cluster::Init's PASSED: a level of test entries only, every one passed.
        let at_level: Vec<&&Resource> = entries
            .iter()
            .filter(|e| e.mode != Mode::Off && e.in_level(level))
            .collect();
        let tests_only = !at_level.is_empty() && at_level.iter().all(|e| e.mode == Mode::Test);
        let state = match (ok, tests_only) {
            (false, _) => State::Failed,
            (true, true) => State::Passed,
            (true, false) => State::Run,
        };
        self.set_status(groups, group, level, state)?;
        Ok(ok)
    }

    /// Whether every entry, up now, is still the same process after the settle time;
    /// the ones that are not are named.
    fn settled(&self, names: &[String]) -> Result<bool> {
        let pids: Vec<u32> = names.iter().map(|n| self.pid(n)).collect();
        // Waits the whole settle time unless one goes down sooner.
        match wait(&self.dirs(names), Goal::Down, true, Some(self.settle)) {
            Ok(_) => {}
            Err(e) => return Err(ClinitError::Temporary(e.to_string())),
        }
        let mut ok = true;
        for (n, pid) in names.iter().zip(pids) {
            // 0: it was gone already when the settle time began.
            if pid == 0 || self.pid(n) != pid {
                let t = crate::units::format_duration(self.settle);
                warn(PROG, &format!("{n}: did not stay up for {t}"));
                ok = false;
            }
        }
        Ok(ok)
    }

    fn pid(&self, name: &str) -> u32 {
        crate::status::Status::read(&self.dir(name)).map_or(0, |s| s.pid)
    }

    /// `clinit -r`: the cltab again, and every group at its level again.
    pub fn reread(&self) -> Result<bool> {
        let mut ok = self.apply_cltab()?;
        let mut groups = self.load_status()?;
        self.save_status(&groups)?;
        let active: Vec<(String, String)> = groups
            .iter()
            .filter(|g| !matches!(g.state, State::Stopped | State::Stopping) && g.level != NO_LEVEL)
            .map(|g| (g.group.clone(), g.level.clone()))
            .collect();
        for (g, l) in active {
            ok &= self.switch_loaded(&mut groups, &g, &l)?;
        }
        Ok(ok)
    }

    /// `clinit -k`: every group stopped gracefully.
    pub fn stop_all(&self) -> Result<bool> {
        let mut groups = self.load_status()?;
        for g in groups.iter_mut() {
            g.state = State::Stopping;
        }
        self.save_status(&groups)?;
        let names: Vec<String> = self
            .ours()?
            .into_iter()
            .filter(|n| matches!(is_supervised(&self.dir(n)), Ok(true)))
            .collect();
        let stuck = self.stop(&names)?;
        for n in &stuck {
            warn(
                PROG,
                &format!("{n}: still running after INT, TERM and KILL"),
            );
        }
        for g in groups.iter_mut() {
            g.state = State::Stopped;
            g.level = NO_LEVEL.to_string();
        }
        self.save_status(&groups)?;
        Ok(stuck.is_empty())
    }

    /// Holds the lock beside clstat (`CLSTAT.lock`) for as long as the result lives:
    /// one clinit changes things at a time; the next waits. Not inherited by the wait
    /// and test commands: a daemon one of them leaves behind would hold every later
    /// clinit up.
    pub fn lock(&self) -> Result<std::fs::File> {
        let st = self.state()?;
        at::lock(st.fd.as_fd(), &st.lock)
            .map(std::fs::File::from)
            .map_err(|why| {
                let mut p = self.tab.clstat.as_os_str().to_owned();
                p.push(".lock");
                ClinitError::Temporary(format!("unable to lock {}: {why}", Path::new(&p).display()))
            })
    }
}

/// Empties and removes supervise's `supervise/` in a directory of clinit's: its status
/// files, FIFOs and lock, and `event/` with the waiters' FIFOs, unlinked (a symbolic
/// link among them is unlinked, not followed). Only from a directory of clinit's
/// account that no other may write.
fn clear_supervise(dir: BorrowedFd<'_>) -> std::result::Result<(), String> {
    fn clear(dir: BorrowedFd<'_>, name: &OsStr, depth: u32) -> std::result::Result<(), String> {
        let s = |e: Errno| errstr(e).to_string();
        let (fd, st) = at::open_subdir(dir, name).map_err(s)?;
        if let Some(why) = at::untrusted(&st, SFlag::S_IFDIR) {
            return Err(format!("{} is {why}", name.to_string_lossy()));
        }
        for n in at::names(fd.as_fd()).map_err(s)? {
            match at::unlink(fd.as_fd(), &n) {
                Ok(()) => {}
                Err(Errno::EISDIR) if depth > 0 => clear(fd.as_fd(), &n, depth - 1)?,
                Err(e) => return Err(format!("{}: {}", n.to_string_lossy(), s(e))),
            }
        }
        at::rmdir(dir, name).map_err(s)
    }
    clear(dir, OsStr::new(SUPERVISE), 1)
}

/// Files and directories relative to a directory descriptor, as root must handle them
/// where another account may write: nothing is followed through a symbolic link, a FIFO
/// cannot block an open, what was opened is checked, new files are created with
/// `O_EXCL` under names nobody can guess and renamed into place.
pub(crate) mod at {
    use nix::errno::Errno;
    use nix::fcntl::{OFlag, RenameFlags, openat, renameat2};
    use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, mkdirat};
    use nix::unistd::{UnlinkatFlags, unlinkat};
    use std::ffi::{OsStr, OsString};
    use std::os::fd::{BorrowedFd, OwnedFd};
    use std::os::unix::ffi::OsStrExt;

    /// The account clinit runs as: what it made is owned by it.
    pub fn me() -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn kind(st: &FileStat) -> SFlag {
        SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
    }

    /// Why a file or directory is not one this account may trust as its own: owned by
    /// another account, or writable by one (group or others).
    pub fn untrusted(st: &FileStat, want: SFlag) -> Option<String> {
        if kind(st) != want {
            return Some(
                match kind(st) {
                    SFlag::S_IFDIR => "a directory",
                    SFlag::S_IFREG => "a regular file",
                    SFlag::S_IFLNK => "a symbolic link",
                    SFlag::S_IFIFO => "a FIFO",
                    _ => "a special file",
                }
                .to_string(),
            );
        }
        if st.st_uid != me() {
            return Some(format!("owned by uid {}", st.st_uid));
        }
        if st.st_mode & 0o022 != 0 {
            return Some(format!(
                "mode {:o}: writable by others",
                st.st_mode & 0o7777
            ));
        }
        None
    }

    /// A random hex word for names nobody can guess beforehand (std seeds RandomState
    /// from the OS's random source).
    pub fn random() -> String {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        format!("{:016x}", h.finish())
    }

    /// A directory by path (the operator's: the scan directory, clstat's).
    pub fn open_dir(path: &std::path::Path) -> Result<OwnedFd, Errno> {
        nix::fcntl::open(
            path,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
            Mode::empty(),
        )
    }

    /// A directory inside `dir`, not through a symbolic link, with its stat.
    pub fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(OwnedFd, FileStat), Errno> {
        let fd = openat(
            dir,
            name,
            OFlag::O_RDONLY
                | OFlag::O_DIRECTORY
                | OFlag::O_NOFOLLOW
                | OFlag::O_CLOEXEC
                | OFlag::O_NONBLOCK,
            Mode::empty(),
        )?;
        let st = fstat(&fd)?;
        Ok((fd, st))
    }

    /// The names in a directory, `.` and `..` left out. (Through libc: nix's `dir`
    /// feature is not built.)
    pub fn names(dir: BorrowedFd<'_>) -> Result<Vec<OsString>, Errno> {
        use std::os::fd::IntoRawFd;
        let (fd, _) = open_subdir(dir, OsStr::new("."))?;
        let raw = fd.into_raw_fd();
        // SAFETY: `raw` is an open directory descriptor of ours; fdopendir takes it over.
        let d = unsafe { libc::fdopendir(raw) };
        if d.is_null() {
            let e = Errno::last();
            // SAFETY: fdopendir failed, so `raw` is still ours to close.
            unsafe { libc::close(raw) };
            return Err(e);
        }
        let mut out = Vec::new();
        let r = loop {
            Errno::clear();
            // SAFETY: `d` is a valid DIR* until the closedir below.
            let e = unsafe { libc::readdir(d) };
            if e.is_null() {
                break match Errno::last_raw() {
                    0 => Ok(out),
                    n => Err(Errno::from_raw(n)),
                };
            }
            // SAFETY: readdir returned an entry whose d_name is a NUL-terminated string,
            // valid until the next readdir on `d`; it is copied before that.
            let name = unsafe { std::ffi::CStr::from_ptr((*e).d_name.as_ptr()) }.to_bytes();
            if name != b"." && name != b".." {
                out.push(OsStr::from_bytes(name).to_os_string());
            }
        };
        // SAFETY: `d` came from fdopendir and is closed once, with its descriptor.
        unsafe { libc::closedir(d) };
        r
    }

    /// What reading a small file found.
    pub enum Found {
        Missing,
        /// There, but not a regular file of this account's that only it may write.
        Untrusted(String),
        File(Vec<u8>),
    }

    /// Reads a file of this account's in `dir`; `single` also refuses one with more
    /// than one link (a hard link from elsewhere is not a file clinit made here).
    pub fn read_own(dir: BorrowedFd<'_>, name: &OsStr, single: bool) -> Result<Found, Errno> {
        let fd = match openat(
            dir,
            name,
            OFlag::O_RDONLY
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_CLOEXEC
                | OFlag::O_NOCTTY,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(Found::Missing),
            Err(Errno::ELOOP) => return Ok(Found::Untrusted("a symbolic link".into())),
            Err(Errno::ENXIO) => return Ok(Found::Untrusted("a special file".into())),
            Err(e) => return Err(e),
        };
        let st = fstat(&fd)?;
        if let Some(why) = untrusted(&st, SFlag::S_IFREG) {
            return Ok(Found::Untrusted(why));
        }
        if single && st.st_nlink != 1 {
            return Ok(Found::Untrusted(format!("{} links", st.st_nlink)));
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut data)
            .map_err(|e| crate::diag::io_errno(&e))?;
        Ok(Found::File(data))
    }

    /// Creates `name` in `dir`, which must not exist, with `data` and `mode`.
    pub fn create(
        dir: BorrowedFd<'_>,
        name: &OsStr,
        data: &[u8],
        mode: u32,
    ) -> std::io::Result<()> {
        // The umask has no say: the mode is set on the descriptor.
        let how = crate::status::NewFile {
            mode,
            set_mode: true,
            durable: false,
        };
        Ok(crate::status::write_new(dir, name, data, how)?)
    }

    /// Replaces `name` in `dir` whole: a new file under a random name, renamed over it
    /// (whatever was there, a symbolic link included, is replaced, not followed).
    pub fn replace(
        dir: BorrowedFd<'_>,
        name: &OsStr,
        data: &[u8],
        mode: u32,
        durable: bool,
    ) -> std::io::Result<()> {
        let how = crate::status::NewFile {
            mode,
            set_mode: true,
            durable,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut tmp = OsString::from(".");
            tmp.push(name);
            tmp.push(format!(".{}.tmp", random()));
            match crate::status::write_new(dir, &tmp, data, how) {
                Ok(()) => {}
                Err(Errno::EEXIST) if attempt < 10 => continue,
                Err(e) => return Err(e.into()),
            }
            return Ok(crate::status::rename_into(dir, &tmp, name)?);
        }
    }

    /// Makes a new directory of this account's, mode 755 whatever the umask.
    pub fn mkdir(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
        mkdirat(dir, name, Mode::from_bits_truncate(0o700))?;
        let (fd, st) = open_subdir(dir, OsStr::new(name))?;
        if untrusted(&st, SFlag::S_IFDIR).is_some() {
            return Err(Errno::EEXIST);
        }
        fchmod(&fd, Mode::from_bits_truncate(0o755))?;
        Ok(fd)
    }

    /// Renames inside one directory, never over something that is there (on a
    /// filesystem without RENAME_NOREPLACE, after looking).
    pub fn rename_new(dir: BorrowedFd<'_>, from: &OsStr, to: &OsStr) -> Result<(), Errno> {
        match renameat2(dir, from, dir, to, RenameFlags::RENAME_NOREPLACE) {
            Err(Errno::EINVAL | Errno::ENOSYS) => {
                match nix::sys::stat::fstatat(dir, to, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW) {
                    Ok(_) => Err(Errno::EEXIST),
                    Err(Errno::ENOENT) => nix::fcntl::renameat(dir, from, dir, to),
                    Err(e) => Err(e),
                }
            }
            r => r,
        }
    }

    pub fn unlink(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
        unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
    }

    pub fn rmdir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
        unlinkat(dir, name, UnlinkatFlags::RemoveDir)
    }

    /// Opens (creating it, mode 600) and locks `name` in `dir` exclusively, waiting for
    /// another clinit to let go. A symbolic link, or a file another account made or may
    /// open, is refused: its owner could hold clinit up for ever.
    pub fn lock(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, String> {
        let fd = openat(
            dir,
            name,
            OFlag::O_RDONLY
                | OFlag::O_CREAT
                | OFlag::O_NOFOLLOW
                | OFlag::O_NONBLOCK
                | OFlag::O_CLOEXEC
                | OFlag::O_NOCTTY,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(|e| match e {
            Errno::ELOOP => "a symbolic link: not clinit's, remove it".to_string(),
            e => crate::diag::errstr(e).to_string(),
        })?;
        let st = fstat(&fd).map_err(|e| crate::diag::errstr(e).to_string())?;
        if kind(&st) != SFlag::S_IFREG || st.st_uid != me() {
            let why = untrusted(&st, SFlag::S_IFREG).unwrap_or_default();
            return Err(format!("{why}: not clinit's, remove it"));
        }
        if st.st_mode & 0o077 != 0 {
            fchmod(&fd, Mode::from_bits_truncate(0o600))
                .map_err(|e| crate::diag::errstr(e).to_string())?;
        }
        loop {
            // SAFETY: flock(2) on a descriptor we own; no memory is passed.
            let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::LOCK_EX) };
            match r {
                0 => return Ok(fd),
                _ if Errno::last() == Errno::EINTR => {}
                _ => return Err(crate::diag::errstr(Errno::last()).to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
