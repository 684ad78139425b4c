//! Finding the other svkit programs: the multicall binary itself when that is what runs
//! (so that svscan, its supervises and their loggers share one binary in memory), else
//! the binary beside the running one, else on $PATH, so that an svkit svscan starts
//! svkit's supervise even where daemontools is installed too. Callers start the result
//! with argv[0] set to `name` (the multicall binary picks the program by it).

use std::path::PathBuf;

/// The name of the multicall binary.
pub const MULTICALL: &str = "svkit";

pub fn sibling_binary(name: &str) -> PathBuf {
    let me = std::env::current_exe().ok();
    if let Some(me) = &me
        && me.file_name().is_some_and(|n| n == MULTICALL)
    {
        return me.clone();
    }
    me.map(|p| p.with_file_name(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}
