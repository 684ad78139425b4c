//! multilog SCRIPT: read lines from stdin, select them, log them to directories.

use svkit::cli::{EXIT_OK, help_if_asked, or_die};
use svkit::log::logger::Logger;
use svkit::log::multilog::Multilog;
use svkit::log::script::parse;

const SYNOPSIS: &str = "multilog script";

pub fn main() {
    help_if_asked("multilog", SYNOPSIS, true);
    // daemontools' multilog runs with umask 022, whoever starts it.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // Bytes, not UTF-8: paths and patterns are taken as given (std::env::args panics).
    let words: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let script = or_die("multilog", parse(&words));
    let log = or_die("multilog", Multilog::open(script));
    let mut logger = or_die("multilog", Logger::new(log));
    or_die("multilog", logger.run());
    std::process::exit(EXIT_OK);
}
