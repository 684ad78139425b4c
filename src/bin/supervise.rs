//! supervise DIR: run DIR/run and keep it running.

use svkit::diag::{EXIT_TEMP, fatal, help_if_asked, usage};

const SYNOPSIS: &str = "supervise dir";

fn main() {
    help_if_asked("supervise", SYNOPSIS, true);
    let mut args = std::env::args().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        usage("supervise", SYNOPSIS);
    };
    if dir.starts_with('-') {
        usage("supervise", SYNOPSIS);
    }
    if let Err(msg) = svkit::supervise::run(&dir) {
        fatal("supervise", EXIT_TEMP, &msg);
    }
}
