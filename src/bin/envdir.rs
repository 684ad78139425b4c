//! envdir DIR PROGRAM...: run PROGRAM with environment variables set from files in DIR.

use svkit::chain::parse_args;
use svkit::diag::{EXIT_TEMP, errstr, fatal, help_if_asked};
use svkit::envdir::{EnvChange, EnvdirError, read_envdir};

const SYNOPSIS: &str = "envdir dir child";

fn main() {
    help_if_asked("envdir", SYNOPSIS, true);
    let (operands, program) = parse_args("envdir", SYNOPSIS, 1, |_, _| Ok(false));
    let dir = std::path::Path::new(&operands[0]);
    let d = dir.display();
    let changes = match read_envdir(dir) {
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
