//! The admin frontends svcstart, svcstop, svcreset and svcrestart (Syn-3): act on a
//! service, then verify that it reached the state, and answer with an exit code.

use crate::bounded::{Ending, RunError};
use crate::control::{Sent, is_supervised, send};
use crate::diag::{EXIT_NO, EXIT_OK, EXIT_TEMP, EXIT_USAGE, errstr, ioerrstr};
use crate::report::JsonObject;
use crate::service_dir::{DOWN, ServiceDir};
use crate::status::Status;
use crate::svwait::{Goal, Outcome, WaitError, wait};
use crate::tai64::Tai64N;
use crate::units::deadline_after;
use nix::errno::Errno;
use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A script of the service's own that does the acting and checking.
pub const START_SCRIPT: &str = "start";
pub const STOP_SCRIPT: &str = "stop";

/// How much of a start or stop script is read to tell what kind it is.
const SCRIPT_PEEK: usize = 64 * 1024;

/// Whether the file `name` (`start` or `stop`) of the service directory open at `dir`
/// looks like a daemontools-encore one-shot script rather than a Syn-3 check script:
/// a script (`#!`) whose first 64 KiB never mention `svc`. A check script brings the
/// service up or down itself, with `svc`; encore's supervise runs `./start` before
/// `./run` and `./stop` after it, so those never need to. A program that is no script,
/// a larger file, a symbolic link or anything not a regular file is not judged.
/// Read as `read_small_file` reads: without blocking, without following a link.
pub fn encore_style(dir: impl std::os::fd::AsFd, name: &str) -> bool {
    use crate::service_dir::{Extent, Links, read_small_file};
    match read_small_file(
        dir,
        std::ffi::OsStr::new(name),
        Extent::Whole(SCRIPT_PEEK),
        Links::Refuse,
    ) {
        Ok(Some(text)) => text.starts_with(b"#!") && !text.windows(3).any(|w| w == b"svc"),
        _ => false,
    }
}

/// The warning for a service (directory `dir`, as shown) whose `start` or `stop`
/// (`name`) looks like encore's: what svkit does with it, and where its commands
/// belong instead.
pub fn encore_hint(prog: &str, dir: &str, name: &str) -> String {
    let (encore, check, home) = if name == START_SCRIPT {
        (
            "set-up run before ./run",
            "bring the service up",
            "run, before its exec",
        )
    } else {
        (
            "clean-up run after ./run exits",
            "bring the service down",
            "finish",
        )
    };
    let doing = if prog == "supervise" {
        "svkit's supervise does not run it".to_string()
    } else {
        format!("{prog} runs it as a check script, which must {check} with svc")
    };
    format!(
        "{dir}/{name} never runs svc: a daemontools-encore {name} script ({encore})? {doing}; \
         to migrate, move its commands into {dir}/{home} (see svcstart(8))"
    )
}

/// How long svcstart and svcstop wait for a state themselves (`-t`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a start or stop script may run (`-T`). In Syn-3 the script owns its
/// timeout (the seed's slapd start script tries for 75 s), so this is only a backstop
/// against a script that hangs for good, far longer than any script's own patience.
pub const DEFAULT_SCRIPT_TIMEOUT: Duration = Duration::from_secs(600);
pub const DEFAULT_SETTLE: Duration = Duration::from_secs(1);
/// How long svcstop waits for the KILL it escalates to.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// A dot per this much waiting, so that a person sees it is still at work.
const DOT_EVERY: Duration = Duration::from_millis(500);

/// Which frontend runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Start,
    Stop,
    Reset,
    Restart,
}

impl Action {
    pub fn program(self) -> &'static str {
        match self {
            Action::Start => "svcstart",
            Action::Stop => "svcstop",
            Action::Reset => "svcreset",
            Action::Restart => "svcrestart",
        }
    }

    /// The usage line.
    pub fn synopsis(self) -> String {
        let persist = match self {
            Action::Start | Action::Stop => " [-p]",
            _ => "",
        };
        format!(
            "{} [-q|--json]{persist} [-t timeout] [-T script-timeout] [-s settle] service ...",
            self.program()
        )
    }
}

