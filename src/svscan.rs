//! svscan: one supervise per service directory (and per `NAME/log`, joined by a pipe that
//! svscan holds), restarted when it dies, all brought down gracefully on SIGTERM.

use crate::diag::{errstr, ioerrstr, warn};
use crate::service_dir::{LOG, ServiceDir};
use crate::sibling::sibling_binary;
use crate::status::Status;
use crate::wakeup::{SelfPipe, timeout_until};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

const PROG: &str = "svscan";
/// daemontools' rescan interval.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(5);
/// A supervise that dies at once is restarted at most this often.
const RESTART_INTERVAL: Duration = Duration::from_secs(1);
/// After KILLing a service, how long its supervise gets to notice and exit.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Settings of one svscan.
#[derive(Clone, Debug)]
pub struct Options {
    /// The supervise binary to start.
    pub supervise: PathBuf,
    /// How long services get between TERM and KILL at shutdown.
    pub kill_timeout: Duration,
}

/// One supervise that svscan keeps running.
#[derive(Debug, Default)]
struct Slot {
    pid: Option<i32>,
    last_start: Option<Instant>,
    restart_at: Option<Instant>,
    /// The service a killed supervise left behind (now our child, as subreaper): it
    /// gets TERM, and the new supervise starts once it is gone or KILLed at `restart_at`.
    orphan: Option<i32>,
}

/// A service directory found in the scan directory.
#[derive(Debug, Default)]
struct Entry {
    main: Slot,
    log: Option<Slot>,
    /// NAME's stdout to log's stdin; held here so neither side's restart loses a byte.
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// Still present in the last scan.
    active: bool,
}

impl Entry {
    fn slot(&mut self, role: Role) -> Option<&mut Slot> {
        match role {
            Role::Main => Some(&mut self.main),
            Role::Log => self.log.as_mut(),
        }
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        std::iter::once(&self.main).chain(self.log.as_ref())
    }

    fn slots_mut(&mut self) -> impl Iterator<Item = &mut Slot> {
        std::iter::once(&mut self.main).chain(self.log.as_mut())
    }
}

/// The service directory a supervise of `role` watches, relative to the scan directory.
fn service_path(name: &OsStr, role: Role) -> PathBuf {
    match role {
        Role::Main => PathBuf::from(name),
        Role::Log => PathBuf::from(name).join(LOG),
    }
}

/// The pid of a service still running after its supervise died, if it is now our child.
fn left_behind(dir: &std::path::Path) -> Option<i32> {
    let st = Status::read(&ServiceDir::new(dir)).ok()?;
    let pid = i32::try_from(st.pid).ok().filter(|p| *p > 0)?;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Field 4 (ppid) follows the parenthesised command name, which may hold spaces.
    let ppid: u32 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    (ppid == std::process::id()).then_some(pid)
}

/// KILLs a service and its process group (supervise makes `run` a session leader).
fn kill_group(pid: i32) {
    let _ = kill(Pid::from_raw(-pid), Signal::SIGKILL);
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Which supervise of an entry a pid is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Main,
    Log,
}

struct Scanner {
    opts: Options,
    entries: BTreeMap<OsString, Entry>,
    pids: HashMap<i32, (OsString, Role)>,
    /// The last scan saw names that are not directories (yet).
    unresolved: bool,
}

