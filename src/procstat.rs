//! What /proc tells of a process: its state, parent, process group and session
//! (/proc/PID/stat), and the children of this process; and signalling a whole process
//! group, svkit's one copy.

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Sends `sig` to every process of group `pgid` (`None`: sends nothing, asks whether any
/// is left). `Ok(false)`: the group is gone (ESRCH). A `pgid` of 1 or less is refused
/// with EINVAL, never sent: kill(2) reads -1 as every process and 0 as our own group.
pub fn signal_group(pgid: i32, sig: Option<Signal>) -> Result<bool, Errno> {
    if pgid <= 1 {
        return Err(Errno::EINVAL);
    }
    match kill(Pid::from_raw(-pgid), sig) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The fields of /proc/PID/stat that svkit looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcStat {
    /// `R`, `S`, `D`, `Z` (zombie), `T`, `X` (dead), ...
    pub state: u8,
    pub ppid: i32,
    pub pgid: i32,
    pub session: i32,
}

impl ProcStat {
    /// Reads /proc/PID/stat; `None` when the process is gone or /proc says nothing.
    pub fn read(pid: i32) -> Option<ProcStat> {
        ProcStat::try_read(pid).ok().flatten()
    }

    /// Reads /proc/PID/stat, telling a process that is not there (an error, NotFound
    /// when /proc has no such pid) from one /proc says nothing readable of (`None`).
    pub fn try_read(pid: i32) -> std::io::Result<Option<ProcStat>> {
        let text = std::fs::read(format!("/proc/{pid}/stat"))?;
        Ok(ProcStat::parse(&text))
    }

    /// Parses the text of /proc/PID/stat. The command name (field 2) is in parentheses
    /// and may hold spaces and parentheses itself: the fields after it start after the
    /// last `)`.
    pub fn parse(text: &[u8]) -> Option<ProcStat> {
        let close = text.iter().rposition(|&b| b == b')')?;
        let rest = std::str::from_utf8(&text[close + 1..]).ok()?;
        let mut f = rest.split_ascii_whitespace();
        let state = *f.next()?.as_bytes().first()?;
        let ppid = f.next()?.parse().ok()?;
        let pgid = f.next()?.parse().ok()?;
        let session = f.next()?.parse().ok()?;
        Some(ProcStat {
            state,
            ppid,
            pgid,
            session,
        })
    }

    /// Not yet reaped or already gone.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, b'Z' | b'X')
    }
}

/// The pids of this (single-threaded) process's children, from
/// /proc/self/task/TID/children; empty when /proc cannot tell.
pub fn own_children() -> Vec<i32> {
    let tid = nix::unistd::gettid();
    std::fs::read_to_string(format!("/proc/self/task/{tid}/children"))
        .unwrap_or_default()
        .split_ascii_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_spaces_and_parentheses() {
        let s = ProcStat::parse(b"1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 0 0").unwrap();
        assert_eq!(
            s,
            ProcStat {
                state: b'S',
                ppid: 1,
                pgid: 1234,
                session: 1234
            }
        );
        assert!(!s.is_dead());
        assert!(ProcStat::parse(b"12 (x) Z 1 2 3").unwrap().is_dead());
        for bad in [&b""[..], b"12 (x", b"12 (x) S 1 2", b"12 (x) S a 2 3"] {
            assert_eq!(ProcStat::parse(bad), None);
        }
    }

    #[test]
    fn signals_a_group_and_refuses_every_process() {
        assert_eq!(signal_group(1, None), Err(Errno::EINVAL));
        assert_eq!(signal_group(0, None), Err(Errno::EINVAL));
        assert_eq!(signal_group(-5, Some(Signal::SIGKILL)), Err(Errno::EINVAL));
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        assert_eq!(signal_group(pgid, None), Ok(true));
        assert_eq!(signal_group(pgid, Some(Signal::SIGKILL)), Ok(true));
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
        assert_eq!(signal_group(pgid, None), Ok(false));
    }

    #[test]
    fn reads_this_process() {
        let me = ProcStat::read(std::process::id() as i32).unwrap();
        assert_eq!(me.ppid, nix::unistd::getppid().as_raw());
        assert_eq!(me.pgid, nix::unistd::getpgrp().as_raw());
    }
}
