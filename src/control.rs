//! The control protocol: command bytes written to `supervise/control`, and the
//! `supervise/ok` FIFO that tells whether a supervise is listening.

use crate::service_dir::{CONTROL, OK, ServiceDir};
use nix::errno::Errno;
use nix::fcntl::{OFlag, open};
use nix::sys::stat::Mode;

/// Command bytes supervise obeys, in svc's option letters.
pub const COMMANDS: &[u8] = b"udopchaitkx";

/// Outcome of delivering commands to one service.
#[derive(Debug, PartialEq, Eq)]
pub enum Sent {
    Delivered,
    NoSupervisor,
}

/// Writes `cmds` to the service's control FIFO. Opening without blocking tells a FIFO
/// nobody reads (ENXIO: supervise not running) from one that works.
pub fn send(dir: &ServiceDir, cmds: &[u8]) -> Result<Sent, Errno> {
    let fd = match open(
        &dir.file(CONTROL),
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENXIO) => return Ok(Sent::NoSupervisor),
        Err(e) => return Err(e),
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

/// Whether a supervise holds the service's `supervise/ok` FIFO open.
pub fn is_supervised(dir: &ServiceDir) -> Result<bool, Errno> {
    match open(
        &dir.file(OK),
        OFlag::O_WRONLY | OFlag::O_NONBLOCK | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(_) => Ok(true),
        Err(Errno::ENXIO) => Ok(false),
        Err(e) => Err(e),
    }
}
