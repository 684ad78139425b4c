//! svscan: one supervise per service directory (and per `NAME/log`, joined by a pipe that
//! svscan holds), restarted when it dies, all brought down gracefully on SIGTERM.

use crate::diag::{errstr, ioerrstr, warn};
use crate::service_dir::{DOWN, LOG, MAIN, RUN, ServiceDir};
use crate::status::{Status, Want};
use crate::wakeup::{SelfPipe, timeout_until};
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod boot;
mod core;
pub use boot::{boot, boot_path};
use core::{KILL_GRACE, LEFTOVER_POLL, LeftoverAction, Role, Services};

const PROG: &str = "svscan";
/// At shutdown, how often to look whether the loggers have read their input to its end.
const LOGGER_POLL: Duration = Duration::from_millis(20);
/// daemontools' rescan interval.
pub const RESCAN_INTERVAL: Duration = Duration::from_secs(5);

/// Settings of one svscan.
#[derive(Clone, Debug)]
pub struct Options {
    /// The supervise binary to start.
    pub supervise: PathBuf,
    /// How long services get between TERM and KILL at shutdown.
    pub kill_timeout: Duration,
}

/// The service directory a supervise of `role` watches, relative to the scan directory.
fn service_path(name: &OsStr, role: Role) -> PathBuf {
    match role {
        Role::Main => PathBuf::from(name),
        Role::Log => PathBuf::from(name).join(LOG),
    }
}

/// The process groups that a dead supervise of `dir` left running, now our children (as
/// subreaper): the group of the pid in its status, and, when the status cannot be
/// trusted (a supervise that died before writing it), those of our children that are
/// no supervise of ours and whose working directory is the service directory.
fn left_behind(dir: &std::path::Path, services: &Services) -> Vec<i32> {
    let me = std::process::id() as i32;
    let status_pid = Status::read(&ServiceDir::new(dir))
        .ok()
        .and_then(|st| i32::try_from(st.pid).ok())
        .filter(|p| *p > 0);
    let here = std::fs::canonicalize(dir).ok();
    let mut groups = Vec::new();
    let supervises = services.supervise_pids();
    for child in crate::procstat::own_children() {
        if supervises.contains(&child) {
            continue;
        }
        let Some(st) = crate::procstat::ProcStat::read(child) else {
            continue;
        };
        if st.ppid != me || st.pgid <= 1 || st.pgid == nix::unistd::getpgrp().as_raw() {
            continue;
        }
        let ours = Some(child) == status_pid
            || Some(st.pgid) == status_pid
            || here.is_some() && std::fs::read_link(format!("/proc/{child}/cwd")).ok() == here;
        if ours && !groups.contains(&st.pgid) {
            groups.push(st.pgid);
        }
    }
    groups
}

/// Whether service NAME is the tree's main service (a `main` file in its directory):
/// its supervise runs it once and exits with its exit code (128 + signal for a
/// signal), and svscan then stops the tree and exits with that code, as a container's
/// init does with its main process.
fn is_main(name: &OsStr) -> bool {
    std::fs::symlink_metadata(std::path::Path::new(name).join(MAIN))
        .is_ok_and(|m| m.file_type().is_file())
}

/// Sends `sig` to every process of a group; false once the group is gone.
fn signal_group(pgid: i32, sig: Option<Signal>) -> bool {
    crate::procstat::signal_group(pgid, sig) != Ok(false)
}

/// TERM (and CONT, for a stopped one) to each group.
fn term_groups(groups: &[i32]) {
    for &g in groups {
        signal_group(g, Some(Signal::SIGTERM));
        signal_group(g, Some(Signal::SIGCONT));
    }
}

/// Whether any process of the groups is left.
fn any_group_left(groups: &[i32]) -> bool {
    groups.iter().any(|&g| signal_group(g, None))
}

/// The process group of the service a supervise runs (`run` is a session leader).
fn service_group(dir: &std::path::Path) -> Option<i32> {
    let pid = Status::read(&ServiceDir::new(dir))
        .ok()
        .and_then(|st| i32::try_from(st.pid).ok())
        .filter(|p| *p > 0)?;
    nix::unistd::getpgid(Some(Pid::from_raw(pid)))
        .ok()
        .map(Pid::as_raw)
        .filter(|g| *g > 1 && *g != nix::unistd::getpgrp().as_raw())
}

