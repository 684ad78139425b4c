//! clinit: resource groups switched between runlevels (Cluster::Init) by turning cltab
//! entries into service directories under svscan and driving their supervise through
//! the control protocol; the clstat status file; the lock that serialises clinits.

use crate::cltab::{Cltab, Entry, Mode};
use crate::control::{Sent, is_supervised, send};
use crate::diag::{errstr, ioerrstr, warn};
use crate::service_dir::{DOWN, DOWN_SIGNAL, RESTART, RUN, SUPERVISE, ServiceDir};
use crate::svwait::{Goal, Outcome, wait};
use nix::errno::Errno;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const PROG: &str = "clinit";
/// The file that marks a service directory as clinit's, saying which entry it is.
pub const MARKER: &str = "clinit";
/// The first word of every clstat line, as Cluster::Init's status() expects it.
const CLSTAT_WORD: &str = "Cluster::Init::Group";
/// The level of a group never switched, or stopped by `clinit -k`.
pub const NO_LEVEL: &str = "-";

/// A group's state in clstat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Starting,
    Run,
    Failed,
    Stopping,
    Stopped,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Run => "run",
            State::Failed => "failed",
            State::Stopping => "stopping",
            State::Stopped => "stopped",
        }
    }

    fn parse(s: &str) -> Option<State> {
        [
            State::Starting,
            State::Run,
            State::Failed,
            State::Stopping,
            State::Stopped,
        ]
        .into_iter()
        .find(|st| st.name() == s)
    }
}

/// One clstat line: `Cluster::Init::Group GROUP LEVEL STATE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupStatus {
    pub group: String,
    pub level: String,
    pub state: State,
}

/// Why clinit could not do what it was asked, by exit code.
#[derive(Debug, PartialEq, Eq)]
pub enum ClinitError {
    /// 100: a bad command line or cltab; nothing was changed.
    Usage(String),
    /// 111: supervise is not there, or a file could not be written.
    Temporary(String),
}

impl std::fmt::Display for ClinitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClinitError::Usage(s) | ClinitError::Temporary(s) => f.write_str(s),
        }
    }
}

type Result<T> = std::result::Result<T, ClinitError>;

fn temporary(what: String) -> impl FnOnce(std::io::Error) -> ClinitError {
    move |e| ClinitError::Temporary(format!("{what}: {}", ioerrstr(&e)))
}

/// Parses clstat text; lines that are not a group's are skipped, as Cluster::Init
/// skips them.
pub fn parse_clstat(text: &str) -> Vec<GroupStatus> {
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

/// Reads a clstat file; one that does not exist holds no groups.
pub fn read_clstat(path: &Path) -> Result<Vec<GroupStatus>> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(parse_clstat(&t)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(temporary(format!("unable to read {}", path.display()))(e)),
    }
}

pub fn format_clstat(groups: &[GroupStatus]) -> String {
    groups
        .iter()
        .map(|g| format!("{CLSTAT_WORD} {} {} {}\n", g.group, g.level, g.state.name()))
        .collect()
}

/// Cluster::Init's status(): every group as `GROUP LEVEL STATE`; with a group, its
/// `LEVEL STATE`; with a group and a level, `STATE` if the group is at that level.
pub fn filter_status(groups: &[GroupStatus], group: Option<&str>, level: Option<&str>) -> String {
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
        out.push_str(g.state.name());
        out.push('\n');
    }
    out
}

/// Writes a file whole or not at all: a temp file beside it, renamed. Only clstat is
/// fsynced first: service files are made again from the cltab by the next clinit,
/// and a thousand fsyncs made the first switch of 200 entries take seconds.
fn write_atomically(path: &Path, data: &[u8], mode: u32, durable: bool) -> std::io::Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let r = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.set_permissions(std::fs::Permissions::from_mode(mode))?;
        if durable {
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if r.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    r
}

/// The service directory name of an entry: `GROUP.TAG`.
pub fn service_name(e: &Entry) -> String {
    format!("{}.{}", e.group, e.tag)
}

