//! svscan's decisions without a system call: which supervise starts when (one start a
//! second at most), what a dead supervise left behind and when it gets KILL, what is
//! due next. The scanner in `mod.rs` does the I/O and feeds this what it saw.

use std::ffi::{OsStr, OsString};
use std::time::{Duration, Instant};

/// A supervise that dies at once is restarted at most this often.
pub const RESTART_INTERVAL: Duration = Duration::from_secs(1);
/// After KILLing what a dead supervise left, how long before KILL again (and a warning).
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// While a dead supervise's leftovers are dying, how often to look whether they are gone
/// (a background child that exits under another living one sends us no SIGCHLD).
pub const LEFTOVER_POLL: Duration = Duration::from_millis(50);

/// Which supervise of an entry: the service's, or its logger's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    Main,
    Log,
}

/// One supervise that svscan keeps running.
#[derive(Debug, Default)]
pub struct Slot {
    pub pid: Option<i32>,
    last_start: Option<Instant>,
    pub restart_at: Option<Instant>,
    /// What a dead supervise left running: no new supervise starts until it is gone.
    /// Boxed: it is rare, and every service's entry would carry its size.
    pub leftover: Option<Box<Leftover>>,
}

impl Slot {
    /// When a supervise may start again: at once, unless the last one started less than
    /// `RESTART_INTERVAL` ago (a supervise that dies at once is not restarted in a loop).
    fn throttled(&self, now: Instant) -> Instant {
        match self.last_start {
            Some(t) if now < t + RESTART_INTERVAL => t + RESTART_INTERVAL,
            _ => now,
        }
    }

    /// Neither running, nor waiting for its restart or for leftovers to go.
    fn idle(&self) -> bool {
        self.pid.is_none() && self.restart_at.is_none() && self.leftover.is_none()
    }
}

/// The process groups of a service whose supervise died (`run` is a session leader, so
/// its background children are in its group): TERMed, then KILLed at `kill_at`.
#[derive(Debug)]
pub struct Leftover {
    pub groups: Vec<i32>,
    kill_at: Instant,
    killed: bool,
}

/// A service directory found in the scan directory.
#[derive(Debug, Default)]
pub struct ServiceEntry {
    pub main: Slot,
    pub log: Option<Slot>,
    /// The pipe from NAME to its logger exists. A logged service without it starts
    /// neither side (its output must not go anywhere else).
    pub piped: bool,
    /// Still present in the last scan.
    pub active: bool,
}

impl ServiceEntry {
    pub fn slot_of(&self, role: Role) -> Option<&Slot> {
        match role {
            Role::Main => Some(&self.main),
            Role::Log => self.log.as_ref(),
        }
    }

    pub fn slot(&mut self, role: Role) -> Option<&mut Slot> {
        match role {
            Role::Main => Some(&mut self.main),
            Role::Log => self.log.as_mut(),
        }
    }

    pub fn slots(&self) -> impl Iterator<Item = &Slot> {
        std::iter::once(&self.main).chain(self.log.as_ref())
    }

    fn slots_mut(&mut self) -> impl Iterator<Item = (Role, &mut Slot)> {
        std::iter::once((Role::Main, &mut self.main))
            .chain(self.log.as_mut().map(|l| (Role::Log, l)))
    }

    /// Whether the supervises may start: a logged service needs its pipe first.
    pub fn startable(&self) -> bool {
        self.active && (self.log.is_none() || self.piped)
    }
}

/// What the scanner must do about leftovers.
#[derive(Debug, PartialEq, Eq)]
pub enum LeftoverAction {
    /// KILL these groups; `again` when a KILL was sent before and they are still there.
    Kill {
        name: OsString,
        role: Role,
        groups: Vec<i32>,
        again: bool,
    },
}

