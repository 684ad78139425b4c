//! systemd's readiness protocol (sd_notify) as supervise offers it to a service that
//! asks for it with a `notify-socket` file: the socket, the datagrams' codec, and who
//! may send them.
//!
//! The socket is a datagram socket in Linux's abstract namespace, named
//! `@svkit-notify/PID/RANDOM` (PID: supervise's), passed to `run` (only to `run`) in
//! `NOTIFY_SOCKET`. Not a path under `supervise/`: that directory is 0700, so a service
//! that drops to another account with setuidgid could not reach a socket in it, and
//! opening it to other accounts would open every file in it. An abstract socket needs
//! no permission to reach, leaves nothing behind when supervise dies, and cannot be
//! redirected; who may send is decided per datagram instead, from the credentials the
//! kernel attaches (SO_PASSCRED), by `from_service`. The random part makes the name
//! impossible to take first.

use nix::errno::Errno;
use nix::sys::socket::{
    AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType, UnixAddr, bind, recvmsg,
    setsockopt, socket, sockopt,
};
use std::io::IoSliceMut;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

/// The environment variable that tells a service where to send.
pub const NOTIFY_SOCKET_ENV: &str = "NOTIFY_SOCKET";

/// The largest datagram read; longer ones are ignored (systemd reads at most 4096
/// bytes as well).
pub const MAX_DATAGRAM: usize = 4096;

/// The most of a `STATUS=` text that is kept.
pub const MAX_STATUS: usize = 1024;

/// What one datagram says, as far as svkit uses it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Message {
    /// `READY=1`: the service is ready.
    pub ready: bool,
    /// `STATUS=...`: the last such line's text, cut to `MAX_STATUS` bytes.
    pub status: Option<Vec<u8>>,
}

/// Reads a datagram: newline-separated `NAME=VALUE` assignments, as sd_notify(3)
/// defines them. Assignments svkit does not use are ignored: `MAINPID=` (supervise
/// follows `run`'s pid and signals it and its process group; a service that says its
/// main process is another one has left supervision, which svkit cannot follow),
/// `STOPPING=1` (supervise sees the service go down when `run` exits, and until then
/// it is up as it was), `RELOADING=`, `WATCHDOG=`, `FDSTORE=`, `ERRNO=` and the rest.
pub fn parse(datagram: &[u8]) -> Message {
    let mut m = Message::default();
    for line in datagram.split(|&b| b == b'\n') {
        if line == b"READY=1" {
            m.ready = true;
        } else if let Some(text) = line.strip_prefix(b"STATUS=") {
            m.status = Some(text[..text.len().min(MAX_STATUS)].to_vec());
        }
    }
    m
}

/// Who sent a datagram, as the kernel says (not as the sender says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sender {
    pub pid: i32,
    pub uid: u32,
}

/// The socket supervise reads.
pub struct NotifySocket {
    fd: OwnedFd,
    /// The abstract name, without the leading NUL.
    name: Vec<u8>,
}

/// A datagram read from the socket.
pub struct Datagram {
    pub bytes: Vec<u8>,
    /// None when the kernel attached no credentials (it always does with SO_PASSCRED).
    pub sender: Option<Sender>,
}

