//! svc OPTS SERVICE...: send commands to supervise.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use svkit::cli::{EXIT_OK, EXIT_TEMP, help_if_asked, usage, usage_error};
use svkit::control::{Command, Sent, burst, encode, never_supervised, send};
use svkit::diag::{errstr, warn};
use svkit::service_dir::{ServiceDir, lookup_env};

const SYNOPSIS: &str = "svc [-udopchaitkxrq12w+=] service ...";

pub fn main() {
    help_if_asked("svc", SYNOPSIS, false);
    let (cmds, dirs) = match parse(std::env::args_os().skip(1)) {
        Ok(parsed) => parsed,
        Err(why) => usage_error("svc", SYNOPSIS, why),
    };
    if dirs.is_empty() {
        usage("svc", SYNOPSIS);
    }
    let cmds = encode(&burst(&cmds));
    let mut code = EXIT_OK;
    for d in &dirs {
        if let Some(msg) = control(&lookup_env(d), &cmds) {
            warn("svc", &msg);
            code = EXIT_TEMP;
        }
    }
    std::process::exit(code);
}

/// The command letters and the services. getopt's way, by hand: lexopt would take
/// `-w=` for an option with a value, and `=` is a command letter here.
fn parse(args: impl Iterator<Item = OsString>) -> Result<(Vec<Command>, Vec<OsString>), String> {
    let mut cmds = Vec::new();
    let mut args = args.peekable();
    while let Some(a) = args.next_if(|a| a.as_bytes().starts_with(b"-") && a.len() > 1) {
        if a == "--" {
            break;
        }
        for &c in &a.as_bytes()[1..] {
            let Some(cmd) = Command::from_byte(c) else {
                return Err(if a.as_bytes().starts_with(b"--") {
                    format!("invalid option '{}'", a.to_string_lossy())
                } else {
                    format!("invalid option '-{}'", char::from(c))
                });
            };
            cmds.push(cmd);
        }
    }
    Ok((cmds, args.collect()))
}

/// Sends `cmds` to the supervise of `d`: `None` when delivered, else the warning.
fn control(d: &Path, cmds: &[u8]) -> Option<String> {
    let name = d.display();
    let dir = ServiceDir::new(d);
    match dir.check() {
        Err(e) => Some(format!("unable to chdir to {name}: {}", errstr(e))),
        Ok(()) => match send(&dir, cmds) {
            Ok(Sent::Delivered) => None,
            Ok(Sent::NoSupervisor) => {
                Some(format!("unable to control {name}: supervise not running"))
            }
            // daemontools' words, which scripts match, then the cause.
            Err(e @ nix::errno::Errno::ENOENT) => Some(format!(
                "unable to control {name}: {} ({})",
                errstr(e),
                never_supervised(&name.to_string())
            )),
            Err(e) => Some(format!("unable to control {name}: {}", errstr(e))),
        },
    }
}
