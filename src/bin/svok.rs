//! svok SERVICE: exit 0 if supervise runs for SERVICE.

use svkit::cli::{EXIT_OK, EXIT_TEMP, EXIT_USAGE, fatal, help_if_asked, usage};
use svkit::control::is_supervised;
use svkit::diag::errstr;
use svkit::service_dir::{OK, ServiceDir, lookup_env};

const SYNOPSIS: &str = "svok dir";

pub fn main() {
    help_if_asked("svok", SYNOPSIS, true);
    let mut args = std::env::args_os().skip(1);
    let (Some(d), None) = (args.next(), args.next()) else {
        usage("svok", SYNOPSIS);
    };
    let d = lookup_env(&d);
    let name = d.display().to_string();
    let dir = ServiceDir::new(&d);
    if let Err(e) = dir.check() {
        fatal(
            "svok",
            EXIT_TEMP,
            &format!("unable to chdir to {name}: {}", errstr(e)),
        );
    }
    match is_supervised(&dir) {
        Ok(true) => std::process::exit(EXIT_OK),
        // No supervise/ok at all is "not running" too, as in daemontools.
        Ok(false) | Err(nix::errno::Errno::ENOENT) => std::process::exit(EXIT_USAGE),
        Err(e) => fatal(
            "svok",
            EXIT_TEMP,
            &format!("unable to open {name}/{OK}: {}", errstr(e)),
        ),
    }
}