/// Single quotes for /bin/sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// The files clinit writes in an entry's service directory, by name.
fn service_files(tab: &Cltab, e: &Entry) -> Vec<(&'static str, String, u32)> {
    let mut files = vec![
        (
            RUN,
            format!(
                "#!/bin/sh\n# Written by clinit for group {}, tag {}: edit the cltab, not this.\nexec /bin/sh -c {}\n",
                e.group,
                e.tag,
                sh_quote(&e.command)
            ),
            0o755,
        ),
        (
            MARKER,
            format!("group {}\ntag {}\nmode {}\n", e.group, e.tag, e.mode.name()),
            0o644,
        ),
        // Cluster::Init stops with INT first; TERM and KILL follow from clinit.
        (DOWN_SIGNAL, "INT\n".to_string(), 0o644),
        // Nothing starts before its group is told (nor at boot, by svscan alone).
        (DOWN, String::new(), 0o644),
    ];
    if e.mode == Mode::Respawn {
        files.push((RESTART, format!("{}\n", tab.restart), 0o644));
    }
    files
}

/// What the cltab asks of the scan directory, against what is there.
struct Sync {
    /// Entries whose directory was just made: their supervise is not up yet.
    created: Vec<String>,
    /// Entries whose files changed (a new COMMAND, say).
    changed: Vec<String>,
    /// clinit's directories that no entry wants any more.
    orphans: Vec<String>,
}

/// clinit at work on one scan directory with one cltab.
pub struct Clinit {
    pub tab: Cltab,
    pub scan: PathBuf,
    /// How long supervise may take to appear, and an entry to come up.
    pub timeout: Duration,
    /// How long every respawn entry must then stay up (`--settle`; none by default, as in
    /// Cluster::Init, where started is started).
    pub settle: Duration,
}

impl Clinit {
    fn dir(&self, name: &str) -> ServiceDir {
        ServiceDir::new(self.scan.join(name))
    }

    fn dirs(&self, names: &[String]) -> Vec<String> {
        names
            .iter()
            .map(|n| self.scan.join(n).to_string_lossy().into_owned())
            .collect()
    }

    fn supervised_entries(&self) -> impl Iterator<Item = &Entry> {
        self.tab.entries.iter().filter(|e| e.mode.supervised())
    }

