//! svscan [-t DURATION] [DIR]: supervise every service directory in DIR.

use svkit::cli::{die, duration_arg, help_if_asked, usage_error};
use svkit::sibling::sibling_binary;
use svkit::svscan::{Options, scan_tree};

const SYNOPSIS: &str = "svscan [-t timeout] [dir]";

pub fn main() {
    help_if_asked("svscan", SYNOPSIS, true);
    let mut opts = Options {
        supervise: sibling_binary("supervise"),
        kill_timeout: std::time::Duration::from_secs(5),
    };
    let mut dir = None;
    let mut parser = lexopt::Parser::from_env();
    loop {
        match parser.next() {
            Ok(Some(lexopt::Arg::Short('t'))) => match duration_arg(&mut parser) {
                Ok(d) => opts.kill_timeout = d,
                Err(e) => usage_error("svscan", SYNOPSIS, e),
            },
            Ok(Some(lexopt::Arg::Value(v))) if dir.is_none() => dir = Some(v),
            Ok(None) => break,
            Ok(Some(other)) => usage_error("svscan", SYNOPSIS, other.unexpected()),
            Err(e) => usage_error("svscan", SYNOPSIS, e),
        }
    }
    match scan_tree(dir.as_deref().unwrap_or(".".as_ref()), opts) {
        Ok(code) => std::process::exit(code),
        Err(e) => die("svscan", &e),
    }
}
