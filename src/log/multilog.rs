//! multilog's engine: labels and selects each line of the input and hands it to log
//! directories, stdout, stderr and status files.

use crate::log::logdir::{LogDir, OpenError};
use crate::log::pattern::{glob_matches, matches};
use crate::log::script::{Directive, Prefix, Script, Sink, Stamp};
use crate::tai64::Tai64N;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

/// Lines are selected on their first this many bytes (timestamp included).
pub const MATCH_LEN: usize = 1000;
/// `1` writes whole lines in writes of at most this many bytes where it can: a pipe
/// takes such a write at once (POSIX PIPE_BUF), so loggers that share one stdout never
/// interleave inside a line.
pub const ATOMIC_WRITE: usize = libc::PIPE_BUF;
/// `1` and `e` hold a line until its newline up to this many bytes; a longer line goes
/// out in pieces as it comes, so memory stays bounded.
pub const HELD_MAX: usize = 64 * 1024;
/// The longest `T` label: `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ ` is 31 bytes up to year 9999.
const ISO_LABEL_MAX: usize = 40;

/// The opened outputs of one sink.
enum Out {
    Stderr(LineOut),
    /// `1`: the line as it goes to the shared `Multilog::stdout`.
    Stdout(LineOut),
    Status(PathBuf, std::fs::File),
    Dir(Box<LogDir>),
}

/// One line as `e` or `1` shows it: prefix, the first `limit` bytes (0: all), `...` if
/// `limit` cut it, newline. Held until its newline, up to `HELD_MAX` bytes.
struct LineOut {
    prefix: Vec<u8>,
    limit: usize,
    held: Vec<u8>,
    /// The line's bytes so far, newline excepted.
    len: usize,
}

impl LineOut {
    fn new(prefix: Vec<u8>, limit: usize) -> LineOut {
        LineOut {
            prefix,
            limit,
            held: Vec::new(),
            len: 0,
        }
    }

    /// Takes `bytes` of the line (from its offset `at`); appends to `out` what is ready.
    fn take(&mut self, bytes: &[u8], at: usize, ends: bool, out: &mut Vec<u8>) {
        if at == 0 {
            self.held.clear();
            self.held.extend_from_slice(&self.prefix);
            self.len = 0;
        }
        let body = match ends {
            true => bytes.strip_suffix(b"\n").unwrap_or(bytes),
            false => bytes,
        };
        let keep = match self.limit {
            0 => body.len(),
            l => body.len().min(l.saturating_sub(self.len)),
        };
        self.held.extend_from_slice(&body[..keep]);
        self.len = self.len.saturating_add(body.len());
        if ends {
            if self.limit > 0 && self.len > self.limit {
                self.held.extend_from_slice(b"...");
            }
            self.held.push(b'\n');
            out.extend_from_slice(&self.held);
            self.held.clear();
        } else if self.held.len() >= HELD_MAX {
            out.extend_from_slice(&self.held);
            self.held.clear();
        }
    }
}

/// Stdout, shared by every `1`: whole lines gathered into writes of at most
/// `ATOMIC_WRITE` bytes (a longer line is written alone), in the input's order,
/// written before the input is taken off its pipe.
#[derive(Default)]
struct Stdout {
    /// Lines ready, not yet written.
    batch: Vec<u8>,
    ready: Vec<u8>,
    /// Stdout's reader is gone (EPIPE): said once, then nothing more goes there.
    closed: bool,
}

impl Stdout {
    fn take(&mut self, line: &mut LineOut, bytes: &[u8], at: usize, ends: bool) {
        if self.closed {
            return;
        }
        let mut ready = std::mem::take(&mut self.ready);
        line.take(bytes, at, ends, &mut ready);
        if !ready.is_empty() {
            if self.batch.len() + ready.len() > ATOMIC_WRITE {
                self.flush();
            }
            if ready.len() > ATOMIC_WRITE {
                self.write(&ready);
            } else {
                self.batch.extend_from_slice(&ready);
            }
            ready.clear();
        }
        self.ready = ready;
    }

