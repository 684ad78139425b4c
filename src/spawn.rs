//! Starting programs in a clean signal state: every signal at its default disposition
//! and an empty signal mask, whatever this process ignores, catches or blocks.
//!
//! Why not posix_spawn: glibc (2.36 here) keeps two signals for itself, 32 (SIGCANCEL)
//! and 33 (SIGSETXID); its `posix_spawn` child sets them to SIG_IGN while it shares our
//! memory and leaves them so, and its `sigfillset` refuses to put them in the
//! sigdefault set (programs supervise started ran with `SigIgn: 0x180000000`, which
//! daemontools' fork+exec does not do). musl's posix_spawn takes a pipe for the exec
//! error, which a process at its descriptor limit cannot make. Neither can set the
//! child's RLIMIT_NOFILE. So the child is cloned here as theirs are (sharing our memory
//! until its exec) and resets the signals with raw system calls; the `pre_exec` and
//! held variants use the same calls. The held child (supervise's run, which waits for
//! its status to be written) shares our memory too, so it makes only calls that leave
//! our errno alone (`rawcall`).

use nix::errno::Errno;
use nix::fcntl::OFlag;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use crate::rawcall;

// The libc crate declares environ for glibc only; both glibc and musl define it.
unsafe extern "C" {
    static environ: *mut *mut libc::c_char;
}

/// This process's environment as execve takes it.
fn environment() -> *const *const libc::c_char {
    // SAFETY: reading the pointer; this process never changes its environment while a
    // child it starts may still read it (until that child's exec).
    unsafe { environ.cast_const().cast() }
}

/// The kernel's highest signal number (`_NSIG - 1` on Linux).
pub const MAX_SIGNAL: libc::c_int = 64;

/// Size of the kernel's signal set, what `rt_sigaction` and `rt_sigprocmask` take.
const KERNEL_SIGSET_SIZE: usize = 8;

/// What a program gets besides its arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Make it a session (and process group) leader.
    pub setsid: bool,
    /// Give it descriptor `.0` as its descriptor `.1` (left open across exec).
    pub dup: Option<(RawFd, RawFd)>,
    /// Its RLIMIT_NOFILE (soft, hard), set in the child only.
    pub nofile: Option<(u64, u64)>,
}

/// Starts `path` with `args` (argv[0] is `path`) and this process's environment, with
/// every signal at default and an empty mask; an exec failure comes back as the result.
/// Returns the child's pid.
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

/// Where execvp would look for `program`: itself if it names a directory, else each
/// directory of PATH (glibc's default where PATH is unset; an empty entry is the
/// current directory).
fn candidates(program: &CStr, search: bool) -> Result<Vec<CString>, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let name = program.to_bytes();
    if !search || name.contains(&b'/') {
        return Ok(vec![program.to_owned()]);
    }
    if name.is_empty() {
        return Err(Errno::ENOENT);
    }
    let path = std::env::var_os("PATH");
    let path = path
        .as_ref()
        .map_or(&b"/bin:/usr/bin"[..], |p| p.as_bytes());
    path.split(|&b| b == b':')
        .map(|dir| {
            let full = match dir {
                b"" => name.to_vec(),
                d => [d, b"/", name].concat(),
            };
            CString::new(full).map_err(|_| Errno::EINVAL)
        })
        .collect()
}

/// What the child of `spawn_with` works from, all made before the clone: it shares our
/// memory and makes only system calls.
struct Exec<'a> {
    paths: &'a [CString],
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
    opts: Options,
    /// The errno of the exec that failed, written by the child before it exits.
    error: std::sync::atomic::AtomicI32,
}

/// A cloned child's stack: it runs only `exec_child` or `held_child`, which call
/// nothing that allocates (measured: at most 1056 bytes used in a debug build, 168 in
/// a release one). One page: every page of it that is touched stays resident in a
/// long-lived svscan.
#[repr(C, align(16))]
struct ChildStack([std::mem::MaybeUninit<u8>; CHILD_STACK]);

const CHILD_STACK: usize = 4096;

