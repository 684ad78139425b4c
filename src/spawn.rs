//! Starting programs in a clean signal state: every signal at its default disposition
//! and an empty signal mask, whatever this process ignores, catches or blocks.
//!
//! Why it takes more than `posix_spawnattr_setsigdefault` with `sigfillset`: glibc
//! (2.36 here) keeps two signals for itself, 32 (SIGCANCEL) and 33 (SIGSETXID). Its
//! `posix_spawn` child sets them to SIG_IGN while it shares our memory and leaves them
//! so unless they are in the sigdefault set; and its `sigfillset`/`sigaddset` refuse to
//! put them there, as its `sigaction` refuses to touch them. Programs supervise started
//! therefore ran with `SigIgn: 0x180000000` (daemontools' fork+exec does not do this).
//! Here the set is filled bit by bit (the kernel's layout: signal n is bit n-1), and the
//! `pre_exec` variant uses the raw system calls.

use nix::errno::Errno;
use nix::fcntl::OFlag;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The kernel's highest signal number (`_NSIG - 1` on Linux).
pub const MAX_SIGNAL: libc::c_int = 64;

/// Size of the kernel's signal set, what `rt_sigaction` and `rt_sigprocmask` take.
const KERNEL_SIGSET_SIZE: usize = 8;

/// Every signal whose disposition can be set (all but KILL and STOP), including the
/// ones glibc keeps for itself.
pub fn all_signals() -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; all zeros is the empty set.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    let words = std::mem::size_of::<libc::sigset_t>() / std::mem::size_of::<libc::c_ulong>();
    let bits = libc::c_ulong::BITS as usize;
    let p = (&mut set as *mut libc::sigset_t).cast::<libc::c_ulong>();
    for sig in 1..=MAX_SIGNAL {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        let bit = (sig - 1) as usize;
        if bit / bits < words {
            // SAFETY: bit / bits is within the words of `set`, which is an array of
            // c_ulong in glibc's and the kernel's layout.
            unsafe { *p.add(bit / bits) |= 1 << (bit % bits) };
        }
    }
    set
}

/// What a program gets besides its arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Make it a session (and process group) leader.
    pub setsid: bool,
    /// Give it descriptor `.0` as its descriptor `.1` (left open across exec).
    pub dup: Option<(RawFd, RawFd)>,
}

/// Starts `path` with `args` (argv[0] is `path`) and this process's environment through
/// posix_spawn (no copy of our page tables; an exec failure comes back as the result),
/// with every signal at default and an empty mask. Returns the child's pid.
pub fn spawn(path: &CStr, args: &[&[u8]], opts: Options) -> Result<u32, Errno> {
    spawn_with(path, path.to_bytes(), args, opts, false)
}

/// As `spawn`, with `argv0` for argv[0] (the multicall binary picks the program by it)
/// and `program` looked up in PATH when it has no `/`, as execvp would.
pub fn spawn_program(
    program: &CStr,
    argv0: &[u8],
    args: &[&[u8]],
    opts: Options,
) -> Result<u32, Errno> {
    spawn_with(program, argv0, args, opts, true)
}

fn spawn_with(
    path: &CStr,
    argv0: &[u8],
    args: &[&[u8]],
    opts: Options,
    search: bool,
) -> Result<u32, Errno> {
    let args: Vec<CString> = std::iter::once(argv0)
        .chain(args.iter().copied())
        .map(|a| CString::new(a).map_err(|_| Errno::EINVAL))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*mut libc::c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let dfl = all_signals();
    let mut flags = (libc::POSIX_SPAWN_SETSIGMASK | libc::POSIX_SPAWN_SETSIGDEF) as libc::c_short;
    if opts.setsid {
        flags |= libc::POSIX_SPAWN_SETSID;
    }
    let mut pid: libc::pid_t = 0;
    // SAFETY: attr, actions and the mask are initialised by their init functions before
    // use and destroyed once; argv is a NULL-terminated array of C strings that outlive
    // the call; environ is libc's own NULL-terminated environment, not modified by this
    // process.
    let r = unsafe {
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawnattr_init(&mut attr);
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut mask);
        libc::posix_spawnattr_setsigmask(&mut attr, &mask);
        libc::posix_spawnattr_setsigdefault(&mut attr, &dfl);
        libc::posix_spawnattr_setflags(&mut attr, flags);
        let mut actions: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&mut actions);
        if let Some((from, to)) = opts.dup {
            libc::posix_spawn_file_actions_adddup2(&mut actions, from, to);
        }
        let spawner = if search {
            libc::posix_spawnp
        } else {
            libc::posix_spawn
        };
        let r = spawner(
            &mut pid,
            path.as_ptr(),
            &actions,
            &attr,
            argv.as_ptr(),
            libc::environ.cast_const(),
        );
        libc::posix_spawn_file_actions_destroy(&mut actions);
        libc::posix_spawnattr_destroy(&mut attr);
        r
    };
    match r {
        0 => Ok(pid as u32),
        e => Err(Errno::from_raw(e)),
    }
}

