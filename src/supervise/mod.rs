//! supervise: runs one service directory's `run`, keeps it running, and answers svc
//! through the control FIFO; the state machine (`machine`) decides, `Effects` acts, and
//! one poll drives both.

use crate::control::Command;
use crate::diag::{errstr, io_errno, warn};
use crate::service_dir::{MAIN, OK, ServiceDir, in_supervise};
use crate::tai64::Tai64N;
use crate::wakeup::{SelfPipe, timeout_until};
use effects::Effects;
use files::{fifo_at, open_files};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use std::ops::ControlFlow::{self, Break, Continue};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

mod effects;
mod files;
mod machine;

pub use crate::restart::MIN_RUN_INTERVAL;
pub use machine::{
    Action, Config, DEFAULT_CHECK_INTERVAL, DEFAULT_CHECK_TIMEOUT, DEFAULT_FINISH_TIMEOUT, Event,
    Input, Machine, Notice, ReadinessBy, RunSettings, STREAK_RESET, reported,
};

/// Why supervise could not start. Nothing of the service runs yet when it is given.
#[derive(Debug, PartialEq, Eq)]
pub enum StartError {
    /// A system call on `what` failed: `unable to VERB WHAT: ERR`.
    Io {
        verb: &'static str,
        what: String,
        err: Errno,
    },
    /// `supervise/` belongs to another account: it may hold anything, and its owner
    /// may change it at any time.
    ForeignDirectory { path: String, owner: u32, euid: u32 },
}

impl StartError {
    fn io(verb: &'static str, what: impl Into<String>) -> impl FnOnce(Errno) -> Self {
        move |err| StartError::Io {
            verb,
            what: what.into(),
            err,
        }
    }
}

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StartError::Io { verb, what, err } => {
                write!(f, "unable to {verb} {what}: {}", errstr(*err))
            }
            StartError::ForeignDirectory { path, owner, euid } => write!(
                f,
                "unable to use {path}: owned by uid {owner}, not by uid {euid}: remove it or chown it"
            ),
        }
    }
}

/// Every start-up failure may pass (a directory made, a lock released): 111.
impl crate::cli::Failure for StartError {}

/// Runs supervise on `dir_os` until told to exit, then gives the code to exit with
/// (a main service's own, else 0). Errors come only at start-up, all before `run` is
/// started: once it runs, nothing ends supervise but `svc -x` or TERM with the service
/// down.
pub fn supervise_dir(dir_os: &std::ffi::OsStr) -> Result<i32, StartError> {
    let shown = std::path::Path::new(dir_os).display().to_string();
    let dir_arg: &str = &shown;
    let dir = ServiceDir::new(dir_os);
    std::env::set_current_dir(dir.path())
        .map_err(|e| StartError::io("chdir to", dir_arg)(io_errno(&e)))?;
    let normally_up = ServiceDir::new(".")
        .normally_up()
        .map_err(StartError::io("stat", format!("{dir_arg}/down")))?;
    let (wake, term) = catch_signals()?;
    let files = open_files(dir_arg)?;
    let config = Config {
        normally_up,
        main: std::fs::symlink_metadata(MAIN).is_ok_and(|m| m.file_type().is_file()),
    };
    let mut m = Machine::new(config, Tai64N::now());
    let mut fx = Effects {
        dir: dir_arg,
        name: std::env::current_dir()
            .map(|p| p.into_os_string().into_vec())
            .unwrap_or_else(|_| dir_os.as_bytes().to_vec()),
        dirty: false,
        ready_pipe: None,
        notify_socket: None,
        sup: files.dir.as_fd(),
        event: files.event.as_ref().map(|e| e.as_fd()),
        written: None,
        pid_written: None,
        hold: None,
    };
    // A status, then the ok FIFO (svok says "running" from then on), then the service:
    // a supervise that cannot start never leaves a service running behind it.
    fx.dirty = true;
    fx.flush(&m);
    let _ok = fifo_at(&files.dir, in_supervise::OK, &format!("{dir_arg}/{OK}"))
        .map_err(StartError::io("read", format!("{dir_arg}/{OK}")))?;
    if let Some(code) = fx.step(&mut m, Input::Boot) {
        return Ok(code);
    }
    fx.flush(&m);
    let events = EventSources {
        wake: &wake,
        term: &term,
        control: &files.control,
    };
    // Everything written so far is read before the end of the burst is stepped, so a
    // `+` and the signals after it are seen together however long svc's write was; the
    // buffer stays small because every page of stack it touches stays resident.
    let mut buf = [0u8; 128];
    loop {
        if let Break(code) = events.turn(&mut fx, &mut m, &mut buf) {
            return Ok(code);
        }
    }
}

/// SIGCHLD, TERM and INT wake the loop; TERM and INT also set the flag returned.
fn catch_signals() -> Result<(SelfPipe, Arc<AtomicBool>), StartError> {
    let term = Arc::new(AtomicBool::new(false));
    let wake = SelfPipe::new().map_err(StartError::io("create", "pipe"))?;
    for (sig, flag) in [
        (libc::SIGCHLD, None),
        (libc::SIGTERM, Some(&term)),
        (libc::SIGINT, Some(&term)),
    ] {
        wake.catch(sig, flag)
            .map_err(|e| StartError::io("catch", "signals")(io_errno(&e)))?;
    }
    Ok((wake, term))
}

