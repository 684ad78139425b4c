//! supervise: the per-service state machine and the one-poll event loop that drives it.

use crate::control::Command;
use crate::diag::{errstr, ioerrstr, warn};
use crate::service_dir::{
    CHECK, CHECK_INTERVAL, CHECK_TIMEOUT, DOWN_ON_100, FINISH, MAIN, NOTIFY, NOTIFY_SOCKET, OK,
    RUN, SUPERVISE, ServiceDir, TIMEOUT_FINISH, in_supervise,
};
use crate::settings::{StartSettings, StopPolicy};
use crate::status::{Extension, Readiness, Status, Want};
use crate::tai64::Tai64N;
use crate::units::deadline_after;
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

pub use crate::restart::MIN_RUN_INTERVAL;
use crate::restart::{Backoff, RestartPolicy};

/// What the event loop must do after a step of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start `./run`; report back with `started` or `start_failed`.
    Spawn,
    Kill(Signal),
    /// Signal the service's whole process group (run is a session leader).
    KillGroup(Signal),
    /// Run `./finish CODE SIGNAL` if there is one; report back with `finish_started`
    /// or `finish_done`.
    SpawnFinish {
        code: i32,
        signal: i32,
    },
    /// `./finish` overran its timeout: KILL its process group.
    KillFinish,
    /// Write the status file.
    Announce,
    /// The service is down and supervise was told to exit.
    Exit,
}

/// A state change reported to the service's `notify` program as `NAME EVENT [ARG]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    Start,
    Exit(i32),
    Signal(i32),
    /// The restart policy waits this many seconds.
    Backoff(u64),
    /// Down, and staying down.
    Down,
    Ready,
    CheckFailed,
}

impl Event {
    pub fn args(&self) -> Vec<String> {
        match self {
            Event::Start => vec!["start".into()],
            Event::Exit(c) => vec!["exit".into(), c.to_string()],
            Event::Signal(n) => vec!["signal".into(), n.to_string()],
            Event::Backoff(s) => vec!["backoff".into(), s.to_string()],
            Event::Down => vec!["down".into()],
            Event::Ready => vec!["ready".into()],
            Event::CheckFailed => vec!["check-failed".into()],
        }
    }
}

/// What supervise says on its stderr about the service (readproctitle and a logger
/// of svscan's output see it), besides errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// `run` ended by itself while wanted up; `streak` counts such ends in a row of
    /// runs shorter than `STREAK_RESET`.
    Crashed { status: i32, streak: u32 },
    /// `run` exited 100 and the service has `down-on-100`: it stays down.
    Permanent,
    /// The restart policy holds the next start back this many seconds.
    Backoff(u64),
}

/// A run that lasts this long ends a streak of crashes.
pub const STREAK_RESET: Duration = Duration::from_secs(60);

/// Whether a crash of a streak is reported: the first ones, then ever more rarely
/// (1, 2, 4, 8, ...), so a crash loop does not flood a log with a line a second.
pub fn reported(streak: u32) -> bool {
    streak.is_power_of_two()
}

/// The supervise state: everything that decides what happens next, nothing that does it.
#[derive(Clone, Debug)]
pub struct Machine {
    pub pid: Option<u32>,
    pub want: Want,
    pub paused: bool,
    pub exit_when_down: bool,
    /// Recent starts and exits, for the restart policy.
    backoff: Backoff,
    /// A start waiting for the throttle.
    pub pending_start: Option<Instant>,
    changed: Tai64N,
    last_wait_status: Option<i32>,
    starts: u32,
    /// How to bring the service down, as read when it was last started.
    pub stop: StopPolicy,
    /// When to KILL a service that did not go down (`timeout-kill`).
    kill_at: Option<Instant>,
    /// `./finish`, while it runs, and when it overruns its timeout.
    pub finish_pid: Option<u32>,
    finish_kill_at: Option<Instant>,
    pub finish_timeout: Duration,
    /// Events for `notify`, taken by the event loop after each step.
    pub events: Vec<Event>,
    /// Whether the run being started has a readiness mechanism (set before `Spawn`).
    pub tracks_readiness: bool,
    /// A settings file could not be used (shown by svstat).
    pub settings_problem: bool,
    readiness: Readiness,
    /// `+` (daemontools-encore): the signals of the commands that follow go to the
    /// service's whole process group, until `=` or the end of the commands read at
    /// once.
    pub group: bool,
    /// A command signalled or stopped this run: its end is no surprise.
    told: bool,
    /// The last end of run was unexpected (see `Extension::crashed`).
    crashed: bool,
    /// Unexpected ends in a row, and when the current run started.
    streak: u32,
    started_at: Option<Instant>,
    /// `down-on-100`, as read when run was last started: exit 100 means stay down.
    pub down_on_100: bool,
    /// Notices for stderr, taken by the event loop after each step.
    pub notices: Vec<Notice>,
    /// The tree's main service (a `main` file): run once, then supervise exits with its
    /// exit code for svscan to exit with.
    main: bool,
}

/// How long `./finish` may run before it is KILLed (s6 and runit use the same idea).
pub const DEFAULT_FINISH_TIMEOUT: Duration = Duration::from_secs(5);

impl Machine {
    pub fn new(normally_up: bool, wall: Tai64N) -> Self {
        Machine {
            pid: None,
            want: if normally_up { Want::Up } else { Want::Down },
            paused: false,
            exit_when_down: false,
            backoff: Backoff::default(),
            pending_start: None,
            changed: wall,
            last_wait_status: None,
            starts: 0,
            stop: StopPolicy::default(),
            kill_at: None,
            finish_pid: None,
            finish_kill_at: None,
            finish_timeout: DEFAULT_FINISH_TIMEOUT,
            events: Vec::new(),
            tracks_readiness: false,
            settings_problem: false,
            readiness: Readiness::Untracked,
            group: false,
            told: false,
            crashed: false,
            streak: 0,
            started_at: None,
            down_on_100: false,
            main: false,
            notices: Vec::new(),
        }
    }

