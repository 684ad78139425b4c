//! swocserver [--dir DIR] -w|-s|-r CLIENT|-b CLIENT|-u CLIENT|-d|-a|--init: wait for,
//! show and manage every client's SWOC locks; --init creates the SWOC directory.

use lexopt::Arg::{self, Long, Short};
use std::time::SystemTime;
use svkit::cli::or_die;
use svkit::cli::swoc::{Command, Flag, Problem, Program, Stop, bad, command, print_status, waited};
use svkit::diag::warn;
use svkit::swoc::{
    Blocked, ClientName, EXIT_OK, Role, SwocDir, WaitSpec, plural, write_server_status,
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

const PROGRAM: Program = Program {
    name: PROG,
    synopsis: SYNOPSIS,
    help: HELP,
    actions: "-w -s -r -b -u -d -a --init",
    interval_short: Some('i'),
};

#[derive(Clone, Debug, PartialEq, Eq)]
enum ServerRequest {
    Wait,
    Status,
    Release(ClientName),
    Block(ClientName),
    Unblock(ClientName),
    Disallow,
    Allow,
    Init,
}

fn own_option(arg: Arg<'_>, p: &mut lexopt::Parser) -> Result<Flag<ServerRequest>, Stop> {
    // -d is SWOC's disallow, so the directory has only a long option here (--dir).
    Ok(match arg {
        Short('w') | Long("wait") => Flag::Action(ServerRequest::Wait, "-w"),
        Short('s') | Long("status") => Flag::Action(ServerRequest::Status, "-s"),
        Short('r') | Long("release") => Flag::Action(ServerRequest::Release(client(p)?), "-r"),
        Short('b') | Long("block") => Flag::Action(ServerRequest::Block(client(p)?), "-b"),
        Short('u') | Long("unblock") => Flag::Action(ServerRequest::Unblock(client(p)?), "-u"),
        Short('d') | Long("disallow") => Flag::Action(ServerRequest::Disallow, "-d"),
        Short('a') | Long("allow") => Flag::Action(ServerRequest::Allow, "-a"),
        Long("init") => Flag::Action(ServerRequest::Init, "--init"),
        Short('e') | Long("end-daemon") => return Err(no_daemon("-e")),
        Short('c') | Long("reload-config") => return Err(no_daemon("-c")),
        _ => Flag::Unknown,
    })
}

fn client(p: &mut lexopt::Parser) -> Result<ClientName, Stop> {
    ClientName::from_os(&p.value()?).map_err(bad)
}

fn no_daemon(opt: &str) -> Stop {
    Stop::Unsupported(format!(
        "{opt}: svkit has no SWOC daemon to end or reload: locks are files in the SWOC directory"
    ))
}

fn release(dir: &SwocDir, c: &ClientName) -> Result<(), Problem> {
    let (mine, foreign) = dir.release_all(c)?;
    if foreign > 0 {
        warn(
            PROG,
            &format!(
                "removed {} named for client {c} by accounts that may not use the name",
                plural(foreign, "foreign lock")
            ),
        );
    }
    match mine {
        0 => Err(Problem::NoLock {
            client: c.clone(),
            expired: 0,
        }),
        _ => Ok(()),
    }
}

fn block(dir: &SwocDir, c: &ClientName) -> Result<(), Problem> {
    if let Blocked::Replaced { owner } = dir.block(c, Role::Server)? {
        warn(
            PROG,
            &format!(
                "replaced {}/{c} of uid {owner} with the server's block",
                dir.blocked_dir().display()
            ),
        );
    }
    Ok(())
}

fn act(dir: &SwocDir, cmd: Command<ServerRequest>) -> Result<(), Problem> {
    match &cmd.action {
        ServerRequest::Wait => {
            let spec = WaitSpec {
                client: None,
                at_most: 0,
                polling: cmd.polling,
            };
            waited(dir.wait(&spec)?, None)
        }
        ServerRequest::Status => {
            let scan = dir.scan(None)?;
            print_status(|out| write_server_status(out, &scan, SystemTime::now()))
        }
        ServerRequest::Release(c) => release(dir, c),
        ServerRequest::Block(c) => block(dir, c),
        ServerRequest::Unblock(c) => dir
            .unblock(c, Role::Server)
            .map(drop)
            .map_err(Problem::from),
        ServerRequest::Disallow => dir.disallow().map(drop).map_err(Problem::from),
        ServerRequest::Allow => dir.allow().map(drop).map_err(Problem::from),
        ServerRequest::Init => dir.init().map_err(Problem::from),
    }
}

pub fn main() {
    let cmd = command(&PROGRAM, own_option);
    let dir = SwocDir::locate(cmd.dir.as_deref());
    or_die(PROG, act(&dir, cmd));
    std::process::exit(EXIT_OK)
}
