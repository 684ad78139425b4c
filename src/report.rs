//! What svstat says about one service: the query in daemontools' order, and its
//! human (daemontools) and JSON renderings.

use crate::control::is_supervised;
use crate::diag::errstr;
use crate::service_dir::ServiceDir;
use crate::status::{LastExit, Readiness, Status, StatusError, Want};
use crate::tai64::Tai64N;
use nix::errno::Errno;

/// A service whose status could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceReport {
    pub status: Status,
    pub normally_up: bool,
    /// Seconds since the last change, as svstat prints it.
    pub seconds: u64,
    /// When the report was made.
    pub now: Tai64N,
}

/// Why no status could be given, each with daemontools' phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReportError {
    Chdir(Errno),
    StatDown(Errno),
    NotRunning,
    OpenOk(Errno),
    OpenStatus(Errno),
    ReadStatus(StatusError),
}

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReportError::Chdir(e) => write!(f, "unable to chdir: {}", errstr(*e)),
            ReportError::StatDown(e) => write!(f, "unable to stat down: {}", errstr(*e)),
            ReportError::NotRunning => f.write_str("supervise not running"),
            ReportError::OpenOk(e) => write!(f, "unable to open supervise/ok: {}", errstr(*e)),
            ReportError::OpenStatus(e) => {
                write!(f, "unable to open supervise/status: {}", errstr(*e))
            }
            ReportError::ReadStatus(e) => write!(f, "unable to read supervise/status: {e}"),
        }
    }
}

/// Asks the service directory, in the order daemontools' svstat does.
pub fn query(dir: &ServiceDir, now: Tai64N) -> Result<ServiceReport, ReportError> {
    dir.check().map_err(ReportError::Chdir)?;
    let normally_up = dir.normally_up().map_err(ReportError::StatDown)?;
    match is_supervised(dir) {
        Ok(true) => {}
        Ok(false) => return Err(ReportError::NotRunning),
        Err(e) => return Err(ReportError::OpenOk(e)),
    }
    let status = Status::read(dir).map_err(|e| match e {
        StatusError::Io(e) => ReportError::OpenStatus(e),
        bad => ReportError::ReadStatus(bad),
    })?;
    Ok(ServiceReport {
        seconds: status.changed.seconds_until(now),
        status,
        normally_up,
        now,
    })
}

impl ServiceReport {
    pub fn readiness(&self) -> Readiness {
        self.status.ext.map(|e| e.readiness).unwrap_or_default()
    }

    /// Whole seconds until the restart policy lets a down service start, rounded up.
    pub fn backoff(&self) -> u64 {
        match self.status.ext.and_then(|e| e.next_start) {
            Some(t) if t > self.now => {
                let nanos = (t.secs - self.now.secs) as u128 * 1_000_000_000 + t.nanos as u128
                    - self.now.nanos as u128;
                nanos.div_ceil(1_000_000_000) as u64
            }
            _ => 0,
        }
    }

    /// daemontools' svstat phrase after `DIR: `.
    pub fn human(&self) -> String {
        let s = &self.status;
        let up = s.pid != 0;
        let mut out = if up {
            format!("up (pid {}) {} seconds", s.pid, self.seconds)
        } else {
            format!("down {} seconds", self.seconds)
        };
        if up {
            out.push_str(&self.readiness_phrase());
        }
        if up && !self.normally_up {
            out.push_str(", normally down");
        }
        if !up && self.normally_up {
            out.push_str(", normally up");
        }
        if up && s.paused {
            out.push_str(", paused");
        }
        if !up && s.want == Want::Up {
            out.push_str(", want up");
        }
        if up && s.want == Want::Down {
            out.push_str(", want down");
        }
        if s.ext.is_some_and(|e| e.finishing) {
            out.push_str(", finishing");
        }
        if s.ext.is_some_and(|e| e.settings_problem) {
            out.push_str(", bad settings (see supervise's stderr)");
        }
        if !up {
            out.push_str(&self.failing_phrase());
        }
        out
    }

    /// How ready a service that is up is (nothing where readiness is not tracked).
    fn readiness_phrase(&self) -> String {
        match self.readiness() {
            Readiness::Untracked => String::new(),
            Readiness::Waiting => ", not ready".into(),
            Readiness::Ready(t) => format!(", ready {} seconds", t.seconds_until(self.now)),
            Readiness::Failing(t) => format!(
                ", not ready (check failing {} seconds)",
                t.seconds_until(self.now)
            ),
        }
    }