    /// The service said it is ready (its check passed, or it wrote to its
    /// notification-fd).
    pub fn ready(&mut self, wall: Tai64N) -> Vec<Action> {
        if self.pid.is_none()
            || matches!(self.readiness, Readiness::Ready(_) | Readiness::Untracked)
        {
            return Vec::new();
        }
        self.readiness = Readiness::Ready(wall);
        self.events.push(Event::Ready);
        vec![Action::Announce]
    }

    /// The check did not pass in time.
    pub fn check_failed(&mut self, wall: Tai64N) -> Vec<Action> {
        if self.pid.is_none() || self.readiness != Readiness::Waiting {
            return Vec::new();
        }
        self.readiness = Readiness::Failing(wall);
        self.events.push(Event::CheckFailed);
        vec![Action::Announce]
    }

    /// Sets the restart policy (from the `restart` file, read at each start).
    pub fn set_restart_policy(&mut self, policy: RestartPolicy) {
        self.backoff.policy = policy;
    }

    /// The next moment `timer` has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        // A start waiting for finish is not a deadline: finish's exit brings it.
        let start = self.pending_start.filter(|_| self.finish_pid.is_none());
        [start, self.kill_at, self.finish_kill_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn status(&self) -> Status {
        Status {
            changed: self.changed,
            pid: self.pid.unwrap_or(0),
            paused: self.paused,
            want: self.want,
            ext: Some(Extension {
                last_wait_status: self.last_wait_status,
                starts: self.starts,
                finishing: self.finish_pid.is_some(),
                next_start: None,
                settings_problem: self.settings_problem,
                crashed: self.crashed,
                readiness: if self.pid.is_some() {
                    self.readiness
                } else {
                    Readiness::Untracked
                },
            }),
        }
    }

    /// The first step: start the service unless it is normally down.
    /// Makes this the tree's main service: started once at boot whatever `down` says,
    /// never restarted, and supervise exits once it is down and finished.
    pub fn make_main(&mut self) {
        self.main = true;
        self.want = Want::Once;
        self.exit_when_down = true;
    }

    /// The code supervise exits with: 0, or for the main service its exit code (128 +
    /// signal for a signal; 111 if it never ran).
    pub fn exit_code(&self) -> i32 {
        if !self.main {
            return 0;
        }
        match self
            .last_wait_status
            .map(crate::status::LastExit::from_wait_status)
        {
            Some(crate::status::LastExit::Code(c)) => c,
            Some(crate::status::LastExit::Signal(s)) => 128 + s,
            None => crate::diag::EXIT_TEMP,
        }
    }

    pub fn boot(&mut self, now: Instant) -> Vec<Action> {
        let mut acts = vec![Action::Announce];
        if self.want != Want::Down {
            self.request_start(now, &mut acts);
        }
        acts
    }

    fn request_start(&mut self, now: Instant, acts: &mut Vec<Action>) {
        if self.pid.is_some() {
            return;
        }
        // Not before finish is done: it runs after the service, never beside it.
        if self.finish_pid.is_some() {
            self.pending_start = Some(now);
            return;
        }
        match self.backoff.earliest_start() {
            Some(t) if now < t => {
                self.pending_start = Some(t);
                if self.backoff.policy != RestartPolicy::Daemontools {
                    let wait = t.duration_since(now);
                    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                    self.events.push(Event::Backoff(secs));
                    // Beyond daemontools' one-second throttle, which goes unsaid.
                    if secs > 1 {
                        self.notices.push(Notice::Backoff(secs));
                    }
                }
            }
            _ => {
                self.pending_start = None;
                acts.push(Action::Spawn);
            }
        }
    }

    pub fn started(&mut self, pid: u32, now: Instant, wall: Tai64N) -> Vec<Action> {
        self.pid = Some(pid);
        self.paused = false;
        self.backoff.record_start(now);
        self.pending_start = None;
        self.changed = wall;
        self.starts = self.starts.wrapping_add(1);
        self.told = false;
        self.crashed = false;
        self.started_at = Some(now);
        self.readiness = if self.tracks_readiness {
            Readiness::Waiting
        } else {
            Readiness::Untracked
        };
        self.events.push(Event::Start);
        vec![Action::Announce]
    }

    /// `run` could not be executed: try again after the throttle while wanted up.
    pub fn start_failed(&mut self, now: Instant) -> Vec<Action> {
        self.backoff.record_start(now);
        self.backoff.record_exit(now);
        self.pending_start = if self.want == Want::Up {
            self.backoff.earliest_start()
        } else {
            None
        };
        self.check_exit(Vec::new())
    }

    pub fn exited(
        &mut self,
        pid: u32,
        wait_status: i32,
        now: Instant,
        wall: Tai64N,
    ) -> Vec<Action> {
        if self.finish_pid == Some(pid) {
            return self.finish_done(now);
        }
        if self.pid != Some(pid) {
            return Vec::new();
        }
        self.pid = None;
        self.kill_at = None;
        self.backoff.record_exit(now);
        if self.want != Want::Up {
            self.backoff.forget_crashes();
        }
        self.changed = wall;
        self.last_wait_status = Some(wait_status);
        let lived = self
            .started_at
            .take()
            .map_or(Duration::ZERO, |s| now.saturating_duration_since(s));
        if self.want == Want::Up && !self.told {
            self.crashed = true;
            self.streak = if lived >= STREAK_RESET {
                1
            } else {
                self.streak.saturating_add(1)
            };
            if self.down_on_100 && wait_status == 100 << 8 {
                // daemontools-encore's "do not restart", where the service asks for it.
                self.want = Want::Down;
                self.backoff.forget_crashes();
                self.notices.push(Notice::Permanent);
            } else if reported(self.streak) {
                self.notices.push(Notice::Crashed {
                    status: wait_status,
                    streak: self.streak,
                });
            }
        } else {
            self.streak = 0;
        }
        let (code, signal) = match crate::status::LastExit::from_wait_status(wait_status) {
            crate::status::LastExit::Code(c) => (c, 0),
            crate::status::LastExit::Signal(s) => (-1, s),
        };
        self.events.push(if signal == 0 {
            Event::Exit(code)
        } else {
            Event::Signal(signal)
        });
        vec![Action::Announce, Action::SpawnFinish { code, signal }]
    }

    pub fn finish_started(&mut self, pid: u32, now: Instant) -> Vec<Action> {
        self.finish_pid = Some(pid);
        self.finish_kill_at = Some(deadline_after(now, self.finish_timeout));
        vec![Action::Announce]
    }

    /// `./finish` ended, or there was none: the service may start again.
    pub fn finish_done(&mut self, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        if self.finish_pid.take().is_some() {
            acts.push(Action::Announce);
        }
        self.finish_kill_at = None;
        let was_pending = self.pending_start.take().is_some();
        if !self.exit_when_down && (self.want == Want::Up || was_pending) {
            self.request_start(now, &mut acts);
        }
        if !acts.contains(&Action::Spawn) && self.pending_start.is_none() {
            self.events.push(Event::Down);
        }
        self.check_exit(acts)
    }

    /// A command from the control FIFO.
    pub fn control(&mut self, cmd: Command, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        let kill = if self.group {
            Action::KillGroup
        } else {
            Action::Kill
        };
        if self.pid.is_some()
            && cmd.signal().is_some()
            && !matches!(cmd, Command::Pause | Command::Continue)
        {
            self.told = true;
        }
        match cmd {
            Command::Up => {
                self.want = Want::Up;
                acts.push(Action::Announce);
                self.request_start(now, &mut acts);
            }
            Command::Down => {
                let waiting = self.waiting_to_start();
                self.bring_down(now, &mut acts);
                if waiting {
                    self.events.push(Event::Down);
                }
            }
            // svkit's: stop the service as d does, and start it again (svcrestart).
            Command::Restart => {
                let was_up = self.pid.is_some();
                self.bring_down(now, &mut acts);
                self.want = Want::Up;
                if !was_up {
                    self.request_start(now, &mut acts);
                }
            }
            Command::Once => {
                self.want = Want::Once;
                acts.push(Action::Announce);
                self.request_start(now, &mut acts);
            }
            Command::Pause | Command::Continue => {
                self.paused = cmd == Command::Pause;
                acts.push(Action::Announce);
            }
            Command::GroupOn => self.group = true,
            Command::GroupOff => self.group = false,
            Command::Exit => {
                self.exit_when_down = true;
                acts.push(Action::Announce);
            }
            // The signals: daemontools' h a i t k, daemontools-encore's q 1 2 w
            // (Debian's daemontools has q, 1 and 2 too).
            _ => {}
        }
        if let (Some(sig), Some(_)) = (cmd.signal(), self.pid) {
            acts.push(kill(sig));
        }
        self.check_exit(acts)
    }

    /// The commands read at once are done: a `+` among them no longer holds (as in
    /// daemontools-encore, where it lasts for one read of the control FIFO).
    pub fn end_of_commands(&mut self) {
        self.group = false;
    }

    /// SIGTERM to supervise: `svc -dx`.
    pub fn terminate(&mut self, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        self.exit_when_down = true;
        let waiting = self.waiting_to_start();
        self.bring_down(now, &mut acts);
        if waiting {
            self.events.push(Event::Down);
        }
        self.check_exit(acts)
    }

    /// Down, with a start pending (throttle or backoff): `d` cancels it, and the
    /// service is then down for good, which `notify` hears. (With finish still
    /// running, its end says so.)
    fn waiting_to_start(&self) -> bool {
        self.pid.is_none() && self.finish_pid.is_none() && self.pending_start.is_some()
    }

    fn bring_down(&mut self, now: Instant, acts: &mut Vec<Action>) {
        self.want = Want::Down;
        self.pending_start = None;
        // Stopped on purpose: what svstat showed of a crash is history now.
        self.crashed = false;
        self.streak = 0;
        if self.pid.is_some() {
            self.told = true;
            let kill = if self.group {
                Action::KillGroup
            } else {
                Action::Kill
            };
            acts.push(kill(self.stop.signal));
            acts.push(kill(Signal::SIGCONT));
            self.paused = false;
            if self.kill_at.is_none() {
                self.kill_at = self.stop.kill_after.map(|d| deadline_after(now, d));
            }
        }
        acts.push(Action::Announce);
    }

    /// A deadline passed: the throttle's, `timeout-kill`'s, or finish's.
    pub fn timer(&mut self, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        if let Some(t) = self.finish_kill_at
            && now >= t
        {
            self.finish_kill_at = None;
            acts.push(Action::KillFinish);
        }
        if let Some(t) = self.kill_at
            && now >= t
        {
            self.kill_at = None;
            if self.pid.is_some() {
                acts.push(Action::KillGroup(Signal::SIGKILL));
            }
        }
        if let Some(t) = self.pending_start
            && now >= t
            && self.finish_pid.is_none()
        {
            self.pending_start = None;
            self.request_start(now, &mut acts);
        }
        acts
    }

    /// With `x` given, supervise exits once the service is down and finished.
    fn check_exit(&mut self, mut acts: Vec<Action>) -> Vec<Action> {
        if self.exit_when_down && self.pid.is_none() && self.finish_pid.is_none() {
            self.pending_start = None;
            acts.push(Action::Exit);
        }
        acts
    }
}

/// A fatal start-up error: the message after `supervise: fatal: `.
pub type Fatal = String;

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
pub fn run(dir_os: &std::ffi::OsStr) -> Result<i32, Fatal> {
    let shown = std::path::Path::new(dir_os).display().to_string();
    let dir_arg: &str = &shown;
    let dir = ServiceDir::new(dir_os);
    std::env::set_current_dir(dir.path())
        .map_err(|e| format!("unable to chdir to {dir_arg}: {}", ioerrstr(&e)))?;
    let normally_up = ServiceDir::new(".")
        .normally_up()
        .map_err(|e| format!("unable to stat {dir_arg}/down: {}", errstr(e)))?;

    let term = Arc::new(AtomicBool::new(false));
    let wake = SelfPipe::new().map_err(|e| format!("unable to create pipe: {}", errstr(e)))?;
    for (sig, flag) in [
        (libc::SIGCHLD, None),
        (libc::SIGTERM, Some(&term)),
        (libc::SIGINT, Some(&term)),
    ] {
        wake.catch(sig, flag)
            .map_err(|e| format!("unable to catch signals: {}", ioerrstr(&e)))?;
    }

    let files = open_files(dir_arg)?;
    let mut m = Machine::new(normally_up, Tai64N::now());
    if std::fs::symlink_metadata(MAIN).is_ok_and(|m| m.file_type().is_file()) {
        m.make_main();
    }
    let mut ctx = Context {
        dir: dir_arg,
        name: std::env::current_dir()
            .map(|p| p.into_os_string().into_vec())
            .unwrap_or_else(|_| dir_os.as_bytes().to_vec()),
        dirty: false,
        ready_pipe: None,
        notify_socket: None,
        check: None,
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
        .map_err(|e| format!("unable to read {dir_arg}/{OK}: {}", errstr(e)))?;
    let boot = m.boot(Instant::now());
    if let Some(code) = ctx.apply(&mut m, boot) {
        return Ok(code);
    }
    ctx.flush(&m);

    // PIPE_BUF: a command burst of one svc (one write) is read at once, so that a `+`
    // and the signals after it are seen together.
    let mut buf = [0u8; libc::PIPE_BUF];
    loop {
        let deadline = [m.deadline(), ctx.check_deadline()]
            .into_iter()
            .flatten()
            .min();
        let timeout = timeout_until(deadline, Instant::now());
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
            if let Some(code) = ctx.apply(&mut m, acts) {
                return Ok(code);
            }
        }
        if socket_readable {
            let acts = ctx.read_notify_socket(&mut m);
            if let Some(code) = ctx.apply(&mut m, acts) {
                return Ok(code);
            }
        }

        // Reap first: a command that arrives with an exit must see the service down.
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => {
                    if let Some((pid, raw)) = raw_wait_status(ws) {
                        let acts = if ctx.check.as_ref().is_some_and(|c| c.pid == Some(pid)) {
                            ctx.check_exited(&mut m, raw == 0)
                        } else {
                            if m.pid == Some(pid) {
                                // Readiness belongs to this run only.
                                ctx.check = None;
                                ctx.ready_pipe = None;
                            }
                            m.exited(pid, raw, Instant::now(), Tai64N::now())
                        };
                        if let Some(code) = ctx.apply(&mut m, acts) {
                            return Ok(code);
                        }
                    }
                }
            }
        }
        // One status write for an exit and the restart that follows it: spawn writes it
        // as soon as the new run is started.
        ctx.flush(&m);
        if term.swap(false, Ordering::SeqCst) {
            let acts = m.terminate(Instant::now());
            if let Some(code) = ctx.apply(&mut m, acts) {
                return Ok(code);
            }
        }
        loop {
            match nix::unistd::read(&files.control, &mut buf) {
                Ok(n) if n > 0 => {
                    // Bytes that are no command are ignored.
                    for cmd in buf[..n].iter().filter_map(|&b| Command::from_byte(b)) {
                        let acts = m.control(cmd, Instant::now());
                        if let Some(code) = ctx.apply(&mut m, acts) {
                            return Ok(code);
                        }
                    }
                    m.end_of_commands();
                }
                Err(Errno::EINTR) => {}
                _ => break,
            }
        }
        let acts = m.timer(Instant::now());
        if let Some(code) = ctx.apply(&mut m, acts) {
            return Ok(code);
        }
        let acts = ctx.check_timer(&mut m);
        if let Some(code) = ctx.apply(&mut m, acts) {
            return Ok(code);
        }
        ctx.flush(&m);
    }
}

