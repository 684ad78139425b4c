//! clstat, the status file of clinit's groups (Cluster::Init's `Cluster::Init::Group
//! GROUP LEVEL STATE` lines), and IS::Init's initstat file written beside it: the group
//! states, their words, parsing, formatting, `clinit -s` (text and JSON), reading and
//! writing the files. Beside cltab, the file clinit reads its groups from.

use crate::clinit::ClinitError;
use crate::clinit::at;
use crate::clinit::cltab::{Resource, StateWords};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// The first word of every clstat line, as Cluster::Init's status() expects it.
const CLSTAT_WORD: &str = "Cluster::Init::Group";
/// The level of a group never switched, or stopped by `clinit -k`.
pub const NO_LEVEL: &str = "-";

/// A group's state in clstat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Being switched to its level.
    Starting,
    /// At its level: every entry started, every wait and test entry done.
    Run,
    /// At its level, which holds test entries only, and every test passed
    /// (Cluster::Init's PASSED; svkit 0.1 and IS::Init call it run).
    Passed,
    /// A test failed, an entry did not come up, or the switch broke off.
    Failed,
    /// Being stopped whole (`clinit -k`).
    Stopping,
    /// Never switched, or stopped whole.
    Stopped,
}

const STATES: [State; 6] = [
    State::Starting,
    State::Run,
    State::Passed,
    State::Failed,
    State::Stopping,
    State::Stopped,
];

impl State {
    /// The word clstat says it with. Cluster::Init's are the states of its group
    /// machine (Cluster::Init::DFA::Group), the words its documentation ("marked as
    /// 'FAILED'") and its test suite use.
    pub fn name(self, words: StateWords) -> &'static str {
        match (words, self) {
            (StateWords::ClusterInit, State::Starting) => "STARTING",
            (StateWords::ClusterInit, State::Run) => "DONE",
            (StateWords::ClusterInit, State::Passed) => "PASSED",
            (StateWords::ClusterInit, State::Failed) => "FAILED",
            (StateWords::ClusterInit, State::Stopping) => "HALTING",
            (StateWords::ClusterInit, State::Stopped) => "CONFIGURED",
            (StateWords::Svkit, State::Starting) => "starting",
            (StateWords::Svkit, State::Run | State::Passed) => "run",
            (StateWords::Svkit, State::Failed) => "failed",
            (StateWords::Svkit, State::Stopping) => "stopping",
            (StateWords::Svkit, State::Stopped) => "stopped",
        }
    }

    /// The word IS::Init's initstat file says it with.
    pub fn is_init_name(self) -> &'static str {
        match self {
            State::Starting => "start",
            State::Run | State::Passed => "run",
            State::Failed => "fail",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
        }
    }

    /// Either vocabulary, so that a clstat written with the other words (by an earlier
    /// svkit, or another node's setting) still reads; Cluster::Init's passing states
    /// (CHECKING, STOPPING and DUMPING happen during a switch) are starting.
    pub fn parse(s: &str) -> Option<State> {
        match s {
            "CHECKING" | "STOPPING" | "DUMPING" => return Some(State::Starting),
            _ => {}
        }
        STATES.into_iter().find(|st| {
            st.name(StateWords::ClusterInit) == s
                || (*st != State::Passed && st.name(StateWords::Svkit) == s)
        })
    }

    /// At its level and done with it.
    pub fn is_at_level(self) -> bool {
        matches!(self, State::Run | State::Passed)
    }
}

/// One clstat line: `Cluster::Init::Group GROUP LEVEL STATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    pub group: String,
    pub level: String,
    pub state: State,
}

/// Parses clstat text; lines that are not a group's are skipped, as Cluster::Init
/// skips them.
pub fn parse(text: &str) -> Vec<GroupStatus> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            match w.as_slice() {
                [CLSTAT_WORD, group, level, state] => Some(GroupStatus {
                    group: group.to_string(),
                    level: level.to_string(),
                    state: State::parse(state)?,
                }),
                _ => None,
            }
        })
        .collect()
}

/// Reads a clstat file for `clinit -s` (anyone's, another node's); one that does not
/// exist holds no groups. A FIFO or device there is refused, not waited on.
pub fn read(path: &Path) -> Result<Vec<GroupStatus>, ClinitError> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ClinitError::io("read", path)(e)),
    };
    if !f
        .metadata()
        .map_err(ClinitError::io("read", path))?
        .is_file()
    {
        return Err(ClinitError::NotRegularFile(path.to_path_buf()));
    }
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut &f, &mut data).map_err(ClinitError::io("read", path))?;
    Ok(parse(&String::from_utf8_lossy(&data)))
}