/// Every service svscan knows of, and which supervise pid is whose.
#[derive(Debug, Default)]
pub struct Services {
    /// Every entry by name. A supervise's pid is looked up in the slots: a map from pid
    /// to name would hold every name again, for lookups that only a death or a shutdown
    /// makes.
    pub entries: Entries,
}

/// The entries in one vector sorted by name: a BTreeMap filled in name order leaves its
/// nodes half empty, and these entries are most of a long-lived svscan's heap.
#[derive(Debug, Default)]
pub struct Entries(Vec<(OsString, ServiceEntry)>);

impl Entries {
    fn find(&self, name: &OsStr) -> Result<usize, usize> {
        self.0.binary_search_by(|(n, _)| n.as_os_str().cmp(name))
    }

    pub fn get(&self, name: &OsStr) -> Option<&ServiceEntry> {
        self.find(name).ok().map(|i| &self.0[i].1)
    }

    pub fn get_mut(&mut self, name: &OsStr) -> Option<&mut ServiceEntry> {
        self.find(name).ok().map(|i| &mut self.0[i].1)
    }

    pub fn contains_key(&self, name: &OsStr) -> bool {
        self.find(name).is_ok()
    }

    /// NAME's entry, made by `make` if there is none (at the end, without moving the
    /// others, when names come in order as the scan lists them).
    fn get_or_insert_with(
        &mut self,
        name: &OsStr,
        make: impl FnOnce() -> ServiceEntry,
    ) -> &mut ServiceEntry {
        let i = self.find(name).unwrap_or_else(|i| {
            self.0.insert(i, (name.to_os_string(), make()));
            i
        });
        &mut self.0[i].1
    }

    fn remove(&mut self, name: &OsStr) {
        if let Ok(i) = self.find(name) {
            self.0.remove(i);
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&OsString, &ServiceEntry)> {
        self.0.iter().map(|(n, e)| (n, e))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&OsString, &mut ServiceEntry)> {
        self.0.iter_mut().map(|(n, e)| (&*n, e))
    }

    pub fn values(&self) -> impl Iterator<Item = &ServiceEntry> {
        self.0.iter().map(|(_, e)| e)
    }

    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut ServiceEntry> {
        self.0.iter_mut().map(|(_, e)| e)
    }
}

impl Services {
    /// Marks every entry absent before a scan reports what is there.
    pub fn begin_scan(&mut self) {
        for e in self.entries.values_mut() {
            e.active = false;
        }
    }

    /// NAME is in the scan directory (with a logger if `has_log`, as seen when it was
    /// first found).
    pub fn present(&mut self, name: &OsStr, has_log: bool) -> &mut ServiceEntry {
        let entry = self.entries.get_or_insert_with(name, || ServiceEntry {
            log: has_log.then(Slot::default),
            ..ServiceEntry::default()
        });
        entry.active = true;
        entry
    }

    pub fn is_known(&self, name: &OsStr) -> bool {
        self.entries.contains_key(name)
    }

    /// The supervises that may start now for the first time (loggers first, so that a
    /// service's output has a reader from the start).
    pub fn never_started(&self) -> Vec<(OsString, Role)> {
        let mut v = Vec::new();
        for (n, e) in self.entries.iter().filter(|(_, e)| e.startable()) {
            if e.log.as_ref().is_some_and(Slot::idle) {
                v.push((n.clone(), Role::Log));
            }
            if e.main.idle() {
                v.push((n.clone(), Role::Main));
            }
        }
        v
    }

    /// A supervise is being started now (whether or not that works).
    pub fn starting(&mut self, name: &OsStr, role: Role, now: Instant) {
        if let Some(slot) = self.entries.get_mut(name).and_then(|e| e.slot(role)) {
            slot.last_start = Some(now);
            slot.restart_at = None;
        }
    }

    pub fn started(&mut self, name: &OsStr, role: Role, pid: i32) {
        if let Some(slot) = self.entries.get_mut(name).and_then(|e| e.slot(role)) {
            slot.pid = Some(pid);
        }
    }

