//! Files and directories relative to a directory descriptor, as root must handle them
//! where another account may write: nothing is followed through a symbolic link, a FIFO
//! cannot block an open, what was opened is checked, new files are created with
//! `O_EXCL` under names nobody can guess and renamed into place.

use nix::errno::Errno;
use nix::fcntl::{OFlag, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fchmod, fstat, mkdirat};
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::{OsStr, OsString};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// The account clinit runs as: what it made is owned by it.
pub fn me() -> u32 {
    nix::unistd::geteuid().as_raw()
}

fn kind(st: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits())
}

/// Why a file or directory is not one this account may trust as its own. Its
/// Display completes "it is ...".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Distrust {
    /// Not of the kind wanted; what it is ("a symbolic link").
    Kind(&'static str),
    /// Owned by another account: its uid.
    Owner(u32),
    /// Writable by group or others: its permission bits.
    Writable(u32),
    /// A file with this many links (a hard link from elsewhere, perhaps).
    Links(libc::nlink_t),
}

impl std::fmt::Display for Distrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Distrust::Kind(what) => f.write_str(what),
            Distrust::Owner(uid) => write!(f, "owned by uid {uid}"),
            Distrust::Writable(mode) => write!(f, "mode {mode:o}: writable by others"),
            Distrust::Links(n) => write!(f, "{n} links"),
        }
    }
}

/// Why a file or directory is not one this account may trust as its own: not of the
/// kind wanted, owned by another account, or writable by one (group or others).
pub fn untrusted(st: &FileStat, want: SFlag) -> Option<Distrust> {
    if kind(st) != want {
        return Some(Distrust::Kind(match kind(st) {
            SFlag::S_IFDIR => "a directory",
            SFlag::S_IFREG => "a regular file",
            SFlag::S_IFLNK => "a symbolic link",
            SFlag::S_IFIFO => "a FIFO",
            _ => "a special file",
        }));
    }
    if st.st_uid != me() {
        return Some(Distrust::Owner(st.st_uid));
    }
    if st.st_mode & 0o022 != 0 {
        return Some(Distrust::Writable(st.st_mode & 0o7777));
    }
    None
}

/// A random hex word for names nobody can guess beforehand (std seeds RandomState
/// from the OS's random source).
pub fn random() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    format!("{:016x}", h.finish())
}

/// A directory by path (the operator's: the scan directory, clstat's).
pub fn open_dir(path: &std::path::Path) -> Result<OwnedFd, Errno> {
    nix::fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC | OFlag::O_NONBLOCK,
        Mode::empty(),
    )
}

/// A directory inside `dir`, not through a symbolic link, with its stat.
pub fn open_subdir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(OwnedFd, FileStat), Errno> {
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY
            | OFlag::O_DIRECTORY
            | OFlag::O_NOFOLLOW
            | OFlag::O_CLOEXEC
            | OFlag::O_NONBLOCK,
        Mode::empty(),
    )?;
    let st = fstat(&fd)?;
    Ok((fd, st))
}

/// The names in a directory, `.` and `..` left out. (Through libc: nix's `dir`
/// feature is not built.)
pub fn names(dir: BorrowedFd<'_>) -> Result<Vec<OsString>, Errno> {
    use std::os::fd::IntoRawFd;
    let (fd, _) = open_subdir(dir, OsStr::new("."))?;
    let raw = fd.into_raw_fd();
    // SAFETY: `raw` is an open directory descriptor of ours; fdopendir takes it over.
    let d = unsafe { libc::fdopendir(raw) };
    if d.is_null() {
        let e = Errno::last();
        // SAFETY: fdopendir failed, so `raw` is still ours to close.
        unsafe { libc::close(raw) };
        return Err(e);
    }
    let mut out = Vec::new();
    let r = loop {
        Errno::clear();
        // SAFETY: `d` is a valid DIR* until the closedir below.
        let e = unsafe { libc::readdir(d) };
        if e.is_null() {
            break match Errno::last_raw() {
                0 => Ok(out),
                n => Err(Errno::from_raw(n)),
            };
        }
        // SAFETY: readdir returned an entry whose d_name is a NUL-terminated string,
        // valid until the next readdir on `d`; it is copied before that.
        let name = unsafe { std::ffi::CStr::from_ptr((*e).d_name.as_ptr()) }.to_bytes();
        if name != b"." && name != b".." {
            out.push(OsStr::from_bytes(name).to_os_string());
        }
    };
    // SAFETY: `d` came from fdopendir and is closed once, with its descriptor.
    unsafe { libc::closedir(d) };
    r
}

/// What reading a small file found.
pub enum Found {
    Missing,
    /// There, but not a regular file of this account's that only it may write.
    Untrusted(Distrust),
    File(Vec<u8>),
}

