//! svscanboot [DIR]: run svscan DIR with its output kept in readproctitle's title.

use svkit::diag::{EXIT_TEMP, fatal, help_if_asked, usage};
use svkit::svscan::boot;

const SYNOPSIS: &str = "svscanboot [dir]";

fn main() {
    help_if_asked("svscanboot", SYNOPSIS, true);
    let mut args = std::env::args().skip(1);
    let dir = match (args.next(), args.next()) {
        (None, _) => "/service".to_string(),
        (Some(d), None) if !d.starts_with('-') => d,
        _ => usage("svscanboot", SYNOPSIS),
    };
    fatal("svscanboot", EXIT_TEMP, &boot(&dir));
}
