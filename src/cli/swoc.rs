//! The command line that swocclient and swocserver share: SWOC's usage exit (64),
//! `-h`/`-V`, the waiting options, one action out of several, and the problems that
//! end either program with SWOC's exit 1.

use super::{Failure, duration_arg, fatal};
use crate::swoc::{
    ClientName, EXIT_MINOR, EXIT_OK, EXIT_USAGE, Polling, SwocError, Waited, plural,
};
use lexopt::Arg::{self, Long, Short};
use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

/// What a program says of itself: in usage errors, `-h` and `-V`.
pub struct Program {
    pub name: &'static str,
    pub synopsis: &'static str,
    pub help: &'static str,
    /// The actions as "no action given (one of ...)" lists them.
    pub actions: &'static str,
    /// The short letter of `--interval`, where the program has one.
    pub interval_short: Option<char>,
}

/// What one of a program's own options is, as its handler tells the shared parser.
#[derive(Debug, PartialEq, Eq)]
pub enum Flag<A> {
    /// An action, by the name the usage gives it.
    Action(A, &'static str),
    /// The service directory: its value follows.
    Dir,
    /// An option the handler kept for itself, with its value if it has one.
    Kept,
    /// As `Kept`, for an option that goes only with the action named `with`.
    Only {
        option: &'static str,
        with: &'static str,
    },
    /// Not an option of this program.
    Unknown,
}

/// Where a command line stopped short of a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Help,
    Version,
    /// A usage error: what was wrong; the usage follows it, exit 64.
    Usage(String),
    /// An option asking for what svkit does not have: said as `fatal`, exit 64.
    Unsupported(String),
}

impl From<lexopt::Error> for Stop {
    fn from(e: lexopt::Error) -> Stop {
        bad(e)
    }
}

/// A usage error saying `what`.
pub fn bad(what: impl std::fmt::Display) -> Stop {
    Stop::Usage(what.to_string())
}

/// A command line read whole: its one action, the directory given, the waiting options.
#[derive(Debug, PartialEq, Eq)]
pub struct Command<A> {
    pub action: A,
    pub dir: Option<OsString>,
    pub polling: Polling,
}

/// The chosen action and the options that go with one action only: what is checked
/// once every argument is read.
struct Choice<A> {
    action: Option<(A, &'static str)>,
    /// (the action, the last option given that goes only with it), in order of first use.
    only: Vec<(&'static str, &'static str)>,
    wait_only: Option<&'static str>,
}

impl<A> Choice<A> {
    fn set(&mut self, action: A, name: &'static str) -> Result<(), Stop> {
        if let Some((_, prev)) = &self.action {
            return Err(bad(format!("{prev} and {name} are mutually exclusive")));
        }
        self.action = Some((action, name));
        Ok(())
    }

    fn only(&mut self, option: &'static str, with: &'static str) {
        match self.only.iter_mut().find(|(w, _)| *w == with) {
            Some(slot) => slot.1 = option,
            None => self.only.push((with, option)),
        }
    }

