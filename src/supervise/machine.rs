//! supervise's state machine: pure, no fork, no clock of its own. Configuration comes
//! at construction (`Config`) and with each start (`RunSettings`), every event comes
//! through one `Machine::step(Input)`, and every effect leaves as an `Action`,
//! `notify`'s events and stderr's notices included; the readiness check's schedule
//! (interval, timeout) lives here too. Its phase is one `Phase` (as s6-supervise's
//! DOWN, UP, FINISH, LASTUP, LASTFINISH).

use crate::control::Command;
use crate::restart::{Backoff, RestartPolicy};
use crate::settings::StopPolicy;
use crate::status::{Extension, Readiness, Status, Want};
use crate::tai64::Tai64N;
use crate::units::deadline_after;
use nix::sys::signal::Signal;
use std::time::{Duration, Instant};

/// What the event loop must do after a step of the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Start `./run`; report back with `Input::Started` or `Input::StartFailed`.
    Spawn,
    /// Signal a process.
    Kill { pid: u32, signal: Signal },
    /// Signal a process group, and its leader (run, finish and check are session
    /// leaders).
    KillGroup { pid: u32, signal: Signal },
    /// Run `./finish CODE SIGNAL` if there is one; report back with
    /// `Input::FinishStarted` or `Input::FinishDone`.
    SpawnFinish { code: i32, signal: i32 },
    /// `./finish` overran its timeout: KILL its process group, saying so.
    KillFinish { pid: u32 },
    /// Run `./check`; report back with `Input::CheckStarted` or
    /// `Input::CheckFailedToStart`.
    SpawnCheck,
    /// Write the status file.
    Announce,
    /// Tell the service's `notify` program.
    Notify(Event),
    /// Say it on stderr.
    Say(Notice),
    /// Supervise exits with this code: the service is down and supervise was told to
    /// exit. Always the last action of a step.
    Exit(i32),
}

/// What happens to the machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// Supervise starts: start the service unless it is normally down.
    Boot,
    /// `run` was started, with the settings read for it.
    Started { pid: u32, settings: RunSettings },
    /// `run` could not be executed (its settings were read all the same).
    StartFailed { settings: RunSettings },
    /// A child ended: run, finish, the check, or one the machine does not know
    /// (`notify`), which it ignores.
    Exited { pid: u32, wait_status: i32 },
    /// `./finish` was started; it may run this long.
    FinishStarted { pid: u32, timeout: Duration },
    /// There is no `./finish`, or it could not be started.
    FinishDone,
    /// `./check` was started.
    CheckStarted { pid: u32 },
    /// `./check` could not be started: it is tried again after its interval.
    CheckFailedToStart,
    /// A command from the control FIFO.
    Command(Command),
    /// The commands read at once are done: a `+` among them no longer holds (as in
    /// daemontools-encore, where it lasts for one read of the control FIFO).
    EndOfCommands,
    /// TERM to supervise: `svc -dx`.
    Terminate,
    /// The service said it is ready (its notification-fd, its notify-socket).
    Ready,
    /// Time passed: deadlines that are due (see `Machine::deadline`) are acted on.
    Timer,
}

/// What the service directory said at a start: applies from that run on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunSettings {
    pub stop: StopPolicy,
    pub restart: RestartPolicy,
    /// `down-on-100`: exit 100 means stay down.
    pub down_on_100: bool,
    /// A settings file could not be used (shown by svstat).
    pub problem: bool,
    pub readiness: ReadinessBy,
}

/// How the run says it is ready, if it does.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadinessBy {
    #[default]
    Untracked,
    /// It tells (notification-fd, notify-socket): `Input::Ready`.
    Telling,
    /// `./check`, run every `interval` until it exits 0, given up after `timeout`.
    Check {
        interval: Duration,
        timeout: Duration,
    },
}

/// Configuration fixed for the life of the machine.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// No `down` file: started at boot.
    pub normally_up: bool,
    /// The tree's main service (a `main` file): started once at boot whatever `down`
    /// says, never restarted, and supervise exits once it is down and finished, with
    /// its exit code for svscan to exit with.
    pub main: bool,
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

/// How long `./finish` may run before it is KILLed (s6 and runit use the same idea).
pub const DEFAULT_FINISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Defaults for `check-interval` and `check-timeout`.
pub const DEFAULT_CHECK_INTERVAL: Duration = Duration::from_millis(100);
pub const DEFAULT_CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether a crash of a streak is reported: the first ones, then ever more rarely
/// (1, 2, 4, 8, ...), so a crash loop does not flood a log with a line a second.
pub fn reported(streak: u32) -> bool {
    streak.is_power_of_two()
}

/// A running `./run`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub pid: u32,
    started_at: Instant,
    /// When to KILL a service that did not go down (`timeout-kill`).
    kill_at: Option<Instant>,
    readiness: Readiness,
    check: Option<Check>,
}

/// A readiness check in progress: `./check` run every `interval` until it exits 0,
/// given up (check-failed) at `give_up_at`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Check {
    pid: Option<u32>,
    next_at: Option<Instant>,
    give_up_at: Instant,
    interval: Duration,
}

/// A running (or starting: `pid` None) `./finish`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Finish {
    pub pid: Option<u32>,
    kill_at: Option<Instant>,
    /// A start was asked for while it ran: it comes once finish is done.
    start_after: bool,
}

/// Where the service is. The `Last` phases are the same with supervise told to exit
/// once the service is down and finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// No run, no finish; a start may wait for the throttle or the restart policy.
    Down {
        start_at: Option<Instant>,
    },
    Up(Run),
    Finish(Finish),
    LastUp(Run),
    LastFinish(Finish),
    /// Exited: nothing more happens.
    Gone,
}