/// KILLs a service and its process group (supervise makes `run` a session leader).
fn kill_group(pid: i32) {
    let _ = crate::procstat::signal_group(pid, Some(Signal::SIGKILL));
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
}

struct Scanner {
    opts: Options,
    services: Services,
    /// NAME's stdout to its logger's stdin, held here so that neither side's restart
    /// loses a byte.
    pipes: HashMap<OsString, (OwnedFd, OwnedFd)>,
    /// The last scan saw names that are not directories (yet), or could not make a
    /// pipe: scan again in `RESCAN_INTERVAL`.
    unresolved: bool,
    spare: SpareFds,
    /// The RLIMIT_NOFILE svscan was started with, when it raised its own.
    nofile: Option<FdLimits>,
    /// SIGTERM (or the main service) has asked for the tree to stop.
    shutting_down: bool,
    /// The exit code of the main service's supervise, once it has exited: svscan then
    /// stops the tree and exits with it.
    main_exit: Option<i32>,
    /// Directories without `run`, and how many scans have seen them so.
    no_run: HashMap<OsString, u32>,
}

/// A few descriptors held in reserve, so that when log pipes have used up the limit,
/// svscan can still read its directory and start supervises: released around each of
/// those steps and taken back after.
struct SpareFds(Vec<OwnedFd>);

impl SpareFds {
    /// A scan reads the directory (one); the rest is margin for what svscan opens
    /// while it looks at leftovers (/proc) and the scan that follows.
    const COUNT: usize = 3;

    fn new() -> Self {
        let mut s = SpareFds(Vec::new());
        s.refill();
        s
    }

    fn refill(&mut self) {
        while self.0.len() < Self::COUNT {
            match nix::fcntl::open(
                "/dev/null",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            ) {
                Ok(fd) => self.0.push(fd),
                Err(_) => break,
            }
        }
    }

    fn release(&mut self) {
        self.0.clear();
    }
}

/// Why svscan (or svscanboot) could not start: each is a temporary failure (exit 111).
#[derive(Debug)]
pub enum StartError {
    Chdir(OsString, std::io::Error),
    /// Another svscan holds the scan directory.
    Taken(OsString),
    Lock(OsString, Errno),
    Pipe(Errno),
    Signals(std::io::Error),
    /// svscanboot's readproctitle, its output redirection, or svscan itself.
    Boot(&'static str, std::io::Error),
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let lossy = |d: &OsString| d.to_string_lossy().into_owned();
        match self {
            StartError::Chdir(d, e) => {
                write!(f, "unable to chdir to {}: {}", lossy(d), ioerrstr(e))
            }
            StartError::Taken(d) => {
                write!(f, "unable to lock {}: another svscan runs there", lossy(d))
            }
            StartError::Lock(d, e) => write!(f, "unable to lock {}: {}", lossy(d), errstr(*e)),
            StartError::Pipe(e) => write!(f, "unable to create pipe: {}", errstr(*e)),
            StartError::Signals(e) => write!(f, "unable to catch signals: {}", ioerrstr(e)),
            StartError::Boot(what, e) => write!(f, "unable to {what}: {}", ioerrstr(e)),
        }
    }
}

impl std::error::Error for StartError {}

/// Every start-up failure may pass (the directory made, the other svscan gone): 111.
impl crate::cli::Failure for StartError {}

/// Runs svscan in `dir` until SIGTERM/SIGINT, or until the main service is down for
/// good; returns the exit code (the main service's, else 0).
pub fn scan_tree(dir: &OsStr, opts: Options) -> Result<i32, StartError> {
    std::env::set_current_dir(dir).map_err(|e| StartError::Chdir(dir.into(), e))?;
    let _lock = lock_scan_dir().map_err(|e| match e {
        Errno::EWOULDBLOCK => StartError::Taken(dir.into()),
        e => StartError::Lock(dir.into(), e),
    })?;
    let nofile = raise_fd_limit();
    if std::process::id() != 1 {
        // Orphans of services come to us, not to init, so they are reaped here.
        let _ = nix::sys::prctl::set_child_subreaper(true);
    }
    let signals = Signals::catch()?;
    let inotify = match watch_dir() {
        Ok(i) => Some(i),
        Err(e) => {
            warn(
                PROG,
                &format!(
                    "unable to watch {}, rescanning every 5 seconds: {}",
                    dir.to_string_lossy(),
                    errstr(e)
                ),
            );
            None
        }
    };
    let mut s = Scanner {
        opts,
        services: Services::default(),
        pipes: HashMap::new(),
        unresolved: false,
        spare: SpareFds::new(),
        nofile,
        no_run: Default::default(),
        main_exit: None,
        shutting_down: false,
    };
    s.scan();
    let mut next_scan = Instant::now() + RESCAN_INTERVAL;
    loop {
        if let Some(code) = s.turn(&signals, inotify.as_ref(), &mut next_scan) {
            return Ok(code);
        }
    }
}