    /// It could not be started: try again after `RESTART_INTERVAL`.
    pub fn start_failed(&mut self, name: &OsStr, role: Role, now: Instant) {
        if let Some(slot) = self.entries.get_mut(name).and_then(|e| e.slot(role)) {
            slot.restart_at = Some(now + RESTART_INTERVAL);
        }
    }

    /// Whose supervise `pid` is, if it is one: it is no longer ours once reaped.
    pub fn reaped(&mut self, pid: i32) -> Option<(OsString, Role)> {
        self.entries.iter_mut().find_map(|(name, e)| {
            let (role, slot) = e.slots_mut().find(|(_, s)| s.pid == Some(pid))?;
            slot.pid = None;
            Some((name.clone(), role))
        })
    }

    /// The pids of every supervise of ours (one walk over the entries, for a caller
    /// that asks of many pids).
    pub fn supervise_pids(&self) -> std::collections::HashSet<i32> {
        self.entries
            .values()
            .flat_map(|e| e.slots())
            .filter_map(|s| s.pid)
            .collect()
    }

    /// A supervise died, leaving `groups` running (found by the scanner). With none, it
    /// starts again after the throttle; otherwise not before they are gone (returns
    /// true: the scanner TERMs them now).
    pub fn supervise_died(
        &mut self,
        name: &OsStr,
        role: Role,
        groups: Vec<i32>,
        now: Instant,
        kill_timeout: Duration,
    ) -> bool {
        let Some(slot) = self.entries.get_mut(name).and_then(|e| e.slot(role)) else {
            return false;
        };
        slot.pid = None;
        if groups.is_empty() {
            slot.restart_at = Some(slot.throttled(now));
            return false;
        }
        // A new supervise must not start a second copy of the service beside the old.
        slot.restart_at = None;
        slot.leftover = Some(Box::new(Leftover {
            groups,
            kill_at: crate::units::deadline_after(now, kill_timeout),
            killed: false,
        }));
        true
    }

    /// Forgets leftovers that are gone (`alive` says whether any process of the groups
    /// is left; their supervise may then start, throttled) and says which to KILL.
    pub fn check_leftovers(
        &mut self,
        now: Instant,
        alive: impl Fn(&[i32]) -> bool,
    ) -> Vec<LeftoverAction> {
        let mut acts = Vec::new();
        for (name, e) in self.entries.iter_mut() {
            for (role, slot) in e.slots_mut() {
                let Some(left) = slot.leftover.as_mut() else {
                    continue;
                };
                if !alive(&left.groups) {
                    slot.leftover = None;
                    slot.restart_at = Some(slot.throttled(now));
                } else if now >= left.kill_at {
                    acts.push(LeftoverAction::Kill {
                        name: name.clone(),
                        role,
                        groups: left.groups.clone(),
                        again: left.killed,
                    });
                    left.killed = true;
                    left.kill_at = now + KILL_GRACE;
                }
            }
        }
        acts
    }

    /// The next time the loop has something to do: a restart, or a look at leftovers.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let slots = self.entries.values().flat_map(|e| e.slots());
        slots
            .filter_map(|s| match &s.leftover {
                Some(l) => Some(l.kill_at.min(now + LEFTOVER_POLL)),
                None => s.restart_at,
            })
            .min()
    }

    /// The supervises whose restart time has come.
    pub fn due(&mut self, now: Instant) -> Vec<(OsString, Role)> {
        let mut due = Vec::new();
        for (n, e) in self.entries.iter_mut() {
            let startable = e.startable();
            for (role, slot) in e.slots_mut() {
                if slot.leftover.is_some() || slot.restart_at.is_none_or(|t| t > now) {
                    continue;
                }
                slot.restart_at = None;
                if startable {
                    due.push((n.clone(), role));
                }
            }
        }
        due
    }