    /// For a service that is down: while failing (down after an unexpected exit,
    /// waiting for its restart or kept down by down-on-100, or held back by the restart
    /// policy), how it ended and how often it was started. Nothing otherwise, so a
    /// service that is not failing reads as in daemontools.
    fn failing_phrase(&self) -> String {
        let ext = self.status.ext;
        let backoff = self.backoff();
        let crashed = ext.is_some_and(|e| e.crashed);
        let mut out = String::new();
        if backoff == 0 && !crashed {
            return out;
        }
        if backoff > 0 {
            out.push_str(&format!(", backoff {backoff} seconds"));
        }
        match ext.and_then(|e| e.last_exit()) {
            Some(LastExit::Code(c)) => out.push_str(&format!(", last exit {c}")),
            Some(LastExit::Signal(n)) => out.push_str(&format!(", last signal {n}")),
            None => {}
        }
        if let Some(e) = ext {
            out.push_str(&format!(", {} starts", e.starts));
        }
        out
    }

    /// One JSON object, for admin frontends.
    pub fn json(&self, name: &str) -> String {
        let s = &self.status;
        let mut o = JsonObject::new();
        o.str("service", name)
            .str("state", if s.pid != 0 { "up" } else { "down" })
            .raw("pid", s.pid)
            .raw("seconds", self.seconds)
            .raw("normally_up", self.normally_up)
            .str("want", s.want.name())
            .raw("paused", s.pid != 0 && s.paused);
        if let Some(ext) = s.ext {
            o.raw("starts", ext.starts);
            match ext.last_exit() {
                Some(LastExit::Code(c)) => {
                    o.raw("last_exit", JsonObject::new().raw("code", c).end())
                }
                Some(LastExit::Signal(n)) => {
                    o.raw("last_exit", JsonObject::new().raw("signal", n).end())
                }
                None => o.null("last_exit"),
            };
            o.raw("finishing", ext.finishing)
                .raw("backoff", self.backoff())
                .raw("bad_settings", ext.settings_problem);
            match ext.readiness {
                Readiness::Untracked => o.null("ready"),
                Readiness::Waiting => o.raw("ready", false),
                Readiness::Ready(t) => o
                    .raw("ready", true)
                    .raw("ready_seconds", t.seconds_until(self.now)),
                Readiness::Failing(t) => o
                    .raw("ready", false)
                    .raw("check_failing_seconds", t.seconds_until(self.now)),
            };
        }
        o.end()
    }
}

/// The JSON object svstat -j prints for a service it cannot report on.
pub fn json_error(name: &str, err: &ReportError) -> String {
    let state = match err {
        ReportError::NotRunning | ReportError::OpenOk(Errno::ENOENT) => "unsupervised",
        _ => "error",
    };
    JsonObject::new()
        .str("service", name)
        .str("state", state)
        .str("error", &err.to_string())
        .end()
}

/// svkit's one JSON writer (svstat -j, the admin frontends' --json, clinit -s --json):
/// an object built member by member, in order, strings escaped by `json_string`.
#[derive(Debug, Default)]
pub struct JsonObject {
    out: String,
}

impl JsonObject {
    pub fn new() -> JsonObject {
        JsonObject::default()
    }

    fn key(&mut self, key: &str) -> &mut Self {
        self.out.push(if self.out.is_empty() { '{' } else { ',' });
        self.out.push_str(&json_string(key));
        self.out.push(':');
        self
    }

    /// A string member.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let v = json_string(value);
        self.key(key).out.push_str(&v);
        self
    }

    /// A string member, or null.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        match value {
            Some(v) => self.str(key, v),
            None => self.null(key),
        }
    }

    /// A member written as `value` displays: a number, a boolean, or JSON made
    /// already (an object or array of this writer's).
    pub fn raw(&mut self, key: &str, value: impl std::fmt::Display) -> &mut Self {
        let v = value.to_string();
        self.key(key).out.push_str(&v);
        self
    }

    /// A null member.
    pub fn null(&mut self, key: &str) -> &mut Self {
        self.raw(key, "null")
    }

    /// The object's text.
    pub fn end(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        if out.is_empty() {
            out.push('{');
        }
        out.push('}');
        out
    }
}

/// A JSON array of values already written as JSON.
pub fn json_array(items: &[String]) -> String {
    format!("[{}]", items.join(","))
}

