//! svscan [-t DURATION] [DIR]: supervise every service directory in DIR.

use svkit::cli::{EXIT_TEMP, fatal, help_if_asked, usage_error};
use svkit::sibling::sibling_binary;
use svkit::svscan::{Options, run};
use svkit::units::parse_duration;

const SYNOPSIS: &str = "svscan [-t timeout] [dir]";

fn main() {
    help_if_asked("svscan", SYNOPSIS, true);
    let mut opts = Options {
        supervise: sibling_binary("supervise"),
        kill_timeout: std::time::Duration::from_secs(5),
    };
    let mut dir = None;
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(Some(lexopt::Arg::Short('t'))) => {
                let v = match parser.value() {
                    Ok(v) => v.to_string_lossy().into_owned(),
                    Err(e) => usage_error("svscan", SYNOPSIS, e),
                };
                match parse_duration(&v) {
                    Ok(d) => opts.kill_timeout = d,
                    Err(e) => usage_error("svscan", SYNOPSIS, e),
                }
            }
            Ok(Some(lexopt::Arg::Value(v))) if dir.is_none() => dir = Some(v),
            Ok(None) => break,
            Ok(Some(other)) => usage_error("svscan", SYNOPSIS, other.unexpected()),
            Err(e) => usage_error("svscan", SYNOPSIS, e),
        }
    }
    match run(dir.as_deref().unwrap_or(".".as_ref()), opts) {
        Ok(code) => std::process::exit(code),
        Err(msg) => fatal("svscan", EXIT_TEMP, &msg),
    }
}