    /// The supervises of `role` running now, with their service names.
    pub fn live(&self, role: Role) -> Vec<(i32, OsString)> {
        self.entries
            .iter()
            .filter_map(|(name, e)| Some((e.slot_of(role)?.pid?, name.clone())))
            .collect()
    }

    /// Gone from the scan directory and nothing left running: forgotten. Returns their
    /// names (the scanner closes their pipes).
    pub fn forget_gone(&mut self) -> Vec<OsString> {
        let gone: Vec<OsString> = self
            .entries
            .iter()
            .filter(|(_, e)| {
                !e.active && e.slots().all(|s| s.pid.is_none() && s.leftover.is_none())
            })
            .map(|(n, _)| n.clone())
            .collect();
        for n in &gone {
            self.entries.remove(n);
        }
        gone
    }

    /// Shutting down: nothing starts again; returns the groups leftovers still hold.
    pub fn stop_everything(&mut self) -> Vec<i32> {
        let mut groups = Vec::new();
        for e in self.entries.values_mut() {
            e.active = false;
            for (_, slot) in e.slots_mut() {
                slot.restart_at = None;
                if let Some(l) = slot.leftover.take() {
                    groups.extend(l.groups);
                }
            }
        }
        groups
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(name: &str, has_log: bool, piped: bool) -> Services {
        let mut s = Services::default();
        s.begin_scan();
        s.present(name.as_ref(), has_log).piped = piped;
        s
    }

    #[test]
    fn entries_stay_sorted_and_are_found_by_name() {
        let mut s = Services::default();
        for n in ["b", "d", "a", "c", "b"] {
            s.present(n.as_ref(), n == "c");
        }
        let names: Vec<&OsString> = s.entries.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
        assert!(s.entries.get("c".as_ref()).unwrap().log.is_some());
        assert!(s.entries.get("b".as_ref()).unwrap().log.is_none());
        assert!(!s.is_known("e".as_ref()));
        s.entries.remove("b".as_ref());
        s.entries.remove("e".as_ref());
        let names: Vec<&OsString> = s.entries.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["a", "c", "d"]);
        assert!(s.entries.get_mut("d".as_ref()).is_some());
    }

    fn start(s: &mut Services, name: &str, role: Role, pid: i32, now: Instant) {
        s.starting(name.as_ref(), role, now);
        s.started(name.as_ref(), role, pid);
    }

    const T: Duration = Duration::from_secs(5);

    #[test]
    fn loggers_first_and_a_logged_service_waits_for_its_pipe() {
        let s = one("a", true, false);
        assert!(s.never_started().is_empty());
        let s = one("a", true, true);
        assert_eq!(
            s.never_started(),
            [("a".into(), Role::Log), ("a".into(), Role::Main)]
        );
    }

    #[test]
    fn a_supervise_that_dies_at_once_restarts_a_second_after_its_start() {
        let t0 = Instant::now();
        let mut s = one("a", false, false);
        start(&mut s, "a", Role::Main, 10, t0);
        let died = t0 + Duration::from_millis(100);
        assert_eq!(s.reaped(10), Some(("a".into(), Role::Main)));
        assert!(!s.supervise_died("a".as_ref(), Role::Main, vec![], died, T));
        assert!(s.due(died).is_empty());
        assert_eq!(s.next_deadline(died), Some(t0 + RESTART_INTERVAL));
        assert_eq!(s.due(t0 + RESTART_INTERVAL), [("a".into(), Role::Main)]);
        // One that ran long enough starts again at once.
        let later = t0 + Duration::from_secs(10);
        start(&mut s, "a", Role::Main, 11, t0 + RESTART_INTERVAL);
        s.reaped(11);
        s.supervise_died("a".as_ref(), Role::Main, vec![], later, T);
        assert_eq!(s.due(later), [("a".into(), Role::Main)]);
    }

