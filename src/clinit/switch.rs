//! Switching groups between levels (`clinit GROUP LEVEL`, `-r`, `-k`) and keeping
//! their state in clstat as the switch goes.

use super::clstat::{self, GroupStatus, NO_LEVEL, State};
use super::cltab::{Mode, Resource};
use super::{Clinit, ClinitError, PROG, Result, service_name};
use crate::bounded::RunError;
use crate::control::is_supervised;
use crate::diag::warn;
use crate::svwait::Goal;
use std::os::fd::AsFd;
use std::time::Duration;

impl Clinit {
    fn load_status(&self) -> Result<Vec<GroupStatus>> {
        let st = self.state()?;
        let old = clstat::load(st.fd.as_fd(), &st.clstat, &self.tab.clstat)?;
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

    /// Writes clstat whole, and IS::Init's status file when the cltab names one
    /// (`:::initstat:PATH`).
    fn save_status(&self, groups: &[GroupStatus]) -> Result<()> {
        let st = self.state()?;
        clstat::save(
            st.fd.as_fd(),
            &st.clstat,
            &self.tab.clstat,
            groups,
            self.tab.words,
        )?;
        match &self.tab.initstat {
            Some(p) => clstat::save_initstat(p, groups),
            None => Ok(()),
        }
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
        if !crate::clinit::cltab::valid_level(level) {
            return Err(ClinitError::BadLevel(level.to_string()));
        }
        if !self.tab.groups().contains(&group) {
            // Cluster::Init re-read its cltab on any tell(): here every run does,
            // and -r is the way to ask for only that.
            return Err(ClinitError::NoGroup {
                group: group.to_string(),
                cltab: self.tab.path.clone(),
            });
        }
        if let Some(why) = self.unknown_level(group, level) {
            warn(PROG, &why);
        }
        let mut ok = self.apply_cltab()?;
        let mut groups = self.load_status()?;
        ok &= self.switch_loaded(&mut groups, group, level)?;
        Ok(ok)
    }

    /// Why a switch to `level` is likely a mistake: no entry of the group has it, so
    /// every entry of the group is stopped (Cluster::Init's way of stopping a group,
    /// `clinit foo 999`, which still works).
    fn unknown_level(&self, group: &str, level: &str) -> Option<String> {
        let known = self
            .tab
            .entries
            .iter()
            .any(|e| e.group == group && e.mode != Mode::Off && e.in_level(level));
        if known {
            return None;
        }
        let mut why = format!("{group}: no entry has level {level}: the whole group is stopped");
        if level.chars().count() > 1 {
            why.push_str(&format!(
                " (a LEVELS field without a comma is one level per character: write {level},{level} for a level named {level})"
            ));
        }
        Some(why)
    }

    /// Switches a group whose status is loaded; a switch that breaks off leaves the
    /// group failed, not starting.
    fn switch_loaded(&self, groups: &mut [GroupStatus], group: &str, level: &str) -> Result<bool> {
        let r = self.switch_steps(groups, group, level);
        // Interrupted: left as it was, as a clinit killed there would have left it.
        if r.is_err() && !matches!(r, Err(ClinitError::Interrupted(_))) {
            let _ = self.set_status(groups, group, level, State::Failed);
        }
        r
    }

    fn switch_steps(&self, groups: &mut [GroupStatus], group: &str, level: &str) -> Result<bool> {
        let old = groups
            .iter()
            .find(|g| g.group == group)
            .cloned()
            .ok_or_else(|| ClinitError::NoGroupStatus(group.to_string()))?;
        self.set_status(groups, group, level, State::Starting)?;
        let entries: Vec<&Resource> = self
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
        let (started, entered) = self.enter_level(&entries, group, level, &old)?;
        ok &= entered;
        ok &= self.started_stay_up(&started)?;
        let state = level_state(&entries, level, ok);
        self.set_status(groups, group, level, state)?;
        Ok(ok)
    }

    /// Starts the group's entries at `level` (from `old`): respawn entries up, once,
    /// wait and test entries only on entering it. Returns the respawn entries started
    /// and whether every wait and test entry went well.
    fn enter_level(
        &self,
        entries: &[&Resource],
        group: &str,
        level: &str,
        old: &GroupStatus,
    ) -> Result<(Vec<String>, bool)> {
        let mut ok = true;
        let mut started = Vec::new();
        for e in entries.iter().filter(|e| e.in_level(level)) {
            // once, wait and test run on entering a level, not again while in it.
            let fresh = !(old.state.is_at_level() && e.in_level(&old.level));
            let name = service_name(e);
            match e.mode {
                Mode::Respawn => {
                    self.control(&name, b"u")?;
                    started.push(name);
                }
                Mode::Once if fresh && !self.is_up(&name) => self.control(&name, b"o")?,
                Mode::Wait | Mode::Test if fresh => ok &= self.run_to_completion(e, group)?,
                _ => {}
            }
        }
        Ok((started, ok))
    }

    /// Runs a wait or test entry to its end (or the cltab's wait timeout); false, and
    /// said, when it failed the group.
    fn run_to_completion(&self, e: &Resource, group: &str) -> Result<bool> {
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
            match crate::bounded::run_within(&mut cmd, limit, Duration::from_secs(1), &mut || {}) {
                Ok(end) => end,
                Err(RunError::Interrupted(sig)) => {
                    return Err(ClinitError::Interrupted(sig));
                }
                Err(RunError::Io(io)) => {
                    return Err(ClinitError::Run {
                        command: e.command.clone(),
                        tag: e.tag.clone(),
                        err: io,
                    });
                }
            };
        let failed = match end {
            crate::bounded::Ending::TimedOut(_) => true,
            end => e.mode == Mode::Test && !end.success(),
        };
        if failed {
            warn(PROG, &format!("{group}: {} {} {end}", e.mode.name(), e.tag));
        }
        Ok(!failed)
    }

    /// Whether every respawn entry started came up within the timeout, and stayed up
    /// for the settle time; those that did not are named.
    fn started_stay_up(&self, started: &[String]) -> Result<bool> {
        if !self.wait_goal(started, Goal::Up, self.timeout)? {
            for n in started.iter().filter(|n| !self.is_up(n)) {
                warn(
                    PROG,
                    &format!(
                        "{n}: not up after {}",
                        crate::units::format_duration(self.timeout)
                    ),
                );
            }
            return Ok(false);
        }
        if self.settle.is_zero() {
            return Ok(true);
        }
        self.settled(started)
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
}

/// The group's state after a switch to `level`: Cluster::Init's PASSED for a level of
/// test entries only, every one passed.
fn level_state(entries: &[&Resource], level: &str, ok: bool) -> State {
    let at_level: Vec<&&Resource> = entries
        .iter()
        .filter(|e| e.mode != Mode::Off && e.in_level(level))
        .collect();
    let tests_only = !at_level.is_empty() && at_level.iter().all(|e| e.mode == Mode::Test);
    match (ok, tests_only) {
        (false, _) => State::Failed,
        (true, true) => State::Passed,
        (true, false) => State::Run,
    }
}
