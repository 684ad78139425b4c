//! The SWOC directory tree opened and checked (`Tree`), and `--init`, the one step that creates it.

use super::clients::{Owners, read_clients};
use super::dirfd::{create_excl, euid, fstat_meta, open_subdir};
use super::error::{SwocError, missing, refused, sys};
use super::lockfile::random64;
use super::{BLOCKED, CLIENTS, DIR_MODE, FILE_MODE, LOCKS, SHARED_DIR_MODE, SWOC, SwocDir};
use crate::diag::io_errno;
use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{UnlinkatFlags, unlinkat};
use std::ffi::OsStr;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

/// Whether a missing part of the SWOC tree is made (`--init`) or is an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Create {
    Missing,
    Nothing,
}

/// Opens the directory `name` in `dir`, or, with `Create::Missing`, makes it: mkdirat with no access for others,
/// then open it without following a symlink, check that it is the one this process
/// made, and only then give it `mode` through the descriptor (mkdir's mode goes through
/// the umask, which would drop the group and sticky bits).
fn ensure_subdir(
    dir: BorrowedFd<'_>,
    path: &Path,
    name: &str,
    mode: u32,
    create: Create,
) -> Result<OwnedFd, SwocError> {
    for _ in 0..3 {
        match open_subdir(dir, name) {
            Ok(fd) => return Ok(fd),
            Err(Errno::ENOENT) if create == Create::Missing => {}
            Err(Errno::ENOENT) => return Err(missing(path)),
            Err(e) => return Err(sys("use", path, e)),
        }
        match nix::sys::stat::mkdirat(dir, name, Mode::from_bits_truncate(0o700)) {
            Ok(()) => {}
            Err(Errno::EEXIST) => continue,
            Err(e) => return Err(sys("create", path, e)),
        }
        let fd = open_subdir(dir, name).map_err(|e| sys("open", path, e))?;
        let m = fstat_meta(fd.as_fd()).map_err(|e| sys("stat", path, e))?;
        if m.uid != euid() {
            return Err(refused(
                "create",
                path,
                format!("replaced while being made (now owned by uid {})", m.uid),
            ));
        }
        nix::sys::stat::fchmod(&fd, Mode::from_bits_truncate(mode))
            .map_err(|e| sys("set mode of", path, e))?;
        return Ok(fd);
    }
    Err(sys("create", path, Errno::EEXIST))
}

/// The service directory, opened; made whole with a `down` file if it is missing: the
/// default, /service/swoc, is in svscan's scan directory, whose supervise must find
/// `down` the moment it starts, rather than a directory with no ./run to complain of.
/// The service path is the operator's (-d, $SWOC_DIR) and may hold symlinks; from here
/// on nothing is looked up by path.
fn ensure_service_dir(service: &Path, create: Create) -> Result<OwnedFd, SwocError> {
    let open = |p: &Path| {
        nix::fcntl::open(
            p,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
    };
    match open(service) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create == Create::Missing => {}
        Err(Errno::ENOENT) => return Err(missing(service)),
        Err(e) => return Err(sys("use", service, e)),
    }
    let parent = service
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let Some(name) = service.file_name().and_then(OsStr::to_str) else {
        return Err(sys("create", service, Errno::EINVAL));
    };
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(parent)
        .map_err(|e| sys("create", parent, io_errno(&e)))?;
    let pfd = open(parent).map_err(|e| sys("open", parent, e))?;
    let tmp = format!(
        ".{name}.swoc-new.{}.{:016x}",
        std::process::id(),
        random64()
    );
    let tmp_path = parent.join(&tmp);
    let made = ensure_subdir(pfd.as_fd(), &tmp_path, &tmp, DIR_MODE, create).and_then(|t| {
        let _owner = create_excl(t.as_fd(), "down", FILE_MODE, b"", |_| true)
            .map_err(|e| sys("create", tmp_path.join("down"), e))?;
        // Never over a service directory someone made meanwhile.
        crate::rename::rename_new(pfd.as_fd(), tmp.as_str(), pfd.as_fd(), name).map_err(|e| {
            let _ = unlinkat(t.as_fd(), "down", UnlinkatFlags::NoRemoveDir);
            sys("create", service, e)
        })
    });
    if let Err(e) = made {
        let _ = unlinkat(pfd.as_fd(), tmp.as_str(), UnlinkatFlags::RemoveDir);
        // Another swocclient made it meanwhile: fine.
        return open_subdir(pfd.as_fd(), name).map_err(|_| e);
    }
    open_subdir(pfd.as_fd(), name).map_err(|e| sys("open", service, e))
}

