//! fghack PROGRAM...: run a self-backgrounding PROGRAM and wait for all of it.

use svkit::cli::chain::parse_args;
use svkit::cli::{EXIT_TEMP, fatal, help_if_asked};
use svkit::diag::{errstr, ioerrstr};
use svkit::fghack::{Ended, FghackError, run};

const SYNOPSIS: &str = "fghack child";

pub fn main() {
    help_if_asked("fghack", SYNOPSIS, true);
    let (_, program) = parse_args("fghack", SYNOPSIS, 0, |_, _| Ok(false));
    match run(program.command()) {
        Ok(Ended::Exited(code)) => std::process::exit(code),
        Ok(Ended::Crashed(sig)) => fatal(
            "fghack",
            EXIT_TEMP,
            &format!("{} crashed: signal {sig}", program.name()),
        ),
        Err(FghackError::Pipe(e)) => fatal(
            "fghack",
            EXIT_TEMP,
            &format!("unable to create pipe: {}", errstr(e)),
        ),
        Err(FghackError::Run(e)) => fatal(
            "fghack",
            EXIT_TEMP,
            &format!("unable to run {}: {}", program.name(), ioerrstr(&e)),
        ),
        Err(FghackError::Wait(e)) => fatal(
            "fghack",
            EXIT_TEMP,
            &format!("wait failed: {}", ioerrstr(&e)),
        ),
    }
}
