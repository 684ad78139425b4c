//! svkit: daemontools-style process supervision. Every on-disk format and protocol lives
//! here once; the binaries in `src/bin/` are thin mains over these modules.

pub mod account;
pub mod admin;
pub mod bounded;
pub mod cli;
pub mod clinit;
pub mod control;
pub mod diag;
pub mod dirlist;
pub mod envdir;
pub mod fghack;
pub mod lock;
pub mod log;
pub mod procstat;
pub mod proctitle;
pub mod rawcall;
pub mod rename;
pub mod report;
pub mod restart;
pub mod sdnotify;
pub mod service_dir;
pub mod settings;
pub mod sibling;
pub mod softlimit;
pub mod spawn;
pub mod status;
pub mod supervise;
pub mod svscan;
pub mod svwait;
pub mod swoc;
pub mod tai64;
pub mod units;
pub mod wakeup;
