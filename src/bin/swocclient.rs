//! swocclient [-d DIR] [-c NAME] -l|-r|-w[N]|-s|-b|-u|-i: take, release, wait for and
//! show this client's SWOC locks.

use lexopt::Arg::{self, Long, Short};
use std::ffi::OsString;
use std::time::{Duration, SystemTime};
use svkit::cli::or_die;
use svkit::cli::swoc::{
    Command, Flag, Problem, Program, Stop, bad, command, print_status, usage, waited,
};
use svkit::diag::warn;
use svkit::swoc::{
    CLIENTS, ClientName, ENV_CLIENT, EXIT_OK, LockRequest, Locked, Released, Role, SwocDir,
    Unblocked, WaitSpec, check_comment, hostname, write_client_status,
};

const PROG: &str = "swocclient";
const SYNOPSIS: &str = "swocclient [-d dir] [-c name] -l [-m comment] [--ttl duration] | -r | -w[n] [-t duration] [--interval duration] [--no-inotify] | -s | -b | -u | -i";
const HELP: &str = "usage: swocclient [-d dir] [-c name] action
actions (exactly one):
  -l, --lock            take one more lock
  -r, --release         release one of this client's locks
  -w[N], --wait[=N]     wait until this client holds N or fewer locks (default 0)
  -s, --status          show this client's locks, their ages, and whether it is blocked
  -b, --block           block this client from taking further locks
  -u, --unblock         unblock this client
  -i, --reset           remove all this client's locks and unblock it
options:
  -d, --dir DIR         service directory (default $SWOC_DIR, else /service/swoc)
  -c, --client NAME     client name (default $SWOC_CLIENT, else the host name)
  -m, --comment TEXT    with -l: say what the lock is for
      --ttl DURATION    with -l: the lock expires after DURATION
  -t, --timeout DURATION  with -w: give up after DURATION, exit 1
      --interval DURATION with -w: look every DURATION (default 1s)
      --no-inotify      with -w: poll only
  -h, --help            show this help
  -V, --version         show the version
exit: 0 ok, 1 minor problem (nothing to release, blocked, timed out, file error), 64 usage";

const PROGRAM: Program = Program {
    name: PROG,
    synopsis: SYNOPSIS,
    help: HELP,
    actions: "-l -r -w -s -b -u -i",
    interval_short: None,
};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ClientRequest {
    Lock,
    Release,
    Wait(usize),
    Status,
    Block,
    Unblock,
    Reset,
}

/// What swocclient's own options say besides the action.
#[derive(Default)]
struct Options {
    client: Option<OsString>,
    comment: Option<String>,
    ttl: Option<Duration>,
}

fn own_option(
    o: &mut Options,
    arg: Arg<'_>,
    p: &mut lexopt::Parser,
) -> Result<Flag<ClientRequest>, Stop> {
    let lock_only = |option| Flag::Only { option, with: "-l" };
    Ok(match arg {
        Short('l') | Long("lock") => Flag::Action(ClientRequest::Lock, "-l"),
        Short('r') | Long("release") => Flag::Action(ClientRequest::Release, "-r"),
        Short('w') | Long("wait") => Flag::Action(ClientRequest::Wait(wait_count(p)?), "-w"),
        Short('s') | Long("status") => Flag::Action(ClientRequest::Status, "-s"),
        Short('b') | Long("block") => Flag::Action(ClientRequest::Block, "-b"),
        Short('u') | Long("unblock") => Flag::Action(ClientRequest::Unblock, "-u"),
        Short('i') | Long("reset") => Flag::Action(ClientRequest::Reset, "-i"),
        Short('d') => Flag::Dir,
        Short('c') | Long("client") => {
            o.client = Some(p.value()?);
            Flag::Kept
        }
        Short('m') | Long("comment") => {
            let v = p.value()?.to_string_lossy().into_owned();
            check_comment(&v).map_err(bad)?;
            o.comment = Some(v);
            lock_only("-m")
        }
        Long("ttl") => {
            o.ttl = Some(svkit::cli::duration_arg(p).map_err(Stop::Usage)?);
            lock_only("--ttl")
        }
        _ => Flag::Unknown,
    })
}

