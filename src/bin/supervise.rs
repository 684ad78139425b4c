//! supervise DIR: run DIR/run and keep it running.

use svkit::cli::{die, help_if_asked, usage};

const SYNOPSIS: &str = "supervise dir";

pub fn main() {
    // Its one argument is a directory, whatever it looks like (svscan passes service
    // names as they are, `-x` included); `-h` and `--help` ask for help unless such a
    // directory exists.
    let mut args = std::env::args_os().skip(1);
    let (Some(dir), None) = (args.next(), args.next()) else {
        usage("supervise", SYNOPSIS);
    };
    if !std::path::Path::new(&dir).is_dir() {
        help_if_asked("supervise", SYNOPSIS, true);
    }
    match svkit::supervise::supervise_dir(&dir) {
        Ok(code) => std::process::exit(code),
        Err(e) => die("supervise", &e),
    }
}
