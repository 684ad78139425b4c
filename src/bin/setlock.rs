//! setlock [-nNxXs] [-t DURATION] [-E CODE] FILE PROGRAM...: run PROGRAM holding a lock.

use svkit::cli::chain::{Opt, parse_args};
use svkit::cli::{EXIT_OK, EXIT_TEMP, duration_arg, fatal, help_if_asked};
use svkit::lock::{LockError, Wait, acquire};

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
                let v = p.value().map_err(|e| e.to_string())?;
                busy_code = v
                    .to_string_lossy()
                    .parse::<u8>()
                    .ok()
                    .filter(|c| *c > 0)
                    .ok_or_else(|| format!("invalid exit code {v:?} (want 1 to 255)"))?
                    .into();
            }
            _ => return Ok(false),
        }
        Ok(true)
    });
    let file = &operands[0];
    let name = file.to_string_lossy();
    let _lock = match acquire(file.as_ref(), shared, wait) {
        Ok(fd) => fd,
        Err(e) if quiet => {
            let _ = e;
            std::process::exit(EXIT_OK)
        }
        Err(e @ (LockError::Open(_) | LockError::Symlink | LockError::NotRegular)) => {
            fatal("setlock", EXIT_TEMP, &format!("unable to open {name}: {e}"))
        }
        Err(e @ (LockError::Busy | LockError::TimedOut)) => {
            fatal("setlock", busy_code, &format!("unable to lock {name}: {e}"))
        }
        Err(e @ LockError::Lock(_)) => {
            fatal("setlock", EXIT_TEMP, &format!("unable to lock {name}: {e}"))
        }
    };
    // The lock descriptor is inherited: it stays held until PROGRAM exits.
    program.exec("setlock", program.command());
}