/// `locks/` and `blocked/` hold files of many accounts: the directory must be the
/// server's, and sticky if others may write it, or anyone could remove anyone's files.
fn check_shared(fd: BorrowedFd<'_>, path: &Path, owners: &Owners) -> Result<(), SwocError> {
    let m = fstat_meta(fd).map_err(|e| sys("stat", path, e))?;
    if !owners.is_server(m.uid) {
        return Err(refused(
            "use",
            path,
            format!(
                "owned by uid {}, not by the server's account (uid {}) or root",
                m.uid, owners.server
            ),
        ));
    }
    if m.mode & 0o022 != 0 && m.mode & 0o1000 == 0 {
        return Err(refused(
            "use",
            path,
            "writable by others but not sticky: anyone could remove anyone's files",
        ));
    }
    Ok(())
}

/// The SWOC directory, opened and checked. Every later open, create, link, rename and
/// remove is relative to these descriptors, so nothing renamed meanwhile redirects it.
pub(super) struct Tree {
    pub(super) root: PathBuf,
    pub(super) swoc: OwnedFd,
    pub(super) locks: OwnedFd,
    pub(super) blocked: OwnedFd,
    pub(super) owners: Owners,
}

impl Tree {
    pub(super) fn locks_path(&self) -> PathBuf {
        self.root.join(LOCKS)
    }

    pub(super) fn blocked_path(&self) -> PathBuf {
        self.root.join(BLOCKED)
    }

    /// swocserver's -r, -b and -u act for the server's account only.
    pub(super) fn require_server(
        &self,
        verb: &'static str,
        path: PathBuf,
    ) -> Result<(), SwocError> {
        let me = euid();
        if self.owners.is_server(me) {
            return Ok(());
        }
        Err(refused(
            verb,
            path,
            format!(
                "uid {me} is not the server's account (uid {}, the owner of {}) or root",
                self.owners.server,
                self.root.display()
            ),
        ))
    }
}

impl SwocDir {
    /// Opens the SWOC directory and checks it: `swoc/` writable by its owner only (that
    /// owner is the server's account), `locks/` and `blocked/` the server's and sticky
    /// if shared, `clients` the server's. Touches nothing that exists, so a waiter works
    /// on a read-only mount. A missing part is an error (`Why::Missing`), never made on
    /// the way: a client whose share did not mount would take a lock no server sees,
    /// and a server given a misspelt directory would find no lock and say "all done".
    pub(super) fn tree(&self) -> Result<Tree, SwocError> {
        self.tree_with(Create::Nothing)
    }

    fn tree_with(&self, create: Create) -> Result<Tree, SwocError> {
        let service = ensure_service_dir(&self.service, create)?;
        let swoc = ensure_subdir(service.as_fd(), &self.root, SWOC, DIR_MODE, create)?;
        let m = fstat_meta(swoc.as_fd()).map_err(|e| sys("stat", &self.root, e))?;
        if m.mode & 0o022 != 0 {
            return Err(refused(
                "use",
                &self.root,
                "writable by group or others: only the server's account may write it",
            ));
        }
        let server = m.uid;
        let owners = Owners {
            server,
            map: read_clients(swoc.as_fd(), &self.root.join(CLIENTS), server)?,
        };
        let locks = ensure_subdir(
            swoc.as_fd(),
            &self.locks_dir(),
            LOCKS,
            SHARED_DIR_MODE,
            create,
        )?;
        check_shared(locks.as_fd(), &self.locks_dir(), &owners)?;
        let blocked = ensure_subdir(
            swoc.as_fd(),
            &self.blocked_dir(),
            BLOCKED,
            SHARED_DIR_MODE,
            create,
        )?;
        check_shared(blocked.as_fd(), &self.blocked_dir(), &owners)?;
        Ok(Tree {
            root: self.root.clone(),
            swoc,
            locks,
            blocked,
            owners,
        })
    }

    /// Checks the layout: Ok when it is whole and safe, else why not.
    pub fn check(&self) -> Result<(), SwocError> {
        self.tree().map(|_| ())
    }

    /// The explicit setup step (`swocserver --init`): creates whatever of the layout is
    /// missing (the service directory whole, with a `down` file), and checks what is
    /// there. Nothing else ever creates any of it.
    pub fn init(&self) -> Result<(), SwocError> {
        self.tree_with(Create::Missing).map(|_| ())
    }
}