/// The signals svscan acts on: each sets its flag and wakes the loop (SIGCHLD only
/// wakes it).
struct Signals {
    wake: SelfPipe,
    /// TERM or INT: stop the tree and exit.
    term: Arc<AtomicBool>,
    /// HUP or ALRM (s6-svscan's rescan signal): scan now.
    rescan: Arc<AtomicBool>,
    usr1: Arc<AtomicBool>,
    usr2: Arc<AtomicBool>,
}

impl Signals {
    fn catch() -> Result<Signals, StartError> {
        let s = Signals {
            wake: SelfPipe::new().map_err(StartError::Pipe)?,
            term: Default::default(),
            rescan: Default::default(),
            usr1: Default::default(),
            usr2: Default::default(),
        };
        for (sig, flag) in [
            (libc::SIGTERM, Some(&s.term)),
            (libc::SIGINT, Some(&s.term)),
            (libc::SIGHUP, Some(&s.rescan)),
            (libc::SIGALRM, Some(&s.rescan)),
            (libc::SIGUSR1, Some(&s.usr1)),
            (libc::SIGUSR2, Some(&s.usr2)),
            (libc::SIGCHLD, None),
        ] {
            s.wake.catch(sig, flag).map_err(StartError::Signals)?;
        }
        Ok(s)
    }
}

impl Scanner {
    /// One turn of the loop: wait for a signal, a change of the directory or the next
    /// deadline, then reap, stop (giving the code to exit with), fan signals out,
    /// rescan, and start what is due.
    fn turn(
        &mut self,
        sig: &Signals,
        inotify: Option<&Inotify>,
        next_scan: &mut Instant,
    ) -> Option<i32> {
        let now = Instant::now();
        // inotify reports every change of the scan directory itself; the timed rescan
        // is for when it is missing, and for names that may yet become directories
        // (a symlink whose target appears later), which inotify on DIR cannot see.
        let timed_scan = (inotify.is_none() || self.unresolved).then_some(*next_scan);
        let deadline = match (self.services.next_deadline(now), timed_scan) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut fds = vec![PollFd::new(sig.wake.as_fd(), PollFlags::POLLIN)];
        if let Some(i) = inotify {
            fds.push(PollFd::new(i.as_fd(), PollFlags::POLLIN));
        }
        let _ = poll(&mut fds, timeout_until(deadline, now));
        let inotify_ready = fds
            .get(1)
            .and_then(|f| f.revents())
            .is_some_and(|r| r.intersects(PollFlags::POLLIN));
        sig.wake.drain();

        self.reap();
        if self.main_exit.is_some() {
            // The main service is down for good: the tree goes with it.
            sig.term.store(true, Ordering::SeqCst);
        }
        if sig.term.load(Ordering::SeqCst) {
            self.shutdown(&sig.wake);
            return Some(self.main_exit.unwrap_or(0));
        }
        // svc -1 and -2 (daemontools-encore's letters): supervise sends USR1 / USR2.
        for (flag, cmd) in [(&sig.usr1, b'1'), (&sig.usr2, b'2')] {
            if flag.swap(false, Ordering::SeqCst) {
                self.fan_out(cmd);
            }
        }
        let mut rescan = sig.rescan.swap(false, Ordering::SeqCst);
        if inotify_ready && let Some(i) = inotify {
            // Drain every queued event; one scan covers them all.
            while i.read_events().is_ok_and(|ev| !ev.is_empty()) {}
            rescan = true;
        }
        if timed_scan.is_some_and(|t| Instant::now() >= t) {
            rescan = true;
        }
        if rescan {
            self.scan();
            *next_scan = Instant::now() + RESCAN_INTERVAL;
        }
        self.check_leftovers();
        self.restart_due();
        None
    }
}