/// A child forked to run a program, held before exec until `release`: its starter
/// can first publish its pid (supervise writes the status, so that `run` finds itself
/// up the moment it starts).
pub struct Held {
    pub pid: u32,
    gate: Option<OwnedFd>,
    errors: OwnedFd,
}

/// As `spawn`, but through fork, the child waiting for `Held::release` before exec.
pub fn spawn_held(path: &CStr, args: &[&[u8]], opts: Options) -> Result<Held, Errno> {
    spawn_held_env(path, args, opts, &[])
}

/// This process's environment with `set` (NAME, VALUE) put in, replacing any variable
/// of the same name: for a child's `execve`.
fn environment_with(set: &[(&[u8], &[u8])]) -> Result<Vec<CString>, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let mut env = Vec::new();
    for (k, v) in std::env::vars_os() {
        if set.iter().any(|(n, _)| *n == k.as_bytes()) {
            continue;
        }
        let kv = [k.as_bytes(), b"=", v.as_bytes()].concat();
        env.push(CString::new(kv).map_err(|_| Errno::EINVAL)?);
    }
    for (k, v) in set {
        env.push(CString::new([*k, b"=", *v].concat()).map_err(|_| Errno::EINVAL)?);
    }
    Ok(env)
}

/// As `spawn_held`, with the variables of `set` (NAME, VALUE) put in the program's
/// environment (and only in its).
pub fn spawn_held_env(
    path: &CStr,
    args: &[&[u8]],
    opts: Options,
    set: &[(&[u8], &[u8])],
) -> Result<Held, Errno> {
    let args: Vec<CString> = args
        .iter()
        .map(|a| CString::new(*a).map_err(|_| Errno::EINVAL))
        .collect::<Result<_, _>>()?;
    // Built before the fork: the child may not allocate.
    let env = if set.is_empty() {
        None
    } else {
        Some(environment_with(set)?)
    };
    let envp: Option<Vec<*const libc::c_char>> = env.as_ref().map(|env| {
        let mut p: Vec<_> = env.iter().map(|e| e.as_ptr()).collect();
        p.push(std::ptr::null());
        p
    });
    let mut argv: Vec<*const libc::c_char> = vec![path.as_ptr()];
    argv.extend(args.iter().map(|a| a.as_ptr()));
    argv.push(std::ptr::null());
    let (gate_r, gate_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (gr, gw, ew) = (gate_r.as_raw_fd(), gate_w.as_raw_fd(), err_w.as_raw_fd());
    // SAFETY: in the child, only async-signal-safe calls (close, read, raw signal
    // system calls, setsid, dup2, fcntl, execve, write, _exit) on data prepared before
    // the fork; the parent only records the pid.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Errno::last());
    }
    if pid == 0 {
        // SAFETY: as above; this never returns.
        unsafe {
            let envp = match &envp {
                Some(p) => p.as_ptr(),
                None => libc::environ as *const *const libc::c_char,
            };
            held_child(gr, gw, ew, path, &argv, envp, opts)
        }
    }
    drop((gate_r, err_w));
    Ok(Held {
        pid: pid as u32,
        gate: Some(gate_w),
        errors: err_r,
    })
}