/// Who reads the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// `Starting /service/x ....OK`, the scripts' output passing through.
    Person,
    /// Nothing at all: the exit code is the answer.
    Quiet,
    /// One JSON object per service on stdout; scripts' stdout goes to stderr.
    Json,
}

/// How each service is handled.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// For svkit's own waiting: up, ready, down.
    pub timeout: Duration,
    /// For a start or stop script of the service's own.
    pub script_timeout: Duration,
    pub settle: Duration,
    /// Remove (start) or create (stop) the `down` file once the state is reached.
    pub persist: bool,
    pub output: Output,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            timeout: DEFAULT_TIMEOUT,
            script_timeout: DEFAULT_SCRIPT_TIMEOUT,
            settle: DEFAULT_SETTLE,
            persist: false,
            output: Output::Person,
        }
    }
}

/// The answer for one service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The state was reached; the note says anything unusual about how.
    Done(Option<String>),
    /// Nothing to do (svcrestart of a service that does not run), with why.
    Skipped(String),
    /// The state was not reached, with why.
    Failed(String),
    /// supervise could not be asked or told, with why.
    Unreachable(String),
}

impl Verdict {
    pub fn exit_code(&self) -> i32 {
        match self {
            Verdict::Done(_) | Verdict::Skipped(_) => EXIT_OK,
            Verdict::Failed(_) => EXIT_NO,
            Verdict::Unreachable(_) => EXIT_TEMP,
        }
    }
}

pub use crate::service_dir::resolve;

macro_rules! say {
    ($($a:tt)*) => { say(format_args!($($a)*)) };
}
macro_rules! sayln {
    ($($a:tt)*) => { say(format_args!("{}\n", format_args!($($a)*))) };
}

/// Writes to stdout, ignoring failure: the output is for a person, and a reader gone
/// away (`svcstop a b c | head -1`) must not stop the work half way, as println!'s
/// panic would.
fn say(args: std::fmt::Arguments) {
    let mut out = std::io::stdout();
    let _ = out.write_fmt(args);
    let _ = out.flush();
}

/// The person's view of one service: a line that grows dots while we wait.
struct Progress {
    dots: usize,
    open: bool,
}

impl Progress {
    fn silent() -> Progress {
        Progress {
            dots: 0,
            open: false,
        }
    }

    fn begin(output: Output, verb: &str, name: &Path) -> Progress {
        let mut p = Progress::silent();
        if output == Output::Person {
            say!("{verb} {} ", name.display());
            p.open = true;
            p.dot();
        }
        p
    }

    fn dot(&mut self) {
        if self.open {
            say!(".");
            self.dots += 1;
        }
    }

    fn end(&mut self, verdict: &Verdict) {
        if !self.open {
            return;
        }
        // At least four dots, as the Syn-3 frontends print them.
        let pad = ".".repeat(4usize.saturating_sub(self.dots));
        match verdict {
            Verdict::Done(None) => sayln!("{pad}OK"),
            Verdict::Done(Some(note)) => sayln!("{pad}OK ({note})"),
            Verdict::Skipped(why) => sayln!("{pad}SKIPPED ({why})"),
            Verdict::Failed(why) | Verdict::Unreachable(why) => sayln!("{pad}FAILED ({why})"),
        }
        self.open = false;
    }
}

/// What is done to one service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Start,
    Stop,
    Restart,
}

impl Step {
    fn as_str(self) -> &'static str {
        match self {
            Step::Start => "start",
            Step::Stop => "stop",
            Step::Restart => "restart",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Step::Start => "Starting",
            Step::Stop => "Stopping",
            Step::Restart => "Restarting",
        }
    }
}

/// One service being handled.
struct Job<'a> {
    prog: &'static str,
    name: &'a Path,
    dir: ServiceDir,
    opts: &'a Options,
    deadline: Instant,
    progress: Progress,
    /// A signal that reached us while a script ran.
    interrupted: Option<i32>,
}

