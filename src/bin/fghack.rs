//! fghack PROGRAM...: run a self-backgrounding PROGRAM and wait for all of it.

use svkit::cli::chain::parse_args;
use svkit::cli::{help_if_asked, or_die};
use svkit::fghack::wait_for_all;

const SYNOPSIS: &str = "fghack child";

pub fn main() {
    help_if_asked("fghack", SYNOPSIS, true);
    let (_, program) = parse_args("fghack", SYNOPSIS, 0, |_, _| Ok(false));
    std::process::exit(or_die("fghack", wait_for_all(program.command())))
}
