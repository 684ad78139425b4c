//! The cltab (Cluster::Init / IS::Init): `GROUP:TAG:LEVELS:MODE:COMMAND` lines and
//! `:::SETTING:VALUE` lines, parsed and checked whole before anything acts on them.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the status file is when the cltab does not say (Cluster::Init's default).
pub const DEFAULT_CLSTAT: &str = "/var/run/clinit/clstat";
/// IS::Init's respawn throttle: 5 starts in 10 s, then 60 s of rest.
pub const DEFAULT_RESTART: &str = "burst 5 10s 60s";
/// Cluster::Init's "intervals of several seconds" between INT, TERM and KILL.
pub const DEFAULT_STOP_INTERVAL: Duration = Duration::from_secs(5);
/// A wait or test entry that hangs must not hold clinit (and its lock) for ever.
pub const DEFAULT_WAIT_TIMEOUT: Duration = Duration::from_secs(600);

/// Which words clstat's state column uses (`:::clstat-words:`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StateWords {
    /// Cluster::Init's own (STARTING, DONE, PASSED, FAILED, HALTING, CONFIGURED): what
    /// its documentation and monitoring that greps FAILED expect. The default.
    ClusterInit,
    /// svkit 0.1's (starting, run, failed, stopping, stopped), for monitoring written
    /// against it.
    Svkit,
}

/// How an entry runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Supervised, restarted while its group is at one of its levels.
    Respawn,
    /// Supervised, started once on entering a level, not restarted.
    Once,
    /// Run to completion, in cltab order, before clinit goes on.
    Wait,
    /// As wait; a non-zero exit marks the group failed.
    Test,
    /// Ignored.
    Off,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Respawn => "respawn",
            Mode::Once => "once",
            Mode::Wait => "wait",
            Mode::Test => "test",
            Mode::Off => "off",
        }
    }

    /// Whether the entry becomes a supervised service directory.
    pub fn supervised(self) -> bool {
        matches!(self, Mode::Respawn | Mode::Once)
    }
}

/// One resource: a `GROUP:TAG:LEVELS:MODE:COMMAND` line (an "entry" in messages).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub group: String,
    pub tag: String,
    pub levels: Vec<String>,
    pub mode: Mode,
    pub command: String,
    /// Its line number in the cltab, for messages.
    pub line: usize,
}

impl Resource {
    pub fn in_level(&self, level: &str) -> bool {
        self.levels.iter().any(|l| l == level)
    }
}

/// A whole cltab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cltab {
    pub path: PathBuf,
    /// The resource lines, in cltab order.
    pub entries: Vec<Resource>,
    /// `:::clstat:PATH`
    pub clstat: PathBuf,
    /// `:::restart:POLICY`, the `restart` file of every respawn entry.
    pub restart: String,
    /// `:::stop-interval:DURATION` between INT, TERM and KILL.
    pub stop_interval: Duration,
    /// `:::wait-timeout:DURATION`: how long a wait or test entry may run before its
    /// process group is KILLed and the group failed; zero for no limit.
    pub wait_timeout: Duration,
    /// `:::clstat-words:cluster-init|svkit`
    pub words: StateWords,
    /// `:::initstat:PATH`: IS::Init's status file, written beside clstat when set.
    pub initstat: Option<PathBuf>,
}

impl Cltab {
    /// The groups in the order they first appear.
    pub fn groups(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for e in &self.entries {
            if !out.contains(&e.group.as_str()) {
                out.push(&e.group);
            }
        }
        out
    }

    pub fn read(path: &Path) -> Result<Cltab, String> {
        let text = std::fs::read(path).map_err(|e| {
            format!(
                "unable to read {}: {}",
                path.display(),
                crate::diag::ioerrstr(&e)
            )
        })?;
        let text =
            String::from_utf8(text).map_err(|_| format!("{}: not UTF-8 text", path.display()))?;
        parse(path, &text)
    }
}

/// A tag: letters, digits, `_`, `-` and `.`, not starting with `.` (svscan would
/// ignore the directory), at most 64 bytes: it becomes part of a file name.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// A group: as a tag, but without `.`, so that the directory `GROUP.TAG` names one
/// entry only (group `a.b` with tag `c` and group `a` with tag `b.c` would meet).
pub fn valid_group(s: &str) -> bool {
    valid_name(s) && !s.contains('.')
}

/// A level: not empty, no white space (the status file is split on it).
pub fn valid_level(s: &str) -> bool {
    !s.is_empty() && !s.chars().any(char::is_whitespace)
}

