//! svscanboot [DIR]: run svscan DIR with its output kept in readproctitle's title.

use svkit::cli::{EXIT_TEMP, fatal, help_if_asked, usage};
use svkit::svscan::boot;

const SYNOPSIS: &str = "svscanboot [dir]";

pub fn main() {
    help_if_asked("svscanboot", SYNOPSIS, true);
    use std::os::unix::ffi::OsStrExt;
    let mut args = std::env::args_os().skip(1);
    let dir = match (args.next(), args.next()) {
        (None, _) => "/service".into(),
        (Some(d), None) if !d.as_bytes().starts_with(b"-") => d,
        _ => usage("svscanboot", SYNOPSIS),
    };
    fatal("svscanboot", EXIT_TEMP, &boot(&dir).to_string());
}