/// One svscan per scan directory (as s6-svscan): a second one would start a second
/// supervise for every service, each failing on its lock every second. The lock is on
/// the directory itself, so nothing is written into it.
fn lock_scan_dir() -> Result<nix::fcntl::Flock<OwnedFd>, Errno> {
    let fd = nix::fcntl::open(
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    nix::fcntl::Flock::lock(fd, nix::fcntl::FlockArg::LockExclusiveNonblock).map_err(|(_, e)| e)
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

/// RLIMIT_NOFILE as svscan was started with it (what the services get) and the hard
/// limit it raised its own soft limit to.
#[derive(Clone, Copy)]
struct FdLimits {
    started: libc::rlim_t,
    hard: libc::rlim_t,
}

/// Two fds per logged service: 1,000 services need more than the usual soft limit.
/// None when the soft limit was the hard one already (or could not be raised).
fn raise_fd_limit() -> Option<FdLimits> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).ok()?;
    if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
        return Some(FdLimits {
            started: soft,
            hard,
        });
    }
    None
}

/// Gives the pages a scan's passing allocations freed back to the kernel: svscan lives
/// as long as the machine, and glibc's malloc keeps freed heap resident otherwise (at
/// 500 services, most of svscan's heap).
fn release_free_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim has no preconditions; it only hands free pages back.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// The scan directory's names but dot files, split into directories (a symbolic link
/// is followed) and the rest. The directory's own d_type saves a stat for all but links.
fn list_scan_dir() -> Result<(Vec<OsString>, Vec<OsString>), Errno> {
    let dir = nix::fcntl::open(
        ".",
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    let (mut dirs, mut rest) = (Vec::new(), Vec::new());
    for (name, d_type) in crate::dirlist::names_at(dir.as_fd())? {
        if name.as_bytes().starts_with(b".") {
            continue;
        }
        let is_dir = match d_type {
            libc::DT_DIR => true,
            libc::DT_LNK | libc::DT_UNKNOWN => std::fs::metadata(&name).is_ok_and(|m| m.is_dir()),
            _ => false,
        };
        if is_dir {
            dirs.push(name)
        } else {
            rest.push(name)
        }
    }
    // In name order: the entries are kept sorted, and a new one then goes at the end.
    dirs.sort_unstable();
    Ok((dirs, rest))
}

impl Scanner {
    /// Starts a supervise for every new service directory; marks vanished ones inactive
    /// (their supervise is left running, as daemontools does).
    fn scan(&mut self) {
        self.spare.release();
        let listed = list_scan_dir();
        self.spare.refill();
        let (names, others) = match listed {
            Ok(l) => l,
            Err(e) => {
                warn(PROG, &format!("unable to read directory: {}", errstr(e)));
                self.unresolved = true;
                return;
            }
        };
        self.unresolved = !others.is_empty();
        self.services.begin_scan();
        for name in names {
            if !self.services.is_known(&name) && !self.has_run(&name) {
                continue;
            }
            let has_log = ServiceDir::new(&name).has_log();
            let entry = self.services.present(&name, has_log);
            let idle = entry
                .slots()
                .all(|s| s.pid.is_none() && s.leftover.is_none());
            if entry.log.is_some() && !entry.piped && idle {
                // Made with the spare descriptors held, so a pipe never takes the last
                // ones; retried at the next scan when the limit is reached.
                match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
                    Ok(p) => {
                        entry.piped = true;
                        self.pipes.insert(name.clone(), p);
                    }
                    Err(err) => {
                        self.unresolved = true;
                        warn(
                            PROG,
                            &format!(
                                "unable to create pipe for {}, not starting it yet: {}",
                                name.to_string_lossy(),
                                errstr(err)
                            ),
                        );
                    }
                }
            }
        }
        for (name, role) in self.services.never_started() {
            self.start(&name, role);
        }
        release_free_heap();
    }

    /// Whether a new directory is a service: it has a `run` (a file, or a link whose
    /// target may come later) or a `down` file (normally down: supervise starts nothing
    /// until told). Others are not given a `supervise/` (svscan in a home directory
    /// would put one in every subdirectory): they are looked at again at every timed
    /// scan, so a `run` written after its directory (`cp -R`) is seen within 5
    /// seconds, and said once if still missing at the second look.
    fn has_run(&mut self, name: &OsStr) -> bool {
        let dir = std::path::Path::new(name);
        if [RUN, DOWN]
            .iter()
            .any(|f| std::fs::symlink_metadata(dir.join(f)).is_ok())
        {
            self.no_run.remove(name);
            return true;
        }
        self.unresolved = true;
        let warned = self.no_run.entry(name.to_os_string()).or_insert(0);
        *warned += 1;
        if *warned == 2 {
            warn(
                PROG,
                &format!(
                    "{} has no run file: not supervised until it has one",
                    name.to_string_lossy()
                ),
            );
        }
        false
    }

    fn start(&mut self, name: &OsStr, role: Role) {
        let Some(entry) = self.services.entries.get(name) else {
            return;
        };
        // The pipe end a supervise gets as its stdout (the service's) or stdin (the
        // logger's); a logged service without its pipe does not start at all.
        let end = match (role, self.pipes.get(name)) {
            (_, None) if entry.log.is_some() => return,
            (_, None) => None,
            (Role::Main, Some(p)) => Some((p.1.as_raw_fd(), libc::STDOUT_FILENO)),
            (Role::Log, Some(p)) => Some((p.0.as_raw_fd(), libc::STDIN_FILENO)),
        };
        // NAME/log, not `log` from inside NAME: its messages and its process title
        // then say whose logger it is.
        let path = service_path(name, role);
        let now = Instant::now();
        self.services.starting(name, role, now);
        match self.spawn_supervise(&path, end) {
            Ok(pid) => self.services.started(name, role, pid as i32),
            Err(e) => {
                self.services.start_failed(name, role, now);
                warn(
                    PROG,
                    &format!(
                        "unable to start supervise {}: {}",
                        path.display(),
                        errstr(e)
                    ),
                );
            }
        }
    }

    /// Starts a supervise on `path` (see `crate::spawn`: no copy of our page tables, no
    /// descriptor of ours taken, every signal at default and an empty mask), with the
    /// RLIMIT_NOFILE svscan was started with.
    fn spawn_supervise(
        &self,
        path: &std::path::Path,
        end: Option<(RawFd, RawFd)>,
    ) -> Result<u32, Errno> {
        let program = crate::diag::c_name(self.opts.supervise.as_os_str())?;
        let opts = crate::spawn::Options {
            setsid: false,
            dup: end,
            nofile: self.nofile.map(|l| (l.started, l.hard)),
        };
        // The name picks the program when `supervise` is the multicall binary.
        crate::spawn::spawn_program(&program, b"supervise", &[path.as_os_str().as_bytes()], opts)
    }

    /// Reaps every child: our supervises, and orphans that were reparented to us.
    fn reap(&mut self) {
        loop {
            let (pid, code) = match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) => (p.as_raw(), Some(code)),
                Ok(WaitStatus::Signaled(p, _, _)) => (p.as_raw(), None),
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(_) => continue,
            };
            let Some((name, role)) = self.services.reaped(pid) else {
                continue;
            };
            if self.shutting_down {
                // One line per service at shutdown: what `docker stop` or the journal
                // shows of how the tree went down.
                crate::diag::info(
                    PROG,
                    &format!("stopped {}", service_path(&name, role).display()),
                );
            }
            // The supervise of a main service exits, with its code, once the service is
            // down for good; one that was killed is restarted as any other.
            if role == Role::Main
                && let Some(code) = code
                && is_main(&name)
            {
                self.main_exit.get_or_insert(code);
            }
            let groups = left_behind(&service_path(&name, role), &self.services);
            let now = Instant::now();
            if self.services.supervise_died(
                &name,
                role,
                groups.clone(),
                now,
                self.opts.kill_timeout,
            ) {
                term_groups(&groups);
            }
        }
        for name in self.services.forget_gone() {
            self.pipes.remove(&name);
        }
    }

    /// Forgets leftovers that are gone and KILLs those whose time is up.
    fn check_leftovers(&mut self) {
        let acts = self
            .services
            .check_leftovers(Instant::now(), any_group_left);
        for LeftoverAction::Kill {
            name,
            role,
            groups,
            again,
        } in acts
        {
            if again {
                warn(
                    PROG,
                    &format!(
                        "processes of {} survive KILL: not restarting it yet",
                        service_path(&name, role).display()
                    ),
                );
            }
            for g in groups {
                signal_group(g, Some(Signal::SIGKILL));
            }
        }
    }

    /// Passes a signal on to every service (not to loggers) through its supervise, as
    /// Blat's master passes USR1 on to its daemons.
    fn fan_out(&self, cmd: u8) {
        for (_, name) in self.services.live(Role::Main) {
            let _ = crate::control::send(&ServiceDir::new(name), &[cmd]);
        }
    }

    /// Starts what is due.
    fn restart_due(&mut self) {
        for (name, role) in self.services.due(Instant::now()) {
            self.start(&name, role);
        }
    }

    /// Brings every service down: services first, then their loggers once the pipes
    /// are closed, each group TERMed and KILLed after the timeout.
    fn shutdown(&mut self, wake: &SelfPipe) {
        self.shutting_down = true;
        let leftovers = self.services.stop_everything();
        // A logger ends at the end of its input, which comes once the pipes close: it is
        // not to be restarted (nor reported as failing) for that. Told first, so that its
        // supervise has read it by then.
        let loggers: Vec<PathBuf> = self
            .services
            .live(Role::Log)
            .into_iter()
            .map(|(_, name)| service_path(&name, Role::Log))
            .collect();
        for dir in &loggers {
            let _ = crate::control::send(&ServiceDir::new(dir), b"o");
        }
        // One deadline for the whole tree (-t), so that `docker stop`'s 10 s or a
        // unit's TimeoutStopSec holds it: loggers get what is left, at least 2 s.
        let deadline = crate::units::deadline_after(Instant::now(), self.opts.kill_timeout);
        self.stop_all(Role::Main, leftovers, deadline, wake);
        let told = |dir: &PathBuf| {
            Status::read(&ServiceDir::new(dir)).map_or(true, |st| st.want != Want::Up)
        };
        let grace = Instant::now() + KILL_GRACE;
        while !loggers.iter().all(told) && Instant::now() < grace {
            std::thread::sleep(Duration::from_millis(5));
        }
        self.pipes.clear();
        // A logger reads what is left in its pipe and ends at its end: TERM (on which
        // multilog stops after the current line) only for one that is not done by then.
        let logger_deadline = deadline.max(Instant::now() + KILL_GRACE);
        let down =
            |dir: &PathBuf| Status::read(&ServiceDir::new(dir)).map_or(true, |st| st.pid == 0);
        self.wait_until(logger_deadline, Some(LOGGER_POLL), wake, |_| {
            loggers.iter().all(down)
        });
        self.stop_all(Role::Log, Vec::new(), logger_deadline, wake);
        self.reap();
    }

    /// TERMs every supervise of `role` (which stops its service), then what the services
    /// left in their process groups (background children) and `groups`; KILLs what is
    /// still there at `deadline`.
    fn stop_all(&mut self, role: Role, mut groups: Vec<i32>, deadline: Instant, wake: &SelfPipe) {
        for (pid, name) in self.services.live(role) {
            groups.extend(service_group(&service_path(&name, role)));
            let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
        }
        if !self.wait_for(role, deadline, wake) {
            self.kill_supervises(role, wake);
        }
        groups.sort_unstable();
        groups.dedup();
        if !any_group_left(&groups) {
            return;
        }
        term_groups(&groups);
        let deadline = deadline.max(Instant::now() + KILL_GRACE);
        if !self.wait_for_groups(&groups, deadline, wake) {
            for &g in &groups {
                signal_group(g, Some(Signal::SIGKILL));
            }
            self.wait_for_groups(&groups, Instant::now() + KILL_GRACE, wake);
        }
    }

    /// The timeout has passed: KILL the services, then their supervises if they still
    /// do not exit.
    fn kill_supervises(&mut self, role: Role, wake: &SelfPipe) {
        for (pid, name) in self.services.live(role) {
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
        for (pid, name) in self.services.live(role) {
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
        self.wait_until(deadline, None, wake, |s| s.services.live(role).is_empty())
    }

    /// Reaps until every process of the groups is gone or the deadline passes.
    fn wait_for_groups(&mut self, groups: &[i32], deadline: Instant, wake: &SelfPipe) -> bool {
        self.wait_until(deadline, Some(LEFTOVER_POLL), wake, |_| {
            !any_group_left(groups)
        })
    }

    /// Reaps (woken by SIGCHLD, or every `tick`) until `done` or the deadline.
    fn wait_until(
        &mut self,
        deadline: Instant,
        tick: Option<Duration>,
        wake: &SelfPipe,
        done: impl Fn(&Self) -> bool,
    ) -> bool {
        loop {
            self.reap();
            if done(self) {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            let next = tick.map_or(deadline, |t| deadline.min(now + t));
            let mut fds = [PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, timeout_until(Some(next), now));
            wake.drain();
        }
    }
}
