//! envdir [-p prefix] DIR PROGRAM...: run PROGRAM with environment variables set from
//! files in DIR.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use svkit::cli::chain::Program;
use svkit::cli::{EXIT_TEMP, fatal, help_if_asked, usage_error_exit, usage_exit};
use svkit::diag::errstr;
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
    let dir = std::path::Path::new(&dir);
    let d = dir.display();
    let changes = match read_envdir(dir, &prefix) {
        Ok(c) => c,
        Err(EnvdirError::OpenDir(e)) => fatal(
            "envdir",
            EXIT_TEMP,
            &format!("unable to switch to directory {d}: {}", errstr(e)),
        ),
        Err(EnvdirError::ReadDir(e)) => fatal(
            "envdir",
            EXIT_TEMP,
            &format!("unable to read directory {d}: {}", errstr(e)),
        ),
        Err(EnvdirError::Read(name, e)) => fatal(
            "envdir",
            EXIT_TEMP,
            &format!("unable to read {d}/{}: {e}", name.to_string_lossy()),
        ),
        Err(EnvdirError::BadName(name)) => fatal(
            "envdir",
            EXIT_TEMP,
            &format!(
                "invalid variable name {d}/{}: contains =",
                name.to_string_lossy()
            ),
        ),
        Err(EnvdirError::BadPrefix(_)) => {
            usage_error_exit("envdir", SYNOPSIS, EXIT_TEMP, "prefix must not contain =")
        }
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
