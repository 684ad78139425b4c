//! swocclient [-d DIR] [-c NAME] -l|-r|-w[N]|-s|-b|-u|-i: take, release, wait for and
//! show this client's SWOC locks.

use std::ffi::OsString;
use std::time::{Duration, SystemTime};
use svkit::cli::fatal;
use svkit::cli::swoc::{help_or_version, polling_option, set_polling};
use svkit::diag::warn;
use svkit::swoc::{
    CLIENTS, ClientName, ENV_CLIENT, EXIT_MINOR, EXIT_OK, LockRequest, Locked, Polling, Released,
    Role, SwocDir, Unblocked, WaitSpec, Waited, check_comment, hostname, plural,
    write_client_status,
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Lock,
    Release,
    Wait(usize),
    Status,
    Block,
    Unblock,
    Reset,
}

fn usage(what: impl std::fmt::Display) -> ! {
    svkit::cli::swoc::usage(PROG, SYNOPSIS, what)
}

fn duration(p: &mut lexopt::Parser) -> Duration {
    svkit::cli::duration_arg(p).unwrap_or_else(|e| usage(e))
}

struct Args {
    action: Action,
    dir: Option<OsString>,
    client: Option<OsString>,
    comment: Option<String>,
    ttl: Option<Duration>,
    polling: Polling,
}

fn parse() -> Args {
    use lexopt::Arg::{Long, Short};
    let mut p = lexopt::Parser::from_env();
    let mut action = None::<(Action, String)>;
    let mut set = |a: Action, name: &str| {
        if let Some((_, prev)) = &action {
            usage(format!("{prev} and {name} are mutually exclusive"));
        }
        action = Some((a, name.to_string()));
    };
    let mut a = Args {
        action: Action::Status,
        dir: None,
        client: None,
        comment: None,
        ttl: None,
        polling: Polling::default(),
    };
    // Options that only mean something with one action; checked once all are read.
    let mut lock_only = None::<&str>;
    let mut wait_only = None::<&str>;
    loop {
        let arg = match p.next() {
            Ok(Some(arg)) => arg,
            Ok(None) => break,
            Err(e) => usage(e),
        };
        help_or_version(&arg, PROG, HELP);
        if let Some(name) = polling_option(&arg, None) {
            set_polling(&mut a.polling, name, &mut p).unwrap_or_else(|e| usage(e));
            wait_only = Some(name);
            continue;
        }
        match arg {
            Short('l') | Long("lock") => set(Action::Lock, "-l"),
            Short('r') | Long("release") => set(Action::Release, "-r"),
            Short('w') | Long("wait") => {
                let n = match p.optional_value() {
                    None => 0,
                    Some(v) => v.to_string_lossy().parse().unwrap_or_else(|_| {
                        usage(format!("invalid count {v:?} for -w (want a whole number)"))
                    }),
                };
                set(Action::Wait(n), "-w");
            }
            Short('s') | Long("status") => set(Action::Status, "-s"),
            Short('b') | Long("block") => set(Action::Block, "-b"),
            Short('u') | Long("unblock") => set(Action::Unblock, "-u"),
            Short('i') | Long("reset") => set(Action::Reset, "-i"),
            Short('d') | Long("dir") => a.dir = Some(p.value().unwrap_or_else(|e| usage(e))),
            Short('c') | Long("client") => a.client = Some(p.value().unwrap_or_else(|e| usage(e))),
            Short('m') | Long("comment") => {
                let v = p.value().unwrap_or_else(|e| usage(e));
                let v = v.to_string_lossy().into_owned();
                check_comment(&v).unwrap_or_else(|e| usage(e));
                a.comment = Some(v);
                lock_only = Some("-m");
            }
            Long("ttl") => {
                a.ttl = Some(duration(&mut p));
                lock_only = Some("--ttl");
            }
            other => usage(other.unexpected()),
        }
    }
    let Some((action, _)) = action else {
        usage("no action given (one of -l -r -w -s -b -u -i)");
    };
    a.action = action;
    if let Some(o) = lock_only.filter(|_| action != Action::Lock) {
        usage(format!("{o} goes only with -l"));
    }
    if let Some(o) = wait_only.filter(|_| !matches!(action, Action::Wait(_))) {
        usage(format!("{o} goes only with -w"));
    }
    a
}

