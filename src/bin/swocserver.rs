//! swocserver [--dir DIR] -w|-s|-r CLIENT|-b CLIENT|-u CLIENT|-d|-a|--init: wait for,
//! show and manage every client's SWOC locks; --init creates the SWOC directory.

use std::ffi::OsString;
use std::time::SystemTime;
use svkit::cli::fatal;
use svkit::cli::swoc::{help_or_version, polling_option, set_polling};
use svkit::diag::warn;
use svkit::swoc::{
    Blocked, ClientName, EXIT_MINOR, EXIT_OK, EXIT_USAGE, Polling, Role, SwocDir, WaitSpec, Waited,
    plural, write_server_status,
};

const PROG: &str = "swocserver";
const SYNOPSIS: &str = "swocserver [--dir dir] -w [-t duration] [-i duration] [--no-inotify] | -s | -r client | -b client | -u client | -d | -a | --init";
const HELP: &str = "usage: swocserver [--dir dir] action
actions (exactly one):
  -w, --wait            wait until no lock at all remains
  -s, --status          show every client's locks (count, ages, comments), blocks, allow state
  -r, --release CLIENT  remove all locks of CLIENT
  -b, --block CLIENT    block CLIENT from taking further locks
  -u, --unblock CLIENT  unblock CLIENT
  -d, --disallow        refuse new locks from every client
  -a, --allow           accept new locks again
      --init            create the SWOC directory (nothing else ever creates it)
options:
      --dir DIR         service directory (default $SWOC_DIR, else /service/swoc)
  -t, --timeout DURATION   with -w: give up after DURATION, exit 1
  -i, --interval DURATION  with -w: look every DURATION (default 1s)
      --no-inotify      with -w: poll only
  -h, --help            show this help
  -V, --version         show the version
exit: 0 ok, 1 minor problem (no such locks, timed out, no SWOC directory, file error), 64 usage";

#[derive(Clone, PartialEq, Eq)]
enum Action {
    Wait,
    Status,
    Release(ClientName),
    Block(ClientName),
    Unblock(ClientName),
    Disallow,
    Allow,
    Init,
}

fn usage(what: impl std::fmt::Display) -> ! {
    svkit::cli::swoc::usage(PROG, SYNOPSIS, what)
}

fn client(p: &mut lexopt::Parser) -> ClientName {
    let v = p.value().unwrap_or_else(|e| usage(e));
    ClientName::from_os(&v).unwrap_or_else(|e| usage(e))
}

fn no_daemon(opt: &str) -> ! {
    fatal(
        PROG,
        EXIT_USAGE,
        &format!(
            "{opt}: svkit has no SWOC daemon to end or reload: locks are files in the SWOC directory"
        ),
    )
}

struct Args {
    action: Action,
    dir: Option<OsString>,
    polling: Polling,
}

fn parse() -> Args {
    use lexopt::Arg::{Long, Short};
    let mut p = lexopt::Parser::from_env();
    let mut action = None::<(Action, &str)>;
    let mut set = |a: Action, name: &'static str| {
        if let Some((_, prev)) = &action {
            usage(format!("{prev} and {name} are mutually exclusive"));
        }
        action = Some((a, name));
    };
    let mut a = Args {
        action: Action::Status,
        dir: None,
        polling: Polling::default(),
    };
    let mut wait_only = None::<&str>;
    loop {
        let arg = match p.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => usage(e),
        };
        help_or_version(&arg, PROG, HELP);
        if let Some(name) = polling_option(&arg, Some('i')) {
            set_polling(&mut a.polling, name, &mut p).unwrap_or_else(|e| usage(e));
            wait_only = Some(name);
            continue;
        }
        match arg {
            Short('w') | Long("wait") => set(Action::Wait, "-w"),
            Short('s') | Long("status") => set(Action::Status, "-s"),
            Short('r') | Long("release") => set(Action::Release(client(&mut p)), "-r"),
            Short('b') | Long("block") => set(Action::Block(client(&mut p)), "-b"),
            Short('u') | Long("unblock") => set(Action::Unblock(client(&mut p)), "-u"),
            Short('d') | Long("disallow") => set(Action::Disallow, "-d"),
            Short('a') | Long("allow") => set(Action::Allow, "-a"),
            Long("init") => set(Action::Init, "--init"),
            // -d is SWOC's disallow, so the directory has only a long option here.
            Long("dir") => a.dir = Some(p.value().unwrap_or_else(|e| usage(e))),
            Short('e') | Long("end-daemon") => no_daemon("-e"),
            Short('c') | Long("reload-config") => no_daemon("-c"),
            other => usage(other.unexpected()),
        }
    }
    let Some((action, _)) = action else {
        usage("no action given (one of -w -s -r -b -u -d -a --init)");
    };
    if let Some(o) = wait_only.filter(|_| action != Action::Wait) {
        usage(format!("{o} goes only with -w"));
    }
    a.action = action;
    a
}

pub fn main() {
    let a = parse();
    let dir = SwocDir::locate(a.dir.as_deref());
    let fail = |e: svkit::swoc::SwocError| -> ! { fatal(PROG, EXIT_MINOR, &e.to_string()) };
    match &a.action {
        Action::Wait => {
            let spec = WaitSpec {
                client: None,
                at_most: 0,
                polling: a.polling,
            };
            if let Waited::TimedOut { remaining } = dir.wait(&spec).unwrap_or_else(|e| fail(e)) {
                fatal(
                    PROG,
                    EXIT_MINOR,
                    &format!("timed out: {} still held", plural(remaining, "lock")),
                );
            }
        }
        Action::Status => {
            let scan = dir.scan(None).unwrap_or_else(|e| fail(e));
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if let Err(e) = write_server_status(&mut out, &scan, SystemTime::now())
                .and_then(|()| std::io::Write::flush(&mut out))
            {
                fatal(PROG, EXIT_MINOR, &format!("unable to write status: {e}"));
            }
        }
        Action::Release(c) => {
            let (mine, foreign) = dir.release_all(c).unwrap_or_else(|e| fail(e));
            if foreign > 0 {
                warn(
                    PROG,
                    &format!(
                        "removed {} named for client {c} by accounts that may not use the name",
                        plural(foreign, "foreign lock")
                    ),
                );
            }
            if mine == 0 {
                fatal(
                    PROG,
                    EXIT_MINOR,
                    &format!("unable to release: client {c} holds no lock"),
                );
            }
        }
        Action::Block(c) => {
            if let Blocked::Replaced { owner } =
                dir.block(c, Role::Server).unwrap_or_else(|e| fail(e))
            {
                warn(
                    PROG,
                    &format!(
                        "replaced {}/{c} of uid {owner} with the server's block",
                        dir.blocked_dir().display()
                    ),
                );
            }
        }
        Action::Unblock(c) => {
            dir.unblock(c, Role::Server).unwrap_or_else(|e| fail(e));
        }
        Action::Disallow => {
            dir.disallow().unwrap_or_else(|e| fail(e));
        }
        Action::Allow => {
            dir.allow().unwrap_or_else(|e| fail(e));
        }
        Action::Init => {
            dir.init().unwrap_or_else(|e| fail(e));
        }
    }
    std::process::exit(EXIT_OK)
}