/// The supervise state: everything that decides what happens next, nothing that does it.
#[derive(Clone, Debug)]
pub struct Machine {
    config: Config,
    phase: Phase,
    want: Want,
    paused: bool,
    /// Recent starts and exits, for the restart policy.
    backoff: Backoff,
    changed: Tai64N,
    last_wait_status: Option<i32>,
    starts: u32,
    /// What the last start read.
    settings: RunSettings,
    /// `+` (daemontools-encore): the signals of the commands that follow go to the
    /// service's whole process group, until `=` or the end of the commands read at
    /// once.
    group: bool,
    /// A command signalled or stopped this run: its end is no surprise.
    told: bool,
    /// The last end of run was unexpected (see `Extension::crashed`).
    crashed: bool,
    /// Unexpected ends in a row.
    streak: u32,
    /// What this step says, in order: notices (stderr) and events (notify).
    notices: Vec<Notice>,
    events: Vec<Event>,
}

impl Machine {
    pub fn new(config: Config, wall: Tai64N) -> Self {
        Machine {
            config,
            phase: Phase::Down { start_at: None },
            want: if config.main {
                Want::Once
            } else if config.normally_up {
                Want::Up
            } else {
                Want::Down
            },
            paused: false,
            backoff: Backoff::default(),
            changed: wall,
            last_wait_status: None,
            starts: 0,
            settings: RunSettings::default(),
            group: false,
            told: false,
            crashed: false,
            streak: 0,
            notices: Vec::new(),
            events: Vec::new(),
        }
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn want(&self) -> Want {
        self.want
    }

    /// The running `./run`'s pid.
    pub fn run_pid(&self) -> Option<u32> {
        self.run().map(|r| r.pid)
    }

    fn run(&self) -> Option<&Run> {
        match &self.phase {
            Phase::Up(r) | Phase::LastUp(r) => Some(r),
            _ => None,
        }
    }

    fn run_mut(&mut self) -> Option<&mut Run> {
        match &mut self.phase {
            Phase::Up(r) | Phase::LastUp(r) => Some(r),
            _ => None,
        }
    }

    fn finish(&self) -> Option<&Finish> {
        match &self.phase {
            Phase::Finish(f) | Phase::LastFinish(f) => Some(f),
            _ => None,
        }
    }

    fn finish_mut(&mut self) -> Option<&mut Finish> {
        match &mut self.phase {
            Phase::Finish(f) | Phase::LastFinish(f) => Some(f),
            _ => None,
        }
    }

    /// Told to exit once down and finished.
    fn exiting(&self) -> bool {
        matches!(
            self.phase,
            Phase::LastUp(_) | Phase::LastFinish(_) | Phase::Gone
        )
    }

    /// A start waiting for the throttle or the policy (not one waiting for finish).
    pub fn pending_start(&self) -> Option<Instant> {
        match self.phase {
            Phase::Down { start_at } => start_at,
            _ => None,
        }
    }

    /// When the next start comes, if a chosen restart policy (not daemontools'
    /// one-second throttle, which goes unsaid) holds it back.
    pub fn policy_wait(&self) -> Option<Instant> {
        self.pending_start()
            .filter(|_| self.backoff.policy != RestartPolicy::Daemontools)
    }

    /// The one entry point: what `input` does at `now` (`wall` for the status), and
    /// what the event loop must do about it.
    pub fn step(&mut self, input: Input, now: Instant, wall: Tai64N) -> Vec<Action> {
        if self.phase == Phase::Gone {
            return Vec::new();
        }
        let mut acts = match input {
            Input::Boot => self.boot(now),
            Input::Started { pid, settings } => self.started(pid, settings, now, wall),
            Input::StartFailed { settings } => self.start_failed(settings, now),
            Input::Exited { pid, wait_status } => self.exited(pid, wait_status, now, wall),
            Input::FinishStarted { pid, timeout } => self.finish_started(pid, timeout, now),
            Input::FinishDone => self.finish_done(now),
            Input::CheckStarted { pid } => {
                if let Some(c) = self.run_mut().and_then(|r| r.check.as_mut()) {
                    c.pid = Some(pid);
                }
                Vec::new()
            }
            Input::CheckFailedToStart => {
                if let Some(c) = self.run_mut().and_then(|r| r.check.as_mut()) {
                    c.next_at = Some(deadline_after(now, c.interval));
                }
                Vec::new()
            }
            Input::Command(cmd) => self.control(cmd, now),
            Input::EndOfCommands => {
                self.group = false;
                Vec::new()
            }
            Input::Terminate => self.terminate(now),
            Input::Ready => self.ready(wall),
            Input::Timer => self.timer(now, wall),
        };
        let exit = (self.phase == Phase::Gone).then(|| Action::Exit(self.exit_code()));
        let mut out: Vec<Action> = self.notices.drain(..).map(Action::Say).collect();
        out.append(&mut acts);
        out.extend(self.events.drain(..).map(Action::Notify));
        out.extend(exit);
        out
    }

    /// The next moment `Input::Timer` has something to do.
    pub fn deadline(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Down { start_at } => *start_at,
            Phase::Up(r) | Phase::LastUp(r) => {
                let check = r
                    .check
                    .map(|c| c.next_at.map_or(c.give_up_at, |n| n.min(c.give_up_at)));
                [r.kill_at, check].into_iter().flatten().min()
            }
            // A start waiting for finish is not a deadline: finish's exit brings it.
            Phase::Finish(f) | Phase::LastFinish(f) => f.kill_at,
            Phase::Gone => None,
        }
    }