    fn finish(self, program: &Program) -> Result<A, Stop> {
        let Some((action, name)) = self.action else {
            return Err(bad(format!("no action given (one of {})", program.actions)));
        };
        if let Some((with, option)) = self.only.iter().find(|(with, _)| *with != name) {
            return Err(bad(format!("{option} goes only with {with}")));
        }
        if let Some(o) = self.wait_only.filter(|_| name != "-w") {
            return Err(bad(format!("{o} goes only with -w")));
        }
        Ok(action)
    }
}

/// Reads a swocclient or swocserver command line: `-h`, `-V`, the waiting options
/// and `--dir` here, every other option through `own`; exactly one action.
pub fn parse<A>(
    program: &Program,
    mut p: lexopt::Parser,
    mut own: impl FnMut(Arg<'_>, &mut lexopt::Parser) -> Result<Flag<A>, Stop>,
) -> Result<Command<A>, Stop> {
    let mut choice = Choice {
        action: None,
        only: Vec::new(),
        wait_only: None,
    };
    let (mut dir, mut polling) = (None, Polling::default());
    while let Some(arg) = p.next()? {
        // Owned, so the handler may take the option's value from the parser.
        let name = match arg {
            Short(c) => Err(c),
            Long(l) => Ok(l.to_string()),
            value @ Arg::Value(_) => return Err(bad(value.unexpected())),
        };
        let arg = match &name {
            Err(c) => Short(*c),
            Ok(l) => Long(l.as_str()),
        };
        match arg {
            Short('h') | Long("help") => return Err(Stop::Help),
            Short('V') | Long("version") => return Err(Stop::Version),
            Long("dir") => {
                dir = Some(p.value()?);
                continue;
            }
            _ => {}
        }
        if let Some(option) = polling_option(&arg, program.interval_short) {
            set_polling(&mut polling, option, &mut p).map_err(Stop::Usage)?;
            choice.wait_only = Some(option);
            continue;
        }
        match own(arg.clone(), &mut p)? {
            Flag::Action(a, name) => choice.set(a, name)?,
            Flag::Dir => dir = Some(p.value()?),
            Flag::Kept => {}
            Flag::Only { option, with } => choice.only(option, with),
            Flag::Unknown => return Err(bad(arg.unexpected())),
        }
    }
    Ok(Command {
        action: choice.finish(program)?,
        dir,
        polling,
    })
}

/// `parse` on the process's arguments; anything short of a command ends the process:
/// help and version exit 0, the rest 64.
pub fn command<A>(
    program: &Program,
    own: impl FnMut(Arg<'_>, &mut lexopt::Parser) -> Result<Flag<A>, Stop>,
) -> Command<A> {
    let stop = match parse(program, lexopt::Parser::from_env(), own) {
        Ok(c) => return c,
        Err(stop) => stop,
    };
    let mut out = std::io::stdout();
    match stop {
        Stop::Help => {
            let _ = writeln!(out, "{}", program.help);
        }
        Stop::Version => {
            let _ = writeln!(
                out,
                "{} (svkit) {}",
                program.name,
                env!("CARGO_PKG_VERSION")
            );
        }
        Stop::Usage(what) => usage(program.name, program.synopsis, what),
        Stop::Unsupported(msg) => fatal(program.name, EXIT_USAGE, &msg),
    }
    std::process::exit(EXIT_OK)
}

/// Says what was wrong, then `PROG: usage: SYNOPSIS`; exits 64 (SWOC's EX_USAGE).
pub fn usage(prog: &str, synopsis: &str, what: impl std::fmt::Display) -> ! {
    super::usage_error_exit(prog, synopsis, EXIT_USAGE, what)
}

/// Which waiting option `arg` is, as the usage names it, if it is one;
/// `interval_short` is the short letter of `--interval` where a command has one.
fn polling_option(arg: &Arg, interval_short: Option<char>) -> Option<&'static str> {
    match arg {
        Short('t') | Long("timeout") => Some("-t"),
        Long("interval") => Some("--interval"),
        Short(c) if Some(*c) == interval_short => Some("-i"),
        Long("no-inotify") => Some("--no-inotify"),
        _ => None,
    }
}

/// Sets the waiting option `option` names in `polling`, taking its value from `p`.
fn set_polling(polling: &mut Polling, option: &str, p: &mut lexopt::Parser) -> Result<(), String> {
    match option {
        "-t" => polling.timeout = Some(duration_arg(p)?),
        "--no-inotify" => polling.inotify = false,
        _ => polling.interval = interval_arg(p)?,
    }
    Ok(())
}

fn interval_arg(p: &mut lexopt::Parser) -> Result<Duration, String> {
    Some(duration_arg(p)?)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| "the interval must be more than 0".to_string())
}

/// What ends swocclient or swocserver with SWOC's "minor problem", exit 1: its Display
/// is the message after `PROG: fatal: `.
#[derive(Debug)]
pub enum Problem {
    Swoc(SwocError),
    /// The host name, the default client name, could not be had.
    Hostname(nix::errno::Errno),
    Blocked(ClientName),
    Disallowed,
    /// The lock file came out owned by `uid`, which `clients` (this file) does not
    /// give `client`.
    NotYours {
        uid: u32,
        client: ClientName,
        clients: PathBuf,
    },
    /// The client holds no lock to release; this many expired ones were removed.
    NoLock {
        client: ClientName,
        expired: usize,
    },
    /// The wait ended with this many locks (of the client, or everyone's) left.
    TimedOut {
        client: Option<ClientName>,
        remaining: usize,
    },
    WriteStatus(std::io::Error),
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::Swoc(e) => write!(f, "{e}"),
            Problem::Hostname(e) => write!(f, "unable to get the host name: {e}"),
            Problem::Blocked(c) => write!(f, "unable to lock: client {c} is blocked"),
            Problem::Disallowed => write!(f, "unable to lock: the server disallows new locks"),
            Problem::NotYours {
                uid,
                client,
                clients,
            } => write!(
                f,
                "unable to lock: uid {uid} may not use client {client}: only the server's account, root and the uids {} gives {client}",
                clients.display()
            ),
            Problem::NoLock { client, expired: 0 } => {
                write!(f, "unable to release: client {client} holds no lock")
            }
            Problem::NoLock { client, expired } => write!(
                f,
                "unable to release: client {client} holds no lock ({expired} expired removed)"
            ),
            Problem::TimedOut {
                client: Some(c),
                remaining,
            } => write!(
                f,
                "timed out: client {c} still holds {}",
                plural(*remaining, "lock")
            ),
            Problem::TimedOut {
                client: None,
                remaining,
            } => write!(f, "timed out: {} still held", plural(*remaining, "lock")),
            Problem::WriteStatus(e) => write!(f, "unable to write status: {e}"),
        }
    }
}

