//! svscan [-t DURATION] [DIR]: supervise every service directory in DIR.

use svkit::diag::{EXIT_OK, EXIT_TEMP, fatal, help_if_asked, usage};
use svkit::duration::parse_duration;
use svkit::sibling::sibling_binary;
use svkit::svscan::{Options, run};

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
                let v = parser.value().map(|v| v.to_string_lossy().into_owned());
                match v.as_deref().map(parse_duration) {
                    Ok(Ok(d)) => opts.kill_timeout = d,
                    Ok(Err(e)) => {
                        eprintln!("svscan: {e}");
                        usage("svscan", SYNOPSIS);
                    }
                    Err(e) => {
                        eprintln!("svscan: {e}");
                        usage("svscan", SYNOPSIS);
                    }
                }
            }
            Ok(Some(lexopt::Arg::Value(v))) if dir.is_none() => {
                dir = Some(v.to_string_lossy().into_owned())
            }
            Ok(None) => break,
            Ok(Some(other)) => {
                eprintln!("svscan: {}", other.unexpected());
                usage("svscan", SYNOPSIS);
            }
            Err(e) => {
                eprintln!("svscan: {e}");
                usage("svscan", SYNOPSIS);
            }
        }
    }
    match run(dir.as_deref().unwrap_or("."), opts) {
        Ok(()) => std::process::exit(EXIT_OK),
        Err(msg) => fatal("svscan", EXIT_TEMP, &msg),
    }
}