/// A readiness check in progress: `./check` run every `interval` until it exits 0,
/// given up (check-failed) at `give_up_at`.
struct Check {
    pid: Option<u32>,
    next_at: Option<Instant>,
    give_up_at: Instant,
    interval: Duration,
}

/// Defaults for `check-interval` and `check-timeout`.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_millis(100);
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(60);

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
fn open_files(dir_arg: &str) -> Result<Files, Fatal> {
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
            return Err(format!(
                "unable to create {dir_arg}/{SUPERVISE}: {}",
                errstr(e)
            ));
        }
    }
    let dir = open(
        SUPERVISE,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| format!("unable to open {dir_arg}/{SUPERVISE}: {}", errstr(e)))?;
    own_directory(&dir, &format!("{dir_arg}/{SUPERVISE}"))?;

    let lock = lock_at(&dir, &sup_name(in_supervise::LOCK))?;
    let control = fifo_at(
        &dir,
        in_supervise::CONTROL,
        &sup_name(in_supervise::CONTROL),
    )
    .map_err(|e| {
        format!(
            "unable to read {}: {}",
            sup_name(in_supervise::CONTROL),
            errstr(e)
        )
    })?;
    // Holding a writer keeps reads from seeing end-of-file when svc closes its end.
    let control_writer = openat(
        &dir,
        in_supervise::CONTROL,
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .and_then(|w| same_file(&control, &w).then_some(w).ok_or(Errno::ESTALE))
    .map_err(|e| {
        format!(
            "unable to write {}: {}",
            sup_name(in_supervise::CONTROL),
            errstr(e)
        )
    })?;
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
fn own_directory(fd: &OwnedFd, shown: &str) -> Result<(), Fatal> {
    let st = fstat(fd).map_err(|e| format!("unable to stat {shown}: {}", errstr(e)))?;
    let euid = nix::unistd::geteuid().as_raw();
    if st.st_uid != euid {
        return Err(format!(
            "unable to use {shown}: owned by uid {}, not by uid {euid}: remove it or chown it",
            st.st_uid
        ));
    }
    let mode = st.st_mode & 0o7777;
    if mode & 0o022 != 0 {
        let fixed = mode & !0o022;
        fchmod(fd, Mode::from_bits_truncate(fixed))
            .map_err(|e| format!("unable to chmod {shown}: {}", errstr(e)))?;
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
fn lock_at(dir: &OwnedFd, shown: &str) -> Result<Flock<std::fs::File>, Fatal> {
    let failed = |e: Errno| format!("unable to acquire {shown}: {}", errstr(e));
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
        Err(msg) => {
            warn("supervise", &msg);
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
    check: Option<Check>,
    /// `supervise/` and `supervise/event`, where the status is written and waiters are.
    sup: BorrowedFd<'a>,
    event: Option<BorrowedFd<'a>>,
    /// The status last written, not written again.
    written: Option<Status>,
    /// The pid last written to `supervise/pid`.
    pid_written: Option<u32>,
}

impl Context<'_> {
    /// Carries out `acts`, then tells `notify` what happened; status writes wait for
    /// `flush`.
    /// Carries out `acts`; `Some(code)` when one of them is to exit with `code`, at
    /// once: the caller returns it, doing nothing more.
    fn apply(&mut self, m: &mut Machine, acts: Vec<Action>) -> Option<i32> {
        // Said first: an exit's notice comes before the warnings of the restart after it.
        self.say(m);
        if let Some(code) = self.carry_out(m, acts) {
            return Some(code);
        }
        self.say(m);
        for ev in std::mem::take(&mut m.events) {
            self.notify(ev);
        }
        None
    }

    /// Writes the machine's notices to stderr, one write each.
    fn say(&mut self, m: &mut Machine) {
        for n in std::mem::take(&mut m.notices) {
            warn("supervise", &notice_text(self.dir, n));
        }
    }

    /// Starts `./notify NAME EVENT [ARG]` and does not wait for it: its exit is reaped
    /// with the others, and one that hangs holds up nothing.
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

    /// `Some(code)`: an `Exit`, after which nothing else is carried out.
    fn carry_out(&mut self, m: &mut Machine, acts: Vec<Action>) -> Option<i32> {
        let mut queue = acts;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for a in queue {
                match a {
                    Action::Announce => self.dirty = true,
                    Action::Kill(sig) => {
                        if let Some(pid) = m.pid {
                            let _ = kill(Pid::from_raw(pid as i32), sig);
                        }
                    }
                    Action::KillGroup(sig) => {
                        if let Some(pid) = m.pid {
                            let _ = kill(Pid::from_raw(-(pid as i32)), sig);
                            let _ = kill(Pid::from_raw(pid as i32), sig);
                        }
                    }
                    Action::Spawn => next.extend(self.spawn(m)),
                    Action::SpawnFinish { code, signal } => {
                        next.extend(self.spawn_finish(m, code, signal))
                    }
                    Action::KillFinish => {
                        if let Some(pid) = m.finish_pid {
                            warn(
                                "supervise",
                                &format!("{}/finish did not end in time: killing it", self.dir),
                            );
                            let _ = kill(Pid::from_raw(-(pid as i32)), Signal::SIGKILL);
                            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                        }
                    }
                    Action::Exit => {
                        for ev in std::mem::take(&mut m.events) {
                            self.notify(ev);
                        }
                        self.dirty = true;
                        self.flush(m);
                        return Some(m.exit_code());
                    }
                }
            }
            queue = next;
        }
        None
    }

    fn spawn(&mut self, m: &mut Machine) -> Vec<Action> {
        warn_encore_files_once(self.dir);
        // Settings are read at each start, so a change applies from the next run on.
        let settings = StartSettings::read(&ServiceDir::new("."), self.dir);
        for w in &settings.warnings {
            warn("supervise", w);
        }
        m.stop = settings.stop;
        m.down_on_100 = settings.down_on_100;
        m.set_restart_policy(settings.restart);
        // Readiness: a notification-fd or a notify-socket (either says ready) if there
        // is one, else a check if there is one.
        let fd_number = settings.notification_fd;
        let pipe = fd_number.and_then(|_| nix::unistd::pipe2(OFlag::O_CLOEXEC).ok());
        let socket_problem = !self.open_notify_socket();
        let address = self.notify_socket.as_ref().map(|s| s.address());
        let has_check =
            pipe.is_none() && address.is_none() && std::fs::symlink_metadata(CHECK).is_ok();
        m.tracks_readiness = pipe.is_some() || address.is_some() || has_check;
        let env: Vec<(&[u8], &[u8])> = address
            .iter()
            .map(|a| (crate::sdnotify::NOTIFY_SOCKET_ENV.as_bytes(), a.as_slice()))
            .collect();
        let dup = match (&pipe, fd_number) {
            (Some((_, w)), Some(n)) => Some((std::os::fd::AsRawFd::as_raw_fd(w), n)),
            _ => None,
        };
        m.settings_problem = !settings.warnings.is_empty() || socket_problem;
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
                preview.started(held.pid, now, wall);
                self.dirty = true;
                self.flush(&preview);
                held.release()
            });
        self.ready_pipe = pipe.filter(|_| spawned.is_ok()).map(|(r, _)| r);
        self.check = None;
        if has_check && spawned.is_ok() {
            let now = Instant::now();
            self.check = Some(Check {
                pid: None,
                next_at: Some(now),
                give_up_at: deadline_after(
                    now,
                    read_duration(CHECK_TIMEOUT, self.dir).unwrap_or(DEFAULT_CHECK_TIMEOUT),
                ),
                interval: read_duration(CHECK_INTERVAL, self.dir).unwrap_or(DEFAULT_CHECK_INTERVAL),
            });
        }
        match spawned {
            // The status was written before run started: this one is the same.
            Ok(pid) => m.started(pid, now, wall),
            Err(e) => {
                warn("supervise", &start_failure(self.dir, RUN, c"./run", e));
                self.dirty = true;
                m.start_failed(Instant::now())
            }
        }
    }

    /// When the check wants attention next.
    fn check_deadline(&self) -> Option<Instant> {
        let c = self.check.as_ref()?;
        Some(c.next_at.map_or(c.give_up_at, |n| n.min(c.give_up_at)))
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
            let (Some(run), Some(sender)) = (m.pid, d.sender) else {
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
                acts.extend(m.ready(Tai64N::now()));
            }
        }
        if let Some(text) = status {
            self.write_notify_status(&text);
        }
        acts
    }

    /// The service wrote to its notification-fd: a newline means ready.
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
                m.ready(Tai64N::now())
            }
            Ok(_) | Err(Errno::EAGAIN | Errno::EINTR) => Vec::new(),
            Err(_) => {
                self.ready_pipe = None;
                Vec::new()
            }
        }
    }

    fn check_exited(&mut self, m: &mut Machine, passed: bool) -> Vec<Action> {
        let Some(c) = self.check.as_mut() else {
            return Vec::new();
        };
        c.pid = None;
        if passed {
            self.check = None;
            return m.ready(Tai64N::now());
        }
        let now = Instant::now();
        if now >= c.give_up_at {
            self.check = None;
            return m.check_failed(Tai64N::now());
        }
        c.next_at = Some(deadline_after(now, c.interval));
        Vec::new()
    }

    /// Runs the check when it is due; gives up (check-failed) at its timeout, KILLing
    /// a check that hangs.
    fn check_timer(&mut self, m: &mut Machine) -> Vec<Action> {
        let now = Instant::now();
        let Some(c) = self.check.as_mut() else {
            return Vec::new();
        };
        if now >= c.give_up_at {
            if let Some(pid) = c.pid {
                let _ = kill(Pid::from_raw(-(pid as i32)), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
            self.check = None;
            return m.check_failed(Tai64N::now());
        }
        if c.pid.is_none() && c.next_at.is_some_and(|t| now >= t) {
            c.next_at = None;
            match spawn_program(c"./check", &[]) {
                Ok(pid) => c.pid = Some(pid),
                Err(e) => {
                    warn("supervise", &start_failure(self.dir, CHECK, c"./check", e));
                    c.next_at = Some(deadline_after(now, c.interval));
                }
            }
        }
        Vec::new()
    }

    /// Starts `./finish CODE SIGNAL` if there is one.
    fn spawn_finish(&mut self, m: &mut Machine, code: i32, signal: i32) -> Vec<Action> {
        if std::fs::symlink_metadata(FINISH).is_err() {
            return m.finish_done(Instant::now());
        }
        m.finish_timeout =
            read_duration(TIMEOUT_FINISH, self.dir).unwrap_or(DEFAULT_FINISH_TIMEOUT);
        match spawn_program(
            c"./finish",
            &[code.to_string().as_bytes(), signal.to_string().as_bytes()],
        ) {
            Ok(pid) => m.finish_started(pid, Instant::now()),
            Err(e) => {
                warn(
                    "supervise",
                    &start_failure(self.dir, FINISH, c"./finish", e),
                );
                m.finish_done(Instant::now())
            }
        }
    }

    /// Writes the status if it changed.
    fn flush(&mut self, m: &Machine) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let mut status = m.status();
        // daemontools' one-second throttle is not shown: a plain service reads as in
        // daemontools. A chosen policy's wait is.
        let policy_wait = m
            .pending_start
            .filter(|_| m.backoff.policy != RestartPolicy::Daemontools);
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

    /// The command of svc's option letter.
    fn cmd(b: u8) -> Command {
        Command::from_byte(b).unwrap()
    }

    fn wall() -> Tai64N {
        Tai64N {
            secs: 1000,
            nanos: 0,
        }
    }

    /// `run` exits and there is no finish script: what supervise does next.
    fn exit_without_finish(m: &mut Machine, pid: u32, ws: i32, now: Instant) -> Vec<Action> {
        let acts = m.exited(pid, ws, now, wall());
        if acts.is_empty() {
            return acts;
        }
        assert!(matches!(acts[1], Action::SpawnFinish { .. }), "{acts:?}");
        let mut all = vec![Action::Announce];
        all.extend(m.finish_done(now));
        all
    }

    #[test]
    fn boots_up_unless_down_file() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        assert_eq!(m.boot(t), vec![Action::Announce, Action::Spawn]);
        let mut m = Machine::new(false, wall());
        assert_eq!(m.boot(t), vec![Action::Announce]);
    }

    #[test]
    fn long_run_restarts_at_once_short_run_is_throttled() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        let later = t + Duration::from_secs(2);
        assert_eq!(
            exit_without_finish(&mut m, 10, 0, later),
            vec![Action::Announce, Action::Spawn]
        );
        m.started(11, later, wall());
        let soon = later + Duration::from_millis(100);
        assert_eq!(
            exit_without_finish(&mut m, 11, 256, soon),
            vec![Action::Announce]
        );
        assert_eq!(m.pending_start, Some(later + MIN_RUN_INTERVAL));
        assert!(m.timer(soon + Duration::from_millis(10)).is_empty());
        assert_eq!(m.timer(later + MIN_RUN_INTERVAL), vec![Action::Spawn]);
    }

    #[test]
    fn down_kills_with_term_then_cont_and_cancels_restart() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        assert_eq!(
            m.control(cmd(b'd'), t),
            vec![
                Action::Kill(Signal::SIGTERM),
                Action::Kill(Signal::SIGCONT),
                Action::Announce
            ]
        );
        assert_eq!(
            exit_without_finish(&mut m, 10, 15, t),
            vec![Action::Announce]
        );
        assert_eq!(m.status().want, Want::Down);
        assert_eq!(m.status().pid, 0);
    }

    #[test]
    fn once_runs_without_restart() {
        let t = Instant::now();
        let mut m = Machine::new(false, wall());
        m.boot(t);
        assert_eq!(
            m.control(cmd(b'o'), t),
            vec![Action::Announce, Action::Spawn]
        );
        m.started(5, t, wall());
        let later = t + Duration::from_secs(3);
        assert_eq!(
            exit_without_finish(&mut m, 5, 0, later),
            vec![Action::Announce]
        );
        assert_eq!(m.status().want, Want::Once);
    }

    #[test]
    fn a_main_service_runs_once_despite_down_and_gives_its_exit_code() {
        let t = Instant::now();
        let mut m = Machine::new(false, wall());
        m.make_main();
        assert_eq!(m.boot(t), vec![Action::Announce, Action::Spawn]);
        m.started(5, t, wall());
        // No restart, even told up: supervise exits with the service's code.
        m.control(cmd(b'u'), t);
        let later = t + Duration::from_secs(3);
        let acts = exit_without_finish(&mut m, 5, 3 << 8, later);
        assert!(acts.contains(&Action::Exit), "{acts:?}");
        assert!(!acts.contains(&Action::Spawn), "{acts:?}");
        assert_eq!(m.exit_code(), 3);
        let mut m = Machine::new(true, wall());
        m.make_main();
        m.boot(t);
        m.started(6, t, wall());
        exit_without_finish(&mut m, 6, libc::SIGTERM, later);
        assert_eq!(m.exit_code(), 128 + libc::SIGTERM);
        // Not a main service: supervise exits 0 whatever the service did.
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(7, t, wall());
        m.control(cmd(b'x'), t);
        exit_without_finish(&mut m, 7, 3 << 8, later);
        assert_eq!(m.exit_code(), 0);
    }

    #[test]
    fn exit_waits_for_the_service() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        assert_eq!(m.control(cmd(b'x'), t), vec![Action::Announce]);
        assert_eq!(
            exit_without_finish(&mut m, 10, 0, t),
            vec![Action::Announce, Action::Exit]
        );
        let mut m = Machine::new(false, wall());
        m.boot(t);
        assert_eq!(
            m.control(cmd(b'x'), t),
            vec![Action::Announce, Action::Exit]
        );
    }

    #[test]
    fn terminate_is_down_and_exit() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        let acts = m.terminate(t);
        assert!(acts.contains(&Action::Kill(Signal::SIGTERM)));
        assert!(!acts.contains(&Action::Exit));
        assert_eq!(
            exit_without_finish(&mut m, 10, 15, t),
            vec![Action::Announce, Action::Exit]
        );
    }

    #[test]
    fn pause_and_signals_only_with_a_process() {
        let t = Instant::now();
        let mut m = Machine::new(false, wall());
        m.boot(t);
        assert_eq!(m.control(cmd(b'k'), t), vec![]);
        assert_eq!(m.control(cmd(b'p'), t), vec![Action::Announce]);
        assert!(!m.status().paused || m.status().pid == 0);
        m.control(cmd(b'u'), t);
        m.started(3, t, wall());
        assert_eq!(
            m.control(cmd(b'p'), t),
            vec![Action::Announce, Action::Kill(Signal::SIGSTOP)]
        );
        assert!(m.status().paused);
        assert_eq!(m.control(cmd(b'h'), t), vec![Action::Kill(Signal::SIGHUP)]);
        assert_eq!(Command::from_byte(b'?'), None);
        assert_eq!(Command::from_byte(0xff), None);
    }

    #[test]
    fn failed_exec_retries_after_throttle() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        assert!(m.start_failed(t).is_empty());
        assert_eq!(m.pending_start, Some(t + MIN_RUN_INTERVAL));
        assert_eq!(m.timer(t + MIN_RUN_INTERVAL), vec![Action::Spawn]);
    }

    #[test]
    fn down_signal_and_timeout_kill() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        m.stop = StopPolicy {
            signal: Signal::SIGHUP,
            kill_after: Some(Duration::from_secs(2)),
        };
        assert_eq!(
            m.control(cmd(b'd'), t),
            vec![
                Action::Kill(Signal::SIGHUP),
                Action::Kill(Signal::SIGCONT),
                Action::Announce
            ]
        );
        assert_eq!(m.deadline(), Some(t + Duration::from_secs(2)));
        // A second d does not push the deadline back.
        m.control(cmd(b'd'), t + Duration::from_secs(1));
        assert!(m.timer(t + Duration::from_secs(1)).is_empty());
        assert_eq!(
            m.timer(t + Duration::from_secs(2)),
            vec![Action::KillGroup(Signal::SIGKILL)]
        );
        assert_eq!(m.deadline(), None);
        // Gone before the deadline: nothing to kill.
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(11, t, wall());
        m.stop.kill_after = Some(Duration::from_secs(2));
        m.control(cmd(b'd'), t);
        exit_without_finish(&mut m, 11, 15, t);
        assert_eq!(m.deadline(), None);
        assert!(m.timer(t + Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn finish_runs_before_any_restart() {
        let t = Instant::now();
        let later = t + Duration::from_secs(2);
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        assert_eq!(
            m.exited(10, 9, later, wall()),
            vec![
                Action::Announce,
                Action::SpawnFinish {
                    code: -1,
                    signal: 9
                }
            ]
        );
        assert_eq!(m.finish_started(20, later), vec![Action::Announce]);
        assert!(m.status().ext.unwrap().finishing);
        // Wanted up again meanwhile: still waits for finish, without a busy deadline.
        m.control(cmd(b'u'), later);
        assert_eq!(m.deadline(), Some(later + DEFAULT_FINISH_TIMEOUT));
        assert!(m.timer(later + Duration::from_secs(1)).is_empty());
        assert_eq!(
            m.exited(20, 0, later, wall()),
            vec![Action::Announce, Action::Spawn]
        );
        assert!(!m.status().ext.unwrap().finishing);
        // A finish that overruns is killed; its exit then lets the service restart.
        m.started(11, later, wall());
        let t3 = later + Duration::from_secs(5);
        m.exited(11, 256, t3, wall());
        m.finish_started(21, t3);
        assert_eq!(
            m.timer(t3 + DEFAULT_FINISH_TIMEOUT),
            vec![Action::KillFinish]
        );
        assert_eq!(
            m.exited(21, 9, t3 + DEFAULT_FINISH_TIMEOUT, wall()),
            vec![Action::Announce, Action::Spawn]
        );
    }

    #[test]
    fn exit_waits_for_finish() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        m.terminate(t);
        m.exited(10, 15, t, wall());
        assert_eq!(m.finish_started(20, t), vec![Action::Announce]);
        assert_eq!(
            m.exited(20, 0, t, wall()),
            vec![Action::Announce, Action::Exit]
        );
    }

    #[test]
    fn events_for_notify() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.set_restart_policy(RestartPolicy::Exponential {
            initial: Duration::from_secs(3),
            cap: Duration::from_secs(60),
        });
        m.boot(t);
        m.started(10, t, wall());
        m.exited(10, 1 << 8, t, wall());
        m.finish_done(t);
        m.control(cmd(b'd'), t);
        m.control(cmd(b'o'), t + Duration::from_secs(5));
        m.started(11, t + Duration::from_secs(5), wall());
        m.exited(11, 9, t + Duration::from_secs(5), wall());
        m.finish_done(t + Duration::from_secs(5));
        assert_eq!(
            m.events,
            vec![
                Event::Start,
                Event::Exit(1),
                Event::Backoff(3),
                // d cancelled the restart.
                Event::Down,
                Event::Start,
                Event::Signal(9),
                Event::Down
            ]
        );
        assert_eq!(Event::Backoff(3).args(), vec!["backoff", "3"]);
    }

    #[test]
    fn down_cancelling_a_pending_restart_is_down_for_notify() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.set_restart_policy(RestartPolicy::Exponential {
            initial: Duration::from_secs(3),
            cap: Duration::from_secs(60),
        });
        m.boot(t);
        m.started(10, t, wall());
        exit_without_finish(&mut m, 10, 1 << 8, t);
        assert!(m.pending_start.is_some());
        m.events.clear();
        m.control(cmd(b'd'), t);
        assert_eq!(m.events, vec![Event::Down]);
        assert_eq!(m.pending_start, None);
        // Once down, another d says nothing new.
        m.events.clear();
        m.control(cmd(b'd'), t);
        assert!(m.events.is_empty());
        // TERM to supervise while waiting: down too.
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        exit_without_finish(&mut m, 10, 1 << 8, t);
        m.events.clear();
        assert!(m.terminate(t).contains(&Action::Exit));
        assert_eq!(m.events, vec![Event::Down]);
    }

    #[test]
    fn restart_byte() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        assert_eq!(
            m.control(cmd(b'r'), t),
            vec![
                Action::Kill(Signal::SIGTERM),
                Action::Kill(Signal::SIGCONT),
                Action::Announce
            ]
        );
        assert_eq!(m.status().want, Want::Up);
        let later = t + Duration::from_secs(2);
        assert_eq!(
            exit_without_finish(&mut m, 10, 15, later),
            vec![Action::Announce, Action::Spawn]
        );
    }

    #[test]
    fn encore_signals_and_the_group_mode() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        assert_eq!(m.control(cmd(b'q'), t), vec![Action::Kill(Signal::SIGQUIT)]);
        assert_eq!(m.control(cmd(b'1'), t), vec![Action::Kill(Signal::SIGUSR1)]);
        assert_eq!(m.control(cmd(b'2'), t), vec![Action::Kill(Signal::SIGUSR2)]);
        assert_eq!(
            m.control(cmd(b'w'), t),
            vec![Action::Kill(Signal::SIGWINCH)]
        );
        assert!(m.control(cmd(b'+'), t).is_empty());
        assert_eq!(
            m.control(cmd(b't'), t),
            vec![Action::KillGroup(Signal::SIGTERM)]
        );
        assert!(m.control(cmd(b'='), t).is_empty());
        assert_eq!(m.control(cmd(b'h'), t), vec![Action::Kill(Signal::SIGHUP)]);
        // + lasts until the end of the commands read at once.
        m.control(cmd(b'+'), t);
        m.end_of_commands();
        assert_eq!(m.control(cmd(b'k'), t), vec![Action::Kill(Signal::SIGKILL)]);
        m.control(cmd(b'+'), t);
        assert_eq!(
            m.control(cmd(b'd'), t),
            vec![
                Action::KillGroup(Signal::SIGTERM),
                Action::KillGroup(Signal::SIGCONT),
                Action::Announce
            ]
        );
    }

    #[test]
    fn unexpected_exits_are_noticed_told_ones_are_not() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        exit_without_finish(&mut m, 10, 1 << 8, t);
        assert_eq!(
            m.notices,
            vec![Notice::Crashed {
                status: 1 << 8,
                streak: 1
            }]
        );
        assert!(m.status().ext.unwrap().crashed);
        m.notices.clear();
        // Crashes in a row: reported at 2, 4, 8, ...
        let mut at = t;
        for pid in 11..18 {
            at += Duration::from_secs(2);
            m.timer(at);
            m.started(pid, at, wall());
            assert!(!m.status().ext.unwrap().crashed);
            exit_without_finish(&mut m, pid, 9, at);
        }
        let streaks: Vec<u32> = m
            .notices
            .iter()
            .map(|n| match n {
                Notice::Crashed { streak, .. } => *streak,
                _ => 0,
            })
            .collect();
        assert_eq!(streaks, vec![2, 4, 8]);
        // Killed by svc -k, or stopped by svc -d: no surprise.
        m.notices.clear();
        at += Duration::from_secs(2);
        m.timer(at);
        m.started(20, at, wall());
        m.control(cmd(b'k'), at);
        exit_without_finish(&mut m, 20, 9, at);
        assert!(m.notices.is_empty());
        assert!(!m.status().ext.unwrap().crashed);
    }

    #[test]
    fn exit_100_stays_down_only_with_down_on_100() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        let later = t + Duration::from_secs(2);
        assert!(exit_without_finish(&mut m, 10, 100 << 8, later).contains(&Action::Spawn));
        m.started(11, later, wall());
        m.down_on_100 = true;
        let t3 = later + Duration::from_secs(2);
        assert_eq!(
            exit_without_finish(&mut m, 11, 100 << 8, t3),
            vec![Action::Announce]
        );
        assert_eq!(m.want, Want::Down);
        assert_eq!(m.pending_start, None);
        assert!(m.notices.contains(&Notice::Permanent));
        assert!(m.status().ext.unwrap().crashed);
    }

    #[test]
    fn stray_child_is_ignored() {
        let t = Instant::now();
        let mut m = Machine::new(true, wall());
        m.boot(t);
        m.started(10, t, wall());
        assert!(exit_without_finish(&mut m, 99, 0, t).is_empty());
        assert_eq!(m.pid, Some(10));
    }
}