    fn flush(&mut self) {
        if !self.batch.is_empty() {
            let batch = std::mem::take(&mut self.batch);
            self.write(&batch);
            self.batch = batch;
            self.batch.clear();
        }
    }

    /// Writes all of `bytes` to stdout: waits while a pipe is full, pauses and retries
    /// on other errors as for a log directory; a reader gone (EPIPE) ends the action.
    fn write(&mut self, mut bytes: &[u8]) {
        use nix::errno::Errno;
        use std::os::fd::AsFd;
        let stdout = std::io::stdout();
        let fd = stdout.as_fd();
        while !bytes.is_empty() && !self.closed {
            let n = crate::log::logdir::retry(
                || "unable to write to standard output".to_string(),
                || match nix::unistd::write(fd, bytes) {
                    Ok(0) => Err(std::io::Error::from_raw_os_error(libc::ENOSPC)),
                    Ok(n) => Ok(Some(n)),
                    Err(Errno::EPIPE) => Ok(None),
                    Err(Errno::EINTR) => Ok(Some(0)),
                    Err(Errno::EAGAIN) => {
                        // Non-blocking (someone else's flag on a shared pipe): wait.
                        use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
                        let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
                        let _ = poll(&mut fds, PollTimeout::NONE);
                        Ok(Some(0))
                    }
                    Err(e) => Err(e.into()),
                },
            );
            match n {
                Some(n) => bytes = &bytes[n..],
                None => {
                    crate::diag::warn(
                        "multilog",
                        &format!(
                            "unable to write to standard output: {}; no longer writing to it",
                            crate::diag::errstr(Errno::EPIPE)
                        ),
                    );
                    self.closed = true;
                }
            }
        }
    }

    /// Bytes stdout takes now without blocking, `held` bytes of lines not yet written
    /// counted: the room left in a pipe (an estimate: the kernel fills a pipe by pages
    /// and may take less); None if it is no pipe (a file or terminal takes what comes)
    /// or nothing goes there any more.
    fn room(&self, held: u64) -> Option<u64> {
        use std::os::fd::{AsFd, AsRawFd};
        if self.closed {
            return None;
        }
        let stdout = std::io::stdout();
        let fd = stdout.as_fd();
        let size = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETPIPE_SZ).ok()?;
        let mut queued: libc::c_int = 0;
        // SAFETY: FIONREAD stores one int (the bytes in the pipe) through the pointer,
        // which points at our local `queued`.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut queued) } < 0 {
            return None;
        }
        let pending = self.batch.len() as u64 + held;
        Some(
            (size as u64)
                .saturating_sub(queued.max(0) as u64)
                .saturating_sub(pending),
        )
    }
}

/// The service a log directory's `run` belongs to, from the working directory:
/// `/service/app/log` gives `app` (the directory above `log`), any other directory its
/// own name.
pub fn service_name(cwd: &std::path::Path) -> Option<Vec<u8>> {
    let last = cwd.file_name()?;
    let name = match last.as_bytes() {
        b"log" => cwd.parent()?.file_name()?,
        _ => last,
    };
    Some(name.as_bytes().to_vec())
}

/// Why an output of the script could not be opened (exit class 111).
#[derive(Debug)]
pub enum SinkError {
    /// `p`: the working directory, for the service's name, could not be found.
    ServiceName(std::io::Error),
    /// `p`: the working directory (this one) names no service.
    NoServiceName(PathBuf),
    /// `=FILE`: the status file (this one).
    Status(PathBuf, std::io::Error),
    Dir(OpenError),
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        use crate::diag::ioerrstr;
        match self {
            SinkError::ServiceName(e) => {
                write!(f, "unable to find the service name: {}", ioerrstr(e))
            }
            SinkError::NoServiceName(cwd) => write!(
                f,
                "unable to find the service name: no name in {}",
                cwd.display()
            ),
            SinkError::Status(p, e) => write!(f, "unable to open {}: {}", p.display(), ioerrstr(e)),
            SinkError::Dir(e) => e.fmt(f),
        }
    }
}