    pub fn status(&self) -> Status {
        let run = self.run();
        Status {
            changed: self.changed,
            pid: run.map_or(0, |r| r.pid),
            paused: self.paused,
            want: self.want,
            ext: Some(Extension {
                last_wait_status: self.last_wait_status,
                starts: self.starts,
                finishing: self.finish().is_some_and(|f| f.pid.is_some()),
                next_start: None,
                settings_problem: self.settings.problem,
                crashed: self.crashed,
                readiness: run.map_or(Readiness::Untracked, |r| r.readiness),
            }),
        }
    }

    /// The code supervise exits with: 0, or for the main service its exit code (128 +
    /// signal for a signal; 111 if it never ran).
    pub fn exit_code(&self) -> i32 {
        if !self.config.main {
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

    fn boot(&mut self, now: Instant) -> Vec<Action> {
        let mut acts = vec![Action::Announce];
        if self.want != Want::Down {
            self.request_start(now, &mut acts);
        }
        acts
    }

    fn request_start(&mut self, now: Instant, acts: &mut Vec<Action>) {
        match &mut self.phase {
            Phase::Down { .. } => {}
            // Not before finish is done: it runs after the service, never beside it.
            Phase::Finish(f) | Phase::LastFinish(f) => {
                f.start_after = true;
                return;
            }
            _ => return,
        }
        match self.backoff.earliest_start() {
            Some(t) if now < t => {
                self.phase = Phase::Down { start_at: Some(t) };
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
                self.phase = Phase::Down { start_at: None };
                acts.push(Action::Spawn);
            }
        }
    }

    fn apply_settings(&mut self, settings: RunSettings) {
        self.settings = settings;
        self.backoff.policy = settings.restart;
    }

    fn started(
        &mut self,
        pid: u32,
        settings: RunSettings,
        now: Instant,
        wall: Tai64N,
    ) -> Vec<Action> {
        if !matches!(self.phase, Phase::Down { .. }) {
            return Vec::new();
        }
        self.apply_settings(settings);
        self.paused = false;
        self.backoff.record_start(now);
        self.changed = wall;
        self.starts = self.starts.wrapping_add(1);
        self.told = false;
        self.crashed = false;
        let (readiness, check) = match settings.readiness {
            ReadinessBy::Untracked => (Readiness::Untracked, None),
            ReadinessBy::Telling => (Readiness::Waiting, None),
            ReadinessBy::Check { interval, timeout } => (
                Readiness::Waiting,
                Some(Check {
                    pid: None,
                    next_at: Some(now),
                    give_up_at: deadline_after(now, timeout),
                    interval,
                }),
            ),
        };
        let run = Run {
            pid,
            started_at: now,
            kill_at: None,
            readiness,
            check,
        };
        self.phase = if self.config.main {
            Phase::LastUp(run)
        } else {
            Phase::Up(run)
        };
        self.events.push(Event::Start);
        vec![Action::Announce]
    }

    /// `run` could not be executed: try again after the throttle while wanted up.
    fn start_failed(&mut self, settings: RunSettings, now: Instant) -> Vec<Action> {
        self.apply_settings(settings);
        self.backoff.record_start(now);
        self.backoff.record_exit(now);
        let start_at = if self.want == Want::Up {
            self.backoff.earliest_start()
        } else {
            None
        };
        self.phase = if self.config.main {
            // The main service runs once: never started, it is done.
            Phase::LastFinish(Finish {
                pid: None,
                kill_at: None,
                start_after: false,
            })
        } else {
            Phase::Down { start_at }
        };
        self.check_exit();
        Vec::new()
    }

    fn exited(&mut self, pid: u32, wait_status: i32, now: Instant, wall: Tai64N) -> Vec<Action> {
        if self.finish().is_some_and(|f| f.pid == Some(pid)) {
            return self.finish_done(now);
        }
        let Some(run) = self.run().copied() else {
            return Vec::new();
        };
        if run.check.is_some_and(|c| c.pid == Some(pid)) {
            return self.check_exited(wait_status == 0, now, wall);
        }
        if run.pid != pid {
            return Vec::new();
        }
        let finish = Finish {
            pid: None,
            kill_at: None,
            start_after: false,
        };
        self.phase = if self.exiting() {
            Phase::LastFinish(finish)
        } else {
            Phase::Finish(finish)
        };
        self.backoff.record_exit(now);
        if self.want != Want::Up {
            self.backoff.forget_crashes();
        }
        self.changed = wall;
        self.last_wait_status = Some(wait_status);
        let lived = now.saturating_duration_since(run.started_at);
        if self.want == Want::Up && !self.told {
            self.crashed = true;
            self.streak = if lived >= STREAK_RESET {
                1
            } else {
                self.streak.saturating_add(1)
            };
            if self.settings.down_on_100 && wait_status == 100 << 8 {
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

    fn finish_started(&mut self, pid: u32, timeout: Duration, now: Instant) -> Vec<Action> {
        let Some(f) = self.finish_mut() else {
            return Vec::new();
        };
        f.pid = Some(pid);
        f.kill_at = Some(deadline_after(now, timeout));
        vec![Action::Announce]
    }

    /// `./finish` ended, or there was none: the service may start again.
    fn finish_done(&mut self, now: Instant) -> Vec<Action> {
        let Some(f) = self.finish().copied() else {
            return Vec::new();
        };
        let exiting = self.exiting();
        let mut acts = Vec::new();
        if f.pid.is_some() {
            acts.push(Action::Announce);
        }
        self.phase = Phase::Down { start_at: None };
        if !exiting && (self.want == Want::Up || f.start_after) {
            self.request_start(now, &mut acts);
        }
        if !acts.contains(&Action::Spawn) && self.pending_start().is_none() {
            self.events.push(Event::Down);
        }
        if exiting {
            // Down and finished: check_exit ends it.
            self.phase = Phase::LastFinish(Finish {
                pid: None,
                kill_at: None,
                start_after: false,
            });
            self.check_exit();
        }
        acts
    }

    /// A command from the control FIFO.
    fn control(&mut self, cmd: Command, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        let pid = self.run_pid();
        if pid.is_some()
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
                self.bring_down(now, &mut acts);
                self.want = Want::Up;
                if pid.is_none() {
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
                self.exit_when_down();
                acts.push(Action::Announce);
            }
            // The signals: daemontools' h a i t k, daemontools-encore's q 1 2 w
            // (Debian's daemontools has q, 1 and 2 too).
            _ => {}
        }
        if let (Some(signal), Some(pid)) = (cmd.signal(), pid) {
            acts.push(self.kill(pid, signal));
        }
        self.check_exit();
        acts
    }

    /// A signal to the run, or to its process group after a `+`.
    fn kill(&self, pid: u32, signal: Signal) -> Action {
        if self.group {
            Action::KillGroup { pid, signal }
        } else {
            Action::Kill { pid, signal }
        }
    }

    /// Moves to the `Last` phase of the current one.
    fn exit_when_down(&mut self) {
        self.phase = match self.phase {
            Phase::Up(r) => Phase::LastUp(r),
            Phase::Finish(f) => Phase::LastFinish(f),
            // Down: check_exit ends it.
            Phase::Down { .. } => Phase::LastFinish(Finish {
                pid: None,
                kill_at: None,
                start_after: false,
            }),
            p => p,
        };
    }

    fn terminate(&mut self, now: Instant) -> Vec<Action> {
        let mut acts = Vec::new();
        let waiting = self.waiting_to_start();
        self.exit_when_down();
        self.bring_down(now, &mut acts);
        if waiting {
            self.events.push(Event::Down);
        }
        self.check_exit();
        acts
    }

    /// Down, with a start pending (throttle or backoff): `d` cancels it, and the
    /// service is then down for good, which `notify` hears. (With finish still
    /// running, its end says so.)
    fn waiting_to_start(&self) -> bool {
        self.pending_start().is_some()
    }

    fn bring_down(&mut self, now: Instant, acts: &mut Vec<Action>) {
        self.want = Want::Down;
        match &mut self.phase {
            Phase::Down { start_at } => *start_at = None,
            Phase::Finish(f) | Phase::LastFinish(f) => f.start_after = false,
            _ => {}
        }
        // Stopped on purpose: what svstat showed of a crash is history now.
        self.crashed = false;
        self.streak = 0;
        let stop = self.settings.stop;
        if let Some(pid) = self.run_pid() {
            self.told = true;
            acts.push(self.kill(pid, stop.signal));
            acts.push(self.kill(pid, Signal::SIGCONT));
            self.paused = false;
            if let Some(r) = self.run_mut()
                && r.kill_at.is_none()
            {
                r.kill_at = stop.kill_after.map(|d| deadline_after(now, d));
            }
        }
        acts.push(Action::Announce);
    }

    /// The service said it is ready (its check passed, or it wrote to its
    /// notification-fd).
    fn ready(&mut self, wall: Tai64N) -> Vec<Action> {
        let Some(r) = self.run_mut() else {
            return Vec::new();
        };
        if matches!(r.readiness, Readiness::Ready(_) | Readiness::Untracked) {
            return Vec::new();
        }
        r.readiness = Readiness::Ready(wall);
        self.events.push(Event::Ready);
        vec![Action::Announce]
    }

    /// The check did not pass in time.
    fn check_failed(&mut self, wall: Tai64N) -> Vec<Action> {
        let Some(r) = self.run_mut() else {
            return Vec::new();
        };
        r.check = None;
        if r.readiness != Readiness::Waiting {
            return Vec::new();
        }
        r.readiness = Readiness::Failing(wall);
        self.events.push(Event::CheckFailed);
        vec![Action::Announce]
    }

    fn check_exited(&mut self, passed: bool, now: Instant, wall: Tai64N) -> Vec<Action> {
        let Some(r) = self.run_mut() else {
            return Vec::new();
        };
        let Some(c) = r.check.as_mut() else {
            return Vec::new();
        };
        c.pid = None;
        if passed {
            r.check = None;
            return self.ready(wall);
        }
        if now >= c.give_up_at {
            return self.check_failed(wall);
        }
        c.next_at = Some(deadline_after(now, c.interval));
        Vec::new()
    }

    /// A deadline passed: the throttle's, `timeout-kill`'s, finish's, or the check's.
    fn timer(&mut self, now: Instant, wall: Tai64N) -> Vec<Action> {
        let mut acts = Vec::new();
        match &mut self.phase {
            Phase::Finish(f) | Phase::LastFinish(f) => {
                if let (Some(t), Some(pid)) = (f.kill_at, f.pid)
                    && now >= t
                {
                    f.kill_at = None;
                    acts.push(Action::KillFinish { pid });
                }
            }
            Phase::Up(r) | Phase::LastUp(r) => {
                if let Some(t) = r.kill_at
                    && now >= t
                {
                    r.kill_at = None;
                    acts.push(Action::KillGroup {
                        pid: r.pid,
                        signal: Signal::SIGKILL,
                    });
                }
            }
            Phase::Down { .. } | Phase::Gone => {}
        }
        if self.run().is_some() {
            acts.extend(self.check_timer(now, wall));
        }
        if self.pending_start().is_some_and(|t| now >= t) {
            self.phase = Phase::Down { start_at: None };
            self.request_start(now, &mut acts);
        }
        acts
    }

    /// Runs the check when it is due; gives up (check-failed) at its timeout, KILLing
    /// a check that hangs.
    fn check_timer(&mut self, now: Instant, wall: Tai64N) -> Vec<Action> {
        let Some(c) = self.run_mut().and_then(|r| r.check.as_mut()) else {
            return Vec::new();
        };
        if now >= c.give_up_at {
            let mut acts: Vec<Action> = c
                .pid
                .map(|pid| Action::KillGroup {
                    pid,
                    signal: Signal::SIGKILL,
                })
                .into_iter()
                .collect();
            acts.extend(self.check_failed(wall));
            return acts;
        }
        if c.pid.is_none() && c.next_at.is_some_and(|t| now >= t) {
            c.next_at = None;
            return vec![Action::SpawnCheck];
        }
        Vec::new()
    }

    /// Told to exit, the service down and finished (`LastFinish` with no finish
    /// running): the machine is done, and the step ends with `Exit`.
    fn check_exit(&mut self) {
        if matches!(self.phase, Phase::LastFinish(Finish { pid: None, .. })) {
            self.phase = Phase::Gone;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restart::MIN_RUN_INTERVAL;
    use crate::status::Want;

    fn wall() -> Tai64N {
        Tai64N::from_unix(1000, 0)
    }

    /// The machine, with what it said to notify and on stderr set aside.
    struct Sim {
        m: Machine,
        events: Vec<Event>,
        notices: Vec<Notice>,
        exit: Option<i32>,
        /// The settings the next start reads.
        settings: RunSettings,
    }

    impl Sim {
        fn with(config: Config) -> Sim {
            Sim {
                m: Machine::new(config, wall()),
                events: Vec::new(),
                notices: Vec::new(),
                exit: None,
                settings: RunSettings::default(),
            }
        }
        fn new(normally_up: bool) -> Sim {
            Sim::with(Config {
                normally_up,
                main: false,
            })
        }
        fn main(normally_up: bool) -> Sim {
            Sim::with(Config {
                normally_up,
                main: true,
            })
        }
        /// A step; Exit(code) is kept in the actions as `Action::Exit(_)`.
        fn step(&mut self, input: Input, now: Instant) -> Vec<Action> {
            let mut acts = Vec::new();
            for a in self.m.step(input, now, wall()) {
                match a {
                    Action::Notify(e) => self.events.push(e),
                    Action::Say(n) => self.notices.push(n),
                    Action::Exit(c) => {
                        self.exit = Some(c);
                        acts.push(a);
                    }
                    a => acts.push(a),
                }
            }
            acts
        }
        fn boot(&mut self, t: Instant) -> Vec<Action> {
            self.step(Input::Boot, t)
        }
        fn started(&mut self, pid: u32, t: Instant) -> Vec<Action> {
            let settings = self.settings;
            self.step(Input::Started { pid, settings }, t)
        }
        fn start_failed(&mut self, t: Instant) -> Vec<Action> {
            let settings = self.settings;
            self.step(Input::StartFailed { settings }, t)
        }
        fn exited(&mut self, pid: u32, wait_status: i32, t: Instant) -> Vec<Action> {
            self.step(Input::Exited { pid, wait_status }, t)
        }
        fn finish_started(&mut self, pid: u32, t: Instant) -> Vec<Action> {
            let timeout = DEFAULT_FINISH_TIMEOUT;
            self.step(Input::FinishStarted { pid, timeout }, t)
        }
        fn finish_done(&mut self, t: Instant) -> Vec<Action> {
            self.step(Input::FinishDone, t)
        }
        fn control(&mut self, b: u8, t: Instant) -> Vec<Action> {
            self.step(Input::Command(Command::from_byte(b).unwrap()), t)
        }
        fn end_of_commands(&mut self) {
            self.step(Input::EndOfCommands, Instant::now());
        }
        fn terminate(&mut self, t: Instant) -> Vec<Action> {
            self.step(Input::Terminate, t)
        }
        fn timer(&mut self, t: Instant) -> Vec<Action> {
            self.step(Input::Timer, t)
        }
        fn status(&self) -> Status {
            self.m.status()
        }
        fn deadline(&self) -> Option<Instant> {
            self.m.deadline()
        }
        fn pending_start(&self) -> Option<Instant> {
            self.m.pending_start()
        }
    }

    fn kill(pid: u32, signal: Signal) -> Action {
        Action::Kill { pid, signal }
    }

    fn kill_group(pid: u32, signal: Signal) -> Action {
        Action::KillGroup { pid, signal }
    }

    /// `run` exits and there is no finish script: what supervise does next.
    fn exit_without_finish(m: &mut Sim, pid: u32, ws: i32, now: Instant) -> Vec<Action> {
        let acts = m.exited(pid, ws, now);
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
        let mut m = Sim::new(true);
        assert_eq!(m.boot(t), vec![Action::Announce, Action::Spawn]);
        let mut m = Sim::new(false);
        assert_eq!(m.boot(t), vec![Action::Announce]);
    }

    #[test]
    fn long_run_restarts_at_once_short_run_is_throttled() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        let later = t + Duration::from_secs(2);
        assert_eq!(
            exit_without_finish(&mut m, 10, 0, later),
            vec![Action::Announce, Action::Spawn]
        );
        m.started(11, later);
        let soon = later + Duration::from_millis(100);
        assert_eq!(
            exit_without_finish(&mut m, 11, 256, soon),
            vec![Action::Announce]
        );
        assert_eq!(m.pending_start(), Some(later + MIN_RUN_INTERVAL));
        assert!(m.timer(soon + Duration::from_millis(10)).is_empty());
        assert_eq!(m.timer(later + MIN_RUN_INTERVAL), vec![Action::Spawn]);
    }

    #[test]
    fn down_kills_with_term_then_cont_and_cancels_restart() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        assert_eq!(
            m.control(b'd', t),
            vec![
                kill(10, Signal::SIGTERM),
                kill(10, Signal::SIGCONT),
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
        let mut m = Sim::new(false);
        m.boot(t);
        assert_eq!(m.control(b'o', t), vec![Action::Announce, Action::Spawn]);
        m.started(5, t);
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
        let mut m = Sim::main(false);
        assert_eq!(m.boot(t), vec![Action::Announce, Action::Spawn]);
        m.started(5, t);
        // No restart, even told up: supervise exits with the service's code.
        m.control(b'u', t);
        let later = t + Duration::from_secs(3);
        let acts = exit_without_finish(&mut m, 5, 3 << 8, later);
        assert!(acts.contains(&Action::Exit(3)), "{acts:?}");
        assert!(!acts.contains(&Action::Spawn), "{acts:?}");
        assert_eq!(m.m.exit_code(), 3);
        let mut m = Sim::main(true);
        m.boot(t);
        m.started(6, t);
        exit_without_finish(&mut m, 6, libc::SIGTERM, later);
        assert_eq!(m.m.exit_code(), 128 + libc::SIGTERM);
        // Not a main service: supervise exits 0 whatever the service did.
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(7, t);
        m.control(b'x', t);
        exit_without_finish(&mut m, 7, 3 << 8, later);
        assert_eq!(m.m.exit_code(), 0);
    }

    #[test]
    fn exit_waits_for_the_service() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        assert_eq!(m.control(b'x', t), vec![Action::Announce]);
        assert_eq!(
            exit_without_finish(&mut m, 10, 0, t),
            vec![Action::Announce, Action::Exit(0)]
        );
        let mut m = Sim::new(false);
        m.boot(t);
        assert_eq!(m.control(b'x', t), vec![Action::Announce, Action::Exit(0)]);
    }

    #[test]
    fn terminate_is_down_and_exit() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        let acts = m.terminate(t);
        assert!(acts.contains(&kill(10, Signal::SIGTERM)));
        assert!(!acts.contains(&Action::Exit(0)));
        assert_eq!(
            exit_without_finish(&mut m, 10, 15, t),
            vec![Action::Announce, Action::Exit(0)]
        );
    }

    #[test]
    fn pause_and_signals_only_with_a_process() {
        let t = Instant::now();
        let mut m = Sim::new(false);
        m.boot(t);
        assert_eq!(m.control(b'k', t), vec![]);
        assert_eq!(m.control(b'p', t), vec![Action::Announce]);
        assert!(!m.status().paused || m.status().pid == 0);
        m.control(b'u', t);
        m.started(3, t);
        assert_eq!(
            m.control(b'p', t),
            vec![Action::Announce, kill(3, Signal::SIGSTOP)]
        );
        assert!(m.status().paused);
        assert_eq!(m.control(b'h', t), vec![kill(3, Signal::SIGHUP)]);
        assert_eq!(Command::from_byte(b'?'), None);
        assert_eq!(Command::from_byte(0xff), None);
    }

    #[test]
    fn failed_exec_retries_after_throttle() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        assert!(m.start_failed(t).is_empty());
        assert_eq!(m.pending_start(), Some(t + MIN_RUN_INTERVAL));
        assert_eq!(m.timer(t + MIN_RUN_INTERVAL), vec![Action::Spawn]);
    }

    #[test]
    fn down_signal_and_timeout_kill() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.settings.stop = StopPolicy {
            signal: Signal::SIGHUP,
            kill_after: Some(Duration::from_secs(2)),
        };
        m.started(10, t);
        assert_eq!(
            m.control(b'd', t),
            vec![
                kill(10, Signal::SIGHUP),
                kill(10, Signal::SIGCONT),
                Action::Announce
            ]
        );
        assert_eq!(m.deadline(), Some(t + Duration::from_secs(2)));
        // A second d does not push the deadline back.
        m.control(b'd', t + Duration::from_secs(1));
        assert!(m.timer(t + Duration::from_secs(1)).is_empty());
        assert_eq!(
            m.timer(t + Duration::from_secs(2)),
            vec![kill_group(10, Signal::SIGKILL)]
        );
        assert_eq!(m.deadline(), None);
        // Gone before the deadline: nothing to kill.
        let mut m = Sim::new(true);
        m.boot(t);
        m.settings.stop.kill_after = Some(Duration::from_secs(2));
        m.started(11, t);
        m.control(b'd', t);
        exit_without_finish(&mut m, 11, 15, t);
        assert_eq!(m.deadline(), None);
        assert!(m.timer(t + Duration::from_secs(5)).is_empty());
    }

    #[test]
    fn finish_runs_before_any_restart() {
        let t = Instant::now();
        let later = t + Duration::from_secs(2);
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        assert_eq!(
            m.exited(10, 9, later),
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
        m.control(b'u', later);
        assert_eq!(m.deadline(), Some(later + DEFAULT_FINISH_TIMEOUT));
        assert!(m.timer(later + Duration::from_secs(1)).is_empty());
        assert_eq!(
            m.exited(20, 0, later),
            vec![Action::Announce, Action::Spawn]
        );
        assert!(!m.status().ext.unwrap().finishing);
        // A finish that overruns is killed; its exit then lets the service restart.
        m.started(11, later);
        let t3 = later + Duration::from_secs(5);
        m.exited(11, 256, t3);
        m.finish_started(21, t3);
        assert_eq!(
            m.timer(t3 + DEFAULT_FINISH_TIMEOUT),
            vec![Action::KillFinish { pid: 21 }]
        );
        assert_eq!(
            m.exited(21, 9, t3 + DEFAULT_FINISH_TIMEOUT),
            vec![Action::Announce, Action::Spawn]
        );
    }

    #[test]
    fn exit_waits_for_finish() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        m.terminate(t);
        m.exited(10, 15, t);
        assert_eq!(m.finish_started(20, t), vec![Action::Announce]);
        assert_eq!(m.exited(20, 0, t), vec![Action::Announce, Action::Exit(0)]);
    }

    #[test]
    fn events_for_notify() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.settings.restart = RestartPolicy::Exponential {
            initial: Duration::from_secs(3),
            cap: Duration::from_secs(60),
        };
        m.boot(t);
        m.started(10, t);
        m.exited(10, 1 << 8, t);
        m.finish_done(t);
        m.control(b'd', t);
        m.control(b'o', t + Duration::from_secs(5));
        m.started(11, t + Duration::from_secs(5));
        m.exited(11, 9, t + Duration::from_secs(5));
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
        let mut m = Sim::new(true);
        m.settings.restart = RestartPolicy::Exponential {
            initial: Duration::from_secs(3),
            cap: Duration::from_secs(60),
        };
        m.boot(t);
        m.started(10, t);
        exit_without_finish(&mut m, 10, 1 << 8, t);
        assert!(m.pending_start().is_some());
        m.events.clear();
        m.control(b'd', t);
        assert_eq!(m.events, vec![Event::Down]);
        assert_eq!(m.pending_start(), None);
        // Once down, another d says nothing new.
        m.events.clear();
        m.control(b'd', t);
        assert!(m.events.is_empty());
        // TERM to supervise while waiting: down too.
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        exit_without_finish(&mut m, 10, 1 << 8, t);
        m.events.clear();
        assert!(m.terminate(t).contains(&Action::Exit(0)));
        assert_eq!(m.events, vec![Event::Down]);
    }

    #[test]
    fn restart_byte() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        assert_eq!(
            m.control(b'r', t),
            vec![
                kill(10, Signal::SIGTERM),
                kill(10, Signal::SIGCONT),
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
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        assert_eq!(m.control(b'q', t), vec![kill(10, Signal::SIGQUIT)]);
        assert_eq!(m.control(b'1', t), vec![kill(10, Signal::SIGUSR1)]);
        assert_eq!(m.control(b'2', t), vec![kill(10, Signal::SIGUSR2)]);
        assert_eq!(m.control(b'w', t), vec![kill(10, Signal::SIGWINCH)]);
        assert!(m.control(b'+', t).is_empty());
        assert_eq!(m.control(b't', t), vec![kill_group(10, Signal::SIGTERM)]);
        assert!(m.control(b'=', t).is_empty());
        assert_eq!(m.control(b'h', t), vec![kill(10, Signal::SIGHUP)]);
        // + lasts until the end of the commands read at once.
        m.control(b'+', t);
        m.end_of_commands();
        assert_eq!(m.control(b'k', t), vec![kill(10, Signal::SIGKILL)]);
        m.control(b'+', t);
        assert_eq!(
            m.control(b'd', t),
            vec![
                kill_group(10, Signal::SIGTERM),
                kill_group(10, Signal::SIGCONT),
                Action::Announce
            ]
        );
    }

    #[test]
    fn unexpected_exits_are_noticed_told_ones_are_not() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
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
            m.started(pid, at);
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
        m.started(20, at);
        m.control(b'k', at);
        exit_without_finish(&mut m, 20, 9, at);
        assert!(m.notices.is_empty());
        assert!(!m.status().ext.unwrap().crashed);
    }

    #[test]
    fn exit_100_stays_down_only_with_down_on_100() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        let later = t + Duration::from_secs(2);
        assert!(exit_without_finish(&mut m, 10, 100 << 8, later).contains(&Action::Spawn));
        m.settings.down_on_100 = true;
        m.started(11, later);
        let t3 = later + Duration::from_secs(2);
        assert_eq!(
            exit_without_finish(&mut m, 11, 100 << 8, t3),
            vec![Action::Announce]
        );
        assert_eq!(m.m.want(), Want::Down);
        assert_eq!(m.pending_start(), None);
        assert!(m.notices.contains(&Notice::Permanent));
        assert!(m.status().ext.unwrap().crashed);
    }

