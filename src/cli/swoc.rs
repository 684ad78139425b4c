//! The command line that swocclient and swocserver share: SWOC's usage exit (64),
//! `-h`/`-V`, the waiting options, and one action out of several.

use super::duration_arg;
use crate::swoc::{EXIT_OK, EXIT_USAGE, Polling};
use std::io::Write;
use std::time::Duration;

/// Says what was wrong, then `PROG: usage: SYNOPSIS`; exits 64 (SWOC's EX_USAGE).
pub fn usage(prog: &str, synopsis: &str, what: impl std::fmt::Display) -> ! {
    super::usage_error_exit(prog, synopsis, EXIT_USAGE, what)
}

/// `-h`/`--help` prints `help`, `-V`/`--version` the version; both exit 0.
pub fn help_or_version(arg: &lexopt::Arg, prog: &str, help: &str) {
    use lexopt::Arg::{Long, Short};
    match arg {
        Short('h') | Long("help") => {
            let _ = writeln!(std::io::stdout(), "{help}");
        }
        Short('V') | Long("version") => {
            let _ = writeln!(
                std::io::stdout(),
                "{prog} (svkit) {}",
                env!("CARGO_PKG_VERSION")
            );
        }
        _ => return,
    }
    std::process::exit(EXIT_OK)
}

/// Which waiting option `arg` is, as the usage names it, if it is one;
/// `interval_short` is the short letter of `--interval` where a command has one.
pub fn polling_option(arg: &lexopt::Arg, interval_short: Option<char>) -> Option<&'static str> {
    use lexopt::Arg::{Long, Short};
    match arg {
        Short('t') | Long("timeout") => Some("-t"),
        Long("interval") => Some("--interval"),
        Short(c) if Some(*c) == interval_short => Some("-i"),
        Long("no-inotify") => Some("--no-inotify"),
        _ => None,
    }
}

/// Sets the waiting option `option` names in `polling`, taking its value from `p`.
pub fn set_polling(
    polling: &mut Polling,
    option: &str,
    p: &mut lexopt::Parser,
) -> Result<(), String> {
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
