//! svwait [-u|-U|-d|-D] [-t DURATION] [-a|-o] SERVICE...: wait for services.

use svkit::cli::{
    EXIT_NO, EXIT_OK, EXIT_TEMP, duration_arg, fatal, help_if_asked, usage, usage_error,
};
use svkit::svwait::{Goal, Outcome, wait};

const SYNOPSIS: &str = "svwait [-u|-U|-d|-D] [-t timeout] [-a|-o] service ...";

fn main() {
    help_if_asked("svwait", SYNOPSIS, true);
    let mut goal = Goal::Up;
    let mut any = false;
    let mut timeout = None;
    let mut dirs = Vec::new();
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(Some(lexopt::Arg::Short('u'))) => goal = Goal::Up,
            Ok(Some(lexopt::Arg::Short('U'))) => goal = Goal::Ready,
            Ok(Some(lexopt::Arg::Short('d'))) => goal = Goal::Down,
            Ok(Some(lexopt::Arg::Short('D'))) => goal = Goal::Finished,
            Ok(Some(lexopt::Arg::Short('a'))) => any = false,
            Ok(Some(lexopt::Arg::Short('o'))) => any = true,
            Ok(Some(lexopt::Arg::Short('t'))) => match duration_arg(&mut parser) {
                Ok(d) => timeout = Some(d),
                Err(e) => usage_error("svwait", SYNOPSIS, e),
            },
            Ok(Some(lexopt::Arg::Value(v))) => {
                // Names are bytes: kept as given, shown lossily only in messages.
                dirs.push(std::path::PathBuf::from(v));
                if let Ok(raw) = parser.raw_args() {
                    dirs.extend(raw.map(std::path::PathBuf::from));
                }
                break;
            }
            Ok(None) => break,
            Ok(Some(other)) => usage_error("svwait", SYNOPSIS, other.unexpected()),
            Err(e) => usage_error("svwait", SYNOPSIS, e),
        }
    }
    if dirs.is_empty() {
        usage("svwait", SYNOPSIS);
    }
    let dirs: Vec<std::path::PathBuf> = dirs
        .iter()
        .map(|d| svkit::service_dir::lookup_env(d.as_os_str()))
        .collect();
    match wait(&dirs, goal, any, timeout) {
        Ok(Outcome::Reached) => std::process::exit(EXIT_OK),
        Ok(Outcome::TimedOut) => std::process::exit(EXIT_NO),
        Err(e) => fatal("svwait", EXIT_TEMP, &e.to_string()),
    }
}
