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
    /// The program (by name) could not be started.
    Run(std::ffi::OsString, std::io::Error),
    Wait(std::io::Error),
    /// The program (by name) died of the signal.
    Crashed(std::ffi::OsString, i32),
}

impl std::fmt::Display for FghackError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::diag::{errstr, ioerrstr};
        match self {
            FghackError::Pipe(e) => write!(f, "unable to create pipe: {}", errstr(*e)),
            FghackError::Run(name, e) => {
                write!(
                    f,
                    "unable to run {}: {}",
                    name.to_string_lossy(),
                    ioerrstr(e)
                )
            }
            FghackError::Wait(e) => write!(f, "wait failed: {}", ioerrstr(e)),
            FghackError::Crashed(name, sig) => {
                write!(f, "{} crashed: signal {sig}", name.to_string_lossy())
            }
        }
    }
}

impl crate::cli::Failure for FghackError {}

/// Runs `cmd` and waits until it and every process that inherited the pipe from it
/// have ended (closed it); gives the program's exit code.
pub fn wait_for_all(mut cmd: Command) -> Result<i32, FghackError> {
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
        .map_err(|e| FghackError::Run(cmd.get_program().to_owned(), e))?;
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
    match st.code() {
        Some(c) => Ok(c),
        None => Err(FghackError::Crashed(
            cmd.get_program().to_owned(),
            st.signal().unwrap_or(0),
        )),
    }
}