impl crate::cli::Failure for SinkError {}

fn open_sink(sink: &Sink) -> Result<Out, SinkError> {
    Ok(match sink {
        Sink::Stderr(limit) => Out::Stderr(LineOut::new(Vec::new(), *limit)),
        Sink::Stdout(prefix) => Out::Stdout(LineOut::new(stdout_prefix(prefix)?, 0)),
        Sink::Status(p) => {
            use std::os::unix::fs::OpenOptionsExt;
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(p)
                .map_err(|e| SinkError::Status(p.clone(), e))?;
            Out::Status(p.clone(), f)
        }
        Sink::Dir(p, settings) => Out::Dir(Box::new(
            LogDir::open(p, settings.clone()).map_err(SinkError::Dir)?,
        )),
    })
}

/// What a `1` puts before each line: `NAME: `, or nothing.
fn stdout_prefix(prefix: &Prefix) -> Result<Vec<u8>, SinkError> {
    let name = match prefix {
        Prefix::None => return Ok(Vec::new()),
        Prefix::Given(n) => n.clone(),
        Prefix::ServiceDir => {
            let cwd = std::env::current_dir().map_err(SinkError::ServiceName)?;
            service_name(&cwd).ok_or(SinkError::NoServiceName(cwd))?
        }
    };
    Ok([&name[..], b": "].concat())
}

/// What is known of the line being read.
enum Line {
    /// Between lines.
    Start,
    /// Its first bytes (label included), before there are enough to select on.
    Head(Vec<u8>),
    /// Selected: the rest streams to the chosen sinks; `len` bytes came so far.
    Body { len: usize },
}

/// The running logger.
pub struct Multilog {
    stamp: Option<Stamp>,
    directives: Vec<Directive>,
    outs: Vec<Out>,
    has_patterns: bool,
    line: Line,
    /// Per sink: whether the current line goes there.
    chosen: Vec<bool>,
    stderr_buf: Vec<u8>,
    stdout: Stdout,
    /// Per status sink: the last selected line's first bytes, to write at the flush.
    status_pending: Vec<Option<Vec<u8>>>,
    /// The current line's first bytes for `=`, kept only where there is a status file
    /// (a copy of every line otherwise: a quarter of multilog's time with musl).
    head_copy: Vec<u8>,
    keeps_head: bool,
}

impl Multilog {
    /// Opens every directory and status file of the script.
    pub fn open(script: Script) -> Result<Multilog, SinkError> {
        let outs = script
            .sinks
            .iter()
            .map(open_sink)
            .collect::<Result<Vec<Out>, SinkError>>()?;
        let n = outs.len();
        let keeps_head = outs.iter().any(|o| matches!(o, Out::Status(..)));
        Ok(Multilog {
            stamp: script.stamp,
            has_patterns: script
                .directives
                .iter()
                .any(|a| !matches!(a, Directive::Output(_))),
            directives: script.directives,
            outs,
            line: Line::Start,
            chosen: vec![true; n],
            stderr_buf: Vec::new(),
            stdout: Stdout::default(),
            status_pending: vec![None; n],
            head_copy: Vec::new(),
            keeps_head,
        })
    }

    /// Whether a line is in progress.
    pub fn mid_line(&self) -> bool {
        !matches!(self.line, Line::Start)
    }

