//! Waking the one poll loop of supervise and svscan: signals write a byte to a self-pipe
//! (signal-hook) and may raise a flag; deadlines become poll timeouts.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::PollTimeout;
use std::os::fd::{AsFd, BorrowedFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

/// The read end of a pipe that caught signals write to.
pub struct SelfPipe {
    read: OwnedFd,
    /// Never closed: signal handlers write to it by number for the life of the process,
    /// and one descriptor serves every signal (svscan counts its descriptors).
    write: RawFd,
}

impl SelfPipe {
    pub fn new() -> Result<Self, Errno> {
        let (read, write) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK)?;
        Ok(SelfPipe {
            read,
            write: write.into_raw_fd(),
        })
    }

    /// Makes `sig` wake the loop, and set `flag` first if given.
    pub fn catch(&self, sig: libc::c_int, flag: Option<&Arc<AtomicBool>>) -> std::io::Result<()> {
        if let Some(flag) = flag {
            signal_hook::flag::register(sig, Arc::clone(flag))?;
        }
        let fd = self.write;
        // SAFETY: the action only calls write(2), which is async-signal-safe, on a
        // descriptor that is never closed; signal-hook saves and restores errno around it.
        // A full pipe already holds a wake-up, so a failed write loses nothing.
        unsafe {
            signal_hook::low_level::register(sig, move || {
                libc::write(fd, b"x".as_ptr().cast(), 1);
            })?;
        }
        Ok(())
    }

    /// Empties the pipe after a wake-up; the loop then looks at every source itself.
    pub fn drain(&self) {
        let mut buf = [0u8; 64];
        while matches!(nix::unistd::read(&self.read, &mut buf), Ok(n) if n > 0) {}
    }
}

impl AsFd for SelfPipe {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.read.as_fd()
    }
}

/// The poll timeout that ends at `deadline` (rounded up to whole milliseconds, so the
/// loop never wakes just before it), or none.
pub fn timeout_until(deadline: Option<Instant>, now: Instant) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => timeout_for(d.saturating_duration_since(now)),
    }
}

/// The poll timeout of `d`, rounded up to whole milliseconds (so a loop never wakes
/// just before its deadline and spins on a zero timeout) and capped at a minute (a
/// loop looks again then): svkit's one rounding.
pub fn timeout_for(d: Duration) -> PollTimeout {
    let ms = d.as_micros().div_ceil(1000).min(60_000) as u32;
    PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_round_up_and_cap() {
        let now = Instant::now();
        assert_eq!(timeout_until(None, now), PollTimeout::NONE);
        let t = |us: u64| timeout_until(Some(now + Duration::from_micros(us)), now);
        assert_eq!(t(0), PollTimeout::ZERO);
        assert_eq!(t(1), PollTimeout::try_from(1u32).unwrap());
        assert_eq!(t(1500), PollTimeout::try_from(2u32).unwrap());
        assert_eq!(t(10_000_000_000), PollTimeout::try_from(60_000u32).unwrap());
        assert_eq!(timeout_for(Duration::ZERO), PollTimeout::ZERO);
        assert_eq!(
            timeout_for(Duration::from_micros(999)),
            PollTimeout::try_from(1u32).unwrap()
        );
        assert_eq!(
            timeout_for(Duration::MAX),
            PollTimeout::try_from(60_000u32).unwrap()
        );
        assert_eq!(
            timeout_until(Some(now), now + Duration::from_secs(1)),
            PollTimeout::ZERO
        );
    }
}
