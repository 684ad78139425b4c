//! What the frontends say: the person's `Starting NAME ....OK` line, and the JSON
//! object per service (`--json`) with its exit code.

use super::{Output, Step, Verdict};
use crate::diag::EXIT_USAGE;
use crate::report::JsonObject;
use crate::service_dir::ServiceDir;
use crate::status::Status;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

macro_rules! say {
    ($($a:tt)*) => { $crate::admin::output::say(format_args!($($a)*)) };
}
macro_rules! sayln {
    ($($a:tt)*) => { $crate::admin::output::say(format_args!("{}\n", format_args!($($a)*))) };
}

/// Writes to stdout, ignoring failure: the output is for a person, and a reader gone
/// away (`svcstop a b c | head -1`) must not stop the work half way, as println!'s
/// panic would.
pub(super) fn say(args: std::fmt::Arguments) {
    let mut out = std::io::stdout();
    let _ = out.write_fmt(args);
    let _ = out.flush();
}

/// The person's view of one service: a line that grows dots while we wait.
pub(super) struct Progress {
    dots: usize,
    open: bool,
}

impl Progress {
    pub(super) fn silent() -> Progress {
        Progress {
            dots: 0,
            open: false,
        }
    }

    pub(super) fn begin(output: Output, verb: &str, name: &Path) -> Progress {
        let mut p = Progress::silent();
        if output == Output::Person {
            say!("{verb} {} ", name.display());
            p.open = true;
            p.dot();
        }
        p
    }

    pub(super) fn dot(&mut self) {
        if self.open {
            say!(".");
            self.dots += 1;
        }
    }

    pub(super) fn end(&mut self, verdict: &Verdict) {
        if !self.open {
            return;
        }
        // At least four dots, as the Syn-3 frontends print them.
        let pad = ".".repeat(4usize.saturating_sub(self.dots));
        match verdict {
            Verdict::Done(None) => sayln!("{pad}OK"),
            Verdict::Done(Some(note)) => sayln!("{pad}OK ({note})"),
            Verdict::Skipped(why) => sayln!("{pad}SKIPPED ({why})"),
            Verdict::Failed(why) | Verdict::Unreachable(why) => sayln!("{pad}FAILED ({why})"),
        }
        self.open = false;
    }
}

/// The JSON line for one service.
pub(super) fn json_line(name: &Path, step: Step, verdict: &Verdict, elapsed: Duration) -> String {
    let (result, reason) = match verdict {
        Verdict::Done(note) => ("ok", note.clone()),
        Verdict::Skipped(why) => ("skipped", Some(why.clone())),
        Verdict::Failed(why) => ("failed", Some(why.clone())),
        Verdict::Unreachable(why) => ("unreachable", Some(why.clone())),
    };
    // Unreachable: whatever status file is left is no one's word on the service now.
    let pid = match verdict {
        Verdict::Unreachable(_) => None,
        _ => Status::read(&ServiceDir::new(name)).ok(),
    }
    .map_or("null".into(), |s| s.pid.to_string());
    JsonObject::new()
        .str("service", &name.to_string_lossy())
        .str("action", step.as_str())
        .str("result", result)
        .raw("exit", verdict.exit_code())
        .opt_str("reason", reason.as_deref())
        .raw("pid", pid)
        .raw("seconds", format_args!("{:.3}", elapsed.as_secs_f64()))
        .end()
}

/// The JSON line for a service that does not exist (and so nothing was done to any).
pub(super) fn unknown_service_json(dir: &Path, why: &str) -> String {
    JsonObject::new()
        .str("service", &dir.to_string_lossy())
        .null("action")
        .str("result", "unknown")
        .raw("exit", EXIT_USAGE)
        .str("reason", why)
        .null("pid")
        .raw("seconds", "0.000")
        .end()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines() {
        let j = json_line(
            Path::new("/nonexistent/x"),
            Step::Start,
            &Verdict::Failed("exited within 1s".into()),
            Duration::from_millis(1500),
        );
        assert_eq!(
            j,
            "{\"service\":\"/nonexistent/x\",\"action\":\"start\",\"result\":\"failed\",\"exit\":1,\"reason\":\"exited within 1s\",\"pid\":null,\"seconds\":1.500}"
        );
    }
}
