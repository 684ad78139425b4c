//! svc OPTS SERVICE...: send commands to supervise.

use svkit::control::{COMMANDS, Sent, send};
use svkit::diag::{EXIT_OK, EXIT_TEMP, errstr, help_if_asked, usage, usage_error, warn};
use svkit::service_dir::ServiceDir;

const SYNOPSIS: &str = "svc [-udopchaitkxr] service ...";

fn main() {
    help_if_asked("svc", SYNOPSIS, false);
    let mut cmds = Vec::new();
    let mut dirs = Vec::new();
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(Some(lexopt::Arg::Short(c))) if c.is_ascii() && COMMANDS.contains(&(c as u8)) => {
                cmds.push(c as u8)
            }
            Ok(Some(lexopt::Arg::Value(v))) => {
                dirs.push(v);
                dirs.extend(parser.raw_args().into_iter().flatten());
                break;
            }
            Ok(None) => break,
            Ok(Some(other)) => usage_error("svc", SYNOPSIS, other.unexpected()),
            Err(e) => usage_error("svc", SYNOPSIS, e),
        }
    }
    if dirs.is_empty() {
        usage("svc", SYNOPSIS);
    }
    let mut code = EXIT_OK;
    for d in &dirs {
        let name = d.to_string_lossy();
        let dir = ServiceDir::new(d);
        let failure = match dir.check() {
            Err(e) => Some(format!("unable to chdir to {name}: {}", errstr(e))),
            Ok(()) => match send(&dir, &cmds) {
                Ok(Sent::Delivered) => None,
                Ok(Sent::NoSupervisor) => {
                    Some(format!("unable to control {name}: supervise not running"))
                }
                Err(e) => Some(format!("unable to control {name}: {}", errstr(e))),
            },
        };
        if let Some(msg) = failure {
            warn("svc", &msg);
            code = EXIT_TEMP;
        }
    }
    std::process::exit(code);
}