    #[test]
    fn leftovers_hold_the_restart_until_gone_then_the_throttle_still_holds() {
        let t0 = Instant::now();
        let mut s = one("a", false, false);
        start(&mut s, "a", Role::Main, 10, t0);
        s.reaped(10);
        let died = t0 + Duration::from_millis(10);
        assert!(s.supervise_died("a".as_ref(), Role::Main, vec![77], died, T));
        // Still there: nothing due, a look every LEFTOVER_POLL.
        assert!(s.check_leftovers(died, |_| true).is_empty());
        assert!(s.due(died + Duration::from_secs(3)).is_empty());
        assert_eq!(s.next_deadline(died), Some(died + LEFTOVER_POLL));
        // Gone quickly: the restart waits for the throttle all the same.
        let gone = died + Duration::from_millis(20);
        assert!(s.check_leftovers(gone, |_| false).is_empty());
        assert!(s.due(gone).is_empty());
        assert_eq!(s.due(t0 + RESTART_INTERVAL), [("a".into(), Role::Main)]);
    }

    #[test]
    fn leftovers_that_outlive_the_timeout_get_kill_and_kill_again() {
        let t0 = Instant::now();
        let mut s = one("a", false, false);
        start(&mut s, "a", Role::Main, 10, t0);
        s.reaped(10);
        s.supervise_died("a".as_ref(), Role::Main, vec![77, 78], t0, T);
        let kill = |again| LeftoverAction::Kill {
            name: "a".into(),
            role: Role::Main,
            groups: vec![77, 78],
            again,
        };
        assert_eq!(s.check_leftovers(t0 + T, |_| true), [kill(false)]);
        assert!(s.check_leftovers(t0 + T, |_| true).is_empty());
        assert_eq!(
            s.check_leftovers(t0 + T + KILL_GRACE, |_| true),
            [kill(true)]
        );
        assert!(s.due(t0 + T + KILL_GRACE).is_empty());
    }

    #[test]
    fn absent_entries_are_not_restarted_and_forgotten_once_idle() {
        let t0 = Instant::now();
        let mut s = one("a", false, false);
        start(&mut s, "a", Role::Main, 10, t0);
        s.begin_scan();
        assert!(s.forget_gone().is_empty(), "its supervise still runs");
        s.reaped(10);
        s.supervise_died("a".as_ref(), Role::Main, vec![], t0 + T, T);
        assert!(s.due(t0 + T).is_empty());
        assert_eq!(s.forget_gone(), [OsString::from("a")]);
        assert!(!s.is_known("a".as_ref()));
    }

    #[test]
    fn shutdown_cancels_restarts_and_hands_over_leftovers() {
        let t0 = Instant::now();
        let mut s = one("a", true, true);
        start(&mut s, "a", Role::Main, 10, t0);
        start(&mut s, "a", Role::Log, 11, t0);
        s.reaped(10);
        s.supervise_died("a".as_ref(), Role::Main, vec![77], t0, T);
        assert_eq!(s.live(Role::Log), [(11, OsString::from("a"))]);
        assert_eq!(s.stop_everything(), [77]);
        assert!(s.due(t0 + T).is_empty());
        assert_eq!(s.next_deadline(t0), None);
    }

    #[test]
    fn a_supervise_pid_is_known_until_reaped() {
        let t0 = Instant::now();
        let mut s = one("a", true, true);
        start(&mut s, "a", Role::Main, 10, t0);
        start(&mut s, "a", Role::Log, 11, t0);
        assert_eq!(s.supervise_pids(), [10, 11].into());
        assert_eq!(s.live(Role::Log), vec![(11, OsString::from("a"))]);
        assert_eq!(s.reaped(11), Some((OsString::from("a"), Role::Log)));
        assert_eq!(s.reaped(11), None);
        assert_eq!(s.supervise_pids(), [10].into());
        assert!(s.live(Role::Log).is_empty());
        assert_eq!(s.live(Role::Main), vec![(10, OsString::from("a"))]);
    }
}