/// Starts the program in a child that shares our memory until its exec (clone with
/// CLONE_VM | CLONE_VFORK, as glibc's and musl's posix_spawn do): no copy of our page
/// tables, and, unlike musl's posix_spawn, no pipe for the exec error, so a process at
/// its descriptor limit (svscan with many loggers) can still start programs; and it can
/// set the child's own descriptor limit, which posix_spawn has no attribute for.
fn spawn_with(
    path: &CStr,
    argv0: &[u8],
    args: &[&[u8]],
    opts: Options,
    search: bool,
) -> Result<u32, Errno> {
    use std::sync::atomic::{AtomicI32, Ordering};
    let args: Vec<CString> = std::iter::once(argv0)
        .chain(args.iter().copied())
        .map(|a| CString::new(a).map_err(|_| Errno::EINVAL))
        .collect::<Result<_, _>>()?;
    let mut argv: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    argv.push(std::ptr::null());
    let paths = candidates(path, search)?;
    let exec = Exec {
        paths: &paths,
        argv: argv.as_ptr(),
        envp: environment(),
        opts,
        error: AtomicI32::new(0),
    };
    let mut stack = ChildStack([std::mem::MaybeUninit::uninit(); CHILD_STACK]);
    // SAFETY: the stack is ours and unused; `exec` and all it points to live until
    // clone returns, which with CLONE_VFORK is after the child has exec'd or exited;
    // exec_child only makes system calls.
    let pid = unsafe {
        clone_child(
            exec_child,
            &mut stack,
            libc::CLONE_VM | libc::CLONE_VFORK,
            (&exec as *const Exec).cast_mut().cast(),
        )
    }?;
    match exec.error.load(Ordering::Acquire) {
        0 => Ok(pid as u32),
        e => {
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
            Err(Errno::from_raw(e))
        }
    }
}

/// Clones a child that starts in `entry(arg)` on `stack`, with `flags` (SIGCHLD is
/// added): every signal is blocked around the clone, so that none of our handlers runs
/// in the child (on our memory) before it has set them all to default. Its pid.
///
/// # Safety
/// `stack` and what `arg` points to must stay for as long as the child runs on them
/// (with CLONE_VM, until its exec or its end), and `entry` may make only system calls
/// that the child's sharing allows (with CLONE_VM and no CLONE_VFORK: `rawcall`'s).
unsafe fn clone_child(
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    stack: &mut ChildStack,
    flags: libc::c_int,
    arg: *mut libc::c_void,
) -> Result<libc::pid_t, Errno> {
    let all = all_signals();
    // SAFETY: sigset_t is plain data.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: all and old are valid sigsets.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old) };
    // SAFETY: the stack's top is 16-byte aligned (ChildStack's alignment and size); the
    // rest is the caller's contract.
    let pid = unsafe {
        let top = stack.0.as_mut_ptr().add(CHILD_STACK).cast::<libc::c_void>();
        libc::clone(entry, top, flags | libc::SIGCHLD, arg)
    };
    let clone_error = Errno::last();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    if pid < 0 { Err(clone_error) } else { Ok(pid) }
}

/// The child's side of `spawn_with`: signals to default, the options, then execve on
/// each candidate path in turn, as execvp does (an EACCES is remembered, any error
/// but not-found ends the search).
extern "C" fn exec_child(arg: *mut libc::c_void) -> libc::c_int {
    use std::sync::atomic::Ordering;
    // SAFETY: arg is the Exec lent by spawn_with, which waits (CLONE_VFORK) until
    // this child has exec'd or exited.
    let e = unsafe { &*arg.cast::<Exec>() };
    let fail = |errno: i32| -> ! {
        e.error.store(errno, Ordering::Release);
        rawcall::exit(127)
    };
    if let Err(err) = prepare_in_child(&e.opts) {
        fail(err as i32);
    }
    let mut error = libc::ENOENT;
    for p in e.paths {
        match execve(p, e.argv, e.envp) {
            Errno::EACCES => error = libc::EACCES,
            Errno::ENOENT | Errno::ENOTDIR => {}
            other => fail(other as i32),
        }
    }
    fail(error)
}

/// execve, without errno; returns only if it failed.
fn execve(
    path: &CStr,
    argv: *const *const libc::c_char,
    envp: *const *const libc::c_char,
) -> Errno {
    // SAFETY: a C string and NULL-terminated arrays of C strings that the caller keeps
    // alive until the exec.
    let r = unsafe {
        rawcall::call4(
            libc::SYS_execve,
            path.as_ptr() as usize,
            argv as usize,
            envp as usize,
            0,
        )
    };
    r.err().unwrap_or(Errno::EINVAL)
}

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

/// A child made to run a program, held before exec until `release`: its starter can
/// first publish its pid (supervise writes the status, so that `run` finds itself up
/// the moment it starts).
pub struct Held {
    pub pid: u32,
    gate: Option<OwnedFd>,
    errors: OwnedFd,
    /// What the child reads until its exec, its stack too when it shares our memory:
    /// kept until the exec (or the child's end) is seen on `errors`.
    child: Option<Box<HeldChild>>,
}

/// As `spawn`, the child waiting for `Held::release` before exec.
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

/// What the held child works from, all made before it is: it allocates nothing.
struct HeldChild {
    stack: ChildStack,
    path: CString,
    _args: Vec<CString>,
    argv: Vec<*const libc::c_char>,
    _env: Option<Vec<CString>>,
    envp: Option<Vec<*const libc::c_char>>,
    opts: Options,
    gate: (RawFd, RawFd),
    errors: RawFd,
}

