//! multilog's subsystem: the script, the engine that selects and labels lines, log
//! directories and their rotation, the input readers, patterns and timestamps.

pub mod input;
pub mod logdir;
pub mod logger;
pub mod multilog;
pub mod pattern;
pub mod script;
pub mod timestamp;
