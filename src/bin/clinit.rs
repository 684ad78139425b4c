//! clinit [-f cltab] [-S scandir] [-t timeout] GROUP LEVEL | -s [GROUP [LEVEL]] | -r | -k

use std::ffi::OsString;
use std::time::Duration;
use svkit::cli::{
    EXIT_NO, EXIT_OK, EXIT_USAGE, die, die_of_signal, fatal, help_if_asked, or_die,
    text_duration_arg, usage_error,
};
use svkit::clinit::clstat;
use svkit::clinit::cltab::{Cltab, DEFAULT_CLSTAT, StateWords};
use svkit::clinit::{AllCommand, Clinit, ClinitError, all_command};

const SYNOPSIS: &str = "clinit [-f cltab] [-S scandir] [-t timeout] [--settle duration] group level\n       \
clinit [-f cltab] [-S scandir] -s [--json] [--clstat path] [group [level]]\n       \
clinit [-f cltab] [-S scandir] [-t timeout] [--settle duration] -r | -k";

#[derive(PartialEq)]
enum Command {
    Switch,
    Status,
    Reread,
    Kill,
}

/// The command line, as parsed.
struct Args {
    cltab: OsString,
    scan: OsString,
    timeout: Duration,
    settle: Duration,
    clstat: Option<OsString>,
    json: bool,
    command: Command,
    /// The group and level, or the operands of -s.
    words: Vec<String>,
}

fn bad(e: &dyn std::fmt::Display) -> ! {
    usage_error("clinit", SYNOPSIS, e)
}

/// Ends clinit on a library error: as the signal would have for an interrupted one.
fn end_on(e: ClinitError) -> ! {
    if let ClinitError::Interrupted(sig) = e {
        die_of_signal(sig)
    }
    die("clinit", &e)
}

pub fn main() {
    help_if_asked("clinit", SYNOPSIS, true);
    let args = parse_args();
    if args.command == Command::Status {
        show_status(&args);
    }
    let work = work(&args);
    let tab = or_die("clinit", Cltab::read(args.cltab.as_ref()));
    let clinit = Clinit::new(tab, args.scan.clone().into(), args.timeout, args.settle);
    let _lock = clinit.lock().unwrap_or_else(|e| end_on(e));
    let done = match work {
        Work::Switch(group, level) => clinit.switch(group, level),
        Work::Reread => clinit.reread(),
        Work::Kill => clinit.stop_all(),
    };
    match done {
        Ok(true) => std::process::exit(EXIT_OK),
        Ok(false) => std::process::exit(EXIT_NO),
        Err(e) => end_on(e),
    }
}

fn parse_args() -> Args {
    let mut args = Args {
        cltab: std::env::var_os("CLTAB")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "/etc/cltab".into()),
        scan: std::env::var_os("SVDIR")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "/service".into()),
        timeout: Duration::from_secs(30),
        settle: Duration::ZERO,
        clstat: None,
        json: false,
        command: Command::Switch,
        words: Vec::new(),
    };
    let mut p = lexopt::Parser::from_env();
    while take_arg(&mut args, &mut p) {}
    args
}

