//! clinit [-f cltab] [-S scandir] [-t timeout] GROUP LEVEL | -s [GROUP [LEVEL]] | -r | -k

use svkit::cli::{
    EXIT_NO, EXIT_OK, EXIT_TEMP, EXIT_USAGE, die_of_signal, fatal, help_if_asked,
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

pub fn main() {
    help_if_asked("clinit", SYNOPSIS, true);
    let mut cltab = std::env::var_os("CLTAB")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/etc/cltab".into());
    let mut scan = std::env::var_os("SVDIR")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "/service".into());
    let mut timeout = std::time::Duration::from_secs(30);
    let mut settle = std::time::Duration::ZERO;
    let mut clstat = None;
    let mut json = false;
    let mut command = Command::Switch;
    let mut words = Vec::new();
    let mut p = lexopt::Parser::from_env();
    let bad = |e: &dyn std::fmt::Display| -> ! { usage_error("clinit", SYNOPSIS, e) };
    loop {
        use lexopt::Arg;
        let arg = match p.next() {
            Ok(Some(a)) => a,
            Ok(None) => break,
            Err(e) => bad(&e),
        };
        let mut set = |c: Command| {
            if command != Command::Switch && command != c {
                bad(&"-s, -r and -k exclude each other");
            }
            command = c;
        };
        match arg {
            Arg::Short('f') => cltab = p.value().unwrap_or_else(|e| bad(&e)),
            Arg::Short('S') => scan = p.value().unwrap_or_else(|e| bad(&e)),
            Arg::Short('t') => timeout = text_duration_arg(&mut p).unwrap_or_else(|e| bad(&e)),
            // Long only: -s is status, as in Cluster::Init.
            Arg::Long("settle") => settle = text_duration_arg(&mut p).unwrap_or_else(|e| bad(&e)),
            Arg::Long("clstat") => clstat = Some(p.value().unwrap_or_else(|e| bad(&e))),
            Arg::Long("json") => json = true,
            Arg::Short('s') => set(Command::Status),
            Arg::Short('r') => set(Command::Reread),
            Arg::Short('k') => set(Command::Kill),
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
            Arg::Value(v) => words.push(v.into_string().unwrap_or_else(|v| {
                let what = ["group", "level", "operand"][words.len().min(2)];
                bad(&format!("{what} {v:?} is not UTF-8 text"))
            })),
            other => bad(&other.unexpected()),
        }
    }
    let fail = |e: ClinitError| -> ! {
        match e {
            ClinitError::Usage(m) => fatal("clinit", EXIT_USAGE, &m),
            ClinitError::Temporary(m) => fatal("clinit", EXIT_TEMP, &m),
            ClinitError::Interrupted(sig) => die_of_signal(sig),
        }
    };
    if command == Command::Status {
        show_status(&cltab, clstat, json.then_some(&scan), &words);
    }
    if clstat.is_some() {
        bad(&"--clstat goes with -s");
    }
    if json {
        bad(&"--json goes with -s");
    }
    if command == Command::Switch && words.len() == 2 {
        match all_command(&words[0], &words[1]) {
            Ok(None) => {}
            Ok(Some(AllCommand::Reread)) => {
                command = Command::Reread;
                words.clear();
            }
            Ok(Some(AllCommand::Shutdown)) => {
                command = Command::Kill;
                words.clear();
            }
            Err(e) => fail(e),
        }
    }
    match (&command, words.len()) {
        (Command::Switch, 2) | (Command::Reread | Command::Kill, 0) => {}
        (Command::Switch, _) => bad(&"want a group and a level"),
        _ => bad(&"-r and -k take no group or level"),
    }
    let tab = Cltab::read(cltab.as_ref()).unwrap_or_else(|e| fatal("clinit", EXIT_USAGE, &e));
    let clinit = Clinit::new(tab, scan.clone().into(), timeout, settle);
    let _lock = clinit.lock().unwrap_or_else(|e| fail(e));
    let done = match command {
        Command::Switch => clinit.switch(&words[0], &words[1]),
        Command::Reread => clinit.reread(),
        Command::Kill => clinit.stop_all(),
        Command::Status => show_status(&cltab, clstat, json.then_some(&scan), &words),
    };
    match done {
        Ok(true) => std::process::exit(EXIT_OK),
        Ok(false) => std::process::exit(EXIT_NO),
        Err(e) => fail(e),
    }
}

/// `clinit -s [GROUP [LEVEL]]`: the clstat lines, filtered as Cluster::Init's status();
/// with `--json` (`json_scan`: the scan directory), JSON objects.
fn show_status(
    cltab: &std::ffi::OsStr,
    clstat: Option<std::ffi::OsString>,
    json_scan: Option<&std::ffi::OsString>,
    words: &[String],
) -> ! {
    let bad = |e: &dyn std::fmt::Display| -> ! { usage_error("clinit", SYNOPSIS, e) };
    if words.len() > 2 {
        bad(&"-s takes at most a group and a level");
    }
    // Another node's clstat needs no cltab here; the state words are the cltab's
    // choice when there is one, else Cluster::Init's.
    let tab = match Cltab::read(cltab.as_ref()) {
        Ok(t) => Some(t),
        Err(_) if clstat.is_some() || !std::path::Path::new(&cltab).exists() => None,
        Err(e) => fatal("clinit", EXIT_USAGE, &e),
    };
    let words_of_states = tab.as_ref().map_or(StateWords::ClusterInit, |t| t.words);
    // This node's entries go with its own clstat only, not with another node's.
    let local = clstat.is_none();
    let path = match (clstat, &tab) {
        (Some(p), _) => p.into(),
        (None, Some(t)) => t.clstat.clone(),
        (None, None) => DEFAULT_CLSTAT.into(),
    };
    let groups = clstat::read(&path).unwrap_or_else(|e| fatal("clinit", EXIT_TEMP, &e.to_string()));
    let (group, level) = (
        words.first().map(String::as_str),
        words.get(1).map(String::as_str),
    );
    let out = match json_scan {
        None => clstat::filter(&groups, group, level, words_of_states),
        Some(scan) => {
            let entries = tab
                .as_ref()
                .filter(|_| local)
                .map(|t| (t.entries.as_slice(), std::path::Path::new(scan)));
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