    /// How much input (at most `max`, at least 1 byte) may be read now so that no log
    /// directory rotates before all of it is written: a read ends at or before the
    /// first point where a rotation could fall, so the fsync, rename and processor of a
    /// rotation never hold input that a SIGKILL would lose (the rest stays in the pipe).
    /// The bound assumes every byte starts a line (label included). A directory filled
    /// in the middle of a line is rotated here, before the read, rather than on the
    /// next byte: the same files, with nothing read held meanwhile.
    pub fn read_budget(&mut self, max: usize) -> usize {
        let label = match self.stamp {
            None => 0,
            Some(Stamp::Tai64n) => crate::log::timestamp::LABEL_LEN,
            Some(Stamp::Iso) => ISO_LABEL_MAX,
        };
        let per = 1 + label as u64;
        // A line's head held for selection is written together with what comes next.
        let held = match &self.line {
            Line::Head(h) => h.len() as u64,
            _ => 0,
        };
        let mid = self.mid_line();
        let mut budget = max.max(1) as u64;
        for o in &mut self.outs {
            if let Out::Dir(d) = o {
                d.rotate_if_due();
                if mid && d.is_full() {
                    d.rotate();
                }
                // k bytes are safe when the first k-1 cannot reach the rotation zone:
                // only the last byte read may end a line that rotates the file.
                let room = d.room().saturating_sub(held);
                let k = if room == 0 { 1 } else { (room - 1) / per + 1 };
                budget = budget.min(k);
            }
        }
        // Stdout (a pipe) must take it all without blocking: a SIGKILL while a write
        // waits for a slow reader would make the next multilog repeat what was read.
        let (prefixes, lines) = self.forwarded();
        if prefixes > 0
            && let Some(room) = self.stdout.room(lines + held * prefixes)
        {
            let per = per * prefixes + self.prefix_bytes();
            budget = budget.min((room / per).max(1));
        }
        budget as usize
    }

    /// How many of the bytes `next` (not yet taken from the input) may be read now so
    /// that no log directory rotates before the last of them: exact where
    /// `read_budget` must assume the worst. Every directory is assumed to take every
    /// line; at least one byte.
    pub fn fits(&self, next: &[u8]) -> usize {
        let label = match self.stamp {
            None => 0,
            Some(Stamp::Tai64n) => crate::log::timestamp::LABEL_LEN as u64,
            Some(Stamp::Iso) => ISO_LABEL_MAX as u64,
        };
        let held = match &self.line {
            Line::Head(h) => h.len() as u64,
            _ => 0,
        };
        let mut k = next.len();
        for o in &self.outs {
            if let Out::Dir(d) = o {
                k = self.fits_dir(d, &next[..k], label, held);
            }
        }
        self.fits_stdout(&next[..k], label, held).max(1)
    }

    /// How many of `next` directory `d` takes before it is full or a line's end
    /// rotates it (the read then ends with that line).
    fn fits_dir(&self, d: &LogDir, next: &[u8], label: u64, held: u64) -> usize {
        let (max, limit) = d.limits();
        let mut k = next.len();
        let mut s = d.size() + held;
        let mut at_start = !self.mid_line();
        let mut i = 0;
        while i < k {
            let nl = memchr::memchr(b'\n', &next[i..k]).map(|j| i + j + 1);
            let end = nl.unwrap_or(k);
            let lab = if at_start { label } else { 0 };
            let out = lab + (end - i) as u64;
            if s + out > max {
                // The file fills inside this piece: read up to where it is full.
                let fit = max.saturating_sub(s).saturating_sub(lab) as usize;
                k = k.min((i + fit).max(1));
                break;
            }
            s += out;
            if nl.is_some() {
                if s >= limit {
                    // This newline rotates the file: the read ends with it.
                    k = k.min(end);
                    break;
                }
                at_start = true;
            } else {
                at_start = false;
            }
            i = end;
        }
        k
    }

