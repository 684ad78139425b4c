//! System calls that leave errno alone, for a child that shares our memory but runs
//! beside us: the C library's wrappers store their error in our thread's errno.
//!
//! Each returns the kernel's result: non-negative, or an errno (as an `Errno`).
//! Where no instruction-level call is written for the architecture, they go through
//! `libc::syscall`, and `SHARES_MEMORY` is false so that callers fork instead.

use nix::errno::Errno;

/// Whether a child cloned with CLONE_VM (and running beside us) can use these calls.
pub const SHARES_MEMORY: bool = cfg!(any(target_arch = "x86_64", target_arch = "aarch64"));

/// The kernel's result as a Result: -4095..-1 is an errno.
fn result(r: isize) -> Result<usize, Errno> {
    if (-4095..0).contains(&r) {
        Err(Errno::from_raw(-r as i32))
    } else {
        Ok(r as usize)
    }
}

/// System call `n` with four arguments (unused ones 0).
///
/// # Safety
/// As the system call itself: pointers among the arguments must be valid for it.
pub unsafe fn call4(
    n: libc::c_long,
    a: usize,
    b: usize,
    c: usize,
    d: usize,
) -> Result<usize, Errno> {
    // SAFETY: the caller's contract.
    result(unsafe { instruction(n, a, b, c, d) })
}

/// The kernel's x86_64 convention: number and result in rax, arguments in rdi rsi rdx
/// r10; rcx and r11 clobbered.
#[cfg(target_arch = "x86_64")]
unsafe fn instruction(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let r: isize;
    // SAFETY: what the call does with memory is call4's caller's contract.
    unsafe {
        core::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => r,
            in("rdi") a,
            in("rsi") b,
            in("rdx") c,
            in("r10") d,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    r
}

/// The kernel's aarch64 convention: number in x8, arguments in x0-x3, result in x0.
#[cfg(target_arch = "aarch64")]
unsafe fn instruction(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    let r: isize;
    // SAFETY: what the call does with memory is call4's caller's contract.
    unsafe {
        core::arch::asm!(
            "svc 0",
            in("x8") n,
            inlateout("x0") a as isize => r,
            in("x1") b,
            in("x2") c,
            in("x3") d,
            options(nostack),
        );
    }
    r
}

/// Elsewhere, the C library's syscall(), whose errno is turned back into the kernel's
/// negative result.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
unsafe fn instruction(n: libc::c_long, a: usize, b: usize, c: usize, d: usize) -> isize {
    // SAFETY: call4's caller's contract.
    match unsafe { libc::syscall(n, a, b, c, d) } {
        r if r < 0 => -(Errno::last_raw() as isize),
        r => r as isize,
    }
}

/// Ends this process with `code`, running nothing of ours.
pub fn exit(code: i32) -> ! {
    loop {
        // SAFETY: exit_group takes a value and does not return.
        let _ = unsafe { call4(libc::SYS_exit_group, code as usize, 0, 0, 0) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_and_errors_come_back_and_errno_is_left_alone() {
        // SAFETY: getpid takes no argument.
        let pid = unsafe { call4(libc::SYS_getpid, 0, 0, 0, 0) }.unwrap();
        assert_eq!(pid, std::process::id() as usize);
        Errno::set_raw(0);
        // SAFETY: close of a descriptor that is not open fails and touches no memory.
        let r = unsafe { call4(libc::SYS_close, 987_654, 0, 0, 0) };
        assert_eq!(r, Err(Errno::EBADF));
        if SHARES_MEMORY {
            assert_eq!(Errno::last_raw(), 0, "errno was written");
        }
    }
}