/// Runs svscan in `dir` until SIGTERM/SIGINT; returns a fatal message on start-up errors.
pub fn run(dir: &str, opts: Options) -> Result<(), String> {
    std::env::set_current_dir(dir)
        .map_err(|e| format!("unable to chdir to {dir}: {}", ioerrstr(&e)))?;
    raise_fd_limit();
    if std::process::id() != 1 {
        // Orphans of services come to us, not to init, so they are reaped here.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let wake = SelfPipe::new().map_err(|e| format!("unable to create pipe: {}", errstr(e)))?;
    let term = Arc::new(AtomicBool::new(false));
    let rescan_asked = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [
        (libc::SIGTERM, Some(&term)),
        (libc::SIGINT, Some(&term)),
        (libc::SIGHUP, Some(&rescan_asked)),
        (libc::SIGALRM, Some(&rescan_asked)),
        (libc::SIGCHLD, None),
    ] {
        wake.catch(sig, flag)
            .map_err(|e| format!("unable to catch signals: {}", ioerrstr(&e)))?;
    }

    let inotify = match watch_dir() {
        Ok(i) => Some(i),
        Err(e) => {
            warn(
                PROG,
                &format!(
                    "unable to watch {dir}, rescanning every 5 seconds: {}",
                    errstr(e)
                ),
            );
            None
        }
    };

    let mut s = Scanner {
        opts,
        entries: BTreeMap::new(),
        pids: HashMap::new(),
        unresolved: false,
    };
    s.scan();
    let mut next_scan = Instant::now() + RESCAN_INTERVAL;
    loop {
        let now = Instant::now();
        // inotify reports every change of the scan directory itself; the timed rescan
        // is for when it is missing, and for names that may yet become directories
        // (a symlink whose target appears later), which inotify on DIR cannot see.
        let timed_scan = (inotify.is_none() || s.unresolved).then_some(next_scan);
        let deadline = match (s.next_restart(), timed_scan) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut fds = vec![PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
        if let Some(i) = &inotify {
            fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, timeout_until(deadline, now));
        let inotify_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| r.intersects(PollFlags::POLLIN));
        wake.drain();

        s.reap();
        if term.load(Ordering::SeqCst) {
            s.shutdown(&wake);
            return Ok(());
        }
        let mut rescan = rescan_asked.swap(false, Ordering::SeqCst);
        if inotify_ready && let Some(i) = &inotify {
            // Drain every queued event; one scan covers them all.
            while i.read_events().is_ok_and(|ev| !ev.is_empty()) {}
            rescan = true;
        }
        if timed_scan.is_some_and(|t| Instant::now() >= t) {
            rescan = true;
        }
        if rescan {
            s.scan();
            next_scan = Instant::now() + RESCAN_INTERVAL;
        }
        s.restart_due();
    }
}

fn watch_dir() -> Result<Inotify, Errno> {
    let i = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)?;
    i.add_watch(
        ".",
        AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_ATTRIB,
    )?;
    Ok(i)
}

/// Two fds per logged service: 1,000 services need more than the usual soft limit.
fn raise_fd_limit() {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE)
        && soft < hard
    {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
}

