//! supervise: the per-service state machine and the one-poll event loop that drives it.

use crate::control::Command;
use crate::diag::{errstr, io_errno, warn};
use crate::service_dir::{
    CHECK, CHECK_INTERVAL, CHECK_TIMEOUT, DOWN_ON_100, FINISH, MAIN, NOTIFY, NOTIFY_SOCKET, OK,
    RUN, SUPERVISE, ServiceDir, TIMEOUT_FINISH, in_supervise,
};
use crate::settings::StartSettings;
use crate::status::Status;
use crate::tai64::Tai64N;
use crate::wakeup::{SelfPipe, timeout_until};
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag, open, openat};
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::signal::{Signal, kill};
use nix::sys::stat::{Mode, fchmod, fstat, mkdirat};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{Pid, UnlinkatFlags, mkfifoat, unlinkat};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::DirBuilderExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod machine;

pub use crate::restart::MIN_RUN_INTERVAL;
pub use machine::{
    Action, Config, DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TIMEOUT, DEFAULT_FINISH_TIMEOUT, Event,
    Input, Machine, Notice, ReadinessBy, RunSettings, STREAK_RESET, reported,
};

/// Why supervise could not start. Nothing of the service runs yet when it is given.
#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    /// A system call on `what` failed: `unable to VERB WHAT: ERR`.
    Io {
        verb: &'static str,
        what: String,
        err: Errno,
    },
    /// `supervise/` belongs to another account: it may hold anything, and its owner
    /// may change it at any time.
    ForeignDirectory { path: String, owner: u32, euid: u32 },
}

impl StartError {
    fn io(verb: &'static str, what: impl Into<String>) -> impl FnOnce(Errno) -> Self {
        move |err| StartError::Io {
            verb,
            what: what.into(),
            err,
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Io { verb, what, err } => {
                write!(f, "unable to {verb} {what}: {}", errstr(*err))
            }
            StartError::ForeignDirectory { path, owner, euid } => write!(
                f,
                "unable to use {path}: owned by uid {owner}, not by uid {euid}: remove it or chown it"
            ),
        }
    }
}

/// Every start-up failure may pass (a directory made, a lock released): 111.
impl crate::cli::Failure for StartError {}

/// The open files a running supervise holds.
struct Files {
    /// The `supervise/` directory, checked to be ours: every file in it is reached
    /// relative to this descriptor.
    dir: OwnedFd,
    /// `supervise/event`, if it could be made and is ours.
    event: Option<OwnedFd>,
    _lock: Flock<std::fs::File>,
    control: OwnedFd,
    _control_writer: OwnedFd,
}

