//! svstat [-j] SERVICE...: print the status of services.

use nix::errno::Errno;
use std::io::Write;
use svkit::cli::{EXIT_OK, EXIT_TEMP, Opt, help_if_asked, options_then_operands, usage};
use svkit::control::never_supervised;
use svkit::report::{ReportError, json_error, query};
use svkit::service_dir::{ServiceDir, lookup_env};
use svkit::tai64::Tai64N;

const SYNOPSIS: &str = "svstat [-j] service ...";

pub fn main() {
    help_if_asked("svstat", SYNOPSIS, true);
    let mut json = false;
    let dirs = options_then_operands("svstat", SYNOPSIS, |_, opt| {
        let known = opt == Opt::Short('j') || opt == Opt::Long("json".into());
        json |= known;
        Ok(known)
    });
    if dirs.is_empty() {
        usage("svstat", SYNOPSIS);
    }
    let now = Tai64N::now();
    let mut out = std::io::stdout().lock();
    // daemontools' svstat exits 0 whatever it found; a script can tell here.
    let mut code = EXIT_OK;
    for d in &dirs {
        let d = lookup_env(d);
        let name = d.to_string_lossy();
        let report = query(&ServiceDir::new(&d), now);
        if report.is_err() {
            code = EXIT_TEMP;
        }
        let line = match (report, json) {
            (Ok(r), false) => format!("{name}: {}", r.human()),
            // daemontools' line, which scripts match, then the cause.
            (Err(e @ ReportError::OpenOk(Errno::ENOENT)), false) => {
                format!("{name}: {e} ({})", never_supervised(&name))
            }
            (Err(e), false) => format!("{name}: {e}"),
            (Ok(r), true) => r.json(&name),
            (Err(e), true) => json_error(&name, &e),
        };
        if writeln!(out, "{line}").is_err() {
            std::process::exit(EXIT_TEMP);
        }
    }
    std::process::exit(code);
}
