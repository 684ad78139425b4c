//! The service's own start and stop scripts: finding them, telling encore's one-shot
//! scripts from Syn-3 check scripts, and running them under the script timeout.

use super::job::Job;
use super::{DOT_EVERY, Output, Verdict};
use crate::bounded::{Ending, RunError};
use crate::diag::ioerrstr;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A script of the service's own that does the acting and checking.
pub const START_SCRIPT: &str = "start";
pub const STOP_SCRIPT: &str = "stop";

/// How much of a start or stop script is read to tell what kind it is.
const SCRIPT_PEEK: usize = 64 * 1024;

/// Whether the file `name` (`start` or `stop`) of the service directory open at `dir`
/// looks like a daemontools-encore one-shot script rather than a Syn-3 check script:
/// a script (`#!`) whose first 64 KiB never mention `svc`. A check script brings the
/// service up or down itself, with `svc`; encore's supervise runs `./start` before
/// `./run` and `./stop` after it, so those never need to. A program that is no script,
/// a larger file, a symbolic link or anything not a regular file is not judged.
/// Read as `read_small_file` reads: without blocking, without following a link.
pub fn encore_style(dir: impl std::os::fd::AsFd, name: &str) -> bool {
    use crate::service_dir::{Extent, Links, read_small_file};
    match read_small_file(
        dir,
        std::ffi::OsStr::new(name),
        Extent::Whole(SCRIPT_PEEK),
        Links::Refuse,
    ) {
        Ok(Some(text)) => text.starts_with(b"#!") && !text.windows(3).any(|w| w == b"svc"),
        _ => false,
    }
}

/// The warning for a service (directory `dir`, as shown) whose `start` or `stop`
/// (`name`) looks like encore's: what svkit does with it, and where its commands
/// belong instead.
pub fn encore_hint(prog: &str, dir: &str, name: &str) -> String {
    let (encore, check, home) = if name == START_SCRIPT {
        (
            "set-up run before ./run",
            "bring the service up",
            "run, before its exec",
        )
    } else {
        (
            "clean-up run after ./run exits",
            "bring the service down",
            "finish",
        )
    };
    let doing = if prog == "supervise" {
        "svkit's supervise does not run it".to_string()
    } else {
        format!("{prog} runs it as a check script, which must {check} with svc")
    };
    format!(
        "{dir}/{name} never runs svc: a daemontools-encore {name} script ({encore})? {doing}; \
         to migrate, move its commands into {dir}/{home} (see svcstart(8))"
    )
}

impl Job<'_> {
    /// The service's own start or stop script, if it has a usable one.
    pub(super) fn script(&self, name: &str) -> Option<PathBuf> {
        let path = self.dir.file(name);
        let meta = std::fs::metadata(&path).ok()?;
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            if self.opts.output != Output::Quiet
                && let Ok(dirfd) = nix::fcntl::open(
                    self.dir.path(),
                    nix::fcntl::OFlag::O_RDONLY
                        | nix::fcntl::OFlag::O_DIRECTORY
                        | nix::fcntl::OFlag::O_CLOEXEC,
                    nix::sys::stat::Mode::empty(),
                )
                && encore_style(&dirfd, name)
            {
                let shown = self.dir.path().display().to_string();
                crate::diag::warn(self.prog, &encore_hint(self.prog, &shown, name));
            }
            Some(path)
        } else {
            if self.opts.output != Output::Quiet {
                crate::diag::warn(
                    self.prog,
                    &format!("{} is not an executable file; ignoring it", path.display()),
                );
            }
            None
        }
    }

    /// Runs a start/stop script in the service directory, killing it (its whole
    /// process group) when it outlasts the script timeout (-T): the script owns its
    /// timing, so svkit's own timeout (-t) does not bound it.
    pub(super) fn run_script(&mut self, script: &Path) -> Result<Ending, Verdict> {
        let abs = std::fs::canonicalize(self.dir.path()).unwrap_or(self.dir.path().into());
        // By its absolute name: a relative one (`svcstart ./x`) would be looked up
        // from the service directory, where the script runs.
        let mut cmd = Command::new(abs.join(script.file_name().unwrap_or_default()));
        cmd.current_dir(&abs)
            .env("SVC_NAME", abs.file_name().unwrap_or_default())
            .env("SVC_DIR", &abs)
            .env("PATH", search_path())
            .stdin(Stdio::null());
        match self.opts.output {
            Output::Person => {}
            Output::Quiet => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
            Output::Json => {
                cmd.stdout(std::io::stderr());
            }
        }
        // The line's dots continue after the script's own output.
        let _ = std::io::stdout().flush();
        let limit = self.opts.script_timeout;
        let progress = &mut self.progress;
        match crate::bounded::run_within(&mut cmd, limit, DOT_EVERY, &mut || progress.dot()) {
            Ok(end) => Ok(end),
            Err(RunError::Interrupted(sig)) => {
                // Nothing more is done: handle sees the signal and gives up.
                self.interrupted = Some(sig);
                Err(Verdict::Failed(format!("interrupted by signal {sig}")))
            }
            Err(RunError::Io(e)) => Err(Verdict::Failed(format!(
                "unable to run {}: {}",
                script.display(),
                ioerrstr(&e)
            ))),
        }
    }
}

/// PATH for scripts: our own directory first, so that `svc`, `svok`, `svstat` and
/// `svwait` are svkit's even where daemontools is installed too.
fn search_path() -> std::ffi::OsString {
    let mut path = std::ffi::OsString::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        path.push(dir);
        path.push(":");
    }
    path.push(std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into()));
    path
}
