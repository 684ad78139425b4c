//! envdir [-p prefix] DIR PROGRAM...: run PROGRAM with environment variables set from
//! files in DIR.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use svkit::cli::chain::Program;
use svkit::cli::{EXIT_TEMP, help_if_asked, or_die, usage_error_exit, usage_exit};
use svkit::envdir::{EnvChange, EnvdirError, read_envdir};

const SYNOPSIS: &str = "envdir [-p prefix] dir child";

/// daemontools' envdir exits 111 on a usage error too (Debian's test suite checks it):
/// so does this one, for every usage error.
fn usage() -> ! {
    usage_exit("envdir", SYNOPSIS, EXIT_TEMP)
}

/// The prefix, the directory and the program, or a usage error. Options end at the
/// first operand or at `--`; everything after the directory is the program, verbatim.
fn parse(mut args: impl Iterator<Item = OsString>) -> (Vec<u8>, OsString, Program) {
    let mut prefix = Vec::new();
    let dir = loop {
        let Some(a) = args.next() else { usage() };
        let b = a.as_bytes();
        if b == b"--" {
            break args.next().unwrap_or_else(|| usage());
        } else if let Some(p) = b.strip_prefix(b"-p") {
            prefix = if p.is_empty() {
                args.next().unwrap_or_else(|| usage()).into_vec()
            } else {
                p.to_vec()
            };
            if prefix.contains(&b'=') {
                usage_error_exit("envdir", SYNOPSIS, EXIT_TEMP, "prefix must not contain =");
            }
        } else if b.len() > 1 && b[0] == b'-' {
            usage_error_exit(
                "envdir",
                SYNOPSIS,
                EXIT_TEMP,
                format!("invalid option '{}'", a.to_string_lossy()),
            );
        } else {
            break a;
        }
    };
    let program = Program::new(args.collect()).unwrap_or_else(|| usage());
    (prefix, dir, program)
}

pub fn main() {
    help_if_asked("envdir", SYNOPSIS, true);
    let (prefix, dir, program) = parse(std::env::args_os().skip(1));
    let changes = match read_envdir(std::path::Path::new(&dir), &prefix) {
        Err(e @ EnvdirError::BadPrefix(_)) => usage_error_exit("envdir", SYNOPSIS, EXIT_TEMP, e),
        r => or_die("envdir", r),
    };
    let mut cmd = program.command();
    for c in changes {
        match c {
            EnvChange::Set(k, v) => cmd.env(k, v),
            EnvChange::Unset(k) => cmd.env_remove(k),
        };
    }
    program.exec("envdir", cmd);
}
