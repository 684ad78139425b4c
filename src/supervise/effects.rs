//! The side of supervise that touches the world: it carries out the machine's actions
//! (spawning run, check, finish and notify, signals, status writes) and turns what the
//! service tells (its notification-fd, its sd_notify socket) into the machine's input.

use super::{Action, Event, Input, Machine, Notice, ReadinessBy, RunSettings};
use super::{DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TIMEOUT, DEFAULT_FINISH_TIMEOUT};
use crate::diag::{errstr, warn};
use crate::service_dir::{
    CHECK, CHECK_INTERVAL, CHECK_TIMEOUT, DOWN_ON_100, FINISH, NOTIFY, NOTIFY_SOCKET, RUN,
    SUPERVISE, ServiceDir, TIMEOUT_FINISH, in_supervise,
};
use crate::settings::StartSettings;
use crate::status::Status;
use crate::tai64::Tai64N;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
        ..Default::default()
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
fn notice_text(dir: &str, n: Notice) -> String {
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

/// What a start of `run` is given, and how it is to say ready.
struct RunStart {
    /// The notification-fd pipe: our read end, run's write end.
    pipe: Option<(OwnedFd, OwnedFd)>,
    /// run's write end and the descriptor number it gets.
    dup: Option<(std::os::fd::RawFd, std::os::fd::RawFd)>,
    /// `NOTIFY_SOCKET` for run, if the service asks for one.
    socket_address: Option<Vec<u8>>,
    /// No notification: readiness by `./check`.
    has_check: bool,
    settings: RunSettings,
}

/// The side of supervise that touches the world: spawn, signal, write status.
pub(super) struct Effects<'a> {
    pub(super) dir: &'a str,
    /// The service's absolute path, the NAME `notify` gets.
    pub(super) name: Vec<u8>,
    /// The status changed since it was last written.
    pub(super) dirty: bool,
    /// The read end of the run's notification-fd, until it says ready.
    pub(super) ready_pipe: Option<OwnedFd>,
    /// The sd_notify socket, made at the first start that asks for it (`notify-socket`)
    /// and kept while the starts ask for it.
    pub(super) notify_socket: Option<crate::sdnotify::NotifySocket>,
    /// `supervise/` and `supervise/event`, where the status is written and waiters are.
    pub(super) sup: BorrowedFd<'a>,
    pub(super) event: Option<BorrowedFd<'a>>,
    /// The status last written, not written again.
    pub(super) written: Option<Status>,
    /// The pid last written to `supervise/pid`.
    pub(super) pid_written: Option<u32>,
    /// Run (this pid) was just signalled: while it runs, until then, a changed status
    /// is not written. It most often ends within it, and then the one status written
    /// is the one after its exit (for `svc -d`, down) instead of a "want down" first.
    pub(super) hold: Option<(u32, Instant)>,
}

/// How long a status change waits for run to end after a signal (`hold`).
pub(super) const STATUS_HOLD: Duration = Duration::from_millis(5);