/// The child's side of `spawn_held`.
///
/// # Safety
/// To be called only in a child just forked, with descriptors, argv and envp from
/// `spawn_held_env`.
unsafe fn held_child(
    gate_r: RawFd,
    gate_w: RawFd,
    err_w: RawFd,
    path: &CStr,
    argv: &[*const libc::c_char],
    envp: *const *const libc::c_char,
    opts: Options,
) -> ! {
    // SAFETY: see spawn_held: async-signal-safe calls only.
    unsafe {
        let fail = |e: i32| -> ! {
            let b = e.to_ne_bytes();
            libc::write(err_w, b.as_ptr().cast(), b.len());
            libc::_exit(127)
        };
        libc::close(gate_w);
        let mut b = [0u8; 1];
        loop {
            let n = libc::read(gate_r, b.as_mut_ptr().cast(), 1);
            if n >= 0 || Errno::last_raw() != libc::EINTR {
                break;
            }
        }
        if let Err(e) = reset_in_child() {
            fail(e as i32);
        }
        if opts.setsid && libc::setsid() < 0 {
            fail(Errno::last_raw());
        }
        if let Some((from, to)) = opts.dup {
            let r = if from == to {
                libc::fcntl(from, libc::F_SETFD, 0)
            } else {
                libc::dup2(from, to)
            };
            if r < 0 {
                fail(Errno::last_raw());
            }
        }
        libc::execve(path.as_ptr(), argv.as_ptr(), envp);
        fail(Errno::last_raw())
    }
}

impl Held {
    /// Lets the child exec; its pid if it did, the reason if it could not (the child
    /// is then reaped).
    pub fn release(mut self) -> Result<u32, Errno> {
        drop(self.gate.take());
        let mut b = [0u8; 4];
        // No errno back (the pipe closed at exec, or could not be read): it runs.
        let n =
            crate::diag::read_up_to(std::os::fd::AsFd::as_fd(&self.errors), &mut b).unwrap_or(0);
        if n < b.len() {
            return Ok(self.pid);
        }
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid as i32), None);
        Err(Errno::from_raw(i32::from_ne_bytes(b)))
    }
}

/// How much of a program's start the kernel reads for a `#!` line (BINPRM_BUF_SIZE).
const EXEC_HEADER: usize = 256;

/// Why executing `file` (relative to the current directory) failed with `e`, when its
/// first bytes tell more than the errno: a `#!` line naming an interpreter that does
/// not exist (with a carriage return at its end, the file was saved with DOS line
/// endings), a byte order mark before `#!`, or no `#!` line at all. `shown` is how the
/// file is named in the message. None when nothing more is known.
///
/// The file is the service's own, read by a supervise that may run as root in a
/// directory others can write: it is opened without following a symbolic link and
/// without blocking, only a regular file is read, and only its first 256 bytes.
pub fn exec_failure_cause(file: &CStr, shown: &str, e: Errno) -> Option<String> {
    if e != Errno::ENOENT && e != Errno::ENOEXEC {
        return None;
    }
    let fd = nix::fcntl::open(
        file,
        OFlag::O_RDONLY
            | OFlag::O_NOFOLLOW
            | OFlag::O_NONBLOCK
            | OFlag::O_NOCTTY
            | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .ok()?;
    let st = nix::sys::stat::fstat(&fd).ok()?;
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return None;
    }
    let mut buf = [0u8; EXEC_HEADER];
    let n = crate::diag::read_up_to(std::os::fd::AsFd::as_fd(&fd), &mut buf).ok()?;
    header_cause(&buf[..n], shown, e, |p| {
        CString::new(p).map_or(true, |p| {
            nix::unistd::access(p.as_c_str(), nix::unistd::AccessFlags::F_OK) != Err(Errno::ENOENT)
        })
    })
}

/// `exec_failure_cause` on the first bytes of the file; `exists` says whether a path
/// exists.
fn header_cause(
    head: &[u8],
    shown: &str,
    e: Errno,
    exists: impl Fn(&[u8]) -> bool,
) -> Option<String> {
    const BOM: &[u8] = b"\xef\xbb\xbf";
    if e != Errno::ENOENT && e != Errno::ENOEXEC {
        return None;
    }
    if e == Errno::ENOEXEC {
        return if head.starts_with(BOM) {
            Some(format!(
                "it starts with a byte order mark before its first line: save {shown} without one"
            ))
        } else if !head.starts_with(b"#!") && !head.starts_with(b"\x7fELF") {
            Some(format!(
                "it has no #! line: begin {shown} with one, such as #!/bin/sh"
            ))
        } else {
            None
        };
    }
    // As the kernel reads it: after `#!` and blanks, the interpreter runs to the next
    // blank or the end of the line; a carriage return is neither.
    let line = head.strip_prefix(b"#!")?;
    let line = &line[..line.iter().position(|&b| b == b'\n').unwrap_or(line.len())];
    let start = line.iter().position(|&b| b != b' ' && b != b'\t')?;
    let rest = &line[start..];
    let interp = &rest[..rest
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(rest.len())];
    if interp.ends_with(b"\r") {
        Some(format!(
            "its interpreter {} was not found: the file has DOS line endings? dos2unix {shown}",
            visible(interp)
        ))
    } else if !exists(interp) {
        Some(format!("its interpreter {} was not found", visible(interp)))
    } else {
        None
    }
}

