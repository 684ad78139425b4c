//! tai64n: put a TAI64N timestamp in front of each line.

use svkit::diag::{EXIT_OK, EXIT_TEMP, fatal, help_if_asked, ioerrstr, usage};

fn main() {
    help_if_asked("tai64n", "tai64n", true);
    if std::env::args_os().len() > 1 {
        usage("tai64n", "tai64n");
    }
    let stdin = std::io::stdin().lock();
    let stdout = std::io::stdout().lock();
    match svkit::timestamp::label_lines(stdin, stdout) {
        Ok(()) => std::process::exit(EXIT_OK),
        Err(e) => {
            svkit::diag::die_quietly_on_broken_pipe(&e);
            fatal(
                "tai64n",
                EXIT_TEMP,
                &format!("unable to copy: {}", ioerrstr(&e)),
            )
        }
    }
}