    /// The names of directories in the scan directory that carry clinit's marker.
    fn ours(&self) -> Result<Vec<String>> {
        let rd = std::fs::read_dir(&self.scan)
            .map_err(temporary(format!("unable to read {}", self.scan.display())))?;
        let mut out = Vec::new();
        for de in rd.flatten() {
            let name = de.file_name().to_string_lossy().into_owned();
            if !name.starts_with('.') && de.path().join(MARKER).is_file() {
                out.push(name);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Makes the scan directory match the cltab: new entries get a directory (built
    /// under a dot name that svscan ignores, then renamed in whole), changed ones get
    /// their files rewritten.
    fn sync(&self) -> Result<Sync> {
        let mut s = Sync {
            created: Vec::new(),
            changed: Vec::new(),
            orphans: Vec::new(),
        };
        let present = self.ours()?;
        // Refuse before touching anything: a bad cltab changes nothing.
        for e in self.supervised_entries() {
            let name = service_name(e);
            let path = self.scan.join(&name);
            if !present.contains(&name) && std::fs::symlink_metadata(&path).is_ok() {
                return Err(ClinitError::Usage(format!(
                    "{} exists and is not clinit's: rename tag {} (cltab line {}) or move it away",
                    path.display(),
                    e.tag,
                    e.line
                )));
            }
        }
        for e in self.supervised_entries() {
            let name = service_name(e);
            let files = service_files(&self.tab, e);
            let path = self.scan.join(&name);
            if present.contains(&name) {
                let mut changed = false;
                for (f, body, mode) in &files {
                    if *f == DOWN {
                        continue;
                    }
                    let p = path.join(f);
                    if std::fs::read(&p).ok().as_deref() != Some(body.as_bytes()) {
                        write_atomically(&p, body.as_bytes(), *mode, false)
                            .map_err(temporary(format!("unable to write {}", p.display())))?;
                        changed = true;
                    }
                }
                // A respawn entry turned once keeps no respawn throttle.
                if e.mode != Mode::Respawn && path.join(RESTART).exists() {
                    std::fs::remove_file(path.join(RESTART)).map_err(temporary(format!(
                        "unable to remove {}",
                        path.join(RESTART).display()
                    )))?;
                    changed = true;
                }
                if !path.join(DOWN).exists() {
                    write_atomically(&path.join(DOWN), b"", 0o644, false).map_err(temporary(
                        format!("unable to write {}", path.join(DOWN).display()),
                    ))?;
                }
                if changed {
                    s.changed.push(name);
                }
                continue;
            }
            let tmp = self.scan.join(format!(".clinit-new.{name}"));
            let _ = std::fs::remove_dir_all(&tmp);
            let build = || -> std::io::Result<()> {
                std::fs::create_dir(&tmp)?;
                for (f, body, mode) in &files {
                    write_atomically(&tmp.join(f), body.as_bytes(), *mode, false)?;
                }
                std::fs::rename(&tmp, &path)
            };
            build().map_err(temporary(format!("unable to create {}", path.display())))?;
            s.created.push(name);
        }
        let wanted: Vec<String> = self.supervised_entries().map(service_name).collect();
        s.orphans = present
            .into_iter()
            .filter(|n| !wanted.contains(n))
            .collect();
        Ok(s)
    }

    /// Waits until a supervise runs in each directory (svscan starts them; ours at
    /// once through inotify, daemontools' at its next 5 s scan). Only directories
    /// something happened in are looked at again, so a hundred new entries cost a
    /// hundred looks, not ten thousand.
    fn wait_supervised(&self, names: &[String]) -> Result<()> {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        use std::collections::HashMap;
        // The usual case, every supervise there already, needs no inotify instance
        // (whose set-up and teardown cost milliseconds on every switch).
        let names: Vec<&String> = names
            .iter()
            .filter(|n| !matches!(is_supervised(&self.dir(n)), Ok(true)))
            .collect();
        if names.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + self.timeout;
        // Without inotify (the user's instances all taken, say), look ten times a second.
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok();
        let add_watch =
            |path: &Path, flags| inotify.as_ref().and_then(|i| i.add_watch(path, flags).ok());
        let flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_OPEN
            | AddWatchFlags::IN_CLOSE_WRITE;
        let mut owner = HashMap::new();
        let mut sub_watched = vec![false; names.len()];
        let mut pending = vec![true; names.len()];
        let mut look: Vec<usize> = (0..names.len()).collect();
        for (i, n) in names.iter().enumerate() {
            if let Some(w) = add_watch(&self.scan.join(n), flags) {
                owner.insert(w, i);
            }
        }
        loop {
            // Watch first, then look: nothing between the two is missed.
            for &i in &look {
                if !sub_watched[i]
                    && let Some(w) = add_watch(&self.scan.join(names[i]).join(SUPERVISE), flags)
                {
                    owner.insert(w, i);
                    sub_watched[i] = true;
                }
            }
            for &i in &look {
                if pending[i] && matches!(is_supervised(&self.dir(names[i])), Ok(true)) {
                    pending[i] = false;
                }
            }
            let Some(first) = pending.iter().position(|p| *p) else {
                return Ok(());
            };
            let now = Instant::now();
            if now >= deadline {
                return Err(ClinitError::Temporary(format!(
                    "no supervise in {} after {}: is svscan running on {}?",
                    self.scan.join(names[first]).display(),
                    crate::units::format_duration(self.timeout),
                    self.scan.display()
                )));
            }
            // Also look at all of them every second, in case a watch missed something.
            let every = match inotify {
                Some(_) => Duration::from_secs(1),
                None => Duration::from_millis(100),
            };
            let tick = deadline.min(now + every);
            let woke = match &inotify {
                Some(i) => {
                    let mut fds = [nix::poll::PollFd::new(
                        std::os::fd::AsFd::as_fd(i),
                        nix::poll::PollFlags::POLLIN,
                    )];
                    matches!(
                        nix::poll::poll(&mut fds, crate::wakeup::timeout_until(Some(tick), now)),
                        Ok(n) if n > 0
                    )
                }
                None => {
                    std::thread::sleep(tick.saturating_duration_since(now));
                    false
                }
            };
            look.clear();
            if let (true, Some(i)) = (woke, &inotify) {
                while let Ok(events) = i.read_events() {
                    if events.is_empty() {
                        break;
                    }
                    look.extend(events.iter().filter_map(|e| owner.get(&e.wd).copied()));
                }
                look.sort_unstable();
                look.dedup();
            } else {
                look = (0..names.len()).filter(|i| pending[*i]).collect();
            }
        }
    }

    fn control(&self, name: &str, cmds: &[u8]) -> Result<()> {
        let dir = self.dir(name);
        match send(&dir, cmds) {
            Ok(Sent::Delivered) => Ok(()),
            Ok(Sent::NoSupervisor) | Err(Errno::ENOENT) => Err(ClinitError::Temporary(format!(
                "unable to control {}: supervise not running",
                dir.path().display()
            ))),
            Err(e) => Err(ClinitError::Temporary(format!(
                "unable to control {}: {}",
                dir.path().display(),
                errstr(e)
            ))),
        }
    }

    fn wait_goal(&self, names: &[String], goal: Goal, limit: Duration) -> Result<bool> {
        if names.is_empty() {
            return Ok(true);
        }
        match wait(&self.dirs(names), goal, false, Some(limit)) {
            Ok(Outcome::Reached) => Ok(true),
            Ok(Outcome::TimedOut) => Ok(false),
            Err(e) => Err(ClinitError::Temporary(e.to_string())),
        }
    }

    fn is_up(&self, name: &str) -> bool {
        self.pid(name) != 0
    }

    /// Stops entries gracefully, all at once: down (INT, their down-signal), then TERM,
    /// then KILL, a stop interval apart. Returns those still up after all that.
    fn stop(&self, names: &[String]) -> Result<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let interval = self.tab.stop_interval;
        for n in names {
            self.control(n, b"d")?;
        }
        for next in [Some(b't'), Some(b'k'), None] {
            if self.wait_goal(names, Goal::Down, interval)? {
                return Ok(Vec::new());
            }
            let up: Vec<String> = names.iter().filter(|n| self.is_up(n)).cloned().collect();
            match next {
                Some(c) => {
                    for n in &up {
                        self.control(n, &[c])?;
                    }
                }
                None => return Ok(up),
            }
        }
        Ok(Vec::new())
    }

    /// Stops directories no entry wants any more, then takes them out of svscan's
    /// sight (a dot name), lets their supervise exit and removes them.
    fn retire(&self, names: &[String]) -> Result<Vec<String>> {
        let stuck = self.stop(names)?;
        for n in names {
            if stuck.contains(n) {
                continue;
            }
            let from = self.scan.join(n);
            let to = self
                .scan
                .join(format!(".clinit-removed.{n}.{}", std::process::id()));
            std::fs::rename(&from, &to)
                .map_err(temporary(format!("unable to rename {}", from.display())))?;
            self.dismiss(&to);
        }
        Ok(stuck)
    }

    /// Tells the supervise of a directory svscan no longer sees to exit, waits for it
    /// (at most the timeout) and removes the directory.
    fn dismiss(&self, path: &Path) {
        let dir = ServiceDir::new(path);
        let _ = send(&dir, b"dx");
        // supervise exits as soon as the service is down.
        crate::control::wait_unsupervised(&dir, self.timeout);
        let _ = std::fs::remove_dir_all(path);
    }

    /// What a clinit killed half way left: a directory being built, or one taken out
    /// of svscan's sight whose supervise may still run.
    fn sweep(&self) {
        let Ok(rd) = std::fs::read_dir(&self.scan) else {
            return;
        };
        for de in rd.flatten() {
            let name = de.file_name().to_string_lossy().into_owned();
            if name.starts_with(".clinit-new.") {
                let _ = std::fs::remove_dir_all(de.path());
            } else if name.starts_with(".clinit-removed.") {
                self.dismiss(&de.path());
            }
        }
    }

    /// Brings the scan directory in line with the cltab: new directories supervised,
    /// changed running ones restarted, unwanted ones stopped and removed.
    fn apply_cltab(&self) -> Result<bool> {
        self.sweep();
        let s = self.sync()?;
        self.wait_supervised(&s.created)?;
        for n in &s.changed {
            let respawn = self
                .supervised_entries()
                .any(|e| service_name(e) == *n && e.mode == Mode::Respawn);
            if respawn && self.is_up(n) {
                // The new run script takes over at once.
                self.control(n, b"t")?;
            }
        }
        let stuck = self.retire(&s.orphans)?;
        for n in &stuck {
            warn(
                PROG,
                &format!("{n}: still running after INT, TERM and KILL"),
            );
        }
        Ok(stuck.is_empty())
    }

    fn load_status(&self) -> Result<Vec<GroupStatus>> {
        let old = read_clstat(&self.tab.clstat)?;
        // Every group of the cltab, in its order; groups no longer in it are gone.
        Ok(self
            .tab
            .groups()
            .into_iter()
            .map(|g| {
                old.iter()
                    .find(|o| o.group == g)
                    .cloned()
                    .unwrap_or(GroupStatus {
                        group: g.to_string(),
                        level: NO_LEVEL.to_string(),
                        state: State::Stopped,
                    })
            })
            .collect())
    }

    fn save_status(&self, groups: &[GroupStatus]) -> Result<()> {
        let p = &self.tab.clstat;
        write_atomically(p, format_clstat(groups).as_bytes(), 0o644, true)
            .map_err(temporary(format!("unable to write {}", p.display())))
    }

    fn set_status(
        &self,
        groups: &mut [GroupStatus],
        group: &str,
        level: &str,
        state: State,
    ) -> Result<()> {
        if let Some(g) = groups.iter_mut().find(|g| g.group == group) {
            g.level = level.to_string();
            g.state = state;
        }
        self.save_status(groups)
    }

    /// `clinit GROUP LEVEL`: Ok(true) when the group is at LEVEL with every test
    /// passed and every respawn entry up.
    pub fn switch(&self, group: &str, level: &str) -> Result<bool> {
        if !crate::cltab::valid_level(level) {
            return Err(ClinitError::Usage(format!(
                "bad level {level:?} (not empty, no white space)"
            )));
        }
        if !self.tab.groups().contains(&group) {
            return Err(ClinitError::Usage(format!(
                "no group {group} in {}",
                self.tab.path.display()
            )));
        }
        let mut ok = self.apply_cltab()?;
        let mut groups = self.load_status()?;
        ok &= self.switch_loaded(&mut groups, group, level)?;
        Ok(ok)
    }

    /// Switches a group whose status is loaded; a switch that breaks off leaves the
    /// group failed, not starting.
    fn switch_loaded(&self, groups: &mut [GroupStatus], group: &str, level: &str) -> Result<bool> {
        let r = self.switch_steps(groups, group, level);
        if r.is_err() {
            let _ = self.set_status(groups, group, level, State::Failed);
        }
        r
    }

    fn switch_steps(&self, groups: &mut [GroupStatus], group: &str, level: &str) -> Result<bool> {
        let old = groups
            .iter()
            .find(|g| g.group == group)
            .cloned()
            .ok_or_else(|| ClinitError::Usage(format!("no group {group}")))?;
        self.set_status(groups, group, level, State::Starting)?;
        let entries: Vec<&Entry> = self
            .tab
            .entries
            .iter()
            .filter(|e| e.group == group)
            .collect();
        // svscan may have been (re)started just now, at boot say: wait for the group's
        // supervises rather than fail on the first one not there yet.
        let supervised: Vec<String> = entries
            .iter()
            .filter(|e| e.mode.supervised())
            .map(|e| service_name(e))
            .collect();
        self.wait_supervised(&supervised)?;
        let leaving: Vec<String> = entries
            .iter()
            .filter(|e| e.mode.supervised() && !e.in_level(level))
            .map(|e| service_name(e))
            .collect();
        let mut ok = true;
        for n in self.stop(&leaving)? {
            warn(
                PROG,
                &format!("{n}: still running after INT, TERM and KILL"),
            );
            ok = false;
        }
        let mut started = Vec::new();
        for e in entries.iter().filter(|e| e.in_level(level)) {
            // once, wait and test run on entering a level, not again while in it.
            let fresh = !(old.state == State::Run && e.in_level(&old.level));
            let name = service_name(e);
            match e.mode {
                Mode::Respawn => {
                    self.control(&name, b"u")?;
                    started.push(name);
                }
                Mode::Once if fresh && !self.is_up(&name) => self.control(&name, b"o")?,
                Mode::Wait | Mode::Test if fresh => {
                    let mut cmd = std::process::Command::new("/bin/sh");
                    cmd.arg("-c")
                        .arg(&e.command)
                        .stdin(std::process::Stdio::null());
                    // None: as long as it takes (init's semantics), by choice only.
                    let limit = match self.tab.wait_timeout {
                        d if d.is_zero() => Duration::MAX,
                        d => d,
                    };
                    let end =
                        crate::bounded::run(&mut cmd, limit, Duration::from_secs(1), &mut || {})
                            .map_err(temporary(format!(
                                "unable to run {} (tag {})",
                                e.command, e.tag
                            )))?;
                    let failed = match end {
                        crate::bounded::Ending::TimedOut(_) => true,
                        end => e.mode == Mode::Test && !end.success(),
                    };
                    if failed {
                        warn(PROG, &format!("{group}: {} {} {end}", e.mode.name(), e.tag));
                        ok = false;
                    }
                }
                _ => {}
            }
        }
        if !self.wait_goal(&started, Goal::Up, self.timeout)? {
            for n in started.iter().filter(|n| !self.is_up(n)) {
                warn(
                    PROG,
                    &format!(
                        "{n}: not up after {}",
                        crate::units::format_duration(self.timeout)
                    ),
                );
            }
            ok = false;
        } else if !self.settle.is_zero() {
            ok &= self.settled(&started)?;
        }
        let state = if ok { State::Run } else { State::Failed };
        self.set_status(groups, group, level, state)?;
        Ok(ok)
    }

    /// Whether every entry, up now, is still the same process after the settle time;
    /// the ones that are not are named.
    fn settled(&self, names: &[String]) -> Result<bool> {
        let pids: Vec<u32> = names.iter().map(|n| self.pid(n)).collect();
        // Waits the whole settle time unless one goes down sooner.
        match wait(&self.dirs(names), Goal::Down, true, Some(self.settle)) {
            Ok(_) => {}
            Err(e) => return Err(ClinitError::Temporary(e.to_string())),
        }
        let mut ok = true;
        for (n, pid) in names.iter().zip(pids) {
            // 0: it was gone already when the settle time began.
            if pid == 0 || self.pid(n) != pid {
                let t = crate::units::format_duration(self.settle);
                warn(PROG, &format!("{n}: did not stay up for {t}"));
                ok = false;
            }
        }
        Ok(ok)
    }

    fn pid(&self, name: &str) -> u32 {
        crate::status::Status::read(&self.dir(name)).map_or(0, |s| s.pid)
    }

    /// `clinit -r`: the cltab again, and every group at its level again.
    pub fn reread(&self) -> Result<bool> {
        let mut ok = self.apply_cltab()?;
        let mut groups = self.load_status()?;
        self.save_status(&groups)?;
        let active: Vec<(String, String)> = groups
            .iter()
            .filter(|g| !matches!(g.state, State::Stopped | State::Stopping) && g.level != NO_LEVEL)
            .map(|g| (g.group.clone(), g.level.clone()))
            .collect();
        for (g, l) in active {
            ok &= self.switch_loaded(&mut groups, &g, &l)?;
        }
        Ok(ok)
    }

    /// `clinit -k`: every group stopped gracefully.
    pub fn stop_all(&self) -> Result<bool> {
        let mut groups = self.load_status()?;
        for g in groups.iter_mut() {
            g.state = State::Stopping;
        }
        self.save_status(&groups)?;
        let names: Vec<String> = self
            .ours()?
            .into_iter()
            .filter(|n| matches!(is_supervised(&self.dir(n)), Ok(true)))
            .collect();
        let stuck = self.stop(&names)?;
        for n in &stuck {
            warn(
                PROG,
                &format!("{n}: still running after INT, TERM and KILL"),
            );
        }
        for g in groups.iter_mut() {
            g.state = State::Stopped;
            g.level = NO_LEVEL.to_string();
        }
        self.save_status(&groups)?;
        Ok(stuck.is_empty())
    }

    /// Holds the lock beside clstat for as long as the result lives: one clinit
    /// changes things at a time; the next waits.
    pub fn lock(&self) -> Result<std::fs::File> {
        let p = &self.tab.clstat;
        if let Some(d) = p.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(d)
                .map_err(temporary(format!("unable to create {}", d.display())))?;
        }
        let mut name = p.as_os_str().to_owned();
        name.push(".lock");
        let lock = PathBuf::from(name);
        crate::lock::acquire(&lock, false, crate::lock::Wait::Forever)
            .map(|fd| {
                // Not for the wait and test commands: a daemon one of them leaves
                // behind would hold every later clinit up.
                let _ = nix::fcntl::fcntl(
                    &fd,
                    nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::FD_CLOEXEC),
                );
                std::fs::File::from(fd)
            })
            .map_err(|e| {
                let why = match e {
                    crate::lock::LockError::Open(e) | crate::lock::LockError::Lock(e) => errstr(e),
                    _ => "temporary failure",
                };
                ClinitError::Temporary(format!("unable to lock {}: {why}", lock.display()))
            })
    }
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
        let groups = vec![gs("web", "2", State::Run), gs("0", "0", State::Failed)];
        let text = format_clstat(&groups);
        assert_eq!(
            text,
            "Cluster::Init::Group web 2 run\nCluster::Init::Group 0 0 failed\n"
        );
        let mut with_noise = String::from("garbage\nCluster::Init::Group x y nosuchstate\n");
        with_noise.push_str(&text);
        assert_eq!(parse_clstat(&with_noise), groups);
    }