fn client_name(arg: Option<OsString>) -> ClientName {
    let given = arg.or_else(|| std::env::var_os(ENV_CLIENT).filter(|v| !v.is_empty()));
    match given {
        Some(v) => ClientName::from_os(&v).unwrap_or_else(|e| usage(e)),
        None => {
            let h = hostname().unwrap_or_else(|e| {
                fatal(
                    PROG,
                    EXIT_MINOR,
                    &format!("unable to get the host name: {e}"),
                )
            });
            ClientName::new(&h).unwrap_or_else(|e| usage(format!("{e} (the host name; use -c)")))
        }
    }
}

/// A block planted by an account that may not use the name does not block: say so.
fn foreign_block(dir: &SwocDir, client: &ClientName, r: Result<Unblocked, svkit::swoc::SwocError>) {
    match r {
        Ok(Unblocked::Foreign { owner }) => warn(
            PROG,
            &format!(
                "{}/{client} belongs to uid {owner}, which may not use client {client}: it does not block, and only the server's account can remove it",
                dir.blocked_dir().display()
            ),
        ),
        Ok(_) => {}
        Err(e) => fatal(PROG, EXIT_MINOR, &e.to_string()),
    }
}

pub fn main() {
    let a = parse();
    let client = client_name(a.client);
    let dir = SwocDir::locate(a.dir.as_deref());
    let fail = |e: svkit::swoc::SwocError| -> ! { fatal(PROG, EXIT_MINOR, &e.to_string()) };
    // The job holding the lock is whoever ran us: the cron line's shell.
    let job = nix::unistd::getppid().as_raw() as u32;
    match a.action {
        Action::Lock => {
            let req = LockRequest {
                client: &client,
                pid: job,
                comment: a.comment.as_deref(),
                ttl: a.ttl,
            };
            match dir.lock(&req).unwrap_or_else(|e| fail(e)) {
                Locked::Taken(_) => {}
                Locked::Blocked => fatal(
                    PROG,
                    EXIT_MINOR,
                    &format!("unable to lock: client {client} is blocked"),
                ),
                Locked::Disallowed => fatal(
                    PROG,
                    EXIT_MINOR,
                    "unable to lock: the server disallows new locks",
                ),
                Locked::NotYours { uid } => fatal(
                    PROG,
                    EXIT_MINOR,
                    &format!(
                        "unable to lock: uid {uid} may not use client {client}: only the server's account, root and the uids {} gives {client}",
                        dir.root().join(CLIENTS).display()
                    ),
                ),
            }
        }
        Action::Release => match dir.release_one(&client, job).unwrap_or_else(|e| fail(e)) {
            Released::One(_) => {}
            Released::None(0) => fatal(
                PROG,
                EXIT_MINOR,
                &format!("unable to release: client {client} holds no lock"),
            ),
            Released::None(n) => fatal(
                PROG,
                EXIT_MINOR,
                &format!("unable to release: client {client} holds no lock ({n} expired removed)"),
            ),
        },
        Action::Wait(n) => {
            let spec = WaitSpec {
                client: Some(client.clone()),
                at_most: n,
                polling: a.polling,
            };
            if let Waited::TimedOut { remaining } = dir.wait(&spec).unwrap_or_else(|e| fail(e)) {
                fatal(
                    PROG,
                    EXIT_MINOR,
                    &format!(
                        "timed out: client {client} still holds {}",
                        plural(remaining, "lock")
                    ),
                );
            }
        }
        Action::Status => {
            let scan = dir.scan(Some(&client)).unwrap_or_else(|e| fail(e));
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            if let Err(e) = write_client_status(&mut out, &scan, &client, SystemTime::now())
                .and_then(|()| std::io::Write::flush(&mut out))
            {
                fatal(PROG, EXIT_MINOR, &format!("unable to write status: {e}"));
            }
        }
        Action::Block => {
            dir.block(&client, Role::Client).unwrap_or_else(|e| fail(e));
        }
        Action::Unblock => {
            foreign_block(&dir, &client, dir.unblock(&client, Role::Client));
        }
        Action::Reset => {
            let (_, unblocked) = dir.reset(&client).unwrap_or_else(|e| fail(e));
            foreign_block(&dir, &client, Ok(unblocked));
        }
    }
    std::process::exit(EXIT_OK)
}
