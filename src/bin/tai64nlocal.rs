//! tai64nlocal: turn TAI64N labels at the start of lines into local time.

use svkit::diag::{EXIT_OK, EXIT_TEMP, fatal, help_if_asked, ioerrstr, usage};

fn main() {
    help_if_asked("tai64nlocal", "tai64nlocal", true);
    if std::env::args_os().len() > 1 {
        usage("tai64nlocal", "tai64nlocal");
    }
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match svkit::timestamp::localize_lines(stdin, stdout) {
        Ok(()) => std::process::exit(EXIT_OK),
        Err(e) => {
            svkit::diag::die_quietly_on_broken_pipe(&e);
            fatal(
                "tai64nlocal",
                EXIT_TEMP,
                &format!("unable to copy: {}", ioerrstr(&e)),
            )
        }
    }
}