impl Effects<'_> {
    /// Steps the machine with `input` now and carries out what it says; `Some(code)`
    /// when supervise is to exit with `code`, at once: the caller returns it, doing
    /// nothing more. Status writes wait for `flush`.
    pub(super) fn step(&mut self, m: &mut Machine, input: Input) -> Option<i32> {
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

    /// A signal goes to `pid`: if that is run, its status waits `STATUS_HOLD` for run's
    /// exit (the signal is most often TERM or KILL, from `svc -d`, `-t` or `-k`).
    fn hold_for(&mut self, m: &Machine, pid: u32) {
        if m.run_pid() == Some(pid) {
            self.hold = Some((pid, Instant::now() + STATUS_HOLD));
        }
    }

    /// Carries out `acts`, and those of the steps they bring (a spawn's), in order;
    /// `Some(code)`: an `Exit`, after which nothing else is carried out.
    pub(super) fn carry_out(&mut self, m: &mut Machine, acts: Vec<Action>) -> Option<i32> {
        let mut queue = acts;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for a in queue {
                match a {
                    Action::Announce => self.dirty = true,
                    Action::Say(n) => warn("supervise", &notice_text(self.dir, n)),
                    Action::Notify(ev) => self.notify(ev),
                    Action::Kill { pid, signal } => {
                        self.hold_for(m, pid);
                        let _ = kill(Pid::from_raw(pid as i32), signal);
                    }
                    Action::KillGroup { pid, signal } => {
                        self.hold_for(m, pid);
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

    /// Starts `./run` with the settings the service directory has now.
    #[inline(never)]
    fn spawn(&mut self, m: &mut Machine) -> Vec<Action> {
        warn_encore_files_once(self.dir);
        // Settings are read at each start, so a change applies from the next run on.
        let settings = StartSettings::read(&ServiceDir::new("."), self.dir);
        for w in &settings.warnings {
            warn("supervise", w);
        }
        let mut start = self.prepare_start(&settings);
        let (now, wall) = (Instant::now(), Tai64N::now());
        let spawned = self.start_run(m, &start, now, wall);
        self.ready_pipe = start
            .pipe
            .take()
            .filter(|_| spawned.is_ok())
            .map(|(r, _)| r);
        if start.has_check && spawned.is_ok() {
            let timeout = read_duration(CHECK_TIMEOUT, self.dir).unwrap_or(DEFAULT_CHECK_TIMEOUT);
            let interval =
                read_duration(CHECK_INTERVAL, self.dir).unwrap_or(DEFAULT_CHECK_INTERVAL);
            start.settings.readiness = ReadinessBy::Check { interval, timeout };
        }
        let input = match spawned {
            // The status was written before run started: this one is the same.
            Ok(pid) => Input::Started {
                pid,
                settings: start.settings,
            },
            Err(e) => {
                warn("supervise", &start_failure(self.dir, RUN, c"./run", e));
                self.dirty = true;
                Input::StartFailed {
                    settings: start.settings,
                }
            }
        };
        m.step(input, now, wall)
    }

    /// How the next run is told it may say ready: a notification-fd or a notify-socket
    /// (either says ready) if there is one, else a check if there is one.
    fn prepare_start(&mut self, settings: &StartSettings) -> RunStart {
        let fd_number = settings.notification_fd;
        let pipe = fd_number.and_then(|_| nix::unistd::pipe2(OFlag::O_CLOEXEC).ok());
        let socket_problem = !self.open_notify_socket();
        let address = self.notify_socket.as_ref().map(|s| s.address());
        let has_check =
            pipe.is_none() && address.is_none() && std::fs::symlink_metadata(CHECK).is_ok();
        let dup = match (&pipe, fd_number) {
            (Some((_, w)), Some(n)) => Some((std::os::fd::AsRawFd::as_raw_fd(w), n)),
            _ => None,
        };
        let settings = RunSettings {
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
        RunStart {
            pipe,
            dup,
            socket_address: address,
            has_check,
            settings,
        }
    }

    /// Starts `./run`. The status says up with the new pid before run execs: run, or
    /// what it starts, may look at once and must find itself up. A run that is missing
    /// or not executable is caught first; should the exec fail all the same (a bad
    /// interpreter), the status is put back within microseconds.
    fn start_run(
        &mut self,
        m: &Machine,
        start: &RunStart,
        now: Instant,
        wall: Tai64N,
    ) -> Result<u32, Errno> {
        let env: Vec<(&[u8], &[u8])> = start
            .socket_address
            .iter()
            .map(|a| (crate::sdnotify::NOTIFY_SOCKET_ENV.as_bytes(), a.as_slice()))
            .collect();
        nix::unistd::access(c"./run", nix::unistd::AccessFlags::X_OK)
            .and_then(|()| {
                let opts = crate::spawn::Options {
                    setsid: true,
                    dup: start.dup,
                    ..Default::default()
                };
                crate::spawn::spawn_held_env(c"./run", &[], opts, &env)
            })
            .and_then(|held| {
                let mut preview = m.clone();
                // The check's settings are not read yet: they change nothing written.
                let mut settings = start.settings;
                if start.has_check {
                    settings.readiness = ReadinessBy::Check {
                        interval: DEFAULT_CHECK_INTERVAL,
                        timeout: DEFAULT_CHECK_TIMEOUT,
                    };
                }
                let input = Input::Started {
                    pid: held.pid,
                    settings,
                };
                preview.step(input, now, wall);
                // Never held (whatever pid the held run had): the new run must find
                // itself up.
                self.hold = None;
                self.dirty = true;
                self.flush(&preview);
                held.release()
            })
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
    pub(super) fn read_notify_socket(&mut self, m: &mut Machine) -> Vec<Action> {
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
    pub(super) fn read_ready_pipe(&mut self, m: &mut Machine) -> Vec<Action> {
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
    pub(super) fn flush(&mut self, m: &Machine) {
        if let Some((pid, until)) = self.hold {
            if m.run_pid() == Some(pid) && Instant::now() < until {
                return;
            }
            self.hold = None;
        }
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
    use crate::control::Command;
    use crate::status::Want;
    use crate::supervise::machine::Config;
    use std::os::fd::AsFd;
    use std::os::unix::process::ExitStatusExt;

    /// A service directory with its `supervise/` open, removed when dropped.
    struct Dir(std::path::PathBuf, OwnedFd);

    impl Dir {
        fn new(name: &str) -> Dir {
            let path = std::env::temp_dir().join(format!("svkit-fx-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(path.join("supervise")).unwrap();
            let fd = nix::fcntl::open(
                &path.join("supervise"),
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            )
            .unwrap();
            Dir(path, fd)
        }

        fn status(&self) -> (u32, Want) {
            let s = Status::read(&ServiceDir::new(&self.0)).unwrap();
            (s.pid, s.want)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn effects(sup: BorrowedFd<'_>) -> Effects<'_> {
        Effects {
            dir: "test",
            name: Vec::new(),
            dirty: false,
            ready_pipe: None,
            notify_socket: None,
            sup,
            event: None,
            written: None,
            pid_written: None,
            hold: None,
        }
    }

    /// A machine whose run is `child`, its status written; then `svc -d` carried out.
    fn up_then_down<'a>(dir: &'a Dir, child: &std::process::Child) -> (Machine, Effects<'a>) {
        let mut m = Machine::new(
            Config {
                normally_up: true,
                main: false,
            },
            Tai64N::now(),
        );
        let mut fx = effects(dir.1.as_fd());
        // Its Spawn is not carried out: `child` stands for run.
        m.step(Input::Boot, Instant::now(), Tai64N::now());
        let settings = RunSettings::default();
        let started = Input::Started {
            pid: child.id(),
            settings,
        };
        assert!(fx.step(&mut m, started).is_none());
        fx.flush(&m);
        assert_eq!(dir.status(), (child.id(), Want::Up));
        assert!(fx.step(&mut m, Input::Command(Command::Down)).is_none());
        assert!(fx.step(&mut m, Input::EndOfCommands).is_none());
        (m, fx)
    }

    #[test]
    fn after_a_signal_run_s_status_waits_for_its_exit() {
        let dir = Dir::new("exit");
        let mut child = std::process::Command::new("sleep")
            .arg("100")
            .spawn()
            .unwrap();
        let (mut m, mut fx) = up_then_down(&dir, &child);
        fx.flush(&m);
        assert_eq!(
            dir.status(),
            (child.id(), Want::Up),
            "want down written first"
        );
        // TERM ended it: the one status written is the down one.
        let ws = child.wait().unwrap().into_raw();
        let exited = Input::Exited {
            pid: child.id(),
            wait_status: ws,
        };
        assert!(fx.step(&mut m, exited).is_none());
        fx.flush(&m);
        assert_eq!(dir.status(), (0, Want::Down));
    }

    #[test]
    fn a_run_that_does_not_end_has_its_status_written_after_the_hold() {
        let dir = Dir::new("hold");
        let mut child = std::process::Command::new("sh")
            .args(["-c", "trap '' TERM; exec sleep 100"])
            .spawn()
            .unwrap();
        // The trap is set once sh runs the exec'd sleep; TERM before that would end it.
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read(format!("/proc/{}/comm", child.id()))
            .is_ok_and(|c| c.starts_with(b"sleep"))
        {
            assert!(Instant::now() < deadline, "sleep did not start");
            std::thread::sleep(Duration::from_millis(5));
        }
        let (m, mut fx) = up_then_down(&dir, &child);
        let (_, until) = fx.hold.expect("held");
        assert!(until <= Instant::now() + STATUS_HOLD);
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        fx.flush(&m);
        assert_eq!(dir.status(), (child.id(), Want::Down));
        let _ = child.kill();
        let _ = child.wait();
    }
}
