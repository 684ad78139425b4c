//! The control protocol: command bytes written to `supervise/control`, the
//! `supervise/ok` FIFO that tells whether a supervise is listening, and the
//! `supervise/event` directory of waiters' FIFOs that supervise wakes on each change
//! (s6's fifodir idea: no polling, and no inotify, whose teardown costs milliseconds).

use crate::service_dir::{CONTROL, EVENT, OK, ServiceDir};
use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::CString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

/// A command supervise obeys, one byte on `supervise/control`, in svc's option
/// letters: daemontools' `udopchaitkx`, svkit's `r` (restart), daemontools-encore's
/// `q12w` (QUIT, USR1, USR2, WINCH) and `+`/`=` (the signals that follow go to the
/// service's whole process group / to its `run` process only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    /// `u`: wanted up; start it (and restart it whenever it ends).
    Up,
    /// `d`: wanted down; stop it with its down-signal and CONT.
    Down,
    /// `o`: run it once, not restarting it.
    Once,
    /// `p`: STOP it.
    Pause,
    /// `c`: CONT it.
    Continue,
    /// `h`: HUP.
    Hangup,
    /// `a`: ALRM.
    Alarm,
    /// `i`: INT.
    Interrupt,
    /// `t`: TERM.
    Terminate,
    /// `k`: KILL.
    Kill,
    /// `x`: supervise exits once the service is down.
    Exit,
    /// `r` (svkit's): stop it as `d` does, then start it again.
    Restart,
    /// `q`: QUIT.
    Quit,
    /// `1`: USR1.
    Usr1,
    /// `2`: USR2.
    Usr2,
    /// `w`: WINCH.
    Winch,
    /// `+`: the signals of the commands that follow go to the whole process group.
    GroupOn,
    /// `=`: they go to the `run` process only (the default).
    GroupOff,
}

impl Command {
    /// Every command, in the order of `COMMANDS`.
    pub const ALL: [Command; 18] = [
        Command::Up,
        Command::Down,
        Command::Once,
        Command::Pause,
        Command::Continue,
        Command::Hangup,
        Command::Alarm,
        Command::Interrupt,
        Command::Terminate,
        Command::Kill,
        Command::Exit,
        Command::Restart,
        Command::Quit,
        Command::Usr1,
        Command::Usr2,
        Command::Winch,
        Command::GroupOn,
        Command::GroupOff,
    ];

    /// The byte written to `supervise/control` (svc's option letter).
    pub const fn byte(self) -> u8 {
        match self {
            Command::Up => b'u',
            Command::Down => b'd',
            Command::Once => b'o',
            Command::Pause => b'p',
            Command::Continue => b'c',
            Command::Hangup => b'h',
            Command::Alarm => b'a',
            Command::Interrupt => b'i',
            Command::Terminate => b't',
            Command::Kill => b'k',
            Command::Exit => b'x',
            Command::Restart => b'r',
            Command::Quit => b'q',
            Command::Usr1 => b'1',
            Command::Usr2 => b'2',
            Command::Winch => b'w',
            Command::GroupOn => b'+',
            Command::GroupOff => b'=',
        }
    }

    /// The command a byte stands for; `None` for a byte supervise ignores.
    pub fn from_byte(b: u8) -> Option<Command> {
        Command::ALL.into_iter().find(|c| c.byte() == b)
    }

    /// The signal a signalling command sends as it is (`p` and `c` send STOP and
    /// CONT besides changing the paused flag; `d` and `r` send the down-signal).
    pub fn signal(self) -> Option<nix::sys::signal::Signal> {
        use nix::sys::signal::Signal;
        Some(match self {
            Command::Pause => Signal::SIGSTOP,
            Command::Continue => Signal::SIGCONT,
            Command::Hangup => Signal::SIGHUP,
            Command::Alarm => Signal::SIGALRM,
            Command::Interrupt => Signal::SIGINT,
            Command::Terminate => Signal::SIGTERM,
            Command::Kill => Signal::SIGKILL,
            Command::Quit => Signal::SIGQUIT,
            Command::Usr1 => Signal::SIGUSR1,
            Command::Usr2 => Signal::SIGUSR2,
            Command::Winch => Signal::SIGWINCH,
            _ => return None,
        })
    }
}

/// The command bytes, in svc's usage order: `udopchaitkxrq12w+=`.
pub const COMMANDS: &[u8] = &{
    let mut out = [0u8; Command::ALL.len()];
    let mut i = 0;
    while i < out.len() {
        out[i] = Command::ALL[i].byte();
        i += 1;
    }
    out
};

/// The bytes of `cmds`, as written to `supervise/control`.
pub fn encode(cmds: &[Command]) -> Vec<u8> {
    cmds.iter().map(|c| c.byte()).collect()
}

/// The commands svc writes for the options given: as given, with a `=` after them when
/// a `+` is among them, so that the group mode ends with them whoever reads them
/// (daemontools-encore's supervise ends it with each read of the FIFO).
pub fn burst(opts: &[Command]) -> Vec<Command> {
    let mut out = opts.to_vec();
    if opts.contains(&Command::GroupOn) && opts.last() != Some(&Command::GroupOff) {
        out.push(Command::GroupOff);
    }
    out
}