/// `Break(code)`: supervise exits with `code` at once, doing nothing more.
type Flow = ControlFlow<i32>;

fn go_on(exit: Option<i32>) -> Flow {
    exit.map_or(Continue(()), Break)
}

/// What the one poll of the event loop waits on besides the service's readiness
/// channels (which `Effects` holds, as they come and go with each run).
struct EventSources<'a> {
    wake: &'a SelfPipe,
    term: &'a AtomicBool,
    control: &'a OwnedFd,
}

impl EventSources<'_> {
    /// One turn of the loop: wait for anything, then take in, in this order, readiness,
    /// exits, TERM, commands and timers.
    fn turn(&self, fx: &mut Effects, m: &mut Machine, buf: &mut [u8]) -> Flow {
        let (ready_pipe, socket) = self.wait(fx, m);
        self.wake.drain();
        if ready_pipe {
            let acts = fx.read_ready_pipe(m);
            go_on(fx.carry_out(m, acts))?;
        }
        if socket {
            let acts = fx.read_notify_socket(m);
            go_on(fx.carry_out(m, acts))?;
        }
        // Reap first: a command that arrives with an exit must see the service down.
        reap(fx, m)?;
        // One status write for an exit and the restart that follows it: spawn writes it
        // as soon as the new run is started.
        fx.flush(m);
        if self.term.swap(false, Ordering::SeqCst) {
            go_on(fx.step(m, Input::Terminate))?;
        }
        self.read_commands(fx, m, buf)?;
        go_on(fx.step(m, Input::Timer))?;
        fx.flush(m);
        Continue(())
    }

    /// Polls until a signal, a command, word from the service or the machine's next
    /// deadline; says whether the ready pipe and the sd_notify socket have input.
    fn wait(&self, fx: &Effects, m: &Machine) -> (bool, bool) {
        let deadline = match (m.deadline(), fx.hold.map(|(_, until)| until)) {
            (Some(d), Some(h)) => Some(d.min(h)),
            (d, h) => d.or(h),
        };
        let timeout = timeout_until(deadline, Instant::now());
        let mut fds = vec![
            PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
            PollFd::new(self.control.as_fd(), PollFlags::POLLIN),
        ];
        let mut at = 2;
        let ready_pipe_at = fx.ready_pipe.as_ref().map(|r| {
            fds.push(PollFd::new(r.as_fd(), PollFlags::POLLIN));
            at += 1;
            at - 1
        });
        let socket_at = fx.notify_socket.as_ref().map(|s| {
            fds.push(PollFd::new(s.as_fd(), PollFlags::POLLIN));
            at += 1;
            at - 1
        });
        match poll(&mut fds, timeout) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => warn("supervise", &format!("unable to poll: {}", errstr(e))),
        }
        let readable = |i: Option<usize>| {
            i.and_then(|i| fds.get(i))
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        (readable(ready_pipe_at), readable(socket_at))
    }

    /// Reads the control FIFO dry, stepping each command, then the end of the burst and
    /// any exit the commands brought about at once.
    fn read_commands(&self, fx: &mut Effects, m: &mut Machine, buf: &mut [u8]) -> Flow {
        let mut commands = false;
        loop {
            match nix::unistd::read(self.control, buf) {
                Ok(n) if n > 0 => {
                    commands = true;
                    // Bytes that are no command are ignored.
                    for cmd in buf[..n].iter().filter_map(|&b| Command::from_byte(b)) {
                        go_on(fx.step(m, Input::Command(cmd)))?;
                    }
                }
                Err(Errno::EINTR) => {}
                _ => break,
            }
        }
        if commands {
            go_on(fx.step(m, Input::EndOfCommands))?;
            // A command that signalled the service has often ended it by now (TERM to a
            // plain process): taking that exit at once writes one status, down, instead
            // of a "want down" one first and the down one after another wake-up.
            reap(fx, m)?;
        }
        Continue(())
    }
}

/// Reaps every child that has ended (run, check, finish, notify) into the machine.
fn reap(fx: &mut Effects, m: &mut Machine) -> Flow {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(_) => return Continue(()),
            Ok(ws) => {
                if let Some((pid, wait_status)) = raw_wait_status(ws) {
                    if m.run_pid() == Some(pid) {
                        // Readiness belongs to this run only.
                        fx.ready_pipe = None;
                    }
                    go_on(fx.step(m, Input::Exited { pid, wait_status }))?;
                }
            }
        }
    }
}

fn raw_wait_status(ws: WaitStatus) -> Option<(u32, i32)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw() as u32, (code & 0xff) << 8)),
        WaitStatus::Signaled(pid, sig, core) => Some((
            pid.as_raw() as u32,
            sig as i32 | if core { 0x80 } else { 0 },
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Failure;

    #[test]
    fn start_errors_say_what_failed_and_are_temporary() {
        let e = StartError::io("acquire", "s/supervise/lock")(Errno::EAGAIN);
        assert_eq!(
            e.to_string(),
            "unable to acquire s/supervise/lock: temporary failure"
        );
        assert_eq!(e.exit_code(), 111);
        let e = StartError::ForeignDirectory {
            path: "s/supervise".into(),
            owner: 65534,
            euid: 0,
        };
        assert_eq!(
            e.to_string(),
            "unable to use s/supervise: owned by uid 65534, not by uid 0: remove it or chown it"
        );
    }
}