impl Job<'_> {
    fn status(&self) -> Result<Status, Verdict> {
        Status::read(&self.dir)
            .map_err(|e| Verdict::Unreachable(format!("unable to read supervise/status: {e}")))
    }

    fn control(&self, cmds: &[u8]) -> Result<(), Verdict> {
        match send(&self.dir, cmds) {
            Ok(Sent::Delivered) => Ok(()),
            Ok(Sent::NoSupervisor) => Err(Verdict::Unreachable("supervise not running".into())),
            Err(e) => Err(Verdict::Unreachable(format!(
                "unable to write supervise/control: {}",
                errstr(e)
            ))),
        }
    }

    /// Waits until `goal` or `until`, a dot per half second. Ok(false): not reached.
    fn wait_for(&mut self, goal: Goal, until: Instant) -> Result<bool, Verdict> {
        let dirs = [self.dir.path()];
        loop {
            let now = Instant::now();
            let slice = until.saturating_duration_since(now).min(DOT_EVERY);
            match wait(&dirs, goal, false, Some(slice)) {
                Ok(Outcome::Reached) => return Ok(true),
                Ok(Outcome::TimedOut) if Instant::now() >= until => return Ok(false),
                Ok(Outcome::TimedOut) => self.progress.dot(),
                Err(WaitError::NotRunning(_)) => {
                    return Err(Verdict::Unreachable("supervise not running".into()));
                }
                Err(e) => return Err(Verdict::Unreachable(e.to_string())),
            }
        }
    }

    fn start(&mut self) -> Result<Verdict, Verdict> {
        if let Some(script) = self.script(START_SCRIPT) {
            return self.start_by_script(&script);
        }
        let before = self.status()?;
        self.control(b"u")?;
        self.progress.dot();
        self.verify_up(before, self.deadline, None)
    }

    fn start_by_script(&mut self, script: &Path) -> Result<Verdict, Verdict> {
        let before = self.status()?;
        match self.run_script(script)? {
            Ending::Exited(0) => {}
            end => return self.undo_start(format!("start script {end}")),
        }
        // We verify, we do not trust: the same checks as without a script. The script
        // had its own time (-T); the verification has its own: up within the settle
        // time, since the script says it is, and ready within the timeout (-t).
        let now = Instant::now();
        let until = deadline_after(now, self.opts.settle);
        self.deadline = deadline_after(now, self.opts.timeout).max(until);
        let why = "start script exited 0 but the service is not up";
        self.verify_up(before, until, Some(why))
    }

    /// Up by `up_by`, ready by the deadline, then still the same process after the
    /// settle time; else brought down again and failed. `not_up` overrides the reason
    /// given when it never came up.
    fn verify_up(
        &mut self,
        before: Status,
        up_by: Instant,
        not_up: Option<&str>,
    ) -> Result<Verdict, Verdict> {
        let fmt = crate::units::format_duration;
        if !self.wait_for(Goal::Up, up_by)? {
            let why = match not_up {
                Some(why) => why.to_string(),
                None => format!("not up after {}", fmt(self.opts.timeout)),
            };
            return self.undo_start(why);
        }
        let seen_up = Instant::now();
        let up = self.status()?;
        if !self.wait_for(Goal::Ready, self.deadline)? {
            let failing = self
                .status()?
                .ext
                .is_some_and(|e| matches!(e.readiness, crate::status::Readiness::Failing(_)));
            return self.undo_start(format!(
                "up but not ready after {}{}",
                fmt(self.opts.timeout),
                if failing { ", check failing" } else { "" }
            ));
        }
        // It must stay up a while: a service that dies at once did not start. One that
        // already ran before we came has been up since its status last changed.
        let up_for = if before.pid != 0 && up.pid == before.pid {
            Duration::from_secs(before.changed.seconds_until(Tai64N::now()))
        } else {
            seen_up.elapsed()
        };
        if let Some(rest) = self.opts.settle.checked_sub(up_for) {
            let until = deadline_after(Instant::now(), rest);
            if self.wait_for(Goal::Down, until)? {
                return self.undo_start(format!("exited within {}", fmt(self.opts.settle)));
            }
        }
        let now = self.status()?;
        if now.pid == 0 || !running(now.pid) {
            return self.undo_start(format!("exited within {}", fmt(self.opts.settle)));
        }
        if now.pid != up.pid {
            return self.undo_start(format!("restarted within {}", fmt(self.opts.settle)));
        }
        Ok(Verdict::Done(None))
    }

    /// A failed start leaves the service down, as it was asked to be before.
    fn undo_start(&mut self, why: String) -> Result<Verdict, Verdict> {
        self.control(b"d")?;
        let until = deadline_after(Instant::now(), KILL_GRACE);
        if !self.wait_for(Goal::Down, until)? {
            self.control(b"k")?;
            self.wait_for(Goal::Down, deadline_after(Instant::now(), KILL_GRACE))?;
        }
        Ok(Verdict::Failed(why))
    }

    fn stop(&mut self) -> Result<Verdict, Verdict> {
        if let Some(script) = self.script(STOP_SCRIPT) {
            return match self.run_script(&script)? {
                Ending::Exited(0) => {
                    let until = deadline_after(Instant::now(), self.opts.settle);
                    if self.wait_for(Goal::Down, until)? {
                        Ok(Verdict::Done(None))
                    } else {
                        Ok(Verdict::Failed(
                            "stop script exited 0 but the service still runs".into(),
                        ))
                    }
                }
                end => Ok(Verdict::Failed(format!("stop script {end}"))),
            };
        }
        self.control(b"d")?;
        self.progress.dot();
        if self.wait_for(Goal::Finished, self.deadline)? {
            return Ok(Verdict::Done(None));
        }
        if self.status()?.pid == 0 {
            // The service is gone; only its ./finish outlasts the timeout.
            let t = crate::units::format_duration(self.opts.timeout);
            return Ok(Verdict::Done(Some(format!(
                "./finish still running after {t}"
            ))));
        }
        // It ignored its down signal for the whole timeout: KILL it, then report.
        self.control(b"k")?;
        let note = format!(
            "KILLed after {}",
            crate::units::format_duration(self.opts.timeout)
        );
        if self.wait_for(Goal::Down, deadline_after(Instant::now(), KILL_GRACE))? {
            Ok(Verdict::Done(Some(note)))
        } else {
            Ok(Verdict::Failed(format!("{note}, still running")))
        }
    }

    /// The service's own start or stop script, if it has a usable one.
    fn script(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.file(name);
        let meta = std::fs::metadata(&path).ok()?;
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            if self.opts.output != Output::Quiet
                && let Ok(dirfd) = nix::fcntl::open(
                    self.dir.path(),
                    nix::fcntl::OFlag::O_RDONLY
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                && encore_style(&dirfd, name)
            {
                let shown = self.dir.path().display().to_string();
                crate::diag::warn(self.prog, &encore_hint(self.prog, &shown, name));
            }
            Some(path)
        } else {
            if self.opts.output != Output::Quiet {
                crate::diag::warn(
                    self.prog,
                    &format!("{} is not an executable file; ignoring it", path.display()),
                );
            }
            None
        }
    }

    /// Runs a start/stop script in the service directory, killing it (its whole
    /// process group) when it outlasts the script timeout (-T): the script owns its
    /// timing, so svkit's own timeout (-t) does not bound it.
    fn run_script(&mut self, script: &Path) -> Result<Ending, Verdict> {
        let abs = std::fs::canonicalize(self.dir.path()).unwrap_or(self.dir.path().into());
        // By its absolute name: a relative one (`svcstart ./x`) would be looked up
        // from the service directory, where the script runs.
        let mut cmd = Command::new(abs.join(script.file_name().unwrap_or_default()));
        cmd.current_dir(&abs)
            .env("SVC_NAME", abs.file_name().unwrap_or_default())
            .env("SVC_DIR", &abs)
            .env("PATH", search_path())
            .stdin(Stdio::null());
        match self.opts.output {
            Output::Person => {}
            Output::Quiet => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
            Output::Json => {
                cmd.stdout(std::io::stderr());
            }
        }
        // The line's dots continue after the script's own output.
        let _ = std::io::stdout().flush();
        let limit = self.opts.script_timeout;
        let progress = &mut self.progress;
        match crate::bounded::run(&mut cmd, limit, DOT_EVERY, &mut || progress.dot()) {
            Ok(end) => Ok(end),
            Err(RunError::Interrupted(sig)) => {
                // Nothing more is done: handle sees the signal and gives up.
                self.interrupted = Some(sig);
                Err(Verdict::Failed(format!("interrupted by signal {sig}")))
            }
            Err(RunError::Io(e)) => Err(Verdict::Failed(format!(
                "unable to run {}: {}",
                script.display(),
                ioerrstr(&e)
            ))),
        }
    }
}

