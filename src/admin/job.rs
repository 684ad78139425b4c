//! Acting on one service and verifying the result: up, ready and settled after a
//! start, down (or KILLed) after a stop, and a failed start undone.

use super::output::Progress;
use super::{DOT_EVERY, KILL_GRACE, Options, START_SCRIPT, STOP_SCRIPT, Step, Verdict};
use crate::bounded::Ending;
use crate::control::{Command, Sent, send};
use crate::diag::errstr;
use crate::service_dir::ServiceDir;
use crate::status::Status;
use crate::svwait::{Goal, Outcome, WaitError, wait};
use crate::tai64::Tai64N;
use crate::units::deadline_after;
use std::path::Path;
use std::time::{Duration, Instant};

/// One service being handled.
pub(super) struct Job<'a> {
    pub(super) prog: &'static str,
    pub(super) name: &'a Path,
    pub(super) dir: ServiceDir,
    pub(super) opts: &'a Options,
    pub(super) deadline: Instant,
    pub(super) progress: Progress,
    /// A signal that reached us while a script ran.
    pub(super) interrupted: Option<i32>,
}

impl<'a> Job<'a> {
    pub(super) fn new(
        prog: &'static str,
        name: &'a Path,
        dir: ServiceDir,
        opts: &'a Options,
    ) -> Job<'a> {
        Job {
            prog,
            name,
            dir,
            opts,
            deadline: deadline_after(Instant::now(), opts.timeout),
            progress: Progress::silent(),
            interrupted: None,
        }
    }

    /// Does `step` to the service and verifies it: the verdict, whether the state
    /// was reached or not.
    pub(super) fn perform(&mut self, step: Step) -> Verdict {
        match step {
            Step::Start => self.start(),
            Step::Stop => self.stop(),
            Step::Restart => self.stop().and_then(|v| match v {
                Verdict::Done(_) => {
                    self.deadline = deadline_after(Instant::now(), self.opts.timeout);
                    self.start()
                }
                other => Ok(other),
            }),
        }
        .unwrap_or_else(|v| v)
    }

    pub(super) fn status(&self) -> Result<Status, Verdict> {
        Status::read(&self.dir)
            .map_err(|e| Verdict::Unreachable(format!("unable to read supervise/status: {e}")))
    }

    fn control(&self, cmd: Command) -> Result<(), Verdict> {
        match send(&self.dir, &[cmd.byte()]) {
            Ok(Sent::Delivered) => Ok(()),
            Ok(Sent::NoSupervisor) => Err(Verdict::Unreachable("supervise not running".into())),
            Err(e) => Err(Verdict::Unreachable(format!(
                "unable to write supervise/control: {}",
                errstr(e)
            ))),
        }
    }

    /// Waits until `goal` or `until`, a dot per half second. Ok(false): not reached.
    fn wait_for(&mut self, goal: Goal, until: Instant) -> Result<bool, Verdict> {
        let dirs = [self.dir.path()];
        loop {
            let now = Instant::now();
            let slice = until.saturating_duration_since(now).min(DOT_EVERY);
            match wait(&dirs, goal, false, Some(slice)) {
                Ok(Outcome::Reached) => return Ok(true),
                Ok(Outcome::TimedOut) if Instant::now() >= until => return Ok(false),
                Ok(Outcome::TimedOut) => self.progress.dot(),
                Err(WaitError::NotRunning(_)) => {
                    return Err(Verdict::Unreachable("supervise not running".into()));
                }
                Err(e) => return Err(Verdict::Unreachable(e.to_string())),
            }
        }
    }

    fn start(&mut self) -> Result<Verdict, Verdict> {
        if let Some(script) = self.script(START_SCRIPT) {
            return self.start_by_script(&script);
        }
        let before = self.status()?;
        self.control(Command::Up)?;
        self.progress.dot();
        self.verify_up(before, self.deadline, None)
    }

    fn start_by_script(&mut self, script: &Path) -> Result<Verdict, Verdict> {
        let before = self.status()?;
        match self.run_script(script)? {
            Ending::Exited(0) => {}
            end => return self.undo_start(format!("start script {end}")),
        }
        // We verify, we do not trust: the same checks as without a script. The script
        // had its own time (-T); the verification has its own: up within the settle
        // time, since the script says it is, and ready within the timeout (-t).
        let now = Instant::now();
        let until = deadline_after(now, self.opts.settle);
        self.deadline = deadline_after(now, self.opts.timeout).max(until);
        let why = "start script exited 0 but the service is not up";
        self.verify_up(before, until, Some(why))
    }

    /// Up by `up_by`, ready by the deadline, then still the same process after the
    /// settle time; else brought down again and failed. `not_up` overrides the reason
    /// given when it never came up.
    fn verify_up(
        &mut self,
        before: Status,
        up_by: Instant,
        not_up: Option<&str>,
    ) -> Result<Verdict, Verdict> {
        let fmt = crate::units::format_duration;
        if !self.wait_for(Goal::Up, up_by)? {
            let why = match not_up {
                Some(why) => why.to_string(),
                None => format!("not up after {}", fmt(self.opts.timeout)),
            };
            return self.undo_start(why);
        }
        let seen_up = Instant::now();
        let up = self.status()?;
        if !self.wait_for(Goal::Ready, self.deadline)? {
            let failing = self
                .status()?
                .ext
                .is_some_and(|e| matches!(e.readiness, crate::status::Readiness::Failing(_)));
            return self.undo_start(format!(
                "up but not ready after {}{}",
                fmt(self.opts.timeout),
                if failing { ", check failing" } else { "" }
            ));
        }
        // It must stay up a while: a service that dies at once did not start. One that
        // already ran before we came has been up since its status last changed.
        let up_for = if before.pid != 0 && up.pid == before.pid {
            Duration::from_secs(before.changed.seconds_until(Tai64N::now()))
        } else {
            seen_up.elapsed()
        };
        if let Some(rest) = self.opts.settle.checked_sub(up_for) {
            let until = deadline_after(Instant::now(), rest);
            if self.wait_for(Goal::Down, until)? {
                return self.undo_start(format!("exited within {}", fmt(self.opts.settle)));
            }
        }
        let now = self.status()?;
        if now.pid == 0 || !running(now.pid) {
            return self.undo_start(format!("exited within {}", fmt(self.opts.settle)));
        }
        if now.pid != up.pid {
            return self.undo_start(format!("restarted within {}", fmt(self.opts.settle)));
        }
        Ok(Verdict::Done(None))
    }

    /// A failed start leaves the service down, as it was asked to be before.
    fn undo_start(&mut self, why: String) -> Result<Verdict, Verdict> {
        self.control(Command::Down)?;
        let until = deadline_after(Instant::now(), KILL_GRACE);
        if !self.wait_for(Goal::Down, until)? {
            self.control(Command::Kill)?;
            self.wait_for(Goal::Down, deadline_after(Instant::now(), KILL_GRACE))?;
        }
        Ok(Verdict::Failed(why))
    }

    fn stop(&mut self) -> Result<Verdict, Verdict> {
        if let Some(script) = self.script(STOP_SCRIPT) {
            return match self.run_script(&script)? {
                Ending::Exited(0) => {
                    let until = deadline_after(Instant::now(), self.opts.settle);
                    if self.wait_for(Goal::Down, until)? {
                        Ok(Verdict::Done(None))
                    } else {
                        Ok(Verdict::Failed(
                            "stop script exited 0 but the service still runs".into(),
                        ))
                    }
                }
                end => Ok(Verdict::Failed(format!("stop script {end}"))),
            };
        }
        self.control(Command::Down)?;
        self.progress.dot();
        if self.wait_for(Goal::Finished, self.deadline)? {
            return Ok(Verdict::Done(None));
        }
        if self.status()?.pid == 0 {
            // The service is gone; only its ./finish outlasts the timeout.
            let t = crate::units::format_duration(self.opts.timeout);
            return Ok(Verdict::Done(Some(format!(
                "./finish still running after {t}"
            ))));
        }
        // It ignored its down signal for the whole timeout: KILL it, then report.
        self.control(Command::Kill)?;
        let note = format!(
            "KILLed after {}",
            crate::units::format_duration(self.opts.timeout)
        );
        if self.wait_for(Goal::Down, deadline_after(Instant::now(), KILL_GRACE))? {
            Ok(Verdict::Done(Some(note)))
        } else {
            Ok(Verdict::Failed(format!("{note}, still running")))
        }
    }
}

/// Whether a process runs: not gone, not a zombie. daemontools' supervise sleeps a
/// second after each start before it reaps, so its status says "up" for a run that
/// died at once; /proc tells. Without /proc, the status is taken at its word.
fn running(pid: u32) -> bool {
    // A pid beyond i32 is no process's: as /proc/PID/stat not found.
    let found = i32::try_from(pid).map_err(|_| std::io::ErrorKind::NotFound.into());
    match found.and_then(crate::procstat::ProcStat::try_read) {
        Ok(stat) => stat.is_some_and(|s| !s.is_dead()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            !std::path::Path::new("/proc/self/stat").exists()
        }
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_processes() {
        assert!(running(std::process::id()));
        // pid_max is at most 2^22: this one never exists.
        assert!(!running(u32::MAX / 2));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Exited but not reaped: a zombie is not running.
        let deadline = Instant::now() + Duration::from_secs(20);
        while running(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(!running(pid));
        child.wait().unwrap();
    }

    #[test]
    fn running_reads_proc_through_procstat() {
        assert!(running(std::process::id()));
        assert!(!running(u32::MAX));
        // A zombie: a child that exited and is not reaped yet.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while running(pid) && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!running(pid));
        child.wait().unwrap();
    }
}
