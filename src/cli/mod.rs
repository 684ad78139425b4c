//! The command line: option parsing, usage, `PROG: fatal: ...` and exit codes. Only
//! this module and `src/bin/` end the process; the rest of the library returns.
//! A main reads as `parse → call → map the error to a message and a code`.

pub mod admin;
pub mod chain;
pub mod swoc;

pub use crate::diag::{EXIT_NO, EXIT_OK, EXIT_TEMP, EXIT_USAGE};
use crate::diag::{errstr, ioerrstr, line};
use std::io::Write;
use std::time::Duration;

/// Writes `PROG: fatal: MSG` to stderr and exits with `code`.
pub fn fatal(prog: &str, code: i32, msg: &str) -> ! {
    line(prog, "fatal: ", msg);
    std::process::exit(code)
}

/// A library error a main can end on: its Display is the message after `PROG: fatal: `
/// (the object and the cause, `unable to read DIR/NAME: REASON`), `exit_code` its class
/// (100 permanent or usage, 111 temporary: the default).
pub trait Failure: std::fmt::Display {
    fn exit_code(&self) -> i32 {
        EXIT_TEMP
    }
}

/// Ends the process on `err`: `PROG: fatal: ERR`, exit code as the error's class says.
pub fn die(prog: &str, err: &dyn Failure) -> ! {
    fatal(prog, err.exit_code(), &err.to_string())
}

/// The value of `r`, or the end of the process on its error (see `die`).
pub fn or_die<T, E: Failure>(prog: &str, r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| die(prog, &e))
}

/// Writes `PROG: usage: SYNOPSIS` to stderr and exits 100.
pub fn usage(prog: &str, synopsis: &str) -> ! {
    line(prog, "usage: ", synopsis);
    std::process::exit(EXIT_USAGE)
}

/// As `usage`, for a tool whose usage exit code is not 100 (daemontools' envdir: 111).
pub fn usage_exit(prog: &str, synopsis: &str, code: i32) -> ! {
    line(prog, "usage: ", synopsis);
    std::process::exit(code)
}

/// Says what was wrong with the command line, then `PROG: usage: SYNOPSIS`; exits 100.
pub fn usage_error(prog: &str, synopsis: &str, what: impl std::fmt::Display) -> ! {
    usage_error_exit(prog, synopsis, EXIT_USAGE, what)
}

/// As `usage_error`, for a tool whose usage exit code is not 100 (SWOC's is 64).
pub fn usage_error_exit(prog: &str, synopsis: &str, code: i32, what: impl std::fmt::Display) -> ! {
    line(prog, "", &what.to_string());
    line(prog, "usage: ", synopsis);
    std::process::exit(code)
}

/// The main of a filter that takes no arguments (tai64n, tai64nlocal): copies stdin
/// to stdout through `filter`. A reader that went away (EPIPE) ends the process as
/// SIGPIPE would have, quietly, as daemontools' filters die (Rust ignores SIGPIPE, so
/// it is raised here); any other error is `PROG: fatal: unable to copy: ...`, 111.
pub fn run_filter(
    prog: &str,
    filter: fn(std::io::StdinLock<'static>, std::io::StdoutLock<'static>) -> std::io::Result<()>,
) -> ! {
    help_if_asked(prog, prog, true);
    if std::env::args_os().len() > 1 {
        usage(prog, prog);
    }
    match filter(std::io::stdin().lock(), std::io::stdout().lock()) {
        Ok(()) => std::process::exit(EXIT_OK),
        Err(e) => {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                use nix::sys::signal::{SigHandler, Signal, raise, signal};
                // SAFETY: restoring the default disposition installs no handler.
                let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
                let _ = raise(Signal::SIGPIPE);
            }
            fatal(
                prog,
                EXIT_TEMP,
                &format!("unable to copy: {}", ioerrstr(&e)),
            )
        }
    }
}

/// Prints `usage: SYNOPSIS` to stdout and exits 0 when the only argument asks for help
/// (`--help`, and `-h` where `h_is_help`: svc keeps `-h` for SIGHUP).
pub fn help_if_asked(prog: &str, synopsis: &str, h_is_help: bool) {
    let mut args = std::env::args_os().skip(1);
    if let (Some(a), None) = (args.next(), args.next())
        && (a == "--help" || (h_is_help && a == "-h"))
    {
        let _ = writeln!(std::io::stdout(), "{prog}: usage: {synopsis}");
        std::process::exit(EXIT_OK);
    }
}

/// `account::lookup` for a main: an unknown account is `PROG: fatal: unknown account
/// NAME`, exit 111, as in daemontools.
pub fn lookup_account(prog: &str, name: &str) -> (crate::account::Account, crate::account::Source) {
    match crate::account::lookup(name) {
        Ok(Some(found)) => found,
        Ok(None) => fatal(prog, EXIT_TEMP, &format!("unknown account {name}")),
        Err(e) => fatal(
            prog,
            EXIT_TEMP,
            &format!("unable to look up account {name}: {}", errstr(e)),
        ),
    }
}