/// As `spawn_held`, with the variables of `set` (NAME, VALUE) put in the program's
/// environment (and only in its).
///
/// Where the architecture allows (`rawcall::SHARES_MEMORY`) the child shares our memory
/// until its exec, as `spawn`'s does, but runs beside us while it waits: no copy of
/// our page tables, and none of our pages copied on write while it is held.
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
    let path = path.to_owned();
    let mut argv: Vec<*const libc::c_char> = vec![path.as_ptr()];
    argv.extend(args.iter().map(|a| a.as_ptr()));
    argv.push(std::ptr::null());
    let (gate_r, gate_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let (err_r, err_w) = nix::unistd::pipe2(OFlag::O_CLOEXEC)?;
    let mut child = Box::new(HeldChild {
        stack: ChildStack([std::mem::MaybeUninit::uninit(); CHILD_STACK]),
        path,
        _args: args,
        argv,
        _env: env,
        envp,
        opts,
        gate: (gate_r.as_raw_fd(), gate_w.as_raw_fd()),
        errors: err_w.as_raw_fd(),
    });
    let pid = if rawcall::SHARES_MEMORY {
        let arg: *mut HeldChild = &mut *child;
        // SAFETY: the box and all it points to, its stack too, stay where they are
        // until `Held` has seen the child exec or end; held_child makes only rawcall's
        // system calls, which leave errno alone.
        unsafe {
            clone_child(
                held_child_entry,
                &mut (*arg).stack,
                libc::CLONE_VM,
                arg.cast(),
            )
        }?
    } else {
        // SAFETY: the child runs only held_child: system calls on data made before.
        match unsafe { libc::fork() } {
            -1 => return Err(Errno::last()),
            0 => held_child(&child),
            pid => pid,
        }
    };
    drop((gate_r, err_w));
    Ok(Held {
        pid: pid as u32,
        gate: Some(gate_w),
        errors: err_r,
        child: Some(child),
    })
}

extern "C" fn held_child_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: arg is the HeldChild that spawn_held_env keeps until this child's exec.
    held_child(unsafe { &*arg.cast::<HeldChild>() })
}

/// The child's side of `spawn_held_env`: waits for the gate to close, then prepares
/// and execs; an errno goes back through `errors`.
fn held_child(c: &HeldChild) -> ! {
    let fail = |e: Errno| -> ! {
        let b = (e as i32).to_ne_bytes();
        // SAFETY: write from a local buffer.
        let _ = unsafe {
            rawcall::call4(
                libc::SYS_write,
                c.errors as usize,
                b.as_ptr() as usize,
                b.len(),
                0,
            )
        };
        rawcall::exit(127)
    };
    // SAFETY: close and read on our copies of the pipe's descriptors, into a local byte.
    unsafe {
        let _ = rawcall::call4(libc::SYS_close, c.gate.1 as usize, 0, 0, 0);
        let mut b = 0u8;
        while rawcall::call4(
            libc::SYS_read,
            c.gate.0 as usize,
            &mut b as *mut u8 as usize,
            1,
            0,
        ) == Err(Errno::EINTR)
        {}
    }
    if let Err(e) = prepare_in_child(&c.opts) {
        fail(e);
    }
    let envp = match &c.envp {
        Some(p) => p.as_ptr(),
        None => environment(),
    };
    fail(execve(&c.path, c.argv.as_ptr(), envp))
}

impl Held {
    /// Lets the child exec; its pid if it did, the reason if it could not (the child
    /// is then reaped).
    pub fn release(mut self) -> Result<u32, Errno> {
        match self.let_go() {
            None => Ok(self.pid),
            Some(e) => Err(e),
        }
    }

    /// Opens the gate and waits for the exec (the error pipe closes) or the errno. The
    /// child's memory is let go only once it no longer runs on it.
    fn let_go(&mut self) -> Option<Errno> {
        drop(self.gate.take());
        let mut b = [0u8; 4];
        let n = match crate::diag::read_up_to(std::os::fd::AsFd::as_fd(&self.errors), &mut b) {
            Ok(n) => n,
            Err(_) => {
                // Not known whether it still runs on it: never freed.
                std::mem::forget(self.child.take());
                return None;
            }
        };
        if n < b.len() {
            drop(self.child.take());
            return None;
        }
        // It failed: gone once reaped.
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid as i32), None);
        drop(self.child.take());
        Some(Errno::from_raw(i32::from_ne_bytes(b)))
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if self.gate.is_some() {
            let _ = self.let_go();
        }
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