impl Failure for Problem {
    fn exit_code(&self) -> i32 {
        EXIT_MINOR
    }
}

impl From<SwocError> for Problem {
    fn from(e: SwocError) -> Problem {
        Problem::Swoc(e)
    }
}

/// A wait's end as a command's: timing out is a problem.
pub fn waited(w: Waited, client: Option<&ClientName>) -> Result<(), Problem> {
    match w {
        Waited::Done => Ok(()),
        Waited::TimedOut { remaining } => Err(Problem::TimedOut {
            client: client.cloned(),
            remaining,
        }),
    }
}

/// Writes a `-s` report to stdout, all of it or a problem.
pub fn print_status(
    write: impl FnOnce(&mut std::io::BufWriter<std::io::StdoutLock<'static>>) -> std::io::Result<()>,
) -> Result<(), Problem> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(Problem::WriteStatus)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: Program = Program {
        name: "t",
        synopsis: "t -a|-b [-m x]",
        help: "help",
        actions: "-a -b",
        interval_short: Some('i'),
    };

    fn own(arg: Arg<'_>, p: &mut lexopt::Parser) -> Result<Flag<char>, Stop> {
        Ok(match arg {
            Short('a') => Flag::Action('a', "-a"),
            Short('w') => Flag::Action('w', "-w"),
            Short('d') => Flag::Dir,
            Short('m') => {
                p.value()?;
                Flag::Only {
                    option: "-m",
                    with: "-a",
                }
            }
            Short('e') => return Err(Stop::Unsupported("-e: no".into())),
            _ => Flag::Unknown,
        })
    }

    fn run(args: &[&str]) -> Result<Command<char>, Stop> {
        parse(&TEST, lexopt::Parser::from_args(args), own)
    }

    #[test]
    fn one_action_with_its_options() {
        let c = run(&["-w", "-t", "5s", "-i", "2s", "--no-inotify", "--dir", "/x"]).unwrap();
        assert_eq!(c.action, 'w');
        assert_eq!(c.dir, Some("/x".into()));
        assert_eq!(
            c.polling,
            Polling {
                timeout: Some(Duration::from_secs(5)),
                interval: Duration::from_secs(2),
                inotify: false,
            }
        );
        assert_eq!(
            run(&["-d", "/y", "-a", "-m", "z"]).unwrap().dir,
            Some("/y".into())
        );
    }

    #[test]
    fn stops() {
        assert_eq!(run(&["-a", "-h"]), Err(Stop::Help));
        assert_eq!(run(&["--version"]), Err(Stop::Version));
        assert_eq!(run(&["-e"]), Err(Stop::Unsupported("-e: no".into())));
        let usage = |args: &[&str]| match run(args) {
            Err(Stop::Usage(what)) => what,
            other => panic!("{other:?}"),
        };
        assert_eq!(usage(&[]), "no action given (one of -a -b)");
        assert_eq!(usage(&["-a", "-w"]), "-a and -w are mutually exclusive");
        assert_eq!(usage(&["-w", "-m", "x"]), "-m goes only with -a");
        assert_eq!(usage(&["-t", "1s", "-a"]), "-t goes only with -w");
        assert_eq!(
            usage(&["-t", "1s", "-m", "x", "-w"]),
            "-m goes only with -a"
        );
        assert_eq!(
            usage(&["-w", "-i", "0s"]),
            "the interval must be more than 0"
        );
        assert_eq!(usage(&["-x"]), "invalid option '-x'");
        assert_eq!(usage(&["-w", "op"]), "unexpected argument \"op\"");
        assert_eq!(
            usage(&["-w", "--dir"]),
            "missing argument for option '--dir'"
        );
    }

    #[test]
    fn problems() {
        let c = ClientName::new("alpha").unwrap();
        let no_lock = |expired| Problem::NoLock {
            client: c.clone(),
            expired,
        };
        assert_eq!(
            no_lock(0).to_string(),
            "unable to release: client alpha holds no lock"
        );
        assert_eq!(
            no_lock(2).to_string(),
            "unable to release: client alpha holds no lock (2 expired removed)"
        );
        let timed_out = |client| waited(Waited::TimedOut { remaining: 1 }, client).unwrap_err();
        assert_eq!(
            timed_out(Some(&c)).to_string(),
            "timed out: client alpha still holds 1 lock"
        );
        assert_eq!(timed_out(None).to_string(), "timed out: 1 lock still held");
        assert_eq!(timed_out(None).exit_code(), EXIT_MINOR);
        assert!(waited(Waited::Done, None).is_ok());
    }
}