pub fn format(groups: &[GroupStatus], words: StateWords) -> String {
    groups
        .iter()
        .map(|g| {
            format!(
                "{CLSTAT_WORD} {} {} {}\n",
                g.group,
                g.level,
                g.state.name(words)
            )
        })
        .collect()
}

/// IS::Init's initstat file: `GROUP STATE LEVEL` lines in columns of 15, sorted by
/// group, between `!startid ID` and `!endid ID` lines with the same ID (IS::Init's
/// status() reads until they agree). A group never switched has an empty level.
pub fn format_initstat(groups: &[GroupStatus], id: &str) -> String {
    let mut sorted: Vec<&GroupStatus> = groups.iter().collect();
    sorted.sort_by(|a, b| a.group.cmp(&b.group));
    let mut out = format!("!startid {id}\n");
    for g in sorted {
        let level = if g.level == NO_LEVEL { "" } else { &g.level };
        out.push_str(&format!(
            "{:<15} {:<15} {:<15}\n",
            g.group,
            g.state.is_init_name(),
            level
        ));
    }
    out.push_str(&format!("!endid {id}\n"));
    out
}

/// Cluster::Init's status(): every group as `GROUP LEVEL STATE`; with a group, its
/// `LEVEL STATE`; with a group and a level, `STATE` if the group is at that level.
pub fn filter(
    groups: &[GroupStatus],
    group: Option<&str>,
    level: Option<&str>,
    words: StateWords,
) -> String {
    let mut out = String::new();
    for g in groups {
        if group.is_some_and(|w| w != g.group) || level.is_some_and(|w| w != g.level) {
            continue;
        }
        if group.is_none() {
            out.push_str(&g.group);
            out.push(' ');
        }
        if level.is_none() {
            out.push_str(&g.level);
            out.push(' ');
        }
        out.push_str(g.state.name(words));
        out.push('\n');
    }
    out
}

/// `clinit -s --json`: a JSON object a line for each group `filter` would
/// print, always whole: `group`, `level` (null when never switched), `state` (in
/// `words`), `at_level` (at its level and done with it), and with `entries` (the
/// cltab's entries and the scan directory) `entries`: the group's entries' service
/// status as `svstat -j` prints it, in cltab order.
pub fn json(
    groups: &[GroupStatus],
    group: Option<&str>,
    level: Option<&str>,
    words: StateWords,
    entries: Option<(&[Resource], &Path)>,
) -> String {
    use crate::report::{JsonObject, json_array};
    let mut out = String::new();
    let now = crate::tai64::Tai64N::now();
    for g in groups {
        if group.is_some_and(|w| w != g.group) || level.is_some_and(|w| w != g.level) {
            continue;
        }
        let mut o = JsonObject::new();
        o.str("group", &g.group)
            .opt_str("level", Some(g.level.as_str()).filter(|l| *l != NO_LEVEL))
            .str("state", g.state.name(words))
            .raw("at_level", g.state.is_at_level());
        if let Some((entries, scan)) = entries {
            let objects: Vec<String> = entries
                .iter()
                .filter(|e| e.group == g.group)
                .map(|e| {
                    let name = crate::clinit::service_name(e);
                    let dir = crate::service_dir::ServiceDir::new(scan.join(&name));
                    match crate::report::query(&dir, now) {
                        Ok(r) => r.json(&name),
                        Err(err) => crate::report::json_error(&name, &err),
                    }
                })
                .collect();
            o.raw("entries", json_array(&objects));
        }
        out.push_str(&o.end());
        out.push('\n');
    }
    out
}

/// Reads clinit's own clstat, `name` in `dir` (`path` names it in messages): one that
/// is not there holds no groups; one not written by clinit's account is refused.
pub fn load(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
) -> Result<Vec<GroupStatus>, ClinitError> {
    match at::read_own(dir, name, false) {
        Ok(at::Found::Missing) => Ok(Vec::new()),
        Ok(at::Found::File(t)) => Ok(parse(&String::from_utf8_lossy(&t))),
        Ok(at::Found::Untrusted(why)) => Err(ClinitError::NotWrittenByClinit {
            path: path.to_path_buf(),
            why,
        }),
        Err(e) => Err(ClinitError::errno("read", path)(e)),
    }
}

/// Writes clstat whole, `name` in `dir` (the only file clinit fsyncs: the service files
/// are made again from the cltab by the next clinit, and a thousand fsyncs made the
/// first switch of 200 entries take seconds).
pub fn save(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    path: &Path,
    groups: &[GroupStatus],
    words: StateWords,
) -> Result<(), ClinitError> {
    at::replace(dir, name, format(groups, words).as_bytes(), 0o644, true)
        .map_err(ClinitError::io("write", path))
}

