//! svstat [-j] SERVICE...: print the status of services.

use std::io::Write;
use svkit::cli::{EXIT_OK, EXIT_TEMP, help_if_asked, usage, usage_error};
use svkit::report::{json_error, query};
use svkit::service_dir::{ServiceDir, lookup_env};
use svkit::tai64::Tai64N;

const SYNOPSIS: &str = "svstat [-j] service ...";

fn main() {
    help_if_asked("svstat", SYNOPSIS, true);
    let mut json = false;
    let mut dirs = Vec::new();
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(Some(lexopt::Arg::Short('j') | lexopt::Arg::Long("json"))) => json = true,
            Ok(Some(lexopt::Arg::Value(v))) => {
                dirs.push(v);
                dirs.extend(parser.raw_args().into_iter().flatten());
                break;
            }
            Ok(None) => break,
            Ok(Some(other)) => usage_error("svstat", SYNOPSIS, other.unexpected()),
            Err(e) => usage_error("svstat", SYNOPSIS, e),
        }
    }
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
