//! Finding the other svkit binaries: beside the running one, else on $PATH, so that an
//! svkit svscan starts svkit's supervise even where daemontools is installed too.

use std::path::PathBuf;

pub fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .map(|p| p.with_file_name(name))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name))
}
