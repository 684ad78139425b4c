//! Waiting for locks to go: polling, woken sooner by inotify where the file system is local.

use super::count::Counter;
use super::error::{SwocError, sys};
use super::name::ClientName;
use super::{DEFAULT_INTERVAL, SwocDir};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

/// What to wait for.
#[derive(Clone, Debug)]
pub struct WaitSpec {
    /// Only this client's locks, or everyone's.
    pub client: Option<ClientName>,
    /// Done when at most this many live locks remain.
    pub at_most: usize,
    /// The timeout, the poll interval, and whether inotify may wake it sooner where
    /// the file system is local.
    pub polling: Polling,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Waited {
    Done,
    TimedOut { remaining: usize },
}

/// The waiting options both commands take: `-t`, the poll interval, `--no-inotify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polling {
    pub timeout: Option<Duration>,
    pub interval: Duration,
    pub inotify: bool,
}

impl Default for Polling {
    fn default() -> Self {
        Polling {
            timeout: None,
            interval: DEFAULT_INTERVAL,
            inotify: true,
        }
    }
}

/// inotify only hears about changes made through this kernel: on a network file
/// system a lock released on another host would never wake us.
pub fn is_network_fs(magic: i64) -> bool {
    const NETWORK: [i64; 12] = [
        0x6969,      // NFS
        0x517b,      // SMB
        0xff53_4d42, // CIFS
        0xfe53_4d42, // SMB2
        0x5346_414f, // AFS
        0x6b41_4653, // kAFS
        0x7375_7245, // Coda
        0x00c3_6400, // Ceph
        0x0102_1997, // 9P
        0x6573_5546, // FUSE (sshfs and friends)
        0x7461_636f, // OCFS2
        0x0116_1970, // GFS2
    ];
    NETWORK.contains(&magic)
}

/// Sleeps up to `nap`, woken early by `inotify` where there is one. True if the watch
/// went away (the directory was removed or moved).
fn sleep(inotify: Option<&Inotify>, nap: Duration, locks: &Path) -> Result<bool, SwocError> {
    let timeout = crate::wakeup::timeout_for(nap);
    let mut fds: Vec<PollFd<'_>> = inotify
        .iter()
        .map(|i| PollFd::new(i.as_fd(), PollFlags::POLLIN))
        .collect();
    match poll(&mut fds, timeout) {
        Ok(_) | Err(Errno::EINTR) => {}
        Err(e) => return Err(sys("poll for changes in", locks, e)),
    }
    Ok(inotify.is_some_and(|i| drain(i).gone))
}

/// An inotify watch on the open `locks/` for lock files going, if the file system is
/// local. The watch is put on the descriptor's own /proc link, so it is on the very
/// directory that is counted. Any failure means polling only, never an error: the poll
/// is always there.
fn watch(locks: BorrowedFd<'_>) -> Option<Inotify> {
    use std::os::fd::AsRawFd;
    let fs = nix::sys::statfs::fstatfs(locks).ok()?;
    #[allow(clippy::unnecessary_cast)] // f_type is 32 bits on some targets
    let magic = fs.filesystem_type().0 as i64;
    if is_network_fs(magic) {
        return None;
    }
    let i = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK).ok()?;
    i.add_watch(
        format!("/proc/self/fd/{}", locks.as_raw_fd()).as_str(),
        AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_DELETE_SELF
            | AddWatchFlags::IN_MOVE_SELF
            | AddWatchFlags::IN_ONLYDIR,
    )
    .ok()?;
    Some(i)
}

/// What an emptied inotify queue held.
struct Drained {
    /// A lock may have appeared (or events were lost).
    created: bool,
    /// The watch itself is gone: the directory was removed or moved.
    gone: bool,
}

fn drain(i: &Inotify) -> Drained {
    use std::os::unix::ffi::OsStrExt;
    let mut d = Drained {
        created: false,
        gone: false,
    };
    while let Ok(events) = i.read_events() {
        if events.is_empty() {
            break;
        }
        for e in events {
            // Temp files become locks by link(2), which is an IN_CREATE of its own.
            let temp = e
                .name
                .as_ref()
                .is_some_and(|n| n.as_bytes().starts_with(b"."));
            d.created |= e.mask.contains(AddWatchFlags::IN_Q_OVERFLOW)
                || (!temp
                    && e.mask
                        .intersects(AddWatchFlags::IN_CREATE | AddWatchFlags::IN_MOVED_TO));
            d.gone |= e.mask.intersects(
                AddWatchFlags::IN_IGNORED
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF,
            );
        }
    }
    d
}

impl SwocDir {
    /// Waits until at most `spec.at_most` live locks (of `spec.client`, or everyone's)
    /// remain; foreign locks do not count. Looks every `spec.polling.interval`, which
    /// works on any file system, and on a local one also wakes at once through inotify
    /// when a lock goes. Expiring locks set a deadline of their own.
    pub fn wait(&self, spec: &WaitSpec) -> Result<Waited, SwocError> {
        let t = self.tree()?;
        let start = Instant::now();
        let deadline = spec
            .polling
            .timeout
            .map(|d| crate::units::deadline_after(start, d));
        let locks = t.locks_path();
        // Watch first, then count: a release between the two still wakes us.
        let mut inotify = if spec.polling.inotify {
            watch(t.locks.as_fd())
        } else {
            None
        };
        let mut counter = Counter::new(spec.client.as_ref().map(|c| c.as_str().to_string()));
        loop {
            // What happened so far, the count below sees.
            if let Some(i) = &inotify
                && drain(i).gone
            {
                inotify = None;
            }
            let now = SystemTime::now();
            let (live, next_expiry) = counter.count(&t, now)?;
            if live <= spec.at_most {
                // Listing a big directory takes several getdents(2), so it is not one
                // moment: a lock taken in a part already read while another goes in a
                // part not yet read would be missed by both. Believe "few enough" only
                // if no lock appeared meanwhile, or, without inotify, a second listing
                // agrees.
                let settled = match &inotify {
                    Some(i) => {
                        let d = drain(i);
                        if d.gone {
                            inotify = None;
                        }
                        !d.created
                    }
                    None => counter.count(&t, SystemTime::now())?.0 <= spec.at_most,
                };
                if settled {
                    return Ok(Waited::Done);
                }
                continue;
            }
            let instant = Instant::now();
            if deadline.is_some_and(|d| instant >= d) {
                return Ok(Waited::TimedOut { remaining: live });
            }
            let mut nap = spec.polling.interval;
            if let Some(d) = deadline {
                nap = nap.min(d.saturating_duration_since(instant));
            }
            if let Some(e) = next_expiry {
                nap = nap.min(e.duration_since(now).unwrap_or_default());
            }
            let gone = sleep(inotify.as_ref(), nap, &locks)?;
            if gone {
                // The watched directory went away: polling stays.
                inotify = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_file_systems() {
        assert!(is_network_fs(0x6969));
        assert!(is_network_fs(0xff53_4d42));
        assert!(!is_network_fs(0xef53)); // ext4
        assert!(!is_network_fs(0x0102_1994)); // tmpfs
    }
}