/// Whether a process runs: not gone, not a zombie. daemontools' supervise sleeps a
/// second after each start before it reaps, so its status says "up" for a run that
/// died at once; /proc tells. Without /proc, the status is taken at its word.
fn running(pid: u32) -> bool {
    // A pid beyond i32 is no process's: as /proc/PID/stat not found.
    let found = i32::try_from(pid).map_err(|_| std::io::ErrorKind::NotFound.into());
    match found.and_then(crate::procstat::ProcStat::try_read) {
        Ok(stat) => stat.is_some_and(|s| !s.is_dead()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            !std::path::Path::new("/proc/self/stat").exists()
        }
        Err(_) => true,
    }
}

/// PATH for scripts: our own directory first, so that `svc`, `svok`, `svstat` and
/// `svwait` are svkit's even where daemontools is installed too.
fn search_path() -> std::ffi::OsString {
    let mut path = std::ffi::OsString::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        path.push(dir);
        path.push(":");
    }
    path.push(std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()));
    path
}

/// Handles one service: the verdict, and what was done to it; `Err(signal)` when a
/// signal interrupted it, and nothing more is said or done.
fn handle(action: Action, name: &Path, opts: &Options) -> Result<(Verdict, Step), i32> {
    let dir = ServiceDir::new(name);
    let step = match action {
        Action::Start => Step::Start,
        Action::Stop => Step::Stop,
        // Back to what the service is configured to be: down if it has a down file.
        Action::Reset => match dir.normally_up() {
            Ok(true) => Step::Start,
            _ => Step::Stop,
        },
        Action::Restart => Step::Restart,
    };
    match is_supervised(&dir) {
        Ok(true) => {}
        Ok(false) | Err(Errno::ENOENT) => {
            return Ok((Verdict::Unreachable("supervise not running".into()), step));
        }
        Err(e) => {
            let why = format!("unable to open supervise/ok: {}", errstr(e));
            return Ok((Verdict::Unreachable(why), step));
        }
    }
    let mut job = Job {
        prog: action.program(),
        name,
        dir,
        opts,
        deadline: deadline_after(Instant::now(), opts.timeout),
        progress: Progress::silent(),
        interrupted: None,
    };
    if step == Step::Restart {
        match job.status() {
            Ok(st) if st.pid == 0 => {
                return Ok((Verdict::Skipped("not running, not restarted".into()), step));
            }
            Ok(_) => {}
            Err(v) => return Ok((v, step)),
        }
    }
    job.progress = Progress::begin(opts.output, step.verb(), job.name);
    let verdict = match step {
        Step::Start => job.start(),
        Step::Stop => job.stop(),
        Step::Restart => job.stop().and_then(|v| match v {
            Verdict::Done(_) => {
                job.deadline = deadline_after(Instant::now(), opts.timeout);
                job.start()
            }
            other => Ok(other),
        }),
    }
    .unwrap_or_else(|v| v);
    if let Some(sig) = job.interrupted {
        return Err(sig);
    }
    let verdict = match (&verdict, opts.persist) {
        (Verdict::Done(_), true) => match persist(&job.dir, step == Step::Stop) {
            Ok(()) => verdict,
            Err(why) => Verdict::Failed(why),
        },
        _ => verdict,
    };
    job.progress.end(&verdict);
    Ok((verdict, step))
}