impl Scanner {
    /// Starts a supervise for every new service directory; marks vanished ones inactive
    /// (their supervise is left running, as daemontools does).
    fn scan(&mut self) {
        let (names, others): (Vec<_>, Vec<_>) = match std::fs::read_dir(".") {
            Ok(rd) => rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name())
                .filter(|n| !n.as_bytes().starts_with(b"."))
                .partition(|n| std::fs::metadata(n).is_ok_and(|m| m.is_dir())),
            Err(e) => {
                warn(PROG, &format!("unable to read directory: {}", ioerrstr(&e)));
                self.unresolved = true;
                return;
            }
        };
        self.unresolved = !others.is_empty();
        for e in self.entries.values_mut() {
            e.active = false;
        }
        for name in names {
            let entry = self.entries.entry(name.clone()).or_insert_with(|| {
                let mut e = Entry::default();
                if ServiceDir::new(&name).has_log() {
                    match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
                        Ok(p) => {
                            e.pipe = Some(p);
                            e.log = Some(Slot::default());
                        }
                        Err(err) => warn(
                            PROG,
                            &format!(
                                "unable to create pipe for {}: {}",
                                name.to_string_lossy(),
                                errstr(err)
                            ),
                        ),
                    }
                }
                e
            });
            entry.active = true;
        }
        let idle: Vec<(OsString, Role)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.active)
            .flat_map(|(n, e)| {
                let main = (e.main.pid.is_none() && e.main.restart_at.is_none())
                    .then(|| (n.clone(), Role::Main));
                let log = e
                    .log
                    .as_ref()
                    .filter(|l| l.pid.is_none() && l.restart_at.is_none())
                    .map(|_| (n.clone(), Role::Log));
                log.into_iter().chain(main)
            })
            .collect();
        for (name, role) in idle {
            self.start(&name, role);
        }
    }

    fn start(&mut self, name: &OsStr, role: Role) {
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        let mut cmd = Command::new(&self.opts.supervise);
        crate::spawn::reset_signals(&mut cmd);
        let pipe_end = |fd: Option<&OwnedFd>| fd.and_then(|f| f.try_clone().ok()).map(Stdio::from);
        match role {
            Role::Main => {
                cmd.arg(name);
                if let Some(w) = pipe_end(entry.pipe.as_ref().map(|p| &p.1)) {
                    cmd.stdout(w);
                }
            }
            Role::Log => {
                cmd.arg(LOG).current_dir(name);
                if let Some(r) = pipe_end(entry.pipe.as_ref().map(|p| &p.0)) {
                    cmd.stdin(r);
                }
            }
        }
        let Some(slot) = entry.slot(role) else {
            return;
        };
        let now = Instant::now();
        slot.last_start = Some(now);
        slot.restart_at = None;
        match cmd.spawn() {
            Ok(child) => {
                let pid = child.id() as i32;
                slot.pid = Some(pid);
                self.pids.insert(pid, (name.to_os_string(), role));
            }
            Err(e) => {
                slot.restart_at = Some(now + RESTART_INTERVAL);
                let what = service_path(name, role);
                warn(
                    PROG,
                    &format!(
                        "unable to start supervise {}: {}",
                        what.display(),
                        ioerrstr(&e)
                    ),
                );
            }
        }
    }

    /// Reaps every child: our supervises, and orphans that were reparented to us.
    fn reap(&mut self) {
        loop {
            let pid = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, _)) | Ok(WaitStatus::Signaled(p, _, _)) => p.as_raw(),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            };
            match self.pids.remove(&pid) {
                Some((name, role)) => self.supervise_died(&name, role),
                None => self.orphan_died(pid),
            }
        }
        // Gone from the scan directory and nothing left running: forget it, close the pipe.
        self.entries
            .retain(|_, e| e.active || e.slots().any(|s| s.pid.is_some() || s.orphan.is_some()));
    }

    fn supervise_died(&mut self, name: &OsStr, role: Role) {
        let kill_timeout = self.opts.kill_timeout;
        let Some(entry) = self.entries.get_mut(name) else {
            return;
        };
        let active = entry.active;
        let Some(slot) = entry.slot(role) else {
            return;
        };
        slot.pid = None;
        let now = Instant::now();
        slot.orphan = left_behind(&service_path(name, role));
        if let Some(orphan) = slot.orphan {
            let _ = kill(Pid::from_raw(orphan), Signal::SIGTERM);
            let _ = kill(Pid::from_raw(orphan), Signal::SIGCONT);
            slot.restart_at = Some(now + kill_timeout);
        } else if active {
            slot.restart_at = Some(match slot.last_start {
                Some(t) if now < t + RESTART_INTERVAL => t + RESTART_INTERVAL,
                _ => now,
            });
        }
    }

    fn orphan_died(&mut self, pid: i32) {
        for e in self.entries.values_mut() {
            let active = e.active;
            for slot in e.slots_mut() {
                if slot.orphan == Some(pid) {
                    slot.orphan = None;
                    slot.restart_at = active.then(Instant::now);
                }
            }
        }
    }

    fn next_restart(&self) -> Option<Instant> {
        self.entries
            .values()
            .flat_map(|e| e.slots())
            .filter_map(|s| s.restart_at)
            .min()
    }

    /// Starts what is due; an orphan still there at its deadline is KILLed first.
    fn restart_due(&mut self) {
        let now = Instant::now();
        let mut due = Vec::new();
        for (n, e) in self.entries.iter_mut() {
            let active = e.active;
            for (role, slot) in [(Role::Main, Some(&mut e.main)), (Role::Log, e.log.as_mut())] {
                let Some(slot) = slot else { continue };
                if slot.restart_at.is_none_or(|t| t > now) {
                    continue;
                }
                slot.restart_at = None;
                if let Some(orphan) = slot.orphan.take() {
                    kill_group(orphan);
                }
                if active {
                    due.push((n.clone(), role));
                }
            }
        }
        for (name, role) in due {
            self.start(&name, role);
        }
    }

    fn live(&self, role: Role) -> Vec<(i32, OsString)> {
        self.pids
            .iter()
            .filter(|(_, (_, r))| *r == role)
            .map(|(p, (n, _))| (*p, n.clone()))
            .collect()
    }

    /// Brings every service down: services first, then their loggers once the pipes
    /// are closed, each group TERMed and KILLed after the timeout.
    fn shutdown(&mut self, wake: &SelfPipe) {
        for e in self.entries.values_mut() {
            e.active = false;
            e.main.restart_at = None;
            if let Some(l) = e.log.as_mut() {
                l.restart_at = None;
            }
        }
        self.stop_all(Role::Main, wake);
        for e in self.entries.values_mut() {
            e.pipe = None;
        }
        self.stop_all(Role::Log, wake);
        for e in self.entries.values_mut() {
            for slot in e.slots_mut() {
                if let Some(orphan) = slot.orphan.take() {
                    kill_group(orphan);
                }
            }
        }
        self.reap();
    }

    fn stop_all(&mut self, role: Role, wake: &SelfPipe) {
        for (pid, _) in self.live(role) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if self.wait_for(role, Instant::now() + self.opts.kill_timeout, wake) {
            return;
        }
        for (pid, name) in self.live(role) {
            if let Ok(st) = Status::read(&ServiceDir::new(service_path(&name, role)))
                && let Ok(service) = i32::try_from(st.pid)
                && service > 0
            {
                kill_group(service);
            }
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if self.wait_for(role, Instant::now() + KILL_GRACE, wake) {
            return;
        }
        for (pid, name) in self.live(role) {
            warn(
                PROG,
                &format!(
                    "supervise {} did not exit: killing it",
                    service_path(&name, role).display()
                ),
            );
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        self.wait_for(role, Instant::now() + KILL_GRACE, wake);
    }

    /// Reaps until no supervise of `role` is left or the deadline passes.
    fn wait_for(&mut self, role: Role, deadline: Instant, wake: &SelfPipe) -> bool {
        loop {
            self.reap();
            if self.live(role).is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let mut fds = [PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, timeout_until(Some(deadline), now));
            wake.drain();
        }
    }
}

/// svscanboot: stops supervises left from an earlier svscan (`svc -dx` on every
/// service and logger, as daemontools' script does), starts `readproctitle service
/// errors: ...` on a pipe, and becomes `svscan DIR` writing into it, so that svscan keeps
/// svscanboot's pid (and gets the init system's TERM). Returns only on failure.
pub fn boot(dir: &str) -> String {
    use std::os::unix::process::CommandExt;
    if let Err(e) = ServiceDir::new(dir).check() {
        return format!("unable to chdir to {dir}: {}", errstr(e));
    }
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(null);
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().as_bytes().starts_with(b".") {
                continue;
            }
            let path = e.path();
            let _ = crate::control::send(&ServiceDir::new(&path), b"dx");
            let _ = crate::control::send(&ServiceDir::new(path.join(LOG)), b"dx");
        }
    }
    let (r, w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return format!("unable to create pipe: {}", errstr(e)),
    };
    let dots = ".".repeat(400);
    if let Err(e) = Command::new(sibling_binary("readproctitle"))
        .arg0("readproctitle")
        .args(["service", "errors:", &dots])
        .stdin(Stdio::from(r))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        return format!("unable to start readproctitle: {}", ioerrstr(&e));
    }
    let redirected = nix::unistd::dup2_stdout(&w).and_then(|_| nix::unistd::dup2_stderr(&w));
    if let Err(e) = redirected {
        return format!("unable to redirect output: {}", errstr(e));
    }
    drop(w);
    let e = Command::new(sibling_binary("svscan"))
        .arg0("svscan")
        .arg(dir)
        .exec();
    format!("unable to run svscan: {}", ioerrstr(&e))
}