    #[test]
    fn stray_child_is_ignored() {
        let t = Instant::now();
        let mut m = Sim::new(true);
        m.boot(t);
        m.started(10, t);
        assert!(exit_without_finish(&mut m, 99, 0, t).is_empty());
        assert_eq!(m.m.run_pid(), Some(10));
    }
}

#[cfg(test)]
mod readiness_tests {
    use super::*;

    fn wall() -> Tai64N {
        Tai64N::from_unix(7, 0)
    }

    fn checked(interval: u64, timeout: u64) -> RunSettings {
        RunSettings {
            readiness: ReadinessBy::Check {
                interval: Duration::from_millis(interval),
                timeout: Duration::from_millis(timeout),
            },
            ..RunSettings::default()
        }
    }

    fn up_with(settings: RunSettings, t: Instant) -> Machine {
        let mut m = Machine::new(
            Config {
                normally_up: true,
                main: false,
            },
            wall(),
        );
        assert_eq!(
            m.step(Input::Boot, t, wall()),
            vec![Action::Announce, Action::Spawn]
        );
        m.step(Input::Started { pid: 10, settings }, t, wall());
        m
    }

    fn readiness(m: &Machine) -> Readiness {
        m.status().ext.unwrap().readiness
    }

    /// The check runs at once, again every interval while it fails, and a pass is
    /// ready: the machine schedules it, the loop only runs it.
    #[test]
    fn check_runs_every_interval_until_it_passes() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut m = up_with(checked(100, 1000), t);
        assert_eq!(readiness(&m), Readiness::Waiting);
        assert_eq!(m.deadline(), Some(t));
        assert_eq!(m.step(Input::Timer, t, wall()), vec![Action::SpawnCheck]);
        m.step(Input::CheckStarted { pid: 20 }, t, wall());
        // While it runs, only the timeout is a deadline.
        assert_eq!(m.deadline(), Some(t + ms(1000)));
        assert!(m.step(Input::Timer, t + ms(50), wall()).is_empty());
        let failed = Input::Exited {
            pid: 20,
            wait_status: 1 << 8,
        };
        assert!(m.step(failed, t + ms(60), wall()).is_empty());
        assert_eq!(m.deadline(), Some(t + ms(160)));
        assert!(m.step(Input::Timer, t + ms(100), wall()).is_empty());
        assert_eq!(
            m.step(Input::Timer, t + ms(160), wall()),
            vec![Action::SpawnCheck]
        );
        m.step(Input::CheckStarted { pid: 21 }, t + ms(160), wall());
        let passed = Input::Exited {
            pid: 21,
            wait_status: 0,
        };
        assert_eq!(
            m.step(passed, t + ms(200), wall()),
            vec![Action::Announce, Action::Notify(Event::Ready)]
        );
        assert_eq!(readiness(&m), Readiness::Ready(wall()));
        assert_eq!(m.deadline(), None);
        // A check that could not start is tried again after the interval.
        let mut m = up_with(checked(100, 1000), t);
        m.step(Input::Timer, t, wall());
        assert!(m.step(Input::CheckFailedToStart, t, wall()).is_empty());
        assert_eq!(m.deadline(), Some(t + ms(100)));
    }

    /// A check that hangs past the timeout is KILLed and the run is check-failed; a
    /// check that ends failing after the timeout is check-failed at once.
    #[test]
    fn check_timeout_kills_a_hanging_check_and_fails() {
        let t = Instant::now();
        let ms = Duration::from_millis;
        let mut m = up_with(checked(100, 500), t);
        m.step(Input::Timer, t, wall());
        m.step(Input::CheckStarted { pid: 20 }, t, wall());
        assert_eq!(
            m.step(Input::Timer, t + ms(500), wall()),
            vec![
                Action::KillGroup {
                    pid: 20,
                    signal: Signal::SIGKILL
                },
                Action::Announce,
                Action::Notify(Event::CheckFailed)
            ]
        );
        assert_eq!(readiness(&m), Readiness::Failing(wall()));
        assert_eq!(m.deadline(), None);
        // Its exit is then a stray's.
        let exit = Input::Exited {
            pid: 20,
            wait_status: 9,
        };
        assert!(m.step(exit, t + ms(510), wall()).is_empty());
        assert_eq!(m.run_pid(), Some(10));
        let mut m = up_with(checked(100, 500), t);
        m.step(Input::Timer, t, wall());
        m.step(Input::CheckStarted { pid: 20 }, t, wall());
        let failed = Input::Exited {
            pid: 20,
            wait_status: 1 << 8,
        };
        assert_eq!(
            m.step(failed, t + ms(600), wall()),
            vec![Action::Announce, Action::Notify(Event::CheckFailed)]
        );
        // The run's exit ends its readiness: no check after it.
        let mut m = up_with(checked(100, 500), t);
        let exit = Input::Exited {
            pid: 10,
            wait_status: 0,
        };
        m.step(exit, t + ms(10), wall());
        m.step(Input::FinishDone, t + ms(10), wall());
        assert!(
            !m.step(Input::Timer, t + ms(20), wall())
                .contains(&Action::SpawnCheck)
        );
    }

    /// A run that tells (notification-fd, notify-socket) is ready once, when it says
    /// so; an untracked one never is.
    #[test]
    fn telling_runs_are_ready_once() {
        let t = Instant::now();
        let telling = RunSettings {
            readiness: ReadinessBy::Telling,
            ..RunSettings::default()
        };
        let mut m = up_with(telling, t);
        assert_eq!(m.deadline(), None);
        assert_eq!(
            m.step(Input::Ready, t, wall()),
            vec![Action::Announce, Action::Notify(Event::Ready)]
        );
        assert!(m.step(Input::Ready, t, wall()).is_empty());
        let mut m = up_with(RunSettings::default(), t);
        assert!(m.step(Input::Ready, t, wall()).is_empty());
        assert_eq!(readiness(&m), Readiness::Untracked);
    }
}