    #[test]
    fn status_filters_as_cluster_init() {
        let groups = vec![gs("web", "2", State::Run), gs("db", "1", State::Stopping)];
        assert_eq!(
            filter_status(&groups, None, None),
            "web 2 run\ndb 1 stopping\n"
        );
        assert_eq!(filter_status(&groups, Some("db"), None), "1 stopping\n");
        assert_eq!(filter_status(&groups, Some("web"), Some("2")), "run\n");
        assert_eq!(filter_status(&groups, Some("web"), Some("3")), "");
        assert_eq!(filter_status(&groups, None, Some("1")), "db stopping\n");
    }

    #[test]
    fn run_scripts_quote_the_command() {
        let tab =
            crate::cltab::parse(Path::new("t"), "g:t:1:respawn:echo 'a b' \"$HOME\"\n").unwrap();
        let files = service_files(&tab, &tab.entries[0]);
        assert_eq!(
            files[0].1,
            "#!/bin/sh\n# Written by clinit for group g, tag t: edit the cltab, not this.\nexec /bin/sh -c 'echo '\\''a b'\\'' \"$HOME\"'\n"
        );
        assert_eq!(
            files.last().unwrap(),
            &(RESTART, "burst 5 10s 60s\n".to_string(), 0o644)
        );
    }
}