/// Runs supervise on `dir_os` until told to exit, then gives the code to exit with
/// (a main service's own, else 0). Errors come only at start-up, all before `run` is
/// started: once it runs, nothing ends supervise but `svc -x` or TERM with the service
/// down.
pub fn supervise_dir(dir_os: &std::ffi::OsStr) -> Result<i32, StartError> {
    let shown = std::path::Path::new(dir_os).display().to_string();
    let dir_arg: &str = &shown;
    let dir = ServiceDir::new(dir_os);
    std::env::set_current_dir(dir.path())
        .map_err(|e| StartError::io("chdir to", dir_arg)(io_errno(&e)))?;
    let normally_up = ServiceDir::new(".")
        .normally_up()
        .map_err(StartError::io("stat", format!("{dir_arg}/down")))?;

    let term = Arc::new(AtomicBool::new(false));
    let wake = SelfPipe::new().map_err(StartError::io("create", "pipe"))?;
    for (sig, flag) in [
        (libc::SIGCHLD, None),
        (libc::SIGTERM, Some(&term)),
        (libc::SIGINT, Some(&term)),
    ] {
        wake.catch(sig, flag)
            .map_err(|e| StartError::io("catch", "signals")(io_errno(&e)))?;
    }

    let files = open_files(dir_arg)?;
    let config = Config {
        normally_up,
        main: std::fs::symlink_metadata(MAIN).is_ok_and(|m| m.file_type().is_file()),
    };
    let mut m = Machine::new(config, Tai64N::now());
    let mut ctx = Context {
        dir: dir_arg,
        name: std::env::current_dir()
            .map(|p| p.into_os_string().into_vec())
            .unwrap_or_else(|_| dir_os.as_bytes().to_vec()),
        dirty: false,
        ready_pipe: None,
        notify_socket: None,
        sup: files.dir.as_fd(),
        event: files.event.as_ref().map(|e| e.as_fd()),
        written: None,
        pid_written: None,
    };
    // A status, then the ok FIFO (svok says "running" from then on), then the service:
    // a supervise that cannot start never leaves a service running behind it.
    ctx.dirty = true;
    ctx.flush(&m);
    let _ok = fifo_at(&files.dir, in_supervise::OK, &format!("{dir_arg}/{OK}"))
        .map_err(StartError::io("read", format!("{dir_arg}/{OK}")))?;
    if let Some(code) = ctx.step(&mut m, Input::Boot) {
        return Ok(code);
    }
    ctx.flush(&m);

    // Everything written so far is read before the end of the burst is stepped, so a
    // `+` and the signals after it are seen together however long svc's write was; the
    // buffer stays small because every page of stack it touches stays resident.
    let mut buf = [0u8; 128];
    loop {
        let timeout = timeout_until(m.deadline(), Instant::now());
        let mut fds = vec![
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
            PollFd::new(files.control.as_fd(), PollFlags::POLLIN),
        ];
        let mut at = 2;
        let ready_pipe_at = ctx.ready_pipe.as_ref().map(|r| {
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
            at += 1;
            at - 1
        });
        let socket_at = ctx.notify_socket.as_ref().map(|s| {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            at += 1;
            at - 1
        });
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => warn("supervise", &format!("unable to poll: {}", errstr(e))),
        }
        let readable = |i: Option<usize>| {
            i.and_then(|i| fds.get(i))
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        let (ready_pipe_readable, socket_readable) = (readable(ready_pipe_at), readable(socket_at));
        drop(fds);
        wake.drain();
        if ready_pipe_readable {
            let acts = ctx.read_ready_pipe(&mut m);
            if let Some(code) = ctx.carry_out(&mut m, acts) {
                return Ok(code);
            }
        }
        if socket_readable {
            let acts = ctx.read_notify_socket(&mut m);
            if let Some(code) = ctx.carry_out(&mut m, acts) {
                return Ok(code);
            }
        }

        // Reap first: a command that arrives with an exit must see the service down.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => {
                    if let Some((pid, wait_status)) = raw_wait_status(ws) {
                        if m.run_pid() == Some(pid) {
                            // Readiness belongs to this run only.
                            ctx.ready_pipe = None;
                        }
                        let input = Input::Exited { pid, wait_status };
                        if let Some(code) = ctx.step(&mut m, input) {
                            return Ok(code);
                        }
                    }
                }
            }
        }
        // One status write for an exit and the restart that follows it: spawn writes it
        // as soon as the new run is started.
        ctx.flush(&m);
        if term.swap(false, Ordering::SeqCst)
            && let Some(code) = ctx.step(&mut m, Input::Terminate)
        {
            return Ok(code);
        }
        let mut commands = false;
        loop {
            match nix::unistd::read(&files.control, &mut buf) {
                Ok(n) if n > 0 => {
                    commands = true;
                    // Bytes that are no command are ignored.
                    for cmd in buf[..n].iter().filter_map(|&b| Command::from_byte(b)) {
                        if let Some(code) = ctx.step(&mut m, Input::Command(cmd)) {
                            return Ok(code);
                        }
                    }
                }
                Err(Errno::EINTR) => {}
                _ => break,
            }
        }
        if commands && let Some(code) = ctx.step(&mut m, Input::EndOfCommands) {
            return Ok(code);
        }
        if let Some(code) = ctx.step(&mut m, Input::Timer) {
            return Ok(code);
        }
        ctx.flush(&m);
    }
}

