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

    /// Reads and parses the cltab at `path`.
    pub fn read(path: &Path) -> Result<Cltab, CltabError> {
        let text = std::fs::read(path).map_err(|err| CltabError::Read {
            path: path.to_path_buf(),
            err,
        })?;
        let text = String::from_utf8(text).map_err(|_| CltabError::NotText {
            path: path.to_path_buf(),
        })?;
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

/// Why a cltab cannot be used. Nothing acts on a cltab with one: its exit class is
/// 100, as a bad command line's (reading it included, as before).
#[derive(Debug)]
pub enum CltabError {
    /// It could not be read.
    Read { path: PathBuf, err: std::io::Error },
    /// It is not UTF-8 text.
    NotText { path: PathBuf },
    /// Line `line` (from 1) is wrong.
    Line {
        path: PathBuf,
        line: usize,
        problem: LineProblem,
    },
}

impl std::fmt::Display for CltabError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CltabError::Read { path, err } => write!(
                f,
                "unable to read {}: {}",
                path.display(),
                crate::diag::ioerrstr(err)
            ),
            CltabError::NotText { path } => write!(f, "{}: not UTF-8 text", path.display()),
            CltabError::Line {
                path,
                line,
                problem,
            } => write!(f, "{}:{line}: {problem}", path.display()),
        }
    }
}

impl crate::cli::Failure for CltabError {
    fn exit_code(&self) -> i32 {
        crate::diag::EXIT_USAGE
    }
}

/// What is wrong with one cltab line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LineProblem {
    /// Fewer than five `:`-separated fields (`found`), in `text`.
    FieldCount {
        found: usize,
        text: String,
    },
    /// `:::clstat:` or `:::initstat:` without a path; `example` shows one.
    NoPath {
        setting: &'static str,
        example: &'static str,
    },
    /// `:::clstat-words:` with neither word.
    StateWords(String),
    /// `:::restart:` that is no restart policy (the policy parser's message).
    Restart(crate::restart::PolicyError),
    /// `:::stop-interval:` or `:::wait-timeout:` that is no duration.
    Duration(crate::units::ParseUnitError),
    UnknownSetting(String),
    Group(String),
    Tag(String),
    /// The LEVELS field as written.
    Levels(String),
    Mode(String),
    /// A command that is empty, in an entry not off.
    EmptyCommand {
        tag: String,
    },
    /// A tag used before, on `line` in `group`.
    DuplicateTag {
        tag: String,
        line: usize,
        group: String,
    },
}

impl std::fmt::Display for LineProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineProblem::FieldCount { found, text } => write!(
                f,
                "want GROUP:TAG:LEVELS:MODE:COMMAND, found {found} field{}: {text:?}",
                if *found == 1 { "" } else { "s" }
            ),
            LineProblem::NoPath { setting, example } => {
                write!(f, "{setting}: want a path, as in :::{setting}:{example}")
            }
            LineProblem::StateWords(w) => {
                write!(f, "clstat-words: want cluster-init or svkit, found {w:?}")
            }
            LineProblem::Restart(why) => write!(f, "{why}"),
            LineProblem::Duration(e) => write!(f, "{e}"),
            LineProblem::UnknownSetting(s) => write!(
                f,
                "unknown setting {s:?} (want clstat, initstat, clstat-words, socket, restart, stop-interval or wait-timeout)"
            ),
            LineProblem::Group(g) => write!(f, "bad group {g:?} (letters, digits, _ and -)"),
            LineProblem::Tag(t) => write!(
                f,
                "bad tag {t:?} (letters, digits, _ - . and not starting with .)"
            ),
            LineProblem::Levels(l) => write!(f, "bad levels {l:?}"),
            LineProblem::Mode(m) => {
                write!(f, "bad mode {m:?} (want respawn, once, wait, test or off)")
            }
            LineProblem::EmptyCommand { tag } => write!(f, "tag {tag}: empty command"),
            LineProblem::DuplicateTag { tag, line, group } => write!(
                f,
                "duplicate tag {tag:?}: already used on line {line} (group {group})"
            ),
        }
    }
}

/// Parses a whole cltab (`path` names it in errors); the first wrong line stops it.
pub fn parse(path: &Path, text: &str) -> Result<Cltab, CltabError> {
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
        if raw.trim().is_empty() || raw.trim_start().starts_with('#') {
            continue;
        }
        parse_line(&mut tab, raw, i + 1).map_err(|problem| CltabError::Line {
            path: path.to_path_buf(),
            line: i + 1,
            problem,
        })?;
    }
    Ok(tab)
}

