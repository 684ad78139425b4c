//! The vocabulary the library and the command line share: exit codes, the
//! `PROG: warning: ...` message grammar, and daemontools' wording for system errors.
//! Nothing here ends the process: that is `cli`'s, which prints `PROG: fatal: ...`.

use nix::errno::Errno;

/// Everything went as asked.
pub const EXIT_OK: i32 = 0;
/// A tool whose question has the answer "no" (svcstart: it does not run).
pub const EXIT_NO: i32 = 1;
/// Usage error or permanent failure.
pub const EXIT_USAGE: i32 = 100;
/// Temporary failure: cannot reach supervise, I/O error, out of resources.
pub const EXIT_TEMP: i32 = 111;

/// Describes an errno the way daemontools' `error_str` does, so that messages which
/// monitoring greps for stay byte for byte the same.
pub fn errstr(e: Errno) -> &'static str {
    use Errno::*;
    match e {
        EINTR => "interrupted system call",
        ENOMEM => "out of memory",
        ENOENT => "file does not exist",
        ETXTBSY => "text busy",
        EIO => "input/output error",
        EEXIST => "file already exists",
        ETIMEDOUT => "timed out",
        EINPROGRESS => "operation in progress",
        EAGAIN => "temporary failure",
        EPIPE => "broken pipe",
        EPERM => "permission denied",
        EACCES => "access denied",
        ENXIO => "device not configured",
        EPROTO => "protocol error",
        EISDIR => "is a directory",
        ECONNREFUSED => "connection refused",
        ENOTDIR => "not a directory",
        ESRCH => "no such process",
        E2BIG => "argument list too long",
        ENOEXEC => "exec format error",
        EBADF => "file descriptor not open",
        ECHILD => "no child processes",
        EDEADLK => "operation would cause deadlock",
        EFAULT => "bad address",
        ENOTBLK => "not a block device",
        EBUSY => "device busy",
        EXDEV => "cross-device link",
        ENODEV => "device does not support operation",
        EINVAL => "invalid argument",
        ENFILE => "system cannot open more files",
        EMFILE => "process cannot open more files",
        ENOTTY => "not a tty",
        EFBIG => "file too big",
        ENOSPC => "out of disk space",
        ESPIPE => "unseekable descriptor",
        EROFS => "read-only file system",
        EMLINK => "too many links",
        EDOM => "input out of range",
        ERANGE => "output out of range",
        EALREADY => "operation already in progress",
        ENOTSOCK => "not a socket",
        EADDRINUSE => "address already used",
        ENETUNREACH => "network unreachable",
        ECONNRESET => "connection reset",
        ENOBUFS => "out of buffer space",
        ELOOP => "symbolic link loop",
        ENAMETOOLONG => "file name too long",
        EHOSTUNREACH => "host unreachable",
        ENOTEMPTY => "directory not empty",
        EUSERS => "too many users",
        EDQUOT => "disk quota exceeded",
        ESTALE => "stale NFS file handle",
        ENOLCK => "no locks available",
        ENOSYS => "system call not available",
        _ => "unknown error",
    }
}

/// The errno of an `io::Error`; EIO for one made without an errno (svkit's one
/// conversion).
pub fn io_errno(e: &std::io::Error) -> Errno {
    Errno::from_raw(e.raw_os_error().unwrap_or(libc::EIO))
}

/// Describes an `io::Error` with daemontools' wording where it has an errno.
pub fn ioerrstr(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errstr(Errno::from_raw(n)).to_string(),
        None => e.to_string(),
    }
}

/// Writes `text` to `fd` with one write(2), so that lines of processes sharing the
/// descriptor (many supervises on svscan's stderr) never interleave: a pipe keeps a
/// write of up to PIPE_BUF bytes whole. (`writeln!` on stderr makes a write for each
/// piece of the format.) Only what a short write left over goes in a second one.
pub fn write_whole(fd: std::os::fd::BorrowedFd<'_>, text: &[u8]) -> Result<(), Errno> {
    let mut rest = text;
    while !rest.is_empty() {
        match nix::unistd::write(fd, rest) {
            Ok(0) => return Err(Errno::EIO),
            Ok(n) => rest = &rest[n..],
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `name` as the C string a *at() call takes, on the heap: nix copies an `OsStr` path
/// into a 1 kB buffer on the stack, a page that then stays resident in every
/// supervise. A NUL inside is EINVAL, as nix says it.
pub fn c_name(name: &std::ffi::OsStr) -> Result<std::ffi::CString, Errno> {
    use std::os::unix::ffi::OsStrExt;
    std::ffi::CString::new(name.as_bytes()).map_err(|_| Errno::EINVAL)
}

/// Reads from `fd` until `buf` is full or the end of the file, retrying reads that a
/// signal interrupted; returns how many bytes it holds.
pub fn read_up_to(fd: std::os::fd::BorrowedFd<'_>, buf: &mut [u8]) -> Result<usize, Errno> {
    let mut n = 0;
    while n < buf.len() {
        match nix::unistd::read(fd, &mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// One `PROG: KIND MSG` line on stderr, in one write (`kind` ends in `: ` or is empty).
pub fn line(prog: &str, kind: &str, msg: &str) {
    let text = format!("{prog}: {kind}{msg}\n");
    let _ = write_whole(
        std::os::fd::AsFd::as_fd(&std::io::stderr()),
        text.as_bytes(),
    );
}

/// Writes one `PROG: MSG` line to stderr: news, not a problem.
pub fn info(prog: &str, msg: &str) {
    line(prog, "", msg);
}

/// Writes one `PROG: warning: MSG` line to stderr.
pub fn warn(prog: &str, msg: &str) {
    line(prog, "warning: ", msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_write() {
        // A datagram socket keeps each write(2) apart: one read is one write.
        let (a, b) = std::os::unix::net::UnixDatagram::pair().unwrap();
        let text = format!("prog: warning: {}\n", "x".repeat(3000));
        write_whole(std::os::fd::AsFd::as_fd(&a), text.as_bytes()).unwrap();
        let mut buf = [0u8; 8192];
        let n = nix::unistd::read(&b, &mut buf).unwrap();
        assert_eq!(&buf[..n], text.as_bytes());
    }

    #[test]
    fn daemontools_wording() {
        assert_eq!(errstr(Errno::ENOENT), "file does not exist");
        assert_eq!(errstr(Errno::ENOTDIR), "not a directory");
        assert_eq!(errstr(Errno::ENXIO), "device not configured");
        assert_eq!(errstr(Errno::EWOULDBLOCK), "temporary failure");
        let e = std::io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(ioerrstr(&e), "access denied");
        assert_eq!(io_errno(&e), Errno::EACCES);
        assert_eq!(io_errno(&std::io::Error::other("no errno")), Errno::EIO);
    }
}