/// Reads a file of this account's in `dir`; `single` also refuses one with more
/// than one link (a hard link from elsewhere is not a file clinit made here).
pub fn read_own(dir: BorrowedFd<'_>, name: &OsStr, single: bool) -> Result<Found, Errno> {
    let fd = match openat(
        dir,
        name,
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(Found::Missing),
        Err(Errno::ELOOP) => return Ok(Found::Untrusted(Distrust::Kind("a symbolic link"))),
        Err(Errno::ENXIO) => return Ok(Found::Untrusted(Distrust::Kind("a special file"))),
        Err(e) => return Err(e),
    };
    let st = fstat(&fd)?;
    if let Some(why) = untrusted(&st, SFlag::S_IFREG) {
        return Ok(Found::Untrusted(why));
    }
    if single && st.st_nlink != 1 {
        return Ok(Found::Untrusted(Distrust::Links(st.st_nlink)));
    }
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut std::fs::File::from(fd), &mut data)
        .map_err(|e| crate::diag::io_errno(&e))?;
    Ok(Found::File(data))
}

/// Creates `name` in `dir`, which must not exist, with `data` and `mode`.
pub fn create(dir: BorrowedFd<'_>, name: &OsStr, data: &[u8], mode: u32) -> std::io::Result<()> {
    // The umask has no say: the mode is set on the descriptor.
    let how = crate::status::NewFile {
        mode,
        set_mode: true,
        durable: false,
    };
    Ok(crate::status::write_new(dir, name, data, how)?)
}

/// Replaces `name` in `dir` whole: a new file under a random name, renamed over it
/// (whatever was there, a symbolic link included, is replaced, not followed).
pub fn replace(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    data: &[u8],
    mode: u32,
    durable: bool,
) -> std::io::Result<()> {
    let how = crate::status::NewFile {
        mode,
        set_mode: true,
        durable,
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        let mut tmp = OsString::from(".");
        tmp.push(name);
        tmp.push(format!(".{}.tmp", random()));
        match crate::status::write_new(dir, &tmp, data, how) {
            Ok(()) => {}
            Err(Errno::EEXIST) if attempt < 10 => continue,
            Err(e) => return Err(e.into()),
        }
        return Ok(crate::status::rename_into(dir, &tmp, name)?);
    }
}

/// Makes a new directory of this account's, mode 755 whatever the umask.
pub fn mkdir(dir: BorrowedFd<'_>, name: &str) -> Result<OwnedFd, Errno> {
    mkdirat(dir, name, Mode::from_bits_truncate(0o700))?;
    let (fd, st) = open_subdir(dir, OsStr::new(name))?;
    if untrusted(&st, SFlag::S_IFDIR).is_some() {
        return Err(Errno::EEXIST);
    }
    fchmod(&fd, Mode::from_bits_truncate(0o755))?;
    Ok(fd)
}

pub fn unlink(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    unlinkat(dir, name, UnlinkatFlags::NoRemoveDir)
}

pub fn rmdir(dir: BorrowedFd<'_>, name: &OsStr) -> Result<(), Errno> {
    unlinkat(dir, name, UnlinkatFlags::RemoveDir)
}

/// Opens (creating it, mode 600) and locks `name` in `dir` exclusively, waiting for
/// another clinit to let go. A symbolic link, or a file another account made or may
/// open, is refused: its owner could hold clinit up for ever.
pub fn lock(dir: BorrowedFd<'_>, name: &OsStr) -> Result<OwnedFd, LockError> {
    let fd = openat(
        dir,
        name,
        OFlag::O_RDONLY
            | OFlag::O_CREAT
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_CLOEXEC
            | OFlag::O_NOCTTY,
        Mode::from_bits_truncate(0o600),
    )
    .map_err(|e| match e {
        Errno::ELOOP => LockError::SymbolicLink,
        e => LockError::Errno(e),
    })?;
    let st = fstat(&fd).map_err(LockError::Errno)?;
    // Writable by others is no refusal: the mode is put right below.
    if let Some(why @ (Distrust::Kind(_) | Distrust::Owner(_))) = untrusted(&st, SFlag::S_IFREG) {
        return Err(LockError::NotClinits(why));
    }
    if st.st_mode & 0o077 != 0 {
        fchmod(&fd, Mode::from_bits_truncate(0o600)).map_err(LockError::Errno)?;
    }
    loop {
        // SAFETY: flock(2) on a descriptor we own; no memory is passed.
        let r = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&fd), libc::LOCK_EX) };
        match r {
            0 => return Ok(fd),
            _ if Errno::last() == Errno::EINTR => {}
            _ => return Err(LockError::Errno(Errno::last())),
        }
    }
}

/// Why the lock file could not be held. Its Display follows "unable to lock PATH: ".
#[derive(Debug, PartialEq, Eq)]
pub enum LockError {
    /// A symbolic link is where the lock file goes.
    SymbolicLink,
    /// Not a regular file of clinit's account: its owner could hold clinit up for ever.
    NotClinits(Distrust),
    Errno(Errno),
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::SymbolicLink => f.write_str("a symbolic link: not clinit's, remove it"),
            LockError::NotClinits(why) => write!(f, "{why}: not clinit's, remove it"),
            LockError::Errno(e) => f.write_str(crate::diag::errstr(*e)),
        }
    }
}
