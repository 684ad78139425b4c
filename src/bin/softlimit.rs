//! softlimit OPTS PROGRAM...: run PROGRAM with lower soft resource limits.

use svkit::cli::chain::{Opt, parse_args};
use svkit::cli::{EXIT_TEMP, fatal, help_if_asked};
use svkit::diag::errstr;
use svkit::softlimit::{apply, parse_limit, resources};

const SYNOPSIS: &str = "softlimit [-a allbytes] [-c corebytes] [-d databytes] [-f filebytes] [-l lockbytes] [-m membytes] [-o openfiles] [-p processes] [-r residentbytes] [-s stackbytes] [-t cpusecs] child";

pub fn main() {
    help_if_asked("softlimit", SYNOPSIS, true);
    let mut settings = Vec::new();
    let (_, program) = parse_args("softlimit", SYNOPSIS, 0, |p, opt| {
        let Opt::Short(letter) = opt else {
            return Ok(false);
        };
        let Some(res) = resources(letter) else {
            return Ok(false);
        };
        let v = p.value().map_err(|e| e.to_string())?;
        let limit = parse_limit(letter, &v.to_string_lossy())
            .map_err(|e| format!("option -{letter}: {e}"))?;
        settings.extend(res.iter().map(|r| (letter, *r, limit)));
        Ok(true)
    });
    for (letter, res, limit) in settings {
        if let Err(e) = apply(res, limit) {
            fatal(
                "softlimit",
                EXIT_TEMP,
                &format!("unable to set limit -{letter}: {}", errstr(e)),
            );
        }
    }
    program.exec("softlimit", program.command());
}