/// One line that is not blank or a comment, `line` from 1: a setting, or a resource
/// added to `tab`.
fn parse_line(tab: &mut Cltab, raw: &str, line: usize) -> Result<(), LineProblem> {
    let fields: Vec<&str> = raw.splitn(5, ':').collect();
    let [group, tag, levels, mode, command] = fields[..] else {
        return Err(LineProblem::FieldCount {
            found: fields.len(),
            text: raw.to_string(),
        });
    };
    if group.is_empty() && tag.is_empty() && levels.is_empty() {
        return apply_setting(tab, mode, command);
    }
    let resource = parse_resource([group, tag, levels, mode, command], line)?;
    if let Some(first) = tab.entries.iter().find(|e| e.tag == resource.tag) {
        return Err(LineProblem::DuplicateTag {
            tag: resource.tag,
            line: first.line,
            group: first.group.clone(),
        });
    }
    tab.entries.push(resource);
    Ok(())
}

/// A `:::SETTING:VALUE` line, into `tab`.
fn apply_setting(tab: &mut Cltab, setting: &str, value: &str) -> Result<(), LineProblem> {
    let duration = |v: &str| crate::units::parse_duration(v.trim()).map_err(LineProblem::Duration);
    match setting {
        "clstat" if value.is_empty() => {
            return Err(LineProblem::NoPath {
                setting: "clstat",
                example: DEFAULT_CLSTAT,
            });
        }
        "clstat" => tab.clstat = PathBuf::from(value),
        // IS::Init's status file (an isinittab's `:::initstat:PATH`).
        "initstat" if value.is_empty() => {
            return Err(LineProblem::NoPath {
                setting: "initstat",
                example: "/var/run/is/initstat",
            });
        }
        "initstat" => tab.initstat = Some(PathBuf::from(value)),
        "clstat-words" => {
            tab.words = match value.trim() {
                "cluster-init" => StateWords::ClusterInit,
                "svkit" => StateWords::Svkit,
                other => return Err(LineProblem::StateWords(other.to_string())),
            }
        }
        // Cluster::Init's daemon socket: svkit has no daemon.
        "socket" => {}
        "restart" => {
            crate::restart::parse_policy(value).map_err(LineProblem::Restart)?;
            tab.restart = value.trim().to_string();
        }
        "wait-timeout" => tab.wait_timeout = duration(value)?,
        "stop-interval" => tab.stop_interval = duration(value)?,
        _ => return Err(LineProblem::UnknownSetting(setting.to_string())),
    }
    Ok(())
}

/// A resource line's five fields, checked; `line` from 1.
fn parse_resource(fields: [&str; 5], line: usize) -> Result<Resource, LineProblem> {
    let [group, tag, levels_field, mode, command] = fields;
    if !valid_group(group) {
        return Err(LineProblem::Group(group.to_string()));
    }
    if !valid_name(tag) {
        return Err(LineProblem::Tag(tag.to_string()));
    }
    let levels = parse_levels(levels_field);
    if levels.is_empty() || !levels.iter().all(|l| valid_level(l)) {
        return Err(LineProblem::Levels(levels_field.to_string()));
    }
    let mode = match mode {
        "respawn" => Mode::Respawn,
        "once" => Mode::Once,
        "wait" => Mode::Wait,
        "test" => Mode::Test,
        "off" => Mode::Off,
        other => return Err(LineProblem::Mode(other.to_string())),
    };
    if mode != Mode::Off && command.trim().is_empty() {
        return Err(LineProblem::EmptyCommand {
            tag: tag.to_string(),
        });
    }
    Ok(Resource {
        group: group.to_string(),
        tag: tag.to_string(),
        levels,
        mode,
        command: command.to_string(),
        line,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Cltab, String> {
        parse(Path::new("/etc/cltab"), text).map_err(|e| e.to_string())
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
    fn unreadable_and_not_text() {
        use crate::cli::Failure;
        let dir = std::env::temp_dir().join(format!("svkit-cltab-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (missing, binary) = (dir.join("missing"), dir.join("binary"));
        std::fs::write(&binary, b"a:b:1:once:\xff\n").unwrap();
        let e = Cltab::read(&missing).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("unable to read {}: file does not exist", missing.display())
        );
        assert_eq!(e.exit_code(), 100);
        let e = Cltab::read(&binary).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{}: not UTF-8 text", binary.display())
        );
        let e = parse(Path::new("t"), "a:b").unwrap_err();
        assert_eq!(e.exit_code(), 100);
        std::fs::remove_dir_all(&dir).unwrap();
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