/// The N of `-wN` or `--wait=N`: 0 when not given.
fn wait_count(p: &mut lexopt::Parser) -> Result<usize, Stop> {
    match p.optional_value() {
        None => Ok(0),
        Some(v) => v
            .to_string_lossy()
            .parse()
            .map_err(|_| bad(format!("invalid count {v:?} for -w (want a whole number)"))),
    }
}

/// `-c`, else `$SWOC_CLIENT`, else the host name.
fn client_name(given: Option<OsString>) -> ClientName {
    let given = given.or_else(|| std::env::var_os(ENV_CLIENT).filter(|v| !v.is_empty()));
    if let Some(v) = given {
        return ClientName::from_os(&v).unwrap_or_else(|e| usage(PROG, SYNOPSIS, e));
    }
    let host = or_die(PROG, hostname().map_err(Problem::Hostname));
    ClientName::new(&host)
        .unwrap_or_else(|e| usage(PROG, SYNOPSIS, format!("{e} (the host name; use -c)")))
}

/// A block planted by an account that may not use the name does not block: say so.
fn warn_foreign_block(dir: &SwocDir, client: &ClientName, unblocked: Unblocked) {
    if let Unblocked::Foreign { owner } = unblocked {
        warn(
            PROG,
            &format!(
                "{}/{client} belongs to uid {owner}, which may not use client {client}: it does not block, and only the server's account can remove it",
                dir.blocked_dir().display()
            ),
        );
    }
}

fn lock(dir: &SwocDir, req: &LockRequest<'_>) -> Result<(), Problem> {
    let client = req.client.clone();
    match dir.lock(req)? {
        Locked::Taken(_) => Ok(()),
        Locked::Blocked => Err(Problem::Blocked(client)),
        Locked::Disallowed => Err(Problem::Disallowed),
        Locked::NotYours { uid } => Err(Problem::NotYours {
            uid,
            client,
            clients: dir.root().join(CLIENTS),
        }),
    }
}

fn release(dir: &SwocDir, client: &ClientName, job: u32) -> Result<(), Problem> {
    match dir.release_one(client, job)? {
        Released::One(_) => Ok(()),
        Released::None(expired) => Err(Problem::NoLock {
            client: client.clone(),
            expired,
        }),
    }
}

fn act(
    dir: &SwocDir,
    client: &ClientName,
    cmd: Command<ClientRequest>,
    o: &Options,
) -> Result<(), Problem> {
    // The job holding the lock is whoever ran us: the cron line's shell.
    let job = nix::unistd::getppid().as_raw() as u32;
    match cmd.action {
        ClientRequest::Lock => {
            let req = LockRequest {
                client,
                pid: job,
                comment: o.comment.as_deref(),
                ttl: o.ttl,
            };
            lock(dir, &req)
        }
        ClientRequest::Release => release(dir, client, job),
        ClientRequest::Wait(n) => {
            let spec = WaitSpec {
                client: Some(client.clone()),
                at_most: n,
                polling: cmd.polling,
            };
            waited(dir.wait(&spec)?, Some(client))
        }
        ClientRequest::Status => {
            let scan = dir.scan(Some(client))?;
            print_status(|out| write_client_status(out, &scan, client, SystemTime::now()))
        }
        ClientRequest::Block => dir
            .block(client, Role::Client)
            .map(drop)
            .map_err(Problem::from),
        ClientRequest::Unblock => {
            warn_foreign_block(dir, client, dir.unblock(client, Role::Client)?);
            Ok(())
        }
        ClientRequest::Reset => {
            let (_, unblocked) = dir.reset(client)?;
            warn_foreign_block(dir, client, unblocked);
            Ok(())
        }
    }
}

pub fn main() {
    let mut o = Options::default();
    let cmd = command(&PROGRAM, |arg, p| own_option(&mut o, arg, p));
    let client = client_name(o.client.take());
    let dir = SwocDir::locate(cmd.dir.as_deref());
    or_die(PROG, act(&dir, &client, cmd, &o));
    std::process::exit(EXIT_OK)
}
