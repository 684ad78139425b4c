//! pgrphack PROGRAM...: run PROGRAM in a new session and process group.

use svkit::cli::chain::parse_args;
use svkit::cli::help_if_asked;

const SYNOPSIS: &str = "pgrphack child";

pub fn main() {
    help_if_asked("pgrphack", SYNOPSIS, true);
    let (_, program) = parse_args("pgrphack", SYNOPSIS, 0, |_, _| Ok(false));
    // Fails only for a process group leader, which already has a group of its own.
    let _ = nix::unistd::setsid();
    program.exec("pgrphack", program.command());
}
