//! A filter's input when it is a regular file: read through a sliding memory map, so
//! that the bytes are not first copied into a buffer (the copy that read(2) makes is
//! the largest single cost of multilog on a file), with the file offset kept as a
//! reader's would be.

use nix::sys::mman::{MapFlags, MmapAdvise, ProtFlags, madvise, mmap, munmap};
use std::num::NonZeroUsize;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

/// How much of the file is mapped at once: bounds what the mapping adds to RSS.
/// Measured on 99 MB (bench-multilog): 8 MB windows 157 ms and 9.6 MB peak RSS,
/// 1 MB 139 ms and 2.4 MB, 256 kB 158 ms and 1.7 MB.
const WINDOW: usize = 1 << 20;

/// A regular file read from its current offset through windows of a mapping.
pub struct MappedInput<'fd> {
    fd: BorrowedFd<'fd>,
    /// The file offset of the next unconsumed byte.
    pos: u64,
    window: Option<Window>,
}

struct Window {
    addr: NonNull<libc::c_void>,
    len: usize,
    /// The file offset of the mapping's first byte (page aligned).
    start: u64,
}

impl<'fd> MappedInput<'fd> {
    /// The input as a mapped file, if it is a regular file that can be mapped.
    pub fn new(fd: BorrowedFd<'fd>) -> Option<MappedInput<'fd>> {
        let st = nix::sys::stat::fstat(fd).ok()?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return None;
        }
        let pos = nix::unistd::lseek(fd, 0, nix::unistd::Whence::SeekCur).ok()?;
        Some(MappedInput {
            fd,
            pos: pos as u64,
            window: None,
        })
    }

    /// Up to `max` bytes from the current position on, or None at the end of what
    /// the file holds now (or if it cannot be mapped: the caller then reads).
    pub fn peek(&mut self, max: usize) -> Option<&[u8]> {
        let covered = self
            .window
            .as_ref()
            .is_some_and(|w| self.pos < w.start + w.len as u64);
        if !covered {
            self.unmap();
            self.map()?;
        }
        let w = self.window.as_ref()?;
        let from = (self.pos - w.start) as usize;
        let n = (w.len - from).min(max);
        // SAFETY: [addr, addr+len) is a live read-only mapping of ours; `from + n`
        // is within it. The file shrinking under the mapping would raise SIGBUS, as
        // for any program that maps its input.
        Some(unsafe { std::slice::from_raw_parts(w.addr.as_ptr().cast::<u8>().add(from), n) })
    }

    /// Marks `n` bytes from the last `peek` as consumed. The file offset follows when
    /// a window is done and when this is dropped, so that whoever reads the file after
    /// us starts where we stopped.
    pub fn consume(&mut self, n: usize) {
        self.pos += n as u64;
    }

    fn map(&mut self) -> Option<()> {
        let size = nix::sys::stat::fstat(self.fd).ok()?.st_size as u64;
        if self.pos >= size {
            return None;
        }
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .unwrap_or(4096) as u64;
        let start = self.pos - self.pos % page;
        let len = (size - start).min(WINDOW as u64) as usize;
        // SAFETY: a fresh private read-only mapping of our input at an offset and
        // length inside the file; nothing else refers to its address.
        let addr = unsafe {
            mmap(
                None,
                NonZeroUsize::new(len)?,
                ProtFlags::PROT_READ,
                MapFlags::MAP_PRIVATE | MapFlags::MAP_POPULATE,
                self.fd,
                start as i64,
            )
        }
        .ok()?;
        // SAFETY: advice on our own mapping only.
        let _ = unsafe { madvise(addr, len, MmapAdvise::MADV_SEQUENTIAL) };
        self.window = Some(Window { addr, len, start });
        Some(())
    }

    fn unmap(&mut self) {
        let _ = nix::unistd::lseek(self.fd, self.pos as i64, nix::unistd::Whence::SeekSet);
        if let Some(w) = self.window.take() {
            // SAFETY: the mapping is ours and no slice of it outlives `peek`'s borrow.
            let _ = unsafe { munmap(w.addr, w.len) };
        }
    }
}

impl Drop for MappedInput<'_> {
    fn drop(&mut self) {
        self.unmap();
    }
}

/// Looks at what a pipe holds without taking it: tee(2) copies it into a pipe of our
/// own, which is read empty again. Lets a reader decide how much to take before taking
/// it (multilog: no further than the next rotation).
pub struct PipePeek {
    r: OwnedFd,
    w: OwnedFd,
    /// Where `consume` puts what it takes: spliced there, not copied.
    null: Option<std::fs::File>,
}

/// What tee(2) copies at most: our pipe's capacity, when it can be made that large
/// (else the default 64 KiB).
pub const PEEK_MAX: usize = 256 * 1024;

/// The capacity `grow` asks for: the default limit for unprivileged processes
/// (/proc/sys/fs/pipe-max-size).
pub const PIPE_WANT: usize = 1 << 20;

/// Makes a pipe hold at least `size` bytes if it holds less and the kernel allows;
/// quietly does nothing otherwise (not a pipe, over the limit).
pub fn grow(fd: BorrowedFd, size: usize) {
    use nix::fcntl::{FcntlArg, fcntl};
    if fcntl(fd, FcntlArg::F_GETPIPE_SZ).is_ok_and(|n| (n as usize) < size) {
        let _ = fcntl(fd, FcntlArg::F_SETPIPE_SZ(size as libc::c_int));
    }
}

