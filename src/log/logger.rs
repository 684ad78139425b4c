//! multilog's event loop: reads stdin (a file through a memory map, a pipe looked at
//! before it is taken), feeds the engine, rotates on SIGALRM and by age, and ends at
//! the end of input or, after SIGTERM, at the end of the line.

use crate::diag::{errstr, ioerrstr};
use crate::log::input::{MappedInput, PIPE_WANT, PipePeek, grow};
use crate::log::multilog::Multilog;
use crate::wakeup::{SelfPipe, timeout_until};
use nix::errno::Errno;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// How much is read (or mapped, or looked at in a pipe) at once.
const READ_SIZE: usize = 256 * 1024;

/// Why the loop could not start or go on (exit class 111).
#[derive(Debug)]
pub enum RunError {
    Pipe(Errno),
    Signals(std::io::Error),
    /// Reading stdin failed: what was read is written and fsynced first.
    Read(Errno),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Pipe(e) => write!(f, "unable to create pipe: {}", errstr(*e)),
            RunError::Signals(e) => write!(f, "unable to catch signals: {}", ioerrstr(e)),
            RunError::Read(e) => write!(f, "unable to read input: {}", errstr(*e)),
        }
    }
}

impl crate::cli::Failure for RunError {}

/// The engine with the signals that drive it: TERM ends it at a line's end, ALRM
/// rotates every directory.
pub struct Logger {
    log: Multilog,
    wake: SelfPipe,
    term: Arc<AtomicBool>,
    alarm: Arc<AtomicBool>,
}

/// Whether the loop goes on.
enum Flow {
    Continue,
    End,
}

/// Stdin as the loop reads it.
struct Input<'fd> {
    fd: BorrowedFd<'fd>,
    buf: Vec<u8>,
    /// A file as input never blocks: no poll, and no read copy (see `log::input`); None
    /// once the end of what the file held is reached.
    mapped: Option<MappedInput<'fd>>,
    peek: Option<PipePeek>,
}

impl<'fd> Input<'fd> {
    fn new(fd: BorrowedFd<'fd>, forwards: bool) -> Input<'fd> {
        let mapped = MappedInput::new(fd);
        let peek = mapped.is_none().then(PipePeek::new).flatten();
        if forwards {
            // `1` reads no more than stdout's pipe has room for: a larger pipe lets it go on.
            grow(std::io::stdout().as_fd(), PIPE_WANT);
        }
        if peek.is_some() {
            // Input stays in the pipe until it is written: a larger pipe lets the writer
            // go on meanwhile (and keeps more for the next multilog).
            grow(fd, PIPE_WANT);
        }
        Input {
            fd,
            buf: vec![0u8; READ_SIZE],
            mapped,
            peek,
        }
    }
}

impl Logger {
    /// Catches TERM and ALRM for `log`.
    pub fn new(log: Multilog) -> Result<Logger, RunError> {
        let wake = SelfPipe::new().map_err(RunError::Pipe)?;
        let term = Arc::new(AtomicBool::new(false));
        let alarm = Arc::new(AtomicBool::new(false));
        for (sig, flag) in [(libc::SIGTERM, &term), (libc::SIGALRM, &alarm)] {
            wake.catch(sig, Some(flag)).map_err(RunError::Signals)?;
        }
        Ok(Logger {
            log,
            wake,
            term,
            alarm,
        })
    }

    /// Logs stdin until its end or TERM; everything read is then written and fsynced
    /// (also when reading fails).
    pub fn run(&mut self) -> Result<(), RunError> {
        let stdin = std::io::stdin();
        let mut deadline = self.log.rotate_old();
        let mut input = Input::new(stdin.as_fd(), self.log.forwards());
        loop {
            let input_ready = input.mapped.is_none() && self.wait(input.fd, deadline);
            if self.alarm.swap(false, Ordering::SeqCst) {
                self.log.rotate_all();
            }
            let terminating = self.term.load(Ordering::SeqCst);
            if terminating && !self.log.mid_line() {
                break;
            }
            let flow = if let Some(mapped) = &mut input.mapped {
                if !self.log_mapped(mapped, terminating) {
                    input.mapped = None;
                }
                Flow::Continue
            } else if input_ready {
                self.log_piped(&mut input, terminating)?
            } else {
                Flow::Continue
            };
            if let Flow::End = flow {
                break;
            }
            deadline = self.log.rotate_old();
        }
        // Moves stdin's offset to where we stopped.
        drop(input);
        self.log.finish();
        Ok(())
    }

    /// Waits for input, a signal or the `deadline`; whether input (or its end) is there.
    fn wait(&self, fd: BorrowedFd, deadline: Option<Instant>) -> bool {
        use nix::poll::{PollFd, PollFlags, poll};
        let mut fds = [
            PollFd::new(fd, PollFlags::POLLIN),
            PollFd::new(self.wake.as_fd(), PollFlags::POLLIN),
        ];
        let _ = poll(&mut fds, timeout_until(deadline, Instant::now()));
        if fds[1].revents().is_some_and(|r| !r.is_empty()) {
            self.wake.drain();
        }
        fds[0].revents().is_some_and(|r| {
            r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
        })
    }

    /// Logs the next bytes of a mapped file (after TERM, no further than the line's
    /// end); false at the end of what the file holds now: read(2) then takes over, for
    /// bytes appended since and for the end of input.
    fn log_mapped(&mut self, input: &mut MappedInput, terminating: bool) -> bool {
        let Some(chunk) = input.peek(READ_SIZE) else {
            return false;
        };
        let n = match terminating {
            true => memchr::memchr(b'\n', chunk).map_or(chunk.len(), |i| i + 1),
            false => chunk.len(),
        };
        self.log.feed(&chunk[..n]);
        input.consume(n);
        true
    }

    /// From a pipe: looks at what it holds, logs what fits before the next rotation,
    /// and only then takes it off the pipe, before the rotation and stderr: a SIGKILL
    /// at any moment neither loses nor repeats a line. Reads where it cannot look.
    fn log_piped(&mut self, input: &mut Input, terminating: bool) -> Result<Flow, RunError> {
        let peeked = match terminating {
            true => None,
            false => {
                let budget = self.log.read_budget(input.buf.len());
                Some(
                    input
                        .peek
                        .as_mut()
                        .and_then(|p| p.peek(input.fd, &mut input.buf))
                        .map(|n| self.log.fits(&input.buf[..n]).max(budget).min(n))
                        .ok_or(budget),
                )
            }
        };
        match peeked {
            Some(Ok(k)) => {
                self.log.feed_logs(&input.buf[..k]);
                if let Some(Err(e)) = input.peek.as_mut().map(|p| p.consume(input.fd, k)) {
                    self.log.finish();
                    return Err(RunError::Read(e));
                }
                self.log.settle();
                Ok(Flow::Continue)
            }
            // No pipe (or nothing in it: the end of input), or TERM: read(2), one byte
            // at a time after TERM, else no further than the next rotation.
            Some(Err(budget)) => self.read(input, budget),
            None => self.read(input, 1),
        }
    }

    /// Reads up to `want` bytes and logs them.
    fn read(&mut self, input: &mut Input, want: usize) -> Result<Flow, RunError> {
        match nix::unistd::read(input.fd, &mut input.buf[..want]) {
            Ok(0) => Ok(Flow::End),
            Ok(n) => {
                self.log.feed(&input.buf[..n]);
                Ok(Flow::Continue)
            }
            Err(Errno::EINTR | Errno::EAGAIN) => Ok(Flow::Continue),
            Err(e) => {
                self.log.finish();
                Err(RunError::Read(e))
            }
        }
    }
}