/// Bytes as text a person can read in a one-line message: printable ASCII as it is,
/// a carriage return as `\r`, any other byte as `\xNN`.
fn visible(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\\' => s.push_str("\\\\"),
            0x21..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

/// Makes `cmd`'s program start with every signal at default and an empty mask (for
/// callers of std's `Command`; it then forks instead of using posix_spawn).
pub fn reset_signals(cmd: &mut Command) -> &mut Command {
    // SAFETY: the closure runs in the forked child and makes only raw rt_sigaction and
    // rt_sigprocmask system calls, which are async-signal-safe, on stack data.
    unsafe { cmd.pre_exec(|| reset_in_child().map_err(std::io::Error::from)) }
}

/// Sets every signal to SIG_DFL and empties the mask, in a child about to exec. Raw
/// system calls: glibc's wrappers refuse its internal signals 32 and 33.
fn reset_in_child() -> Result<(), Errno> {
    // A kernel sigaction with handler SIG_DFL (0), no flags, no restorer, empty mask
    // is all zeros whatever the architecture's field order.
    let dfl = [0u64; 4];
    for sig in 1..=MAX_SIGNAL {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        // SAFETY: rt_sigaction reads a kernel sigaction from `dfl`, which is large
        // enough for any architecture's layout, and writes nothing (oldact is NULL).
        let r = unsafe {
            libc::syscall(
                libc::SYS_rt_sigaction,
                sig,
                dfl.as_ptr(),
                std::ptr::null_mut::<libc::c_void>(),
                KERNEL_SIGSET_SIZE,
            )
        };
        if r < 0 {
            return Err(Errno::last());
        }
    }
    let empty = 0u64;
    // SAFETY: rt_sigprocmask reads one kernel sigset from `empty`; oldset is NULL.
    let r = unsafe {
        libc::syscall(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK,
            &empty as *const u64,
            std::ptr::null_mut::<libc::c_void>(),
            KERNEL_SIGSET_SIZE,
        )
    };
    if r < 0 {
        return Err(Errno::last());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SigIgn and SigBlk masks of a program started with `how`.
    fn masks(how: impl FnOnce(&CStr, &[&[u8]]) -> u32) -> (u64, u64) {
        let out = std::env::temp_dir().join(format!("svkit-spawn-{}", std::process::id()));
        let script = format!(
            "grep -E '^Sig(Ign|Blk)' /proc/self/status > {}",
            out.display()
        );
        let pid = how(c"/bin/sh", &[b"-c", script.as_bytes()]);
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
        let text = std::fs::read_to_string(&out).unwrap();
        let _ = std::fs::remove_file(&out);
        let field = |name: &str| {
            let l = text.lines().find(|l| l.starts_with(name)).unwrap();
            u64::from_str_radix(l.split_whitespace().nth(1).unwrap(), 16).unwrap()
        };
        (field("SigIgn:"), field("SigBlk:"))
    }

    #[test]
    fn spawned_programs_start_with_default_signals() {
        // This test process ignores SIGPIPE (Rust's runtime) and here SIGUSR2 too.
        // SAFETY: SIG_IGN installs no handler.
        unsafe { libc::signal(libc::SIGUSR2, libc::SIG_IGN) };
        let (ign, blk) = masks(|p, a| spawn(p, a, Options::default()).unwrap());
        assert_eq!(
            (ign, blk),
            (0, 0),
            "posix_spawn: SigIgn {ign:x} SigBlk {blk:x}"
        );
        let (ign, blk) = masks(|_, a| {
            let mut cmd = Command::new("/bin/sh");
            cmd.args(
                a.iter()
                    .map(|x| std::ffi::OsStr::new(std::str::from_utf8(x).unwrap())),
            );
            reset_signals(&mut cmd).spawn().unwrap().id()
        });
        assert_eq!(
            (ign, blk),
            (0, 0),
            "pre_exec: SigIgn {ign:x} SigBlk {blk:x}"
        );
        // SAFETY: as above.
        unsafe { libc::signal(libc::SIGUSR2, libc::SIG_DFL) };
    }

    #[test]
    fn a_held_child_waits_and_reports_exec_failure() {
        let dir = std::env::temp_dir().join(format!("svkit-held-{}", std::process::id()));
        let _ = std::fs::remove_file(&dir);
        let script = format!("echo x > {}", dir.display());
        let held = spawn_held(c"/bin/sh", &[b"-c", script.as_bytes()], Options::default()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!dir.exists(), "ran before release");
        let pid = held.release().unwrap();
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
        assert!(dir.exists());
        let _ = std::fs::remove_file(&dir);
        let held = spawn_held(c"/nonexistent", &[], Options::default()).unwrap();
        assert_eq!(held.release(), Err(Errno::ENOENT));
        let (ign, blk) = masks(|p, a| {
            spawn_held(
                p,
                a,
                Options {
                    setsid: true,
                    dup: None,
                },
            )
            .unwrap()
            .release()
            .unwrap()
        });
        assert_eq!((ign, blk), (0, 0));
    }

    #[test]
    fn the_set_has_glibcs_signals_but_not_kill_and_stop() {
        let set = all_signals();
        // SAFETY: sigismember reads an initialised set.
        let has = |s| unsafe { libc::sigismember(&set, s) } == 1;
        assert!(has(libc::SIGPIPE) && has(libc::SIGTERM) && has(64));
        assert!(!has(libc::SIGKILL) && !has(libc::SIGSTOP));
        // glibc's sigismember refuses 32 and 33; look at the bits.
        let word = (&set as *const libc::sigset_t).cast::<u64>();
        // SAFETY: sigset_t is at least 8 bytes.
        let w = unsafe { *word };
        assert_eq!(w >> 31 & 3, 3);
    }

    #[test]
    fn exec_failure_causes_from_the_first_line() {
        let none = |_: &[u8]| false;
        let all = |_: &[u8]| true;
        let enoent = Errno::ENOENT;
        assert_eq!(
            header_cause(b"#!/bin/sh\r\nexec x\r\n", "s/run", enoent, all).as_deref(),
            Some(
                "its interpreter /bin/sh\\r was not found: the file has DOS line endings? dos2unix s/run"
            )
        );
        assert_eq!(
            header_cause(b"#! /usr/bin/python9 -u\n", "s/run", enoent, none).as_deref(),
            Some("its interpreter /usr/bin/python9 was not found")
        );
        assert_eq!(header_cause(b"#!/bin/sh\n", "s/run", enoent, all), None);
        assert_eq!(header_cause(b"#!\n", "s/run", enoent, none), None);
        assert_eq!(header_cause(b"", "s/run", enoent, none), None);
        assert_eq!(header_cause(b"\x7fELF", "s/run", enoent, none), None);
        assert_eq!(
            header_cause(b"#!/opt/\xff\\x\n", "r", enoent, none).as_deref(),
            Some("its interpreter /opt/\\xff\\\\x was not found")
        );
        // A line longer than what was read: the interpreter is what there is.
        assert_eq!(
            header_cause(b"#!/nope", "r", enoent, none).as_deref(),
            Some("its interpreter /nope was not found")
        );
        let enoexec = Errno::ENOEXEC;
        assert_eq!(
            header_cause(b"exec sleep 1\n", "s/run", enoexec, all).as_deref(),
            Some("it has no #! line: begin s/run with one, such as #!/bin/sh")
        );
        assert!(
            header_cause(b"\xef\xbb\xbf#!/bin/sh\n", "s/run", enoexec, all)
                .unwrap()
                .starts_with("it starts with a byte order mark")
        );
        assert_eq!(header_cause(b"\x7fELF..", "s/run", enoexec, all), None);
        assert_eq!(
            header_cause(b"#!/bin/sh\r\n", "s/run", Errno::EACCES, all),
            None
        );
    }
}
