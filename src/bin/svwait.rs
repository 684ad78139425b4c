//! svwait [-u|-U|-d|-D] [-t DURATION] [-a|-o] SERVICE...: wait for services.

use svkit::cli::{
    EXIT_NO, EXIT_OK, Opt, duration_arg, help_if_asked, options_then_operands, or_die, usage,
};
use svkit::svwait::{Goal, Outcome, wait};

const SYNOPSIS: &str = "svwait [-u|-U|-d|-D] [-t timeout] [-a|-o] service ...";

pub fn main() {
    help_if_asked("svwait", SYNOPSIS, true);
    let mut goal = Goal::Up;
    let mut any = false;
    let mut timeout = None;
    let dirs = options_then_operands("svwait", SYNOPSIS, |p, opt| {
        match opt {
            Opt::Short('u') => goal = Goal::Up,
            Opt::Short('U') => goal = Goal::Ready,
            Opt::Short('d') => goal = Goal::Down,
            Opt::Short('D') => goal = Goal::Finished,
            Opt::Short('a') => any = false,
            Opt::Short('o') => any = true,
            Opt::Short('t') => timeout = Some(duration_arg(p)?),
            _ => return Ok(false),
        }
        Ok(true)
    });
    if dirs.is_empty() {
        usage("svwait", SYNOPSIS);
    }
    // Names are bytes: kept as given, shown lossily only in messages.
    let dirs: Vec<std::path::PathBuf> = dirs
        .iter()
        .map(|d| svkit::service_dir::lookup_env(d))
        .collect();
    match or_die("svwait", wait(&dirs, goal, any, timeout)) {
        Outcome::Reached => std::process::exit(EXIT_OK),
        Outcome::TimedOut => std::process::exit(EXIT_NO),
    }
}