/// Takes the next argument into `args`; false when there is none left.
fn take_arg(args: &mut Args, p: &mut lexopt::Parser) -> bool {
    use lexopt::Arg;
    let arg = match p.next() {
        Ok(Some(arg)) => arg,
        Ok(None) => return false,
        Err(e) => bad(&e),
    };
    let mut set = |c: Command| {
        if args.command != Command::Switch && args.command != c {
            bad(&"-s, -r and -k exclude each other");
        }
        args.command = c;
    };
    match arg {
        Arg::Short('s') => set(Command::Status),
        Arg::Short('r') => set(Command::Reread),
        Arg::Short('k') => set(Command::Kill),
        Arg::Short('f') => args.cltab = p.value().unwrap_or_else(|e| bad(&e)),
        Arg::Short('S') => args.scan = p.value().unwrap_or_else(|e| bad(&e)),
        Arg::Short('t') => args.timeout = text_duration_arg(p).unwrap_or_else(|e| bad(&e)),
        // Long only: -s is status, as in Cluster::Init.
        Arg::Long("settle") => args.settle = text_duration_arg(p).unwrap_or_else(|e| bad(&e)),
        Arg::Long("clstat") => args.clstat = Some(p.value().unwrap_or_else(|e| bad(&e))),
        Arg::Long("json") => args.json = true,
        // Cluster::Init's QUICK START begins with `clinit -d`.
        Arg::Short('d') => fatal(
            "clinit",
            EXIT_USAGE,
            "-d: svkit has no clinit daemon: svscan takes its place, supervising \
             every entry; run svscan on the scan directory instead (svscanboot, or \
             svscan /service as a respawn entry in /etc/inittab), then clinit GROUP \
             LEVEL to switch a group, clinit -r for :::REREAD:::, clinit -k to stop all",
        ),
        // Groups and levels are text: clstat is, and Cluster::Init's status() reads it.
        Arg::Value(v) => {
            let word = v.into_string().unwrap_or_else(|v| {
                let what = ["group", "level", "operand"][args.words.len().min(2)];
                bad(&format!("{what} {v:?} is not UTF-8 text"))
            });
            args.words.push(word)
        }
        other => bad(&other.unexpected()),
    }
    true
}

/// What clinit is to change.
enum Work<'a> {
    Switch(&'a str, &'a str),
    Reread,
    Kill,
}

/// The work of a command line that is not -s, the options checked: `:::ALL:::
/// :::REREAD:::` is -r and `:::ALL::: :::SHUTDOWN:::` is -k, as in Cluster::Init's tell().
fn work(args: &Args) -> Work<'_> {
    if args.clstat.is_some() {
        bad(&"--clstat goes with -s");
    }
    if args.json {
        bad(&"--json goes with -s");
    }
    match (&args.command, args.words.as_slice()) {
        (Command::Switch, [group, level]) => match all_command(group, level) {
            Ok(None) => Work::Switch(group, level),
            Ok(Some(AllCommand::Reread)) => Work::Reread,
            Ok(Some(AllCommand::Shutdown)) => Work::Kill,
            Err(e) => end_on(e),
        },
        (Command::Reread, []) => Work::Reread,
        (Command::Kill, []) => Work::Kill,
        (Command::Switch, _) => bad(&"want a group and a level"),
        _ => bad(&"-r and -k take no group or level"),
    }
}

/// `clinit -s [GROUP [LEVEL]]`: the clstat lines, filtered as Cluster::Init's status();
/// with `--json`, JSON objects (with this node's entries' status from the scan directory).
fn show_status(args: &Args) -> ! {
    let words = &args.words;
    if words.len() > 2 {
        bad(&"-s takes at most a group and a level");
    }
    // Another node's clstat needs no cltab here; the state words are the cltab's
    // choice when there is one, else Cluster::Init's.
    let tab = match Cltab::read(args.cltab.as_ref()) {
        Ok(t) => Some(t),
        Err(_) if args.clstat.is_some() || !std::path::Path::new(&args.cltab).exists() => None,
        Err(e) => die("clinit", &e),
    };
    let words_of_states = tab.as_ref().map_or(StateWords::ClusterInit, |t| t.words);
    let path = match (&args.clstat, &tab) {
        (Some(p), _) => p.into(),
        (None, Some(t)) => t.clstat.clone(),
        (None, None) => DEFAULT_CLSTAT.into(),
    };
    let groups = or_die("clinit", clstat::read(&path));
    let (group, level) = (
        words.first().map(String::as_str),
        words.get(1).map(String::as_str),
    );
    let out = match args.json {
        false => clstat::filter(&groups, group, level, words_of_states),
        true => {
            // This node's entries go with its own clstat only, not with another node's.
            let entries = tab
                .as_ref()
                .filter(|_| args.clstat.is_none())
                .map(|t| (t.entries.as_slice(), std::path::Path::new(&args.scan)));
            clstat::json(&groups, group, level, words_of_states, entries)
        }
    };
    // A reader gone away (`clinit -s | head -1`) is no error of ours.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes());
    std::process::exit(if out.is_empty() && !words.is_empty() {
        EXIT_NO
    } else {
        EXIT_OK
    });
}