/// A JSON string literal, escaping what RFC 8259 requires.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Extension;

    #[test]
    fn json_writer() {
        assert_eq!(JsonObject::new().end(), "{}");
        let inner = JsonObject::new().raw("code", 3).end();
        assert_eq!(
            JsonObject::new()
                .str("a", "x\"y\\\n\u{1}")
                .opt_str("b", None)
                .opt_str("c", Some("z"))
                .raw("d", 1.5)
                .raw("e", true)
                .raw("f", inner)
                .raw("g", json_array(&["1".into(), "\"h\"".into()]))
                .null("h")
                .end(),
            "{\"a\":\"x\\\"y\\\\\\n\\u0001\",\"b\":null,\"c\":\"z\",\"d\":1.5,\"e\":true,\"f\":{\"code\":3},\"g\":[1,\"h\"],\"h\":null}"
        );
    }

    fn report(pid: u32, normally_up: bool, paused: bool, want: Want) -> ServiceReport {
        ServiceReport {
            status: Status {
                changed: Tai64N::from_unix(0, 0),
                pid,
                paused,
                want,
                ext: None,
            },
            normally_up,
            seconds: 45,
            now: Tai64N::from_unix(45, 0),
        }
    }

    #[test]
    fn daemontools_phrases() {
        assert_eq!(
            report(123, true, false, Want::Up).human(),
            "up (pid 123) 45 seconds"
        );
        assert_eq!(
            report(123, false, true, Want::Down).human(),
            "up (pid 123) 45 seconds, normally down, paused, want down"
        );
        assert_eq!(
            report(0, true, false, Want::Up).human(),
            "down 45 seconds, normally up, want up"
        );
        assert_eq!(
            report(0, false, false, Want::Down).human(),
            "down 45 seconds"
        );
        assert_eq!(
            report(0, false, true, Want::Once).human(),
            "down 45 seconds"
        );
    }

    #[test]
    fn json_fields() {
        let mut r = report(7, true, false, Want::Up);
        r.status.ext = Some(Extension {
            last_wait_status: Some(9),
            starts: 3,
            finishing: false,
            next_start: None,
            readiness: Readiness::Untracked,
            settings_problem: false,
            crashed: false,
        });
        assert_eq!(
            r.json("/service/a\"b"),
            "{\"service\":\"/service/a\\\"b\",\"state\":\"up\",\"pid\":7,\"seconds\":45,\"normally_up\":true,\"want\":\"up\",\"paused\":false,\"starts\":3,\"last_exit\":{\"signal\":9},\"finishing\":false,\"backoff\":0,\"bad_settings\":false,\"ready\":null}"
        );
        assert_eq!(
            json_error("x", &ReportError::NotRunning),
            "{\"service\":\"x\",\"state\":\"unsupervised\",\"error\":\"supervise not running\"}"
        );
    }

    #[test]
    fn backoff_phrase() {
        let mut r = report(0, true, false, Want::Up);
        r.status.ext = Some(Extension {
            last_wait_status: Some(1 << 8),
            starts: 5,
            finishing: false,
            next_start: Some(Tai64N::from_unix(101, 1)),
            readiness: Readiness::Untracked,
            settings_problem: false,
            crashed: false,
        });
        assert_eq!(
            r.human(),
            "down 45 seconds, normally up, want up, backoff 57 seconds, last exit 1, 5 starts"
        );
        assert!(r.json("x").ends_with(
            ",\"finishing\":false,\"backoff\":57,\"bad_settings\":false,\"ready\":null}"
        ));
    }

    #[test]
    fn failing_phrase_only_while_failing() {
        let mut r = report(0, true, false, Want::Up);
        r.status.ext = Some(Extension {
            last_wait_status: Some(9),
            starts: 12,
            crashed: true,
            ..Default::default()
        });
        assert_eq!(
            r.human(),
            "down 45 seconds, normally up, want up, last signal 9, 12 starts"
        );
        // Stopped on purpose, or up again: daemontools' words only.
        r.status.ext = Some(Extension {
            last_wait_status: Some(9),
            starts: 12,
            ..Default::default()
        });
        assert_eq!(r.human(), "down 45 seconds, normally up, want up");
        let mut r = report(5, true, false, Want::Up);
        r.status.ext = Some(Extension {
            last_wait_status: Some(1 << 8),
            starts: 12,
            crashed: true,
            ..Default::default()
        });
        assert_eq!(r.human(), "up (pid 5) 45 seconds");
    }

    #[test]
    fn readiness_phrases() {
        let mut r = report(7, true, false, Want::Up);
        let ext = |readiness| {
            Some(Extension {
                readiness,
                ..Default::default()
            })
        };
        r.status.ext = ext(Readiness::Ready(Tai64N::from_unix(1, 0)));
        assert_eq!(r.human(), "up (pid 7) 45 seconds, ready 44 seconds");
        r.status.ext = ext(Readiness::Waiting);
        assert_eq!(r.human(), "up (pid 7) 45 seconds, not ready");
        r.status.ext = ext(Readiness::Failing(Tai64N::from_unix(33, 0)));
        assert_eq!(
            r.human(),
            "up (pid 7) 45 seconds, not ready (check failing 12 seconds)"
        );
        assert!(
            r.json("x")
                .ends_with(",\"ready\":false,\"check_failing_seconds\":12}")
        );
    }

    #[test]
    fn error_phrases() {
        assert_eq!(
            ReportError::Chdir(Errno::ENOENT).to_string(),
            "unable to chdir: file does not exist"
        );
        assert_eq!(
            ReportError::ReadStatus(StatusError::BadFormat).to_string(),
            "unable to read supervise/status: bad format"
        );
    }
}
