//! svkit: every program in one binary (busybox style), so that svscan, every supervise
//! and every multilog share one copy of the code in memory. The program is the name it
//! was started by (a link named `svc` runs svc), or the first argument of `svkit NAME
//! ARGS...`; `svkit --links DIR` makes the links. Each program's main is its own file in
//! src/bin/, built also as a separate binary (what `cargo install` gives).

#[path = "clinit.rs"]
mod clinit;
#[path = "envdir.rs"]
mod envdir;
#[path = "envuidgid.rs"]
mod envuidgid;
#[path = "fghack.rs"]
mod fghack;
#[path = "multilog.rs"]
mod multilog;
#[path = "pgrphack.rs"]
mod pgrphack;
#[path = "readproctitle.rs"]
mod readproctitle;
#[path = "setlock.rs"]
mod setlock;
#[path = "setuidgid.rs"]
mod setuidgid;
#[path = "softlimit.rs"]
mod softlimit;
#[path = "supervise.rs"]
mod supervise;
#[path = "svc.rs"]
mod svc;
#[path = "svcreset.rs"]
mod svcreset;
#[path = "svcrestart.rs"]
mod svcrestart;
#[path = "svcstart.rs"]
mod svcstart;
#[path = "svcstop.rs"]
mod svcstop;
#[path = "svok.rs"]
mod svok;
#[path = "svscan.rs"]
mod svscan;
#[path = "svscanboot.rs"]
mod svscanboot;
#[path = "svstat.rs"]
mod svstat;
#[path = "svwait.rs"]
mod svwait;
#[path = "swocclient.rs"]
mod swocclient;
#[path = "swocserver.rs"]
mod swocserver;
#[path = "tai64n.rs"]
mod tai64n;
#[path = "tai64nlocal.rs"]
mod tai64nlocal;

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use svkit::cli::{EXIT_TEMP, EXIT_USAGE, fatal};

/// Every program, by name.
const PROGRAMS: &[(&str, fn())] = &[
    ("clinit", clinit::main),
    ("envdir", envdir::main),
    ("envuidgid", envuidgid::main),
    ("fghack", fghack::main),
    ("multilog", multilog::main),
    ("pgrphack", pgrphack::main),
    ("readproctitle", readproctitle::main),
    ("setlock", setlock::main),
    ("setuidgid", setuidgid::main),
    ("softlimit", softlimit::main),
    ("supervise", supervise::main),
    ("svc", svc::main),
    ("svcreset", svcreset::main),
    ("svcrestart", svcrestart::main),
    ("svcstart", svcstart::main),
    ("svcstop", svcstop::main),
    ("svok", svok::main),
    ("svscan", svscan::main),
    ("svscanboot", svscanboot::main),
    ("svstat", svstat::main),
    ("svwait", svwait::main),
    ("swocclient", swocclient::main),
    ("swocserver", swocserver::main),
    ("tai64n", tai64n::main),
    ("tai64nlocal", tai64nlocal::main),
];

const SYNOPSIS: &str = "svkit program [arg ...] | svkit --links dir | svkit --list";

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let name = std::path::Path::new(&argv0)
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    if let Some((n, main)) = PROGRAMS.iter().find(|(n, _)| n.as_bytes() == name) {
        // The process's name (ps -o comm, pgrep, /proc/PID/comm) is the program's, not
        // the binary's: `pgrep supervise` finds supervises.
        if let Ok(c) = std::ffi::CString::new(*n) {
            let _ = nix::sys::prctl::set_name(&c);
        }
        main();
        return;
    }
    match args.next() {
        Some(a) if a == "--list" => {
            for (n, _) in PROGRAMS {
                println!("{n}");
            }
        }
        Some(a) if a == "--links" => match (args.next(), args.next()) {
            (Some(dir), None) => make_links(&dir),
            _ => usage(),
        },
        Some(program) if PROGRAMS.iter().any(|(n, _)| *n == program) => {
            run_as(program, args.collect())
        }
        Some(a) if a == "-h" || a == "--help" => {
            println!("svkit: usage: {SYNOPSIS}");
        }
        Some(other) => fatal(
            "svkit",
            EXIT_USAGE,
            &format!("unknown program: {}", other.to_string_lossy()),
        ),
        None => usage(),
    }
}

fn usage() -> ! {
    svkit::cli::usage("svkit", SYNOPSIS)
}

/// `svkit NAME ARGS...`: the same binary again, started as NAME, so the program sees
/// the argv it would have had through its link (readproctitle writes into it).
fn run_as(program: OsString, rest: Vec<OsString>) -> ! {
    use std::os::unix::process::CommandExt;
    let e = std::process::Command::new("/proc/self/exe")
        .arg0(&program)
        .args(rest)
        .exec();
    fatal(
        "svkit",
        EXIT_TEMP,
        &format!(
            "unable to run {}: {}",
            program.to_string_lossy(),
            svkit::diag::ioerrstr(&e)
        ),
    )
}

/// Makes DIR/NAME a symbolic link to this binary for every program (replacing a link
/// already there, never a file).
fn make_links(dir: &std::ffi::OsStr) {
    let me = std::env::current_exe()
        .unwrap_or_else(|e| fatal("svkit", EXIT_TEMP, &format!("unable to find myself: {e}")));
    for (n, _) in PROGRAMS {
        let link = std::path::Path::new(dir).join(n);
        if std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()) {
            let _ = std::fs::remove_file(&link);
        }
        if let Err(e) = std::os::unix::fs::symlink(&me, &link) {
            fatal(
                "svkit",
                EXIT_TEMP,
                &format!(
                    "unable to link {}: {}",
                    link.display(),
                    svkit::diag::ioerrstr(&e)
                ),
            );
        }
    }
}