    /// As much of `next` as stdout's pipe has room for, in whole lines, but at least
    /// one line: a line longer than the room is written anyway (the write then waits).
    fn fits_stdout(&self, next: &[u8], label: u64, held: u64) -> usize {
        let mut k = next.len();
        let (prefixes, lines) = self.forwarded();
        if prefixes > 0
            && let Some(room) = self.stdout.room(lines + held * prefixes)
        {
            let pre = self.prefix_bytes();
            let mut used = 0;
            let mut at_start = !self.mid_line();
            let mut i = 0;
            while i < k {
                // A line without its newline yet is held, not written.
                let Some(end) = memchr::memchr(b'\n', &next[i..k]).map(|j| i + j + 1) else {
                    break;
                };
                let lab = if at_start { label * prefixes + pre } else { 0 };
                used += lab + (end - i) as u64 * prefixes;
                if used > room {
                    k = k.min(if i == 0 { end } else { i });
                    break;
                }
                at_start = true;
                i = end;
            }
        }
        k
    }

    /// Processes bytes read at one moment: every line that starts in them gets the
    /// same label. Everything is written out and rotations done before it returns.
    pub fn feed(&mut self, chunk: &[u8]) {
        self.feed_logs(chunk);
        self.settle();
    }

    /// Like `feed`, but stops once the log directories and status files have the
    /// bytes: stderr and a rotation that the last line made due wait for `settle`, so
    /// that a caller can take the bytes off its input in between, when nothing can
    /// block (the rotation's fsync and processor, or a full stderr pipe, would).
    pub fn feed_logs(&mut self, chunk: &[u8]) {
        let label = self.label();
        let mut rest = chunk;
        while !rest.is_empty() {
            let (piece, ends) = match memchr::memchr(b'\n', rest) {
                Some(i) => (&rest[..=i], true),
                None => (rest, false),
            };
            rest = &rest[piece.len()..];
            self.piece(&label, piece, ends);
        }
        self.flush_logs();
    }

    /// Writes stderr and does the rotations `feed_logs` left due.
    pub fn settle(&mut self) {
        self.flush_stderr();
        for o in &mut self.outs {
            if let Out::Dir(d) = o {
                d.rotate_if_due();
            }
        }
    }

    /// At end of input: a last line without its newline gets one.
    pub fn finish(&mut self) {
        if self.mid_line() {
            let label = self.label();
            self.piece(&label, b"\n", true);
        }
        self.flush();
        for o in &mut self.outs {
            if let Out::Dir(d) = o {
                d.finish();
            }
        }
    }

    /// `SIGALRM`: every directory starts a new file.
    pub fn rotate_all(&mut self) {
        for o in &mut self.outs {
            if let Out::Dir(d) = o {
                d.rotate();
            }
        }
    }

