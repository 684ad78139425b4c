//! fghack: keeps a program that puts itself in the background "in the foreground", by
//! waiting until every process that inherited a pipe from it has closed it.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Copies of the pipe the program gets (daemontools gives 31 descriptors): a daemon
/// that closes its first few descriptors still keeps one.
const COPIES: usize = 30;

/// Why fghack could not do its job.
#[derive(Debug)]
pub enum FghackError {
    Pipe(Errno),
    Run(std::io::Error),
    Wait(std::io::Error),
}

/// How the program ended, once all its descendants closed the pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    Exited(i32),
    Crashed(i32),
}

pub fn run(mut cmd: Command) -> Result<Ended, FghackError> {
    let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(FghackError::Pipe)?;
    let wfd = w.as_raw_fd();
    // SAFETY: dup(2) is async-signal-safe; the copies are not close-on-exec, so the
    // program and every process it forks inherit them, while the original closes.
    unsafe {
        cmd.pre_exec(move || {
            for _ in 0..COPIES {
                if libc::dup(wfd) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = crate::spawn::reset_signals(&mut cmd)
        .spawn()
        .map_err(FghackError::Run)?;
    drop(w);
    let mut buf = [0u8; 512];
    loop {
        match nix::unistd::read(&r, &mut buf) {
            Ok(0) => break,
            Ok(_) | Err(Errno::EINTR) => {}
            Err(_) => break,
        }
    }
    let st = child.wait().map_err(FghackError::Wait)?;
    use std::os::unix::process::ExitStatusExt;
    Ok(match (st.code(), st.signal()) {
        (Some(c), _) => Ended::Exited(c),
        (None, Some(s)) => Ended::Crashed(s),
        (None, None) => Ended::Crashed(0),
    })
}