/// Opens `supervise/` (making it if need be) and checks that it is ours and that no
/// other account may write in it; takes the lock; opens the control FIFO both ways,
/// the event directory.
///
/// A `supervise` that is a symbolic link is followed (a read-only service tree may
/// point it into /run, as Debian's daemontools allows): whoever can put it there can
/// change `run` as well. Whatever it leads to must pass the same checks. Inside it,
/// nothing is followed: every file is opened relative to the directory with
/// O_NOFOLLOW and checked once open, and what is not what supervise made is replaced,
/// saying so.
fn open_files(dir_arg: &str) -> Result<Files, StartError> {
    let sup_name = |name: &str| format!("{dir_arg}/{SUPERVISE}/{name}");
    if let Ok(target) = std::fs::read_link(SUPERVISE)
        && !std::path::Path::new(SUPERVISE).exists()
    {
        let _ = std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&target);
    }
    match nix::unistd::mkdir(SUPERVISE, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            return Err(StartError::io("create", format!("{dir_arg}/{SUPERVISE}"))(
                e,
            ));
        }
    }
    let dir = open(
        SUPERVISE,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(StartError::io("open", format!("{dir_arg}/{SUPERVISE}")))?;
    own_directory(&dir, &format!("{dir_arg}/{SUPERVISE}"))?;

    let lock = lock_at(&dir, &sup_name(in_supervise::LOCK))?;
    let control = fifo_at(
        &dir,
        in_supervise::CONTROL,
        &sup_name(in_supervise::CONTROL),
    )
    .map_err(StartError::io("read", sup_name(in_supervise::CONTROL)))?;
    // Holding a writer keeps reads from seeing end-of-file when svc closes its end.
    let control_writer = openat(
        &dir,
        in_supervise::CONTROL,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .and_then(|w| same_file(&control, &w).then_some(w).ok_or(Errno::ESTALE))
    .map_err(StartError::io("write", sup_name(in_supervise::CONTROL)))?;
    let event = event_dir(&dir, &sup_name(in_supervise::EVENT));
    Ok(Files {
        dir,
        event,
        _lock: lock,
        control,
        _control_writer: control_writer,
    })
}

/// Whether two descriptors are the same file.
fn same_file(a: &OwnedFd, b: &OwnedFd) -> bool {
    match (fstat(a), fstat(b)) {
        (Ok(x), Ok(y)) => x.st_dev == y.st_dev && x.st_ino == y.st_ino,
        _ => false,
    }
}

/// Checks that the directory open at `fd` belongs to us and that no other account may
/// write in it. One owned by another account is refused: it may hold anything, and
/// its owner may change it at any time. One of ours that others may write in is made
/// unwritable to them (on the descriptor), with a warning; its entries are checked
/// one by one after that.
fn own_directory(fd: &OwnedFd, shown: &str) -> Result<(), StartError> {
    let st = fstat(fd).map_err(StartError::io("stat", shown))?;
    let euid = nix::unistd::geteuid().as_raw();
    if st.st_uid != euid {
        return Err(StartError::ForeignDirectory {
            path: shown.to_string(),
            owner: st.st_uid,
            euid,
        });
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let fixed = mode & !0o022;
        fchmod(fd, Mode::from_bits_truncate(fixed)).map_err(StartError::io("chmod", shown))?;
        warn(
            "supervise",
            &format!(
                "{shown} was writable by other accounts (mode {mode:04o}): made it {fixed:04o}"
            ),
        );
    }
    Ok(())
}

/// What is wrong with a file supervise finds in place of one it makes, if anything.
fn not_ours(st: &nix::sys::stat::FileStat, kind: libc::mode_t) -> Option<&'static str> {
    let euid = nix::unistd::geteuid().as_raw();
    if st.st_mode & libc::S_IFMT != kind {
        Some(if kind == libc::S_IFIFO {
            "not a FIFO"
        } else {
            "not a regular file"
        })
    } else if st.st_uid != euid {
        Some("owned by another account")
    } else if st.st_nlink != 1 {
        Some("a link to another file")
    } else if st.st_mode & 0o077 != 0 {
        Some("open to other accounts")
    } else {
        None
    }
}

/// Removes `name` from the directory `dir` and says why, so it can be made anew.
fn replace(dir: &OwnedFd, name: &str, shown: &str, why: &str) -> Result<(), Errno> {
    warn("supervise", &format!("replacing {shown}: {why}"));
    unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
}

/// Opens the FIFO `name` of `supervise/` for reading, making it first. Anything else
/// in its place (a symbolic link, a regular file, a FIFO of another account's or one
/// other accounts could open) is replaced by a new FIFO: a new one is open to nobody
/// else.
fn fifo_at(dir: &OwnedFd, name: &str, shown: &str) -> Result<OwnedFd, Errno> {
    let flags = OFlag::O_RDONLY
        | OFlag::O_NONBLOCK
        | OFlag::O_NOFOLLOW
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    for _ in 0..3 {
        match openat(dir, name, flags, Mode::empty()) {
            Ok(fd) => {
                let st = fstat(&fd)?;
                match not_ours(&st, libc::S_IFIFO) {
                    None => {
                        if st.st_mode & 0o7777 != 0o600 {
                            fchmod(&fd, Mode::from_bits_truncate(0o600))?;
                        }
                        return Ok(fd);
                    }
                    Some(why) => replace(dir, name, shown, why)?,
                }
            }
            Err(Errno::ENOENT) => {}
            Err(Errno::ELOOP) => replace(dir, name, shown, "a symbolic link")?,
            Err(e) => return Err(e),
        }
        match mkfifoat(dir, name, Mode::from_bits_truncate(0o600)) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(e),
        }
    }
    Err(Errno::EAGAIN)
}