/// Ends the process as `sig` would have (a shell then sees the signal, not a code):
/// for a main whose work was interrupted (`bounded::RunError::Interrupted`). Exits
/// 128+sig should the signal not end it.
pub fn die_of_signal(sig: i32) -> ! {
    let _ = signal_hook::low_level::emulate_default_handler(sig);
    std::process::exit(128 + sig)
}

/// An option as the parser saw it, owned so the handler may read its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opt {
    Short(char),
    Long(String),
}

impl std::fmt::Display for Opt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Opt::Short(c) => write!(f, "-{c}"),
            Opt::Long(l) => write!(f, "--{l}"),
        }
    }
}

/// Parses a command line of options, as `on_option` takes them (it returns false for
/// one it does not know), then operands: from the first operand on, everything is an
/// operand, verbatim (a chain-loader's program keeps its own options). Exits 100 with
/// the usage on any error; the operands may be none.
pub fn options_then_operands(
    prog: &str,
    synopsis: &str,
    mut on_option: impl FnMut(&mut lexopt::Parser, Opt) -> Result<bool, String>,
) -> Vec<std::ffi::OsString> {
    let mut parser = lexopt::Parser::from_env();
    let mut handle = |parser: &mut lexopt::Parser, opt: Opt| match on_option(parser, opt.clone()) {
        Ok(true) => {}
        Ok(false) => usage_error(prog, synopsis, format!("invalid option '{opt}'")),
        Err(msg) => usage_error(prog, synopsis, msg),
    };
    let mut first = None;
    loop {
        match parser.next() {
            Ok(Some(lexopt::Arg::Value(v))) => {
                first = Some(v);
                break;
            }
            Ok(Some(lexopt::Arg::Short(c))) => handle(&mut parser, Opt::Short(c)),
            Ok(Some(lexopt::Arg::Long(l))) => {
                let opt = Opt::Long(l.to_string());
                handle(&mut parser, opt)
            }
            Ok(None) => break,
            Err(e) => usage_error(prog, synopsis, e),
        }
    }
    let mut rest: Vec<std::ffi::OsString> = first.into_iter().collect();
    if let Ok(raw) = parser.raw_args() {
        rest.extend(raw);
    }
    rest
}

/// The value of a duration option (`-t 90s`) as `units::parse_duration` reads it: at
/// most a hundred years, so no deadline overflows. The error is the line a usage error
/// shows. A value that is not UTF-8 is read lossily (and so refused).
pub fn duration_arg(p: &mut lexopt::Parser) -> Result<Duration, String> {
    let v = p.value().map_err(|e| e.to_string())?;
    crate::units::parse_duration(&v.to_string_lossy()).map_err(|e| e.to_string())
}

/// As `duration_arg`, saying so by name when the value is not UTF-8 (clinit, whose
/// arguments are text).
pub fn text_duration_arg(p: &mut lexopt::Parser) -> Result<Duration, String> {
    let v = p.value().map_err(|e| e.to_string())?;
    match v.to_str() {
        Some(s) => crate::units::parse_duration(s).map_err(|e| e.to_string()),
        None => Err(format!("duration {v:?} is not UTF-8 text")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    /// The duration of `-t VALUE`, as each parser gives it.
    fn t(value: OsString, text: bool) -> Result<Duration, String> {
        let mut p = lexopt::Parser::from_args([OsString::from("-t"), value]);
        assert_eq!(p.next().unwrap(), Some(lexopt::Arg::Short('t')));
        match text {
            false => duration_arg(&mut p),
            true => text_duration_arg(&mut p),
        }
    }

    #[test]
    fn duration_options() {
        for text in [false, true] {
            assert_eq!(t("90s".into(), text), Ok(Duration::from_secs(90)));
            assert_eq!(t("1h10m".into(), text), Ok(Duration::from_secs(4200)));
            assert_eq!(
                t("36501d".into(), text),
                Err("duration \"36501d\" too long (at most 36500d)".into())
            );
            assert!(
                t("soon".into(), text)
                    .unwrap_err()
                    .starts_with("invalid duration \"soon\"")
            );
        }
        let ff = OsString::from_vec(vec![0xff]);
        assert!(
            t(ff.clone(), false)
                .unwrap_err()
                .starts_with("invalid duration \"\u{fffd}\"")
        );
        assert_eq!(
            t(ff, true),
            Err("duration \"\\xFF\" is not UTF-8 text".into())
        );
        let mut p = lexopt::Parser::from_args(["-t"]);
        p.next().unwrap();
        assert_eq!(
            duration_arg(&mut p),
            Err("missing argument for option '-t'".into())
        );
    }
}