/// In a child about to exec: every signal to default, then what `opts` asks. Only
/// system calls that leave errno alone (the child may share our memory and run beside
/// us); the errno of the first that failed.
fn prepare_in_child(opts: &Options) -> Result<(), Errno> {
    reset_in_child()?;
    // SAFETY: system calls on values, or on a local rlimit.
    unsafe {
        if opts.setsid {
            rawcall::call4(libc::SYS_setsid, 0, 0, 0, 0)?;
        }
        if let Some((from, to)) = opts.dup {
            if from == to {
                rawcall::call4(libc::SYS_fcntl, from as usize, libc::F_SETFD as usize, 0, 0)?;
            } else {
                rawcall::call4(libc::SYS_dup3, from as usize, to as usize, 0, 0)?;
            }
        }
        if let Some((soft, hard)) = opts.nofile {
            let lim = libc::rlimit {
                rlim_cur: soft as libc::rlim_t,
                rlim_max: hard as libc::rlim_t,
            };
            // prlimit64, not setrlimit: musl's would stop the world to apply it to
            // every thread.
            rawcall::call4(
                libc::SYS_prlimit64,
                0,
                libc::RLIMIT_NOFILE as usize,
                &lim as *const libc::rlimit as usize,
                0,
            )?;
        }
    }
    Ok(())
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
        unsafe {
            rawcall::call4(
                libc::SYS_rt_sigaction,
                sig as usize,
                dfl.as_ptr() as usize,
                0,
                KERNEL_SIGSET_SIZE,
            )?;
        }
    }
    let empty = 0u64;
    // SAFETY: rt_sigprocmask reads one kernel sigset from `empty`; oldset is NULL.
    unsafe {
        rawcall::call4(
            libc::SYS_rt_sigprocmask,
            libc::SIG_SETMASK as usize,
            &empty as *const u64 as usize,
            0,
            KERNEL_SIGSET_SIZE,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SigIgn and SigBlk masks of a program started with `how`.
    fn masks(how: impl FnOnce(&CStr, &[&[u8]]) -> u32) -> (u64, u64) {
        // A file of its own per call: tests run in parallel threads of one process.
        static CALLS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let out = std::env::temp_dir().join(format!("svkit-spawn-{}-{call}", std::process::id()));
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
        assert_eq!((ign, blk), (0, 0), "spawn: SigIgn {ign:x} SigBlk {blk:x}");
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

    /// What `sh -c SCRIPT` started by `spawn_program` wrote to stdout (its descriptor 1
    /// is a pipe given through `dup`).
    fn output_of(script: &str, nofile: Option<(u64, u64)>) -> String {
        let (r, w) = nix::unistd::pipe().unwrap();
        let opts = Options {
            dup: Some((w.as_raw_fd(), 1)),
            nofile,
            ..Default::default()
        };
        let pid = spawn_program(c"sh", b"sh", &[b"-c", script.as_bytes()], opts).unwrap();
        drop(w);
        let mut out = String::new();
        std::io::Read::read_to_string(&mut std::fs::File::from(r), &mut out).unwrap();
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
        out
    }

    #[test]
    fn a_program_is_found_in_path_and_gets_its_own_descriptor_limit() {
        use nix::sys::resource::{Resource, getrlimit};
        let before = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(output_of("echo $0", None), "sh\n");
        let lim = output_of("ulimit -Sn; ulimit -Hn", Some((77, before.1)));
        assert_eq!(lim, format!("77\n{}\n", before.1));
        assert_eq!(
            getrlimit(Resource::RLIMIT_NOFILE).unwrap(),
            before,
            "ours changed"
        );
    }

    #[test]
    fn exec_failures_come_back_as_the_result() {
        let none = Options::default();
        assert_eq!(spawn(c"/nonexistent/x", &[], none), Err(Errno::ENOENT));
        assert_eq!(
            spawn_program(c"svkit-no-such-program", b"x", &[], none),
            Err(Errno::ENOENT)
        );
        // Not executable: EACCES, also through a PATH search.
        let dir = std::env::temp_dir().join(format!("svkit-spawn-x-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("prog"), b"#!/bin/sh\n").unwrap();
        let prog = CString::new(dir.join("prog").as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(spawn(&prog, &[], none), Err(Errno::EACCES));
        // A NUL in an argument cannot be passed on.
        assert_eq!(spawn(c"/bin/true", &[b"a\0b"], none), Err(Errno::EINVAL));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(candidates(c"", true), Err(Errno::ENOENT));
        assert_eq!(
            candidates(c"./run", true).unwrap(),
            vec![c"./run".to_owned()]
        );
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
        // Dropped unreleased: it runs, and its memory is kept until its exec.
        let held = spawn_held(c"/bin/sh", &[b"-c", script.as_bytes()], Options::default()).unwrap();
        let pid = held.pid;
        drop(held);
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
                    ..Default::default()
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
