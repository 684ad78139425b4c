//! The command line: option parsing, usage, `PROG: fatal: ...` and exit codes. Only
//! this module and `src/bin/` end the process; the rest of the library returns.
//! A main reads as `parse → call → map the error to a message and a code`.

pub mod admin;
pub mod chain;
pub mod swoc;

pub use crate::diag::{EXIT_NO, EXIT_OK, EXIT_TEMP, EXIT_USAGE};
use crate::diag::{errstr, ioerrstr, line};
use std::io::Write;

/// Writes `PROG: fatal: MSG` to stderr and exits with `code`.
pub fn fatal(prog: &str, code: i32, msg: &str) -> ! {
    line(prog, "fatal: ", msg);
    std::process::exit(code)
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