    /// Rotates directories whose `current` is older than their `r` setting; returns
    /// the next such deadline.
    pub fn rotate_old(&mut self) -> Option<std::time::Instant> {
        let now = std::time::Instant::now();
        let mut next: Option<std::time::Instant> = None;
        for o in &mut self.outs {
            if let Out::Dir(d) = o {
                if d.too_old(now) {
                    d.rotate();
                }
                if let Some(t) = d.deadline() {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
        }
        next
    }

    /// Whether the script writes to stdout (`1`).
    pub fn forwards(&self) -> bool {
        self.forwarded().0 > 0
    }

    /// How many `1` actions there are, and the bytes of lines they hold.
    fn forwarded(&self) -> (u64, u64) {
        self.outs.iter().fold((0, 0), |(n, b), o| match o {
            Out::Stdout(l) => (n + 1, b + l.held.len() as u64),
            _ => (n, b),
        })
    }

    /// The prefixes of every `1`, together.
    fn prefix_bytes(&self) -> u64 {
        self.outs
            .iter()
            .map(|o| match o {
                Out::Stdout(l) => l.prefix.len() as u64,
                _ => 0,
            })
            .sum()
    }

    fn label(&self) -> Vec<u8> {
        match self.stamp {
            None => Vec::new(),
            Some(Stamp::Tai64n) => crate::log::timestamp::label(Tai64N::now()).to_vec(),
            Some(Stamp::Iso) => iso_label(Tai64N::now()),
        }
    }

    fn piece(&mut self, label: &[u8], piece: &[u8], ends: bool) {
        match std::mem::replace(&mut self.line, Line::Start) {
            Line::Start => {
                let content = piece.strip_suffix(b"\n").unwrap_or(piece);
                if ends || !self.has_patterns || label.len() + content.len() >= MATCH_LEN {
                    // Enough to decide: the whole line, or its first MATCH_LEN bytes.
                    self.decide(label, content);
                    self.emit(label, 0, false);
                    self.emit(piece, label.len(), ends);
                    if !ends {
                        self.line = Line::Body {
                            len: label.len() + piece.len(),
                        };
                    }
                } else {
                    let mut head = label.to_vec();
                    head.extend_from_slice(piece);
                    self.line = Line::Head(head);
                }
            }
            Line::Head(mut head) => {
                let content = piece.strip_suffix(b"\n").unwrap_or(piece);
                if ends || head.len() + content.len() >= MATCH_LEN {
                    let take = MATCH_LEN.saturating_sub(head.len()).min(content.len());
                    let mut probe = head.clone();
                    probe.extend_from_slice(&content[..take]);
                    self.decide(&[], &probe);
                    let hl = head.len();
                    self.emit(&head, 0, false);
                    self.emit(piece, hl, ends);
                    if !ends {
                        self.line = Line::Body {
                            len: hl + piece.len(),
                        };
                    }
                } else {
                    head.extend_from_slice(piece);
                    self.line = Line::Head(head);
                }
            }
            Line::Body { len } => {
                self.emit(piece, len, ends);
                if !ends {
                    self.line = Line::Body {
                        len: len + piece.len(),
                    };
                }
            }
        }
    }

    /// Runs the selection actions over the line's first bytes.
    fn decide(&mut self, label: &[u8], content: &[u8]) {
        if !self.has_patterns {
            return;
        }
        let probe: std::borrow::Cow<[u8]> = if label.is_empty() {
            content.into()
        } else {
            let mut v = label.to_vec();
            v.extend_from_slice(content);
            v.into()
        };
        let probe = &probe[..probe.len().min(MATCH_LEN)];
        let mut selected = true;
        for a in &self.directives {
            match a {
                Directive::Select(p) => selected |= matches(p, probe),
                Directive::Deselect(p) => selected &= !matches(p, probe),
                Directive::SelectGlob(p) => selected |= glob_matches(p, probe),
                Directive::DeselectGlob(p) => selected &= !glob_matches(p, probe),
                Directive::Output(i) => self.chosen[*i] = selected,
            }
        }
    }

    /// Hands `bytes` (starting at offset `at` of the line) to the chosen sinks.
    fn emit(&mut self, bytes: &[u8], at: usize, ends: bool) {
        let want_head = self.keeps_head && at < MATCH_LEN;
        if at == 0 {
            self.head_copy.clear();
        }
        if want_head {
            let room = MATCH_LEN - self.head_copy.len().min(MATCH_LEN);
            let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
            self.head_copy
                .extend_from_slice(&body[..body.len().min(room)]);
        }
        for (i, o) in self.outs.iter_mut().enumerate() {
            if !self.chosen[i] {
                continue;
            }
            match o {
                Out::Dir(d) => d.write(bytes, ends),
                Out::Stderr(l) => l.take(bytes, at, ends, &mut self.stderr_buf),
                Out::Stdout(l) => self.stdout.take(l, bytes, at, ends),
                Out::Status(..) => {
                    if ends {
                        self.status_pending[i] = Some(self.head_copy.clone());
                    }
                }
            }
        }
    }

    /// Log directories write their buffers first, then status files and stderr: a
    /// stderr that blocks (a full pipe) must not hold lines that were read.
    fn flush(&mut self) {
        self.flush_logs();
        self.flush_stderr();
    }

    fn flush_stderr(&mut self) {
        if !self.stderr_buf.is_empty() {
            let _ = std::io::stderr().write_all(&self.stderr_buf);
            self.stderr_buf.clear();
        }
    }

    fn flush_logs(&mut self) {
        for o in &mut self.outs {
            if let Out::Dir(d) = o {
                d.flush();
            }
        }
        // Stdout after the directories: a slow reader holds nothing they have not got.
        self.stdout.flush();
        for (i, o) in self.outs.iter_mut().enumerate() {
            if let Out::Status(p, f) = o
                && let Some(line) = self.status_pending[i].take()
            {
                // daemontools' layout: the line, newlines up to 1000 bytes, one more.
                let mut rec = line;
                rec.resize(MATCH_LEN, b'\n');
                rec.push(b'\n');
                crate::log::logdir::retry(
                    || format!("unable to write {}", p.display()),
                    || f.write_all_at(&rec, 0),
                );
            }
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS.NNNNNNNNNZ ` in UTC.
pub fn iso_label(t: Tai64N) -> Vec<u8> {
    let days = (t.unix_secs() / 86400) as i64;
    let rem = t.unix_secs() % 86400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z ",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        t.nanos
    )
    .into_bytes()
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::script::parse;
    use std::ffi::OsString;

    fn words(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn reads_end_where_a_rotation_would_fall() {
        let dir = std::env::temp_dir().join(format!("svkit-fits-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        let line = [&[b'x'; 99][..], b"\n"].concat();
        let input = line.repeat(30);
        for (script, want, label) in [("s4096", 2100, 0), ("t s4096", 1700, 26)] {
            let mut w = words(script);
            w.push(dir.join(script.replace(' ', "")).into_os_string());
            let mut log = Multilog::open(parse(&w).unwrap()).unwrap();
            // Lines of 100 bytes (126 with `t`): the one that ends at or past 2096
            // bytes (the size limit less 2000) rotates the file, and the read ends there.
            assert_eq!(log.fits(&input), want, "{script}");
            let budget = log.read_budget(1 << 20);
            assert!(budget <= want && budget > 0, "{script}: {budget}");
            // Mid-line, 4096 bytes in one line: the read stops where the file is full.
            log.feed(&[b'y'; 10]);
            assert_eq!(log.fits(&[b'y'; 5000]), 4096 - 10 - label);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn service_names() {
        use std::path::Path;
        let name = |p: &str| service_name(Path::new(p));
        assert_eq!(name("/service/app/log"), Some(b"app".to_vec()));
        assert_eq!(name("/run/x/web"), Some(b"web".to_vec()));
        assert_eq!(name("/log"), None);
        assert_eq!(name("/"), None);
    }

    #[test]
    fn lines_out_whole_or_cut() {
        let mut l = LineOut::new(b"app: ".to_vec(), 0);
        let mut out = Vec::new();
        l.take(b"ab", 0, false, &mut out);
        l.take(b"cd\n", 2, true, &mut out);
        assert_eq!(out, b"app: abcd\n");
        let mut e = LineOut::new(Vec::new(), 3);
        out.clear();
        e.take(b"abcd\n", 0, true, &mut out);
        e.take(b"abc\n", 0, true, &mut out);
        assert_eq!(out, b"abc...\nabc\n");
        // A line longer than HELD_MAX goes out in pieces.
        out.clear();
        l.take(&vec![b'x'; HELD_MAX], 0, false, &mut out);
        assert_eq!(out.len(), HELD_MAX + 5);
        l.take(b"y\n", HELD_MAX, true, &mut out);
        assert_eq!(&out[HELD_MAX + 5..], b"y\n");
    }

    #[test]
    fn iso_dates() {
        let l = iso_label(Tai64N::from_unix(1_795_307_433, 5));
        assert_eq!(l, b"2026-11-22T00:30:33.000000005Z ".to_vec());
        assert_eq!(
            iso_label(Tai64N::from_unix(951_782_400, 0))[..10],
            *b"2000-02-29"
        );
        assert_eq!(iso_label(Tai64N::from_unix(0, 0))[..10], *b"1970-01-01");
    }
}
