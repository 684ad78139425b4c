//! The admin frontends svcstart, svcstop, svcreset and svcrestart (Syn-3): act on a
//! service, then verify that it reached the state, and answer with an exit code.

#[macro_use]
mod output;
mod job;
mod persist;
mod scripts;
pub use crate::service_dir::resolve;
pub use scripts::{START_SCRIPT, STOP_SCRIPT, encore_hint, encore_style};

use crate::control::is_supervised;
use crate::diag::{EXIT_NO, EXIT_OK, EXIT_TEMP, EXIT_USAGE, errstr};
use crate::service_dir::ServiceDir;
use job::Job;
use nix::errno::Errno;
use output::{Progress, json_line, unknown_service_json};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// Which frontend runs: what it is asked to do to each service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verb {
    Start,
    Stop,
    Reset,
    Restart,
}

impl Verb {
    pub fn program(self) -> &'static str {
        match self {
            Verb::Start => "svcstart",
            Verb::Stop => "svcstop",
            Verb::Reset => "svcreset",
            Verb::Restart => "svcrestart",
        }
    }

    /// The usage line.
    pub fn synopsis(self) -> String {
        let persist = match self {
            Verb::Start | Verb::Stop => " [-p]",
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

impl Step {
    /// What `verb` does to the service in `dir`: svcreset brings it back to what it is
    /// configured to be, down if it has a down file.
    fn of(verb: Verb, dir: &ServiceDir) -> Step {
        match verb {
            Verb::Start => Step::Start,
            Verb::Stop => Step::Stop,
            Verb::Reset => match dir.normally_up() {
                Ok(true) => Step::Start,
                _ => Step::Stop,
            },
            Verb::Restart => Step::Restart,
        }
    }
}

/// A signal reached svkit while a start or stop script ran (see `bounded::run_within`):
/// nothing more is said or done, and the frontend ends as the signal would have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted(pub i32);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "interrupted by signal {}", self.0)
    }
}

/// Why supervise of `dir` cannot be told anything, if it cannot.
fn unreachable(dir: &ServiceDir) -> Option<Verdict> {
    match is_supervised(dir) {
        Ok(true) => None,
        Ok(false) | Err(Errno::ENOENT) => {
            Some(Verdict::Unreachable("supervise not running".into()))
        }
        Err(e) => Some(Verdict::Unreachable(format!(
            "unable to open supervise/ok: {}",
            errstr(e)
        ))),
    }
}

/// Handles one service: the verdict, and what was done to it.
fn handle(verb: Verb, name: &Path, opts: &Options) -> Result<(Verdict, Step), Interrupted> {
    let dir = ServiceDir::new(name);
    let step = Step::of(verb, &dir);
    if let Some(verdict) = unreachable(&dir) {
        return Ok((verdict, step));
    }
    let mut job = Job::new(verb.program(), name, dir, opts);
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
    let verdict = job.perform(step);
    if let Some(sig) = job.interrupted {
        return Err(Interrupted(sig));
    }
    let verdict = match (&verdict, opts.persist) {
        (Verdict::Done(_), true) => match persist::persist(&job.dir, step == Step::Stop) {
            Ok(()) => verdict,
            Err(why) => Verdict::Failed(why),
        },
        _ => verdict,
    };
    job.progress.end(&verdict);
    Ok((verdict, step))
}

/// The services of the command line that do not exist, each with why.
fn unknown_services(dirs: &[PathBuf]) -> Vec<(&PathBuf, Errno)> {
    dirs.iter()
        .filter_map(|d| ServiceDir::new(d).check().err().map(|e| (d, e)))
        .collect()
}

/// One frontend's work once its command line is read: handle each service in turn;
/// the worst code (0 all reached, 1 one did not, 111 one unreachable, 100 a service
/// that does not exist, and then none is touched). `Err`: a signal interrupted a
/// script, and nothing more was done.
pub fn handle_services(verb: Verb, opts: &Options, names: &[OsString]) -> Result<i32, Interrupted> {
    let prog = verb.program();
    let svdir = std::env::var_os("SVDIR");
    let dirs: Vec<PathBuf> = names.iter().map(|n| resolve(n, svdir.as_deref())).collect();
    // All or nothing: a misspelt service changes nothing at all.
    let unknown = unknown_services(&dirs);
    if !unknown.is_empty() {
        for (d, e) in unknown {
            let why = format!("unable to find service {}: {}", d.display(), errstr(e));
            match opts.output {
                Output::Person => crate::diag::warn(prog, &why),
                Output::Json => sayln!("{}", unknown_service_json(d, &why)),
                Output::Quiet => {}
            }
        }
        return Ok(EXIT_USAGE);
    }
    let mut code = EXIT_OK;
    for d in &dirs {
        let started = Instant::now();
        let (verdict, step) = handle(verb, d, opts)?;
        match opts.output {
            Output::Json => sayln!("{}", json_line(d, step, &verdict, started.elapsed())),
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
    fn exit_codes() {
        assert_eq!(Verdict::Done(None).exit_code(), 0);
        assert_eq!(Verdict::Skipped("x".into()).exit_code(), 0);
        assert_eq!(Verdict::Failed("x".into()).exit_code(), 1);
        assert_eq!(Verdict::Unreachable("x".into()).exit_code(), 111);
    }
}