/// The directory of clstat or initstat (`what`) at `path`, made if need be (/var/run
/// is a tmpfs) and opened, and the file's name in it.
pub(crate) fn open_parent<'a>(
    path: &'a Path,
    what: &'static str,
) -> Result<(std::os::fd::OwnedFd, &'a OsStr), ClinitError> {
    let name = path.file_name().ok_or_else(|| ClinitError::NamesNoFile {
        what,
        path: path.to_path_buf(),
    })?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir).map_err(ClinitError::io("create", dir))?;
    let fd = at::open_dir(dir).map_err(ClinitError::errno("open", dir))?;
    Ok((fd, name))
}

/// Writes IS::Init's status file at `path` whole, the same way (its directory made if
/// need be).
pub fn save_initstat(path: &Path, groups: &[GroupStatus]) -> Result<(), ClinitError> {
    let (fd, name) = open_parent(path, "initstat")?;
    let text = format_initstat(groups, &at::random());
    at::replace(fd.as_fd(), name, text.as_bytes(), 0o644, false)
        .map_err(ClinitError::io("write", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gs(group: &str, level: &str, state: State) -> GroupStatus {
        GroupStatus {
            group: group.into(),
            level: level.into(),
            state,
        }
    }

    #[test]
    fn clstat_round_trip_and_foreign_lines() {
        let groups = vec![
            gs("web", "2", State::Run),
            gs("0", "0", State::Failed),
            gs("chk", "t", State::Passed),
            gs("db", NO_LEVEL, State::Stopped),
        ];
        let text = format(&groups, StateWords::ClusterInit);
        assert_eq!(
            text,
            "Cluster::Init::Group web 2 DONE\nCluster::Init::Group 0 0 FAILED\n\
             Cluster::Init::Group chk t PASSED\nCluster::Init::Group db - CONFIGURED\n"
        );
        let mut with_noise = String::from("garbage\nCluster::Init::Group x y nosuchstate\n");
        with_noise.push_str(&text);
        assert_eq!(parse(&with_noise), groups);
        // svkit 0.1's words, by choice; and read back either way.
        let old = format(&groups, StateWords::Svkit);
        assert_eq!(
            old,
            "Cluster::Init::Group web 2 run\nCluster::Init::Group 0 0 failed\n\
             Cluster::Init::Group chk t run\nCluster::Init::Group db - stopped\n"
        );
        let back: Vec<State> = parse(&old).iter().map(|g| g.state).collect();
        assert_eq!(
            back,
            [State::Run, State::Failed, State::Run, State::Stopped]
        );
        for (word, st) in [
            ("STARTING", State::Starting),
            ("CHECKING", State::Starting),
            ("STOPPING", State::Starting),
            ("HALTING", State::Stopping),
            ("stopping", State::Stopping),
        ] {
            assert_eq!(State::parse(word), Some(st), "{word}");
        }
    }

    #[test]
    fn initstat_as_is_init_writes_it() {
        let groups = vec![
            gs("web", "2", State::Run),
            gs("db", NO_LEVEL, State::Stopped),
            gs("chk", "t", State::Failed),
        ];
        assert_eq!(
            format_initstat(&groups, "42"),
            format!(
                "!startid 42\n{:<15} {:<15} {:<15}\n{:<15} {:<15} {:<15}\n{:<15} {:<15} {:<15}\n!endid 42\n",
                "chk", "fail", "t", "db", "stopped", "", "web", "run", "2"
            )
        );
    }

    #[test]
    fn status_filters_as_cluster_init() {
        let groups = vec![gs("web", "2", State::Run), gs("db", "1", State::Stopping)];
        let w = StateWords::ClusterInit;
        assert_eq!(filter(&groups, None, None, w), "web 2 DONE\ndb 1 HALTING\n");
        assert_eq!(filter(&groups, Some("db"), None, w), "1 HALTING\n");
        assert_eq!(filter(&groups, Some("web"), Some("2"), w), "DONE\n");
        assert_eq!(filter(&groups, Some("web"), Some("3"), w), "");
        assert_eq!(filter(&groups, None, Some("1"), w), "db HALTING\n");
        let w = StateWords::Svkit;
        assert_eq!(filter(&groups, Some("web"), Some("2"), w), "run\n");
    }

    #[test]
    fn json_lines() {
        let groups = vec![
            gs("web", "2", State::Run),
            gs("d\"b", NO_LEVEL, State::Stopped),
        ];
        assert_eq!(
            json(&groups, None, None, StateWords::ClusterInit, None),
            "{\"group\":\"web\",\"level\":\"2\",\"state\":\"DONE\",\"at_level\":true}\n\
             {\"group\":\"d\\\"b\",\"level\":null,\"state\":\"CONFIGURED\",\"at_level\":false}\n"
        );
    }
}
