//! svscanboot: the tree started as daemontools' svscanboot does, with its errors kept in
//! readproctitle's title and a clean environment.

use super::StartError;
use crate::service_dir::{LOG, ServiceDir};
use crate::sibling::sibling_binary;
use nix::fcntl::OFlag;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::{Command, Stdio};

/// The PATH svscanboot gives the tree: daemontools' (`/command` first), after the
/// directory svkit's binaries are in, so run scripts find svkit's `svc` and `setlock`
/// even where another toolkit is installed.
pub fn boot_path() -> OsString {
    let mut path = OsString::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(std::path::Path::to_path_buf))
    {
        path.push(dir);
        path.push(":");
    }
    path.push("/command:/usr/local/bin:/usr/local/sbin:/bin:/sbin:/usr/bin:/usr/sbin");
    path
}

/// svscanboot: stops supervises left from an earlier svscan (`svc -dx` on every
/// service and logger, as daemontools' script does), starts `readproctitle service
/// errors: ...` on a pipe, and becomes `svscan DIR` writing into it, so that svscan keeps
/// svscanboot's pid (and gets the init system's TERM). svscan and readproctitle get
/// daemontools' clean environment: only PATH (`boot_path`). Returns only on failure.
pub fn boot(dir: &OsStr) -> StartError {
    use std::os::unix::process::CommandExt;
    if let Err(e) = ServiceDir::new(dir).check() {
        return StartError::Chdir(dir.into(), std::io::Error::from(e));
    }
    if let Ok(null) = std::fs::File::open("/dev/null") {
        let _ = nix::unistd::dup2_stdin(null);
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().as_bytes().starts_with(b".") {
                continue;
            }
            let path = e.path();
            let _ = crate::control::send(&ServiceDir::new(&path), b"dx");
            let _ = crate::control::send(&ServiceDir::new(path.join(LOG)), b"dx");
        }
    }
    let (r, w) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return StartError::Pipe(e),
    };
    let path = boot_path();
    let dots = ".".repeat(400);
    let mut title = Command::new(sibling_binary("readproctitle"));
    crate::spawn::reset_signals(&mut title);
    if let Err(e) = title
        .arg0("readproctitle")
        .args(["service", "errors:", &dots])
        .env_clear()
        .env("PATH", &path)
        .stdin(Stdio::from(r))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    {
        return StartError::Boot("start readproctitle", e);
    }
    let redirected = nix::unistd::dup2_stdout(&w).and_then(|_| nix::unistd::dup2_stderr(&w));
    if let Err(e) = redirected {
        return StartError::Boot("redirect output", std::io::Error::from(e));
    }
    drop(w);
    let e = Command::new(sibling_binary("svscan"))
        .arg0("svscan")
        .arg(dir)
        .env_clear()
        .env("PATH", &path)
        .exec();
    StartError::Boot("run svscan", e)
}
