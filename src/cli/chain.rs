//! Chain-loading: after doing its one job, a tool replaces itself with the rest of its
//! command line (a program found on $PATH, and its arguments).

pub use super::Opt;
use super::{EXIT_TEMP, fatal, ioerrstr, options_then_operands, usage};
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// The operands that name the program to run and its arguments.
#[derive(Debug)]
pub struct Program {
    argv: Vec<OsString>,
}

impl Program {
    /// `None` when no program was given.
    pub fn new(argv: Vec<OsString>) -> Option<Self> {
        (!argv.is_empty()).then_some(Program { argv })
    }

    pub fn name(&self) -> String {
        self.argv[0].to_string_lossy().into_owned()
    }

    /// A command for the program, to which the caller adds environment changes.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(&self.argv[0]);
        cmd.args(&self.argv[1..]);
        cmd
    }

    /// Replaces this process with `cmd`; on failure says `PROG: fatal: unable to run
    /// NAME: REASON` and exits 111, as daemontools' tools do.
    pub fn exec(&self, prog: &str, mut cmd: Command) -> ! {
        let e = cmd.exec();
        fatal(
            prog,
            EXIT_TEMP,
            &format!("unable to run {}: {}", self.name(), ioerrstr(&e)),
        )
    }
}

/// Parses a chain-loader's command line: options as `on_option` takes them (it returns
/// false for one it does not know), then `operands` leading operands (a file, an
/// account), then the program. Exits 100 with the usage on any error.
pub fn parse_args(
    prog: &str,
    synopsis: &str,
    operands: usize,
    on_option: impl FnMut(&mut lexopt::Parser, Opt) -> Result<bool, String>,
) -> (Vec<OsString>, Program) {
    let mut rest = options_then_operands(prog, synopsis, on_option);
    if rest.len() <= operands {
        usage(prog, synopsis);
    }
    let program = rest.split_off(operands);
    match Program::new(program) {
        Some(p) => (rest, p),
        None => usage(prog, synopsis),
    }
}