impl NotifySocket {
    /// Makes and binds a new socket, non-blocking and close-on-exec.
    pub fn bind() -> Result<NotifySocket, Errno> {
        let fd = socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC | SockFlag::SOCK_NONBLOCK,
            None,
        )?;
        setsockopt(&fd, sockopt::PassCred, &true)?;
        // Someone may have taken a name first: a fresh random part each time.
        let mut last = Errno::EADDRINUSE;
        for _ in 0..8 {
            let name =
                format!("svkit-notify/{}/{:016x}", std::process::id(), random()).into_bytes();
            match bind(fd.as_raw_fd(), &UnixAddr::new_abstract(&name)?) {
                Ok(()) => return Ok(NotifySocket { fd, name }),
                Err(e @ Errno::EADDRINUSE) => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// The value of `NOTIFY_SOCKET` for the service: `@` and the name, as sd_notify(3)
    /// writes an abstract socket.
    pub fn address(&self) -> Vec<u8> {
        let mut a = b"@".to_vec();
        a.extend_from_slice(&self.name);
        a
    }

    /// The next datagram, or None when there is none. Descriptors sent along (FDSTORE)
    /// are closed at once.
    pub fn recv(&self) -> Result<Option<Datagram>, Errno> {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        // Room for the credentials and a few descriptors: what does not fit is closed
        // by the kernel.
        let mut cmsg = nix::cmsg_space!(nix::sys::socket::UnixCredentials, [std::os::fd::RawFd; 8]);
        let (n, truncated, sender, fds) = {
            let mut iov = [IoSliceMut::new(&mut buf)];
            let msg = match recvmsg::<()>(
                self.fd.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT | MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => msg,
                Err(Errno::EAGAIN) => return Ok(None),
                Err(e) => return Err(e),
            };
            let mut sender = None;
            let mut fds = Vec::new();
            for c in msg.cmsgs()? {
                match c {
                    ControlMessageOwned::ScmCredentials(cr) => {
                        sender = Some(Sender {
                            pid: cr.pid(),
                            uid: cr.uid(),
                        })
                    }
                    ControlMessageOwned::ScmRights(v) => fds.extend(v),
                    _ => {}
                }
            }
            (
                msg.bytes,
                msg.flags.contains(MsgFlags::MSG_TRUNC),
                sender,
                fds,
            )
        };
        for fd in fds {
            let _ = nix::unistd::close(fd);
        }
        if truncated {
            // Too long to be one of ours: read as nothing.
            buf.clear();
        } else {
            buf.truncate(n);
        }
        Ok(Some(Datagram { bytes: buf, sender }))
    }
}

impl AsFd for NotifySocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Whether a datagram from `sender` speaks for the service whose `run` has pid `run`
/// (a session leader, so its session id is its pid): it does if the sender is in that
/// session (`run`, what it execs into, and every process it starts unless one makes a
/// session of its own). A sender that is already gone when its datagram is read (a
/// short-lived `systemd-notify --ready`) cannot be placed; it counts if it ran as the
/// account `run` runs as now, or as root: such a process could act as the service in
/// other ways anyway. Anything else (another account's process, a process of another
/// service) is ignored.
pub fn from_service(sender: Sender, run: u32) -> bool {
    let Ok(run) = i32::try_from(run) else {
        return false;
    };
    if sender.pid <= 0 {
        return false;
    }
    match nix::unistd::getsid(Some(nix::unistd::Pid::from_raw(sender.pid))) {
        Ok(sid) => sid.as_raw() == run,
        Err(_) => {
            sender.uid == 0
                || nix::sys::stat::stat(format!("/proc/{run}").as_str())
                    .is_ok_and(|st| st.st_uid == sender.uid)
        }
    }
}

/// 64 bits no one can guess, from the standard library's randomly keyed hasher (seeded
/// from the kernel's random numbers).
fn random() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64),
    );
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_assignments_svkit_uses() {
        assert_eq!(parse(b""), Message::default());
        let m = parse(b"STATUS=starting\nMAINPID=42\nREADY=1\nSTATUS=serving 3 clients");
        assert!(m.ready);
        assert_eq!(m.status.as_deref(), Some(&b"serving 3 clients"[..]));
        assert_eq!(parse(b"STOPPING=1\nMAINPID=1\n"), Message::default());
        // Only the exact assignment: not READY=0, not a prefix of another name.
        assert!(!parse(b"READY=0\nXREADY=1\nREADY=10").ready);
        let long = [b"STATUS=".as_slice(), &[b'x'; 5000]].concat();
        assert_eq!(parse(&long).status.unwrap().len(), MAX_STATUS);
        // Not UTF-8: kept as bytes.
        assert_eq!(parse(b"STATUS=\xff").status.as_deref(), Some(&b"\xff"[..]));
    }

    #[test]
    fn a_datagram_comes_with_its_senders_credentials() {
        let s = NotifySocket::bind().unwrap();
        let addr = s.address();
        assert!(addr.starts_with(b"@svkit-notify/"));
        assert!(s.recv().unwrap().is_none());
        let c = socket(
            AddressFamily::Unix,
            SockType::Datagram,
            SockFlag::SOCK_CLOEXEC,
            None,
        )
        .unwrap();
        let to = UnixAddr::new_abstract(&addr[1..]).unwrap();
        nix::sys::socket::sendto(c.as_raw_fd(), b"READY=1", &to, MsgFlags::empty()).unwrap();
        let d = s.recv().unwrap().unwrap();
        assert_eq!(d.bytes, b"READY=1");
        let me = Sender {
            pid: std::process::id() as i32,
            uid: nix::unistd::getuid().as_raw(),
        };
        assert_eq!(d.sender, Some(me));
        // A live sender counts in its own session, not in another one.
        let sid = nix::unistd::getsid(None).unwrap().as_raw() as u32;
        assert!(from_service(me, sid));
        assert!(!from_service(me, sid + 1));
        assert!(!from_service(Sender { pid: 0, uid: 0 }, sid));
    }
}