/// LEVELS as IS::Init reads them: comma-separated names if there is a comma, else one
/// level per character.
pub fn parse_levels(s: &str) -> Vec<String> {
    if s.contains(',') {
        s.split(',').map(str::to_string).collect()
    } else {
        s.chars().map(String::from).collect()
    }
}

pub fn parse(path: &Path, text: &str) -> Result<Cltab, String> {
    let mut tab = Cltab {
        path: path.to_path_buf(),
        entries: Vec::new(),
        clstat: PathBuf::from(DEFAULT_CLSTAT),
        restart: DEFAULT_RESTART.to_string(),
        stop_interval: DEFAULT_STOP_INTERVAL,
        wait_timeout: DEFAULT_WAIT_TIMEOUT,
        words: StateWords::ClusterInit,
        initstat: None,
    };
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let err = |what: String| format!("{}:{n}: {what}", path.display());
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = raw.splitn(5, ':').collect();
        if fields.len() < 5 {
            return Err(err(format!(
                "want GROUP:TAG:LEVELS:MODE:COMMAND, found {} field{}: {raw:?}",
                fields.len(),
                if fields.len() == 1 { "" } else { "s" }
            )));
        }
        let [group, tag, levels, mode, command] = [0, 1, 2, 3, 4].map(|k| fields[k]);
        if group.is_empty() && tag.is_empty() && levels.is_empty() {
            match mode {
                "clstat" if command.is_empty() => {
                    return Err(err(
                        "clstat: want a path, as in :::clstat:/var/run/clinit/clstat".into(),
                    ));
                }
                "clstat" => tab.clstat = PathBuf::from(command),
                // IS::Init's status file (an isinittab's `:::initstat:PATH`).
                "initstat" if command.is_empty() => {
                    return Err(err(
                        "initstat: want a path, as in :::initstat:/var/run/is/initstat".into(),
                    ));
                }
                "initstat" => tab.initstat = Some(PathBuf::from(command)),
                "clstat-words" => {
                    tab.words = match command.trim() {
                        "cluster-init" => StateWords::ClusterInit,
                        "svkit" => StateWords::Svkit,
                        other => {
                            return Err(err(format!(
                                "clstat-words: want cluster-init or svkit, found {other:?}"
                            )));
                        }
                    }
                }
                // Cluster::Init's daemon socket: svkit has no daemon.
                "socket" => {}
                "restart" => {
                    crate::restart::parse_policy(command).map_err(&err)?;
                    tab.restart = command.trim().to_string();
                }
                "wait-timeout" => {
                    tab.wait_timeout = crate::units::parse_duration(command.trim())
                        .map_err(|e| err(e.to_string()))?
                }
                "stop-interval" => {
                    tab.stop_interval = crate::units::parse_duration(command.trim())
                        .map_err(|e| err(e.to_string()))?
                }
                _ => {
                    return Err(err(format!(
                        "unknown setting {mode:?} (want clstat, initstat, clstat-words, socket, restart, stop-interval or wait-timeout)"
                    )));
                }
            }
            continue;
        }
        if !valid_group(group) {
            return Err(err(format!(
                "bad group {group:?} (letters, digits, _ and -)"
            )));
        }
        if !valid_name(tag) {
            return Err(err(format!(
                "bad tag {tag:?} (letters, digits, _ - . and not starting with .)"
            )));
        }
        let levels = parse_levels(levels);
        if levels.is_empty() || !levels.iter().all(|l| valid_level(l)) {
            return Err(err(format!("bad levels {:?}", fields[2])));
        }
        let mode = match mode {
            "respawn" => Mode::Respawn,
            "once" => Mode::Once,
            "wait" => Mode::Wait,
            "test" => Mode::Test,
            "off" => Mode::Off,
            other => {
                return Err(err(format!(
                    "bad mode {other:?} (want respawn, once, wait, test or off)"
                )));
            }
        };
        if mode != Mode::Off && command.trim().is_empty() {
            return Err(err(format!("tag {tag}: empty command")));
        }
        if let Some(first) = tab.entries.iter().find(|e| e.tag == tag) {
            return Err(err(format!(
                "duplicate tag {tag:?}: already used on line {} (group {})",
                first.line, first.group
            )));
        }
        tab.entries.push(Resource {
            group: group.to_string(),
            tag: tag.to_string(),
            levels,
            mode,
            command: command.to_string(),
            line: n,
        });
    }
    Ok(tab)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Cltab, String> {
        parse(Path::new("/etc/cltab"), text)
    }

    #[test]
    fn entries_and_settings() {
        let t = p(
            "# comment\n\n:::clstat:/tmp/clstat\n:::socket:/tmp/clinit.s\n\
                   web:httpd:12:respawn:exec httpd -X\n\
                   web:check:2:test:curl -f http://localhost/\n\
                   0:zero:0:once:echo a:b:c\n\
                   db:pg:run,standby:respawn:exec postgres\n\
                   db:old:1:off:\n",
        )
        .unwrap();
        assert_eq!(t.clstat, PathBuf::from("/tmp/clstat"));
        assert_eq!(t.entries.len(), 5);
        assert_eq!(t.entries[0].levels, ["1", "2"]);
        assert_eq!(t.entries[2].group, "0");
        assert_eq!(t.entries[2].levels, ["0"]);
        assert_eq!(t.entries[2].command, "echo a:b:c");
        assert_eq!(t.entries[3].levels, ["run", "standby"]);
        assert!(t.entries[3].in_level("standby") && !t.entries[3].in_level("s"));
        assert_eq!(t.entries[1].line, 6);
        assert_eq!(t.groups(), ["web", "0", "db"]);
        assert_eq!(t.restart, DEFAULT_RESTART);
        assert_eq!(t.wait_timeout, DEFAULT_WAIT_TIMEOUT);
        let t = p(":::restart:burst 3 1s 2s\n:::stop-interval:200ms\n:::wait-timeout:0\n").unwrap();
        assert_eq!(t.wait_timeout, Duration::ZERO);
        assert_eq!(t.restart, "burst 3 1s 2s");
        assert_eq!(t.stop_interval, Duration::from_millis(200));
        assert_eq!(t.words, StateWords::ClusterInit);
        assert_eq!(t.initstat, None);
    }

    /// IS::Init's isinittab names its status file with `:::initstat:PATH`.
    #[test]
    fn is_init_initstat_and_state_words() {
        let t = p(
            ":::initstat:/var/run/is/initstat\n:::socket:/var/run/is/init.s\n\
             mail:sm:1:respawn:exec sendmail -bD\n",
        )
        .unwrap();
        assert_eq!(t.initstat, Some(PathBuf::from("/var/run/is/initstat")));
        assert_eq!(t.entries.len(), 1);
        let t = p(":::clstat-words:svkit
")
        .unwrap();
        assert_eq!(t.words, StateWords::Svkit);
        let t = p(":::clstat-words:cluster-init
")
        .unwrap();
        assert_eq!(t.words, StateWords::ClusterInit);
    }

    #[test]
    fn errors_name_file_and_line() {
        for (text, want) in [
            (
                "a:b:1:respawn\n",
                "/etc/cltab:1: want GROUP:TAG:LEVELS:MODE:COMMAND, found 4 fields",
            ),
            (
                "\na:b:1:sometimes:x\n",
                "/etc/cltab:2: bad mode \"sometimes\"",
            ),
            (
                "a:b:1:once:x\nc:b:2:once:y\n",
                "/etc/cltab:2: duplicate tag \"b\": already used on line 1 (group a)",
            ),
            ("a/x:b:1:once:x\n", "/etc/cltab:1: bad group \"a/x\""),
            ("a.b:c:1:once:x\n", "/etc/cltab:1: bad group \"a.b\""),
            (":::clstat:\n", "/etc/cltab:1: clstat: want a path"),
            (":::initstat:\n", "/etc/cltab:1: initstat: want a path"),
            (
                ":::clstat-words:loud\n",
                "/etc/cltab:1: clstat-words: want cluster-init or svkit",
            ),
            ("a:..:1:once:x\n", "/etc/cltab:1: bad tag \"..\""),
            ("a:b::once:x\n", "/etc/cltab:1: bad levels \"\""),
            ("a:b:1,,2:once:x\n", "/etc/cltab:1: bad levels \"1,,2\""),
            ("a:b:1:respawn: \n", "/etc/cltab:1: tag b: empty command"),
            (
                ":::restart:sometimes\n",
                "/etc/cltab:1: not a restart policy",
            ),
            (
                ":::colour:blue\n",
                "/etc/cltab:1: unknown setting \"colour\"",
            ),
        ] {
            let e = p(text).unwrap_err();
            assert!(e.starts_with(want), "{e}");
        }
    }

    #[test]
    fn names() {
        assert!(valid_name("web-1.a_b"));
        assert!(valid_name("0"));
        for bad in ["", ".x", "a b", "a/b", &"x".repeat(65)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
