//! multilog SCRIPT: read lines from stdin, select them, log them to directories.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use svkit::cli::{EXIT_OK, EXIT_TEMP, fatal, help_if_asked, or_die};
use svkit::diag::{errstr, ioerrstr};
use svkit::log::input::{MappedInput, PIPE_WANT, PipePeek, grow};
use svkit::log::multilog::Multilog;
use svkit::log::script::parse;
use svkit::wakeup::{SelfPipe, timeout_until};

const SYNOPSIS: &str = "multilog script";

pub fn main() {
    help_if_asked("multilog", SYNOPSIS, true);
    // daemontools' multilog runs with umask 022, whoever starts it.
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // Bytes, not UTF-8: paths and patterns are taken as given (std::env::args panics).
    let words: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let script = or_die("multilog", parse(&words));
    let mut log = match Multilog::open(script) {
        Ok(l) => l,
        Err(e) => fatal("multilog", EXIT_TEMP, &e),
    };
    let wake = SelfPipe::new().unwrap_or_else(|e| {
        fatal(
            "multilog",
            EXIT_TEMP,
            &format!("unable to create pipe: {}", errstr(e)),
        )
    });
    let term = Arc::new(AtomicBool::new(false));
    let alarm = Arc::new(AtomicBool::new(false));
    for (sig, flag) in [(libc::SIGTERM, &term), (libc::SIGALRM, &alarm)] {
        if let Err(e) = wake.catch(sig, Some(flag)) {
            fatal(
                "multilog",
                EXIT_TEMP,
                &format!("unable to catch signals: {}", ioerrstr(&e)),
            );
        }
    }
    let stdin = std::io::stdin();
    let mut buf = vec![0u8; 256 * 1024];
    let mut deadline = log.rotate_old();
    // A file as input never blocks: no poll, and no read copy (see svkit::log::input).
    let mut mapped = MappedInput::new(std::os::fd::AsFd::as_fd(&stdin));
    let mut peek = mapped.is_none().then(PipePeek::new).flatten();
    if log.forwards() {
        // `1` reads no more than stdout's pipe has room for: a larger pipe lets it go on.
        grow(std::os::fd::AsFd::as_fd(&std::io::stdout()), PIPE_WANT);
    }
    if peek.is_some() {
        // Input stays in the pipe until it is written: a larger pipe lets the writer
        // go on meanwhile (and keeps more for the next multilog).
        grow(std::os::fd::AsFd::as_fd(&stdin), PIPE_WANT);
    }
    loop {
        use nix::poll::{PollFd, PollFlags, poll};
        use std::os::fd::AsFd;
        let mut input_ready = false;
        if mapped.is_none() {
            let mut fds = [
                PollFd::new(stdin.as_fd(), PollFlags::POLLIN),
                PollFd::new(wake.as_fd(), PollFlags::POLLIN),
            ];
            let _ = poll(&mut fds, timeout_until(deadline, std::time::Instant::now()));
            if fds[1].revents().is_some_and(|r| !r.is_empty()) {
                wake.drain();
            }
            input_ready = fds[0].revents().is_some_and(|r| {
                r.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR)
            });
        }
        if alarm.swap(false, Ordering::SeqCst) {
            log.rotate_all();
        }
        let terminating = term.load(Ordering::SeqCst);
        if terminating && !log.mid_line() {
            break;
        }
        // After TERM, finish the line: nothing past it is taken.
        if let Some(input) = &mut mapped {
            match input.peek(buf.len()) {
                Some(chunk) => {
                    let n = match terminating {
                        true => memchr::memchr(b'\n', chunk).map_or(chunk.len(), |i| i + 1),
                        false => chunk.len(),
                    };
                    log.feed(&chunk[..n]);
                    input.consume(n);
                }
                // The end of what the file holds now: read(2) takes over, for bytes
                // appended since and for the end of input.
                None => mapped = None,
            }
        } else if input_ready {
            // From a pipe: look at what it holds, log what fits before the next
            // rotation, and only then take it off the pipe, before the rotation and
            // stderr: a SIGKILL at any moment neither loses nor repeats a line.
            let peeked = match terminating {
                true => None,
                false => {
                    let budget = log.read_budget(buf.len());
                    Some(
                        peek.as_mut()
                            .and_then(|p| p.peek(stdin.as_fd(), &mut buf))
                            .map(|n| log.fits(&buf[..n]).max(budget).min(n))
                            .ok_or(budget),
                    )
                }
            };
            match peeked {
                Some(Ok(k)) => {
                    log.feed_logs(&buf[..k]);
                    if let Some(Err(e)) = peek.as_mut().map(|p| p.consume(stdin.as_fd(), k)) {
                        log.finish();
                        fatal(
                            "multilog",
                            EXIT_TEMP,
                            &format!("unable to read input: {}", errstr(e)),
                        );
                    }
                    log.settle();
                }
                // No pipe (or nothing in it: the end of input), or TERM: read(2), one
                // byte at a time after TERM, else no further than the next rotation.
                other => {
                    let want = match other {
                        Some(Err(budget)) => budget,
                        _ => 1,
                    };
                    match nix::unistd::read(&stdin, &mut buf[..want]) {
                        Ok(0) => break,
                        Ok(n) => log.feed(&buf[..n]),
                        Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
                        Err(e) => {
                            log.finish();
                            fatal(
                                "multilog",
                                EXIT_TEMP,
                                &format!("unable to read input: {}", errstr(e)),
                            );
                        }
                    }
                }
            }
        }
        deadline = log.rotate_old();
    }
    // Moves stdin's offset to where we stopped, which exit would not.
    drop(mapped);
    log.finish();
    std::process::exit(EXIT_OK);
}
