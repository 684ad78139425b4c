//! The process title: the memory of our own argument strings, which `ps` shows, and
//! readproctitle's rolling window of input kept in the last argument.

use std::io::Read;

/// The bytes of the last command-line argument, writable in place.
pub struct TitleWindow {
    window: &'static mut [u8],
}

/// Why the title cannot be written.
#[derive(Debug, PartialEq, Eq)]
pub enum TitleError {
    /// The last argument is shorter than this many bytes.
    TooShort(usize),
    /// /proc/self does not describe our arguments as expected.
    Unavailable,
    /// The window was handed out already: there is one argument area, so one window.
    Taken,
}

/// Set by the first `last_argument` that gets as far as handing out the window.
static TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The shortest last argument readproctitle accepts (daemontools: 5).
pub const MIN_WINDOW: usize = 5;
/// Leading bytes of the last argument left as they are, as daemontools does, so that
/// `ps` still shows where the title ends and the input begins.
const KEEP: usize = 3;

impl TitleWindow {
    /// Finds the argument area through /proc/self/stat (fields arg_start and arg_end) and
    /// checks that it still holds what /proc/self/cmdline says before handing it out.
    /// The window aliases the process's argument memory, so only the first call that
    /// succeeds gets it; every later call gets `TitleError::Taken`.
    pub fn last_argument() -> Result<Self, TitleError> {
        use std::sync::atomic::Ordering;
        if TAKEN.swap(true, Ordering::SeqCst) {
            return Err(TitleError::Taken);
        }
        let found = Self::find();
        if found.is_err() {
            TAKEN.store(false, Ordering::SeqCst);
        }
        found
    }

    fn find() -> Result<Self, TitleError> {
        let stat =
            std::fs::read_to_string("/proc/self/stat").map_err(|_| TitleError::Unavailable)?;
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .ok_or(TitleError::Unavailable)?
            .1
            .split_whitespace()
            .collect();
        // Fields are numbered from 1 and the first after the command name is field 3.
        let field = |n: usize| -> Result<usize, TitleError> {
            fields
                .get(n - 3)
                .and_then(|f| f.parse().ok())
                .ok_or(TitleError::Unavailable)
        };
        let (start, end) = (field(48)?, field(49)?);
        let cmdline = std::fs::read("/proc/self/cmdline").map_err(|_| TitleError::Unavailable)?;
        if end <= start || end - start != cmdline.len() {
            return Err(TitleError::Unavailable);
        }
        // SAFETY: [arg_start, arg_end) is this process's argument strings, mapped
        // read-write on the initial stack for the life of the process; its length matches
        // /proc/self/cmdline; TAKEN makes this the only reference to it that we hand
        // out, and std only reads it when env::args() is called, which our caller has
        // done already.
        let area: &'static mut [u8] =
            unsafe { std::slice::from_raw_parts_mut(start as *mut u8, end - start) };
        if *area != *cmdline || area.last() != Some(&0) {
            return Err(TitleError::Unavailable);
        }
        let body = &area[..area.len() - 1];
        let from = body.iter().rposition(|&b| b == 0).map_or(0, |i| i + 1);
        let len = body.len() - from;
        if len < MIN_WINDOW {
            return Err(TitleError::TooShort(len));
        }
        Ok(TitleWindow {
            window: &mut area[from + KEEP..from + len],
        })
    }

    /// Shifts `input` in from the right, dropping the oldest bytes on the left.
    pub fn push(&mut self, input: &[u8]) {
        shift_in(self.window, input);
    }
}

/// The rolling window: the last `window.len()` bytes of everything pushed so far.
pub fn shift_in(window: &mut [u8], input: &[u8]) {
    let n = window.len();
    if input.len() >= n {
        window.copy_from_slice(&input[input.len() - n..]);
    } else {
        window.copy_within(input.len().., 0);
        window[n - input.len()..].copy_from_slice(input);
    }
}

/// readproctitle's loop: feed standard input into the title until end of file.
pub fn follow_stdin(title: &mut TitleWindow) -> std::io::Result<()> {
    let mut buf = [0u8; 1024];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => title.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_is_handed_out_once() {
        use std::sync::atomic::Ordering;
        let first = TitleWindow::last_argument();
        if let Ok(w) = &first {
            // Hold it while asking again: a second &mut to the same bytes must not exist.
            assert!(!w.window.is_empty());
            assert_eq!(TitleWindow::last_argument().err(), Some(TitleError::Taken));
        } else {
            TAKEN.store(true, Ordering::SeqCst);
            assert_eq!(TitleWindow::last_argument().err(), Some(TitleError::Taken));
        }
    }

    #[test]
    fn window_keeps_the_newest_bytes() {
        let mut w = *b".....";
        shift_in(&mut w, b"ab");
        assert_eq!(&w, b"...ab");
        shift_in(&mut w, b"cd");
        assert_eq!(&w, b".abcd");
        shift_in(&mut w, b"0123456789");
        assert_eq!(&w, b"56789");
        shift_in(&mut w, b"");
        assert_eq!(&w, b"56789");
    }
}