impl PipePeek {
    pub fn new() -> Option<PipePeek> {
        use nix::fcntl::OFlag;
        let (r, w) = nix::unistd::pipe2(OFlag::O_CLOEXEC | OFlag::O_NONBLOCK).ok()?;
        grow(w.as_fd(), PEEK_MAX);
        let null = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .ok();
        Some(PipePeek { r, w, null })
    }

    /// Takes `n` bytes off `src` (a pipe that holds them: a `peek` saw them) without
    /// copying them: splice(2) to /dev/null, or read(2) where that fails.
    pub fn consume(&mut self, src: BorrowedFd, mut n: usize) -> Result<(), nix::errno::Errno> {
        use nix::errno::Errno;
        use std::os::fd::AsRawFd;
        while n > 0 {
            let done = match &self.null {
                // SAFETY: splice(2) between two descriptors we hold, no offsets.
                Some(null) => Errno::result(unsafe {
                    libc::splice(
                        src.as_raw_fd(),
                        std::ptr::null_mut(),
                        null.as_raw_fd(),
                        std::ptr::null_mut(),
                        n,
                        0,
                    )
                }),
                None => Err(Errno::EINVAL),
            };
            match done {
                Ok(0) => return Err(Errno::EPIPE),
                Ok(k) => n -= k as usize,
                Err(Errno::EINTR) => {}
                Err(Errno::EINVAL) if self.null.is_some() => self.null = None,
                Err(Errno::EINVAL) => {
                    let mut scratch = [0u8; 4096];
                    match nix::unistd::read(src, &mut scratch[..n.min(4096)]) {
                        Ok(0) => return Err(Errno::EPIPE),
                        Ok(k) => n -= k,
                        Err(Errno::EINTR) => {}
                        Err(e) => return Err(e),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Copies the first bytes `src` holds (up to `buf.len()` and `PEEK_MAX`) into
    /// `buf`, leaving them in `src`; None if `src` is no pipe, holds nothing now, or
    /// is at its end: the caller then just reads.
    pub fn peek(&mut self, src: BorrowedFd, buf: &mut [u8]) -> Option<usize> {
        use std::os::fd::AsRawFd;
        let len = buf.len().min(PEEK_MAX);
        // SAFETY: tee(2) between two descriptors we hold; no memory is passed.
        let n = unsafe {
            libc::tee(
                src.as_raw_fd(),
                self.w.as_raw_fd(),
                len,
                libc::SPLICE_F_NONBLOCK,
            )
        };
        if n <= 0 {
            return None;
        }
        let n = n as usize;
        let mut got = 0;
        while got < n {
            match nix::unistd::read(&self.r, &mut buf[got..n]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(nix::errno::Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        if got < n {
            // Cannot happen with a pipe only we use; start clean rather than trust it.
            *self = PipePeek::new()?;
            return None;
        }
        Some(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek, SeekFrom, Write};
    use std::os::fd::AsFd;

    #[test]
    fn reads_from_the_offset_and_moves_it() {
        let path = std::env::temp_dir().join(format!("svkit-input-{}", std::process::id()));
        let mut f = std::fs::File::create(&path).unwrap();
        let data: Vec<u8> = (0..(3 * WINDOW / 2 + 17))
            .map(|i| (i % 251) as u8)
            .collect();
        f.write_all(&data).unwrap();
        drop(f);
        let mut f = std::fs::File::open(&path).unwrap();
        f.seek(SeekFrom::Start(5)).unwrap();
        let mut got = Vec::new();
        {
            let mut m = MappedInput::new(f.as_fd()).unwrap();
            while let Some(chunk) = m.peek(100_000) {
                let n = chunk.len().min(77_777);
                got.extend_from_slice(&chunk[..n]);
                m.consume(n);
                if got.len() > WINDOW + 3 {
                    break;
                }
            }
        }
        let mut rest = Vec::new();
        f.read_to_end(&mut rest).unwrap();
        got.extend_from_slice(&rest);
        assert!(got == data[5..]);
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn peek_leaves_the_bytes_in_the_pipe() {
        let (r, w) = nix::unistd::pipe().unwrap();
        nix::unistd::write(&w, b"hello\nworld\n").unwrap();
        let mut p = PipePeek::new().unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(p.peek(r.as_fd(), &mut buf), Some(8));
        assert_eq!(&buf, b"hello\nwo");
        p.consume(r.as_fd(), 6).unwrap();
        let mut all = [0u8; 64];
        assert_eq!(nix::unistd::read(&r, &mut all).unwrap(), 6);
        assert_eq!(&all[..6], b"world\n");
        assert_eq!(p.peek(r.as_fd(), &mut buf), None, "empty");
        let f = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(p.peek(f.as_fd(), &mut buf), None, "no pipe");
    }

    #[test]
    fn not_for_pipes() {
        let (r, _w) = nix::unistd::pipe().unwrap();
        assert!(MappedInput::new(r.as_fd()).is_none());
    }
}
