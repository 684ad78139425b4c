//! readproctitle ARGS... DOTS: keep the last bytes of stdin visible in `ps`.

use svkit::cli::{EXIT_OK, EXIT_TEMP, fatal, help_if_asked, usage};
use svkit::diag::ioerrstr;
use svkit::proctitle::{MIN_WINDOW, TitleError, TitleWindow, follow_stdin};

const SYNOPSIS: &str = "readproctitle text ... dots";

pub fn main() {
    help_if_asked("readproctitle", SYNOPSIS, true);
    if std::env::args_os().len() < 2 {
        usage("readproctitle", SYNOPSIS);
    }
    let mut title = match TitleWindow::last_argument() {
        Ok(t) => t,
        Err(TitleError::TooShort(n)) => svkit::cli::usage_error(
            "readproctitle",
            SYNOPSIS,
            format!("last argument has {n} bytes, needs at least {MIN_WINDOW}"),
        ),
        Err(TitleError::Unavailable | TitleError::Taken) => fatal(
            "readproctitle",
            EXIT_TEMP,
            "unable to find the argument area in /proc/self",
        ),
    };
    match follow_stdin(&mut title) {
        Ok(()) => std::process::exit(EXIT_OK),
        Err(e) => fatal(
            "readproctitle",
            EXIT_TEMP,
            &format!("unable to read input: {}", ioerrstr(&e)),
        ),
    }
}