/// Opens and locks `supervise/lock`, making it first; a symbolic link, a FIFO or
/// another account's file in its place is replaced.
fn lock_at(dir: &OwnedFd, shown: &str) -> Result<Flock<std::fs::File>, StartError> {
    let failed = |e: Errno| StartError::io("acquire", shown)(e);
    let open_lock = |extra: OFlag| {
        openat(
            dir,
            in_supervise::LOCK,
            OFlag::O_WRONLY
                | OFlag::O_APPEND
                | OFlag::O_CREAT
                | OFlag::O_NONBLOCK
                | OFlag::O_NOFOLLOW
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC
                | extra,
            Mode::from_bits_truncate(0o600),
        )
    };
    let fd = match open_lock(OFlag::empty()) {
        Ok(fd) => match fstat(&fd).map(|st| not_ours(&st, libc::S_IFREG)) {
            Ok(None) => fd,
            // A lock other accounts may read does no harm: daemontools' is 0644.
            Ok(Some("open to other accounts")) => fd,
            Ok(Some(why)) => {
                drop(fd);
                replace(dir, in_supervise::LOCK, shown, why).map_err(failed)?;
                open_lock(OFlag::O_EXCL).map_err(failed)?
            }
            Err(e) => return Err(failed(e)),
        },
        // ENXIO: a FIFO nobody reads.
        Err(e @ (Errno::ELOOP | Errno::ENXIO)) => {
            let why = if e == Errno::ELOOP {
                "a symbolic link"
            } else {
                "not a regular file"
            };
            replace(dir, in_supervise::LOCK, shown, why).map_err(failed)?;
            open_lock(OFlag::O_EXCL).map_err(failed)?
        }
        Err(e) => return Err(failed(e)),
    };
    Flock::lock(std::fs::File::from(fd), FlockArg::LockExclusiveNonblock)
        .map_err(|(_, e)| failed(e))
}

/// Makes and opens `supervise/event`, checked as `supervise/` is; without it waiters
/// poll instead, so a problem is a warning.
fn event_dir(dir: &OwnedFd, shown: &str) -> Option<OwnedFd> {
    match mkdirat(dir, in_supervise::EVENT, Mode::from_bits_truncate(0o700)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => {
            warn(
                "supervise",
                &format!("unable to create {shown}: {}", errstr(e)),
            );
            return None;
        }
    }
    let fd = match openat(
        dir,
        in_supervise::EVENT,
        OFlag::O_RDONLY
            | OFlag::O_DIRECTORY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(e) => {
            warn(
                "supervise",
                &format!("unable to open {shown}: {}", errstr(e)),
            );
            return None;
        }
    };
    match own_directory(&fd, shown) {
        Ok(()) => Some(fd),
        Err(e) => {
            warn("supervise", &e.to_string());
            None
        }
    }
}

fn raw_wait_status(ws: WaitStatus) -> Option<(u32, i32)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw() as u32, (code & 0xff) << 8)),
        WaitStatus::Signaled(pid, sig, core) => Some((
            pid.as_raw() as u32,
            sig as i32 | if core { 0x80 } else { 0 },
        )),
        _ => None,
    }
}

/// A duration from a settings file of the service directory (its current one), if it
/// has a usable one; a warning, naming the file, if it has one that is not.
fn read_duration(name: &str, dir: &str) -> Option<Duration> {
    crate::settings::read_duration(&ServiceDir::new("."), name, dir).unwrap_or_else(|e| {
        warn("supervise", &format!("{e}, using the default"));
        None
    })
}

/// Starts a program of the service directory as a session leader, in a clean signal
/// state (see `crate::spawn`).
fn spawn_program(path: &std::ffi::CStr, args: &[&[u8]]) -> Result<u32, Errno> {
    let opts = crate::spawn::Options {
        setsid: true,
        dup: None,
    };
    crate::spawn::spawn(path, args, opts)
}

/// Set once the files daemontools-encore's supervise would run were looked at.
static ENCORE_CHECKED: AtomicBool = AtomicBool::new(false);