/// Outcome of delivering commands to one service.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    NoSupervisor,
}

/// The cause added to daemontools' words (`unable to control DIR: file does not
/// exist`) when a service directory has no `supervise/control` or `supervise/ok`: no
/// supervise has ever run there. `dir` is the directory as the user named it.
pub fn never_supervised(dir: &str) -> String {
    format!("no supervise runs there: start svscan on its parent directory, or supervise {dir}")
}

/// Opens a FIFO of `supervise/` for writing without blocking, never through a
/// symbolic link; `None` when nobody reads it (ENXIO), or when it is no FIFO at all,
/// which no supervise made (whoever may write the service directory could put a link
/// to a file of root's there, for root's svc to write into).
fn open_fifo_writer(path: &Path) -> Result<Option<OwnedFd>, Errno> {
    let fd = match open(
        path,
        OFlag::O_WRONLY
            | OFlag::O_NONBLOCK
            | OFlag::O_NOFOLLOW
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENXIO | Errno::ELOOP) => return Ok(None),
        Err(e) => return Err(e),
    };
    let st = nix::sys::stat::fstat(&fd)?;
    Ok((st.st_mode & libc::S_IFMT == libc::S_IFIFO).then_some(fd))
}

/// Writes `cmds` to the service's control FIFO. Opening without blocking tells a FIFO
/// nobody reads (ENXIO: supervise not running) from one that works.
pub fn send(dir: &ServiceDir, cmds: &[u8]) -> Result<Sent, Errno> {
    let Some(fd) = open_fifo_writer(&dir.file(CONTROL))? else {
        return Ok(Sent::NoSupervisor);
    };
    // Blocking from here on: a burst larger than the FIFO buffer waits for supervise.
    nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_SETFL(OFlag::empty()))?;
    let mut rest = cmds;
    while !rest.is_empty() {
        match nix::unistd::write(&fd, rest) {
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(Sent::Delivered)
}

/// A writer on the service's `supervise/ok` FIFO, or None when no supervise holds it
/// open (ENXIO). Held, it gets POLLERR once the supervise reading it exits.
pub fn hold_ok(dir: &ServiceDir) -> Result<Option<OwnedFd>, Errno> {
    open_fifo_writer(&dir.file(OK))
}

/// Whether a supervise holds the service's `supervise/ok` FIFO open.
pub fn is_supervised(dir: &ServiceDir) -> Result<bool, Errno> {
    hold_ok(dir).map(|ok| ok.is_some())
}

/// Waits until no supervise runs in the service directory any more, at most
/// `timeout`; whether it is gone.
pub fn wait_unsupervised(dir: &ServiceDir, timeout: std::time::Duration) -> bool {
    let Ok(Some(ok)) = hold_ok(dir) else {
        return true;
    };
    let deadline = crate::units::deadline_after(std::time::Instant::now(), timeout);
    loop {
        let now = std::time::Instant::now();
        if now >= deadline {
            return false;
        }
        let mut fds = [nix::poll::PollFd::new(
            std::os::fd::AsFd::as_fd(&ok),
            nix::poll::PollFlags::empty(),
        )];
        match nix::poll::poll(&mut fds, crate::wakeup::timeout_until(Some(deadline), now)) {
            Ok(n) if n > 0 => return true,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

/// Wakes every waiter with a FIFO in the event directory open at `event_dir`
/// (supervise's side). A FIFO nobody reads any more belongs to a waiter that died: it
/// is removed. Names starting with a dot are FIFOs being set up. Only FIFOs are
/// written to, opened relative to the directory without following a symbolic link and
/// checked once open: a link or a regular file put there is left alone, never written
/// through.
pub fn wake_waiters(event_dir: BorrowedFd<'_>) {
    use nix::sys::stat::{SFlag, fstat, fstatat};
    let is_fifo = |mode: libc::mode_t| mode & SFlag::S_IFMT.bits() == SFlag::S_IFIFO.bits();
    for name in dir_entries(event_dir) {
        if name.to_bytes().starts_with(b".") {
            continue;
        }
        match fstatat(event_dir, name.as_c_str(), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if is_fifo(st.st_mode) => {}
            _ => continue,
        }
        match openat(
            event_dir,
            name.as_c_str(),
            OFlag::O_WRONLY
                | OFlag::O_NONBLOCK
                | OFlag::O_NOFOLLOW
                | OFlag::O_NOCTTY
                | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => {
                if fstat(&fd).is_ok_and(|st| is_fifo(st.st_mode)) {
                    let _ = nix::unistd::write(&fd, b"s");
                }
            }
            Err(Errno::ENXIO) => {
                let _ = unlinkat(event_dir, name.as_c_str(), UnlinkatFlags::NoRemoveDir);
            }
            Err(_) => {}
        }
    }
}

/// The names in the directory open at `dir`; none if it cannot be read.
fn dir_entries(dir: BorrowedFd<'_>) -> Vec<CString> {
    crate::dirlist::names_at(dir)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(name, _)| CString::new(std::os::unix::ffi::OsStringExt::into_vec(name)).ok())
        .collect()
}

/// A waiter's FIFO in a service's event directory, removed on drop.
pub struct EventFifo {
    path: PathBuf,
    pub fd: OwnedFd,
    /// Our own writer on the FIFO. Without one, the FIFO reads as POLLHUP for good once
    /// the first supervise that woke us has closed its end, and a waiter polling it
    /// would spin until its deadline (s6's ftrigr keeps one for the same reason).
    _writer: OwnedFd,
}

impl EventFifo {
    /// Sets up a FIFO for this process; `Ok(None)` when the supervise has no event
    /// directory (daemontools' supervise).
    pub fn listen(dir: &ServiceDir) -> Result<Option<EventFifo>, Errno> {
        let events = dir.file(EVENT);
        if !events.is_dir() {
            return Ok(None);
        }
        let name = format!("{}-{}", std::process::id(), unique());
        let hidden = events.join(format!(".{name}"));
        nix::unistd::mkfifo(&hidden, Mode::from_bits_truncate(0o600))?;
        // Open for reading before supervise can see it, so it is never taken for stale.
        let opened = open(
            &hidden,
            OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .and_then(|fd| {
            let writer = open(
                &hidden,
                OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )?;
            Ok((fd, writer))
        });
        let (fd, writer) = match opened {
            Ok(fds) => fds,
            Err(e) => {
                let _ = std::fs::remove_file(&hidden);
                return Err(e);
            }
        };
        let path = events.join(name);
        if let Err(e) = std::fs::rename(&hidden, &path) {
            let _ = std::fs::remove_file(&hidden);
            return Err(Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO)));
        }
        Ok(Some(EventFifo {
            path,
            fd,
            _writer: writer,
        }))
    }

    /// Reads away the wake-up bytes.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(&self.fd, &mut buf), Ok(n) if n > 0) {}
    }
}

impl Drop for EventFifo {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A number not used before by this process.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_bytes_round_trip_and_spell_svcs_options() {
        assert_eq!(COMMANDS, b"udopchaitkxrq12w+=");
        for c in Command::ALL {
            assert_eq!(Command::from_byte(c.byte()), Some(c));
        }
        for b in 0..=255u8 {
            assert_eq!(
                Command::from_byte(b).is_some(),
                COMMANDS.contains(&b),
                "{b}"
            );
        }
        assert_eq!(Command::from_byte(b'd'), Some(Command::Down));
        assert_eq!(
            Command::Winch.signal(),
            Some(nix::sys::signal::Signal::SIGWINCH)
        );
        assert_eq!(Command::Down.signal(), None);
    }

    #[test]
    fn a_burst_with_plus_ends_the_group_mode() {
        use Command::*;
        assert_eq!(
            burst(&[GroupOn, Terminate]),
            vec![GroupOn, Terminate, GroupOff]
        );
        assert_eq!(
            burst(&[GroupOn, Terminate, GroupOff]),
            vec![GroupOn, Terminate, GroupOff]
        );
        assert_eq!(burst(&[Down, Exit]), vec![Down, Exit]);
        assert_eq!(encode(&burst(&[GroupOn, Kill])), b"+k=");
    }

    #[test]
    fn signals_as_daemontools_sends_them() {
        use Command::*;
        use nix::sys::signal::Signal::*;
        let table = [
            (Up, None),
            (Down, None),
            (Once, None),
            (Pause, Some(SIGSTOP)),
            (Continue, Some(SIGCONT)),
            (Hangup, Some(SIGHUP)),
            (Alarm, Some(SIGALRM)),
            (Interrupt, Some(SIGINT)),
            (Terminate, Some(SIGTERM)),
            (Kill, Some(SIGKILL)),
            (Exit, None),
            (Restart, None),
            (Quit, Some(SIGQUIT)),
            (Usr1, Some(SIGUSR1)),
            (Usr2, Some(SIGUSR2)),
            (Winch, Some(SIGWINCH)),
            (GroupOn, None),
            (GroupOff, None),
        ];
        assert_eq!(table.len(), Command::ALL.len());
        for (cmd, sig) in table {
            assert_eq!(cmd.signal(), sig, "{cmd:?}");
        }
    }

    #[test]
    fn encoded_commands_decode_to_themselves() {
        use Command::*;
        let cmds = [Up, GroupOn, Hangup, Terminate, Once, Exit];
        let bytes = encode(&burst(&cmds));
        assert_eq!(bytes, b"u+htox=");
        let decoded: Vec<Command> = bytes
            .iter()
            .filter_map(|&b| Command::from_byte(b))
            .collect();
        assert_eq!(decoded, [&cmds[..], &[GroupOff]].concat());
        // What supervise ignores among the bytes it reads: neither letters it does not
        // know nor svc's own option syntax.
        for b in [b'-', b'U', b'D', b'\n', 0, b'z'] {
            assert_eq!(Command::from_byte(b), None, "{b}");
        }
        assert_eq!(encode(&[]), b"");
    }
}