/// Makes the state survive a reboot: a `down` file for a stopped service, none for
/// a started one. Done relative to the service directory, never through a symbolic
/// link: whoever may write the directory may have put one at `down`.
fn persist(dir: &ServiceDir, down: bool) -> Result<(), String> {
    let verb = if down { "create" } else { "remove" };
    let fail = |e: Errno| {
        format!(
            "unable to {verb} {}: {}",
            dir.file(DOWN).display(),
            errstr(e)
        )
    };
    let dirfd = dir.open().map_err(fail)?;
    if down {
        make_down(&dirfd).map_err(fail)
    } else {
        // unlinkat removes a link itself, never what it names.
        match nix::unistd::unlinkat(&dirfd, DOWN, nix::unistd::UnlinkatFlags::NoRemoveDir) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(fail(e)),
        }
    }
}

/// Makes `down` in the directory `dirfd` an empty regular file: created new (O_EXCL,
/// so nothing in its place is opened, let alone written), or kept if it already is
/// one; anything else there (a symbolic link, a FIFO) is replaced by a new file
/// renamed over it, atomically.
fn make_down(dirfd: &std::os::fd::OwnedFd) -> Result<(), Errno> {
    use nix::fcntl::{AtFlags, OFlag, openat};
    let flags = OFlag::O_WRONLY
        | OFlag::O_CREAT
        | OFlag::O_EXCL
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_NOCTTY
        | OFlag::O_CLOEXEC;
    let mode = nix::sys::stat::Mode::from_bits_truncate(0o644);
    match openat(dirfd, DOWN, flags, mode) {
        Ok(_) => return Ok(()),
        Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let st = nix::sys::stat::fstatat(dirfd, DOWN, AtFlags::AT_SYMLINK_NOFOLLOW)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFREG {
        return Ok(());
    }
    let tmp = format!(".{DOWN}.{}", std::process::id());
    crate::status::replace_at(std::os::fd::AsFd::as_fd(dirfd), &tmp, DOWN, b"")
}

/// The JSON line for one service.
fn json(name: &Path, step: Step, verdict: &Verdict, elapsed: Duration) -> String {
    let (result, reason) = match verdict {
        Verdict::Done(note) => ("ok", note.clone()),
        Verdict::Skipped(why) => ("skipped", Some(why.clone())),
        Verdict::Failed(why) => ("failed", Some(why.clone())),
        Verdict::Unreachable(why) => ("unreachable", Some(why.clone())),
    };
    // Unreachable: whatever status file is left is no one's word on the service now.
    let pid = match verdict {
        Verdict::Unreachable(_) => None,
        _ => Status::read(&ServiceDir::new(name)).ok(),
    }
    .map_or("null".into(), |s| s.pid.to_string());
    JsonObject::new()
        .str("service", &name.to_string_lossy())
        .str("action", step.as_str())
        .str("result", result)
        .raw("exit", verdict.exit_code())
        .opt_str("reason", reason.as_deref())
        .raw("pid", pid)
        .raw("seconds", format_args!("{:.3}", elapsed.as_secs_f64()))
        .end()
}

/// One frontend's work once its command line is read: handle each service in turn;
/// the worst code (0 all reached, 1 one did not, 111 one unreachable, 100 a service
/// that does not exist, and then none is touched). `Err(signal)`: a signal
/// interrupted a script (see `bounded::run`), and nothing more was done.
pub fn run(action: Action, opts: &Options, names: &[OsString]) -> Result<i32, i32> {
    let prog = action.program();
    let svdir = std::env::var_os("SVDIR");
    let dirs: Vec<PathBuf> = names.iter().map(|n| resolve(n, svdir.as_deref())).collect();
    // All or nothing: a misspelt service changes nothing at all.
    let unknown: Vec<(&PathBuf, Errno)> = dirs
        .iter()
        .filter_map(|d| ServiceDir::new(d).check().err().map(|e| (d, e)))
        .collect();
    if !unknown.is_empty() {
        for (d, e) in unknown {
            let why = format!("unable to find service {}: {}", d.display(), errstr(e));
            match opts.output {
                Output::Person => crate::diag::warn(prog, &why),
                Output::Json => sayln!(
                    "{}",
                    JsonObject::new()
                        .str("service", &d.to_string_lossy())
                        .null("action")
                        .str("result", "unknown")
                        .raw("exit", EXIT_USAGE)
                        .str("reason", &why)
                        .null("pid")
                        .raw("seconds", "0.000")
                        .end()
                ),
                Output::Quiet => {}
            }
        }
        return Ok(EXIT_USAGE);
    }
    let mut code = EXIT_OK;
    for d in &dirs {
        let started = Instant::now();
        let (verdict, step) = handle(action, d, opts)?;
        match opts.output {
            Output::Json => sayln!("{}", json(d, step, &verdict, started.elapsed())),
            Output::Person => {
                if let Verdict::Unreachable(why) = &verdict {
                    crate::diag::warn(prog, &format!("unable to control {}: {why}", d.display()));
                }
                if let Verdict::Skipped(why) = &verdict {
                    sayln!("{}: {why}", d.display());
                }
            }
            Output::Quiet => {}
        }
        code = code.max(verdict.exit_code());
    }
    let _ = std::io::stdout().flush();
    Ok(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_bare_names_under_svdir() {
        let resolve =
            |a: &str, d: Option<&str>| super::resolve(a.as_ref(), d.map(std::ffi::OsStr::new));
        assert_eq!(resolve("squid", None), PathBuf::from("/service/squid"));
        assert_eq!(
            resolve("squid", Some("/srv/sv")),
            PathBuf::from("/srv/sv/squid")
        );
        assert_eq!(resolve("squid", Some("")), PathBuf::from("/service/squid"));
        assert_eq!(resolve("./squid", None), PathBuf::from("./squid"));
        assert_eq!(
            resolve("/service/mldonkey/", None),
            PathBuf::from("/service/mldonkey/")
        );
        assert_eq!(resolve("..", None), PathBuf::from(".."));
    }

    #[test]
    fn running_processes() {
        assert!(running(std::process::id()));
        // pid_max is at most 2^22: this one never exists.
        assert!(!running(u32::MAX / 2));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie is not running.
        let deadline = Instant::now() + Duration::from_secs(20);
        while running(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!running(pid));
        child.wait().unwrap();
    }

    #[test]
    fn exit_codes() {
        assert_eq!(Verdict::Done(None).exit_code(), 0);
        assert_eq!(Verdict::Skipped("x".into()).exit_code(), 0);
        assert_eq!(Verdict::Failed("x".into()).exit_code(), 1);
        assert_eq!(Verdict::Unreachable("x".into()).exit_code(), 111);
    }

    #[test]
    fn json_lines() {
        let j = json(
            Path::new("/nonexistent/x"),
            Step::Start,
            &Verdict::Failed("exited within 1s".into()),
            Duration::from_millis(1500),
        );
        assert_eq!(
            j,
            "{\"service\":\"/nonexistent/x\",\"action\":\"start\",\"result\":\"failed\",\"exit\":1,\"reason\":\"exited within 1s\",\"pid\":null,\"seconds\":1.500}"
        );
    }

    #[test]
    fn running_reads_proc_through_procstat() {
        assert!(running(std::process::id()));
        assert!(!running(u32::MAX));
        // A zombie: a child that exited and is not reaped yet.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!running(pid));
        child.wait().unwrap();
    }
}