/// Warns, once per supervise, about files that daemontools-encore's supervise runs and
/// svkit's does not: a `log` that is an executable file (encore's logger; svkit's
/// logger is the directory `log/`, which svscan runs with a pipe it owns, so neither
/// side's restart loses a byte), and a `start` or `stop` that is an encore one-shot
/// script rather than svcstart's check script (`crate::admin::encore_style`).
fn warn_encore_files_once(dir: &str) {
    if ENCORE_CHECKED.swap(true, Ordering::Relaxed) {
        return;
    }
    let log = nix::sys::stat::fstatat(
        nix::fcntl::AT_FDCWD,
        crate::service_dir::LOG,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    );
    if log.is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFREG && st.st_mode & 0o111 != 0) {
        warn(
            "supervise",
            &format!(
                "{dir}/log is an executable file: a daemontools-encore logger? svkit does not \
                 run it; make {dir}/log a directory with the logger as its run, and let svscan \
                 run it (see supervise(8))"
            ),
        );
    }
    for name in [crate::admin::START_SCRIPT, crate::admin::STOP_SCRIPT] {
        if crate::admin::encore_style(nix::fcntl::AT_FDCWD, name) {
            warn(
                "supervise",
                &crate::admin::encore_hint("supervise", dir, name),
            );
        }
    }
}

/// daemontools' words for a program of the service that could not be started, with
/// the cause when the program's first line tells it (a `#!` interpreter that is not
/// there, often a `run` saved with DOS line endings): `unable to start DIR/run: file
/// does not exist (its interpreter ...)`. Scripts match the words before the cause.
fn start_failure(dir: &str, name: &str, file: &std::ffi::CStr, e: Errno) -> String {
    let shown = format!("{dir}/{name}");
    match crate::spawn::exec_failure_cause(file, &shown, e) {
        Some(cause) => format!("unable to start {shown}: {} ({cause})", errstr(e)),
        None => format!("unable to start {shown}: {}", errstr(e)),
    }
}

/// A notice's words, after `supervise: warning: `.
pub fn notice_text(dir: &str, n: Notice) -> String {
    match n {
        Notice::Crashed { status, streak } => {
            let how = match crate::status::LastExit::from_wait_status(status) {
                crate::status::LastExit::Code(c) => format!("exited {c}"),
                crate::status::LastExit::Signal(s) => format!("was killed by signal {s}"),
            };
            let times = if streak > 1 {
                format!(" ({streak} times in a row)")
            } else {
                String::new()
            };
            format!("{dir}/{RUN} {how} unexpectedly{times}: restarting it")
        }
        Notice::Permanent => {
            format!("{dir}/{RUN} exited 100: not restarting it ({DOWN_ON_100})")
        }
        Notice::Backoff(secs) => {
            let unit = if secs == 1 { "second" } else { "seconds" };
            format!("{dir}/{RUN} respawning too rapidly: waiting {secs} {unit}")
        }
    }
}

/// The side of supervise that touches the world: spawn, signal, write status.
struct Context<'a> {
    dir: &'a str,
    /// The service's absolute path, the NAME `notify` gets.
    name: Vec<u8>,
    /// The status changed since it was last written.
    dirty: bool,
    /// The read end of the run's notification-fd, until it says ready.
    ready_pipe: Option<OwnedFd>,
    /// The sd_notify socket, made at the first start that asks for it (`notify-socket`)
    /// and kept while the starts ask for it.
    notify_socket: Option<crate::sdnotify::NotifySocket>,
    /// `supervise/` and `supervise/event`, where the status is written and waiters are.
    sup: BorrowedFd<'a>,
    event: Option<BorrowedFd<'a>>,
    /// The status last written, not written again.
    written: Option<Status>,
    /// The pid last written to `supervise/pid`.
    pid_written: Option<u32>,
}

