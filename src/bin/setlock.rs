//! setlock [-nNxXs] [-t DURATION] [-E CODE] FILE PROGRAM...: run PROGRAM holding a lock.

use svkit::cli::chain::{Opt, parse_args};
use svkit::cli::{EXIT_OK, EXIT_TEMP, duration_arg, help_if_asked, or_die};
use svkit::lock::{NotLocked, Wait, acquire, parse_busy_code};

const SYNOPSIS: &str = "setlock [-nNxXs] [-t duration] [-E code] file program [arg ...]";

pub fn main() {
    help_if_asked("setlock", SYNOPSIS, true);
    let mut wait = Wait::Forever;
    let mut quiet = false;
    let mut shared = false;
    let mut busy_code = EXIT_TEMP;
    let (operands, program) = parse_args("setlock", SYNOPSIS, 1, |p, opt| {
        match opt {
            Opt::Short('n') => wait = Wait::No,
            Opt::Short('N') => wait = Wait::Forever,
            Opt::Short('x') => quiet = true,
            Opt::Short('X') => quiet = false,
            Opt::Short('s') => shared = true,
            Opt::Short('t') => wait = Wait::AtMost(duration_arg(p)?),
            Opt::Short('E') => {
                busy_code = parse_busy_code(&p.value().map_err(|e| e.to_string())?)?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    });
    let file = std::path::Path::new(&operands[0]);
    let locked = acquire(file, shared, wait).map_err(|error| NotLocked {
        file: file.into(),
        error,
        busy_code,
    });
    let _lock = match locked {
        Err(_) if quiet => std::process::exit(EXIT_OK),
        r => or_die("setlock", r),
    };
    // The lock descriptor is inherited: it stays held until PROGRAM exits.
    program.exec("setlock", program.command());
}