impl Context<'_> {
    /// Steps the machine with `input` now and carries out what it says; `Some(code)`
    /// when supervise is to exit with `code`, at once: the caller returns it, doing
    /// nothing more. Status writes wait for `flush`.
    fn step(&mut self, m: &mut Machine, input: Input) -> Option<i32> {
        let acts = m.step(input, Instant::now(), Tai64N::now());
        self.carry_out(m, acts)
    }

    /// Starts `./notify NAME EVENT [ARG]` and does not wait for it: its exit is reaped
    /// with the others, and one that hangs holds up nothing.
    #[inline(never)]
    fn notify(&mut self, ev: Event) {
        if std::fs::symlink_metadata(NOTIFY).is_err() {
            return;
        }
        let mut args = vec![self.name.clone()];
        args.extend(ev.args().into_iter().map(String::into_bytes));
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        if let Err(e) = spawn_program(c"./notify", &args) {
            warn(
                "supervise",
                &format!("unable to start {}/{NOTIFY}: {}", self.dir, errstr(e)),
            );
        }
    }

    /// Carries out `acts`, and those of the steps they bring (a spawn's), in order;
    /// `Some(code)`: an `Exit`, after which nothing else is carried out.
    fn carry_out(&mut self, m: &mut Machine, acts: Vec<Action>) -> Option<i32> {
        let mut queue = acts;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for a in queue {
                match a {
                    Action::Announce => self.dirty = true,
                    Action::Say(n) => warn("supervise", &notice_text(self.dir, n)),
                    Action::Notify(ev) => self.notify(ev),
                    Action::Kill { pid, signal } => {
                        let _ = kill(Pid::from_raw(pid as i32), signal);
                    }
                    Action::KillGroup { pid, signal } => {
                        let _ = kill(Pid::from_raw(-(pid as i32)), signal);
                        let _ = kill(Pid::from_raw(pid as i32), signal);
                    }
                    Action::Spawn => next.extend(self.spawn(m)),
                    Action::SpawnFinish { code, signal } => {
                        next.extend(self.spawn_finish(m, code, signal))
                    }
                    Action::KillFinish { pid } => {
                        warn(
                            "supervise",
                            &format!("{}/finish did not end in time: killing it", self.dir),
                        );
                        let _ = kill(Pid::from_raw(-(pid as i32)), Signal::SIGKILL);
                        let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                    }
                    Action::SpawnCheck => next.extend(self.spawn_check(m)),
                    Action::Exit(code) => {
                        self.dirty = true;
                        self.flush(m);
                        return Some(code);
                    }
                }
            }
            queue = next;
        }
        None
    }

    #[inline(never)]
    fn spawn(&mut self, m: &mut Machine) -> Vec<Action> {
        warn_encore_files_once(self.dir);
        // Settings are read at each start, so a change applies from the next run on.
        let settings = StartSettings::read(&ServiceDir::new("."), self.dir);
        for w in &settings.warnings {
            warn("supervise", w);
        }
        // Readiness: a notification-fd or a notify-socket (either says ready) if there
        // is one, else a check if there is one.
        let fd_number = settings.notification_fd;
        let pipe = fd_number.and_then(|_| nix::unistd::pipe2(OFlag::O_CLOEXEC).ok());
        let socket_problem = !self.open_notify_socket();
        let address = self.notify_socket.as_ref().map(|s| s.address());
        let has_check =
            pipe.is_none() && address.is_none() && std::fs::symlink_metadata(CHECK).is_ok();
        let env: Vec<(&[u8], &[u8])> = address
            .iter()
            .map(|a| (crate::sdnotify::NOTIFY_SOCKET_ENV.as_bytes(), a.as_slice()))
            .collect();
        let dup = match (&pipe, fd_number) {
            (Some((_, w)), Some(n)) => Some((std::os::fd::AsRawFd::as_raw_fd(w), n)),
            _ => None,
        };
        let mut run_settings = RunSettings {
            stop: settings.stop,
            restart: settings.restart,
            down_on_100: settings.down_on_100,
            problem: !settings.warnings.is_empty() || socket_problem,
            readiness: if pipe.is_some() || address.is_some() {
                ReadinessBy::Telling
            } else {
                ReadinessBy::Untracked
            },
        };
        // The status says up with the new pid before run execs: run, or what it starts,
        // may look at once and must find itself up. A run that is missing or not
        // executable is caught first; should the exec fail all the same (a bad
        // interpreter), the status is put back within microseconds.
        let (now, wall) = (Instant::now(), Tai64N::now());
        let spawned = nix::unistd::access(c"./run", nix::unistd::AccessFlags::X_OK)
            .and_then(|()| {
                crate::spawn::spawn_held_env(
                    c"./run",
                    &[],
                    crate::spawn::Options { setsid: true, dup },
                    &env,
                )
            })
            .and_then(|held| {
                let mut preview = m.clone();
                // The check's settings are not read yet: they change nothing written.
                let mut settings = run_settings;
                if has_check {
                    settings.readiness = ReadinessBy::Check {
                        interval: DEFAULT_CHECK_INTERVAL,
                        timeout: DEFAULT_CHECK_TIMEOUT,
                    };
                }
                preview.step(
                    Input::Started {
                        pid: held.pid,
                        settings,
                    },
                    now,
                    wall,
                );
                self.dirty = true;
                self.flush(&preview);
                held.release()
            });
        self.ready_pipe = pipe.filter(|_| spawned.is_ok()).map(|(r, _)| r);
        if has_check && spawned.is_ok() {
            let timeout = read_duration(CHECK_TIMEOUT, self.dir).unwrap_or(DEFAULT_CHECK_TIMEOUT);
            let interval =
                read_duration(CHECK_INTERVAL, self.dir).unwrap_or(DEFAULT_CHECK_INTERVAL);
            run_settings.readiness = ReadinessBy::Check { interval, timeout };
        }
        let input = match spawned {
            // The status was written before run started: this one is the same.
            Ok(pid) => Input::Started {
                pid,
                settings: run_settings,
            },
            Err(e) => {
                warn("supervise", &start_failure(self.dir, RUN, c"./run", e));
                self.dirty = true;
                Input::StartFailed {
                    settings: run_settings,
                }
            }
        };
        m.step(input, now, wall)
    }

    /// Starts `./check`.
    #[inline(never)]
    fn spawn_check(&mut self, m: &mut Machine) -> Vec<Action> {
        let input = match spawn_program(c"./check", &[]) {
            Ok(pid) => Input::CheckStarted { pid },
            Err(e) => {
                warn("supervise", &start_failure(self.dir, CHECK, c"./check", e));
                Input::CheckFailedToStart
            }
        };
        m.step(input, Instant::now(), Tai64N::now())
    }

    /// Makes the sd_notify socket if the service asks for one (`notify-socket`) and it
    /// is not made yet, closes it if the service no longer asks; empties it of what the
    /// runs before sent, and of their last STATUS. False when it cannot be made (a
    /// settings problem, said as a warning).
    fn open_notify_socket(&mut self) -> bool {
        if std::fs::symlink_metadata(NOTIFY_SOCKET).is_err() {
            self.notify_socket = None;
            return true;
        }
        let mut made = true;
        match &self.notify_socket {
            Some(s) => {
                // Bounded: a sender that floods it cannot keep the start waiting.
                for _ in 0..1024 {
                    if !matches!(s.recv(), Ok(Some(_))) {
                        break;
                    }
                }
            }
            None => match crate::sdnotify::NotifySocket::bind() {
                Ok(s) => self.notify_socket = Some(s),
                Err(e) => {
                    made = false;
                    warn(
                        "supervise",
                        &format!(
                            "{}/{NOTIFY_SOCKET}: unable to create socket: {}, ignored",
                            self.dir,
                            errstr(e)
                        ),
                    );
                }
            },
        }
        self.write_notify_status(b"");
        made
    }

    /// Keeps a service's last STATUS text in `supervise/notify-status`.
    fn write_notify_status(&self, text: &[u8]) {
        let mut bytes = text.to_vec();
        if !bytes.is_empty() {
            bytes.push(b'\n');
        }
        if let Err(e) = crate::status::replace_at(
            self.sup,
            in_supervise::NOTIFY_STATUS_NEW,
            in_supervise::NOTIFY_STATUS,
            &bytes,
        ) {
            warn(
                "supervise",
                &format!(
                    "unable to write {}/{SUPERVISE}/{}: {}",
                    self.dir,
                    in_supervise::NOTIFY_STATUS,
                    errstr(e)
                ),
            );
        }
    }

    /// Datagrams came to the sd_notify socket: READY=1 from the service means ready,
    /// STATUS= is kept; the rest, and whatever others send, is ignored.
    #[inline(never)]
    fn read_notify_socket(&mut self, m: &mut Machine) -> Vec<Action> {
        let mut acts = Vec::new();
        let Some(s) = &self.notify_socket else {
            return acts;
        };
        let mut status = None;
        // A bounded number at once: a flood cannot hold the control FIFO up.
        for _ in 0..64 {
            let d = match s.recv() {
                Ok(Some(d)) => d,
                Ok(None) => break,
                Err(e) => {
                    warn(
                        "supervise",
                        &format!(
                            "unable to read {}/{NOTIFY_SOCKET}'s socket: {}",
                            self.dir,
                            errstr(e)
                        ),
                    );
                    break;
                }
            };
            let (Some(run), Some(sender)) = (m.run_pid(), d.sender) else {
                continue;
            };
            if !crate::sdnotify::from_service(sender, run) {
                continue;
            }
            let msg = crate::sdnotify::parse(&d.bytes);
            if msg.status.is_some() {
                status = msg.status;
            }
            if msg.ready {
                acts.extend(m.step(Input::Ready, Instant::now(), Tai64N::now()));
            }
        }
        if let Some(text) = status {
            self.write_notify_status(&text);
        }
        acts
    }

    /// The service wrote to its notification-fd: a newline means ready.
    #[inline(never)]
    fn read_ready_pipe(&mut self, m: &mut Machine) -> Vec<Action> {
        let Some(r) = &self.ready_pipe else {
            return Vec::new();
        };
        let mut buf = [0u8; 64];
        match nix::unistd::read(r, &mut buf) {
            Ok(0) => {
                // Closed without a newline: never ready, and nothing more to hear.
                self.ready_pipe = None;
                Vec::new()
            }
            Ok(n) if buf[..n].contains(&b'\n') => {
                self.ready_pipe = None;
                m.step(Input::Ready, Instant::now(), Tai64N::now())
            }
            Ok(_) | Err(Errno::EAGAIN | Errno::EINTR) => Vec::new(),
            Err(_) => {
                self.ready_pipe = None;
                Vec::new()
            }
        }
    }

    /// Starts `./finish CODE SIGNAL` if there is one.
    #[inline(never)]
    fn spawn_finish(&mut self, m: &mut Machine, code: i32, signal: i32) -> Vec<Action> {
        if std::fs::symlink_metadata(FINISH).is_err() {
            return m.step(Input::FinishDone, Instant::now(), Tai64N::now());
        }
        let timeout = read_duration(TIMEOUT_FINISH, self.dir).unwrap_or(DEFAULT_FINISH_TIMEOUT);
        let input = match spawn_program(
            c"./finish",
            &[code.to_string().as_bytes(), signal.to_string().as_bytes()],
        ) {
            Ok(pid) => Input::FinishStarted { pid, timeout },
            Err(e) => {
                warn(
                    "supervise",
                    &start_failure(self.dir, FINISH, c"./finish", e),
                );
                Input::FinishDone
            }
        };
        m.step(input, Instant::now(), Tai64N::now())
    }

    /// Writes the status if it changed.
    #[inline(never)]
    fn flush(&mut self, m: &Machine) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let mut status = m.status();
        // daemontools' one-second throttle is not shown: a plain service reads as in
        // daemontools. A chosen policy's wait is.
        let policy_wait = m.policy_wait();
        if let (Some(ext), Some(at)) = (status.ext.as_mut(), policy_wait) {
            let wait = at.saturating_duration_since(Instant::now());
            ext.next_start = Some(Tai64N::from_system(std::time::SystemTime::now() + wait));
        }
        if self.written == Some(status) && self.pid_written == Some(status.pid) {
            return;
        }
        let written = status.write_at(self.sup);
        self.written = written.is_ok().then_some(status);
        if written.is_ok() && self.pid_written != Some(status.pid) {
            match crate::status::write_pid_at(self.sup, status.pid) {
                Ok(()) => self.pid_written = Some(status.pid),
                Err(e) => {
                    self.dirty = true;
                    warn(
                        "supervise",
                        &format!(
                            "unable to write {}/{SUPERVISE}/{}: {}",
                            self.dir,
                            in_supervise::PID,
                            errstr(e)
                        ),
                    );
                }
            }
        }
        if let (Ok(()), Some(event)) = (written, self.event) {
            crate::control::wake_waiters(event);
        }
        if let Err(e) = written {
            // Try again at the next event rather than lose the change.
            self.dirty = true;
            warn(
                "supervise",
                &format!(
                    "unable to write {}/supervise/status: {}",
                    self.dir,
                    errstr(e)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Failure;

    #[test]
    fn start_errors_say_what_failed_and_are_temporary() {
        let e = StartError::io("acquire", "s/supervise/lock")(Errno::EAGAIN);
        assert_eq!(
            e.to_string(),
            "unable to acquire s/supervise/lock: temporary failure"
        );
        assert_eq!(e.exit_code(), 111);
        let e = StartError::ForeignDirectory {
            path: "s/supervise".into(),
            owner: 65534,
            euid: 0,
        };
        assert_eq!(
            e.to_string(),
            "unable to use s/supervise: owned by uid 65534, not by uid 0: remove it or chown it"
        );
    }
}
