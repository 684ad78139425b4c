//! Chain-loading: after doing its one job, a tool replaces itself with the rest of its
//! command line (a program found on $PATH, and its arguments).

use super::{EXIT_TEMP, fatal, ioerrstr, usage, usage_error};
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

/// An option as the parser saw it, owned so the handler may read its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opt {
    Short(char),
    Long(String),
}

impl std::fmt::Display for Opt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Opt::Short(c) => write!(f, "-{c}"),
            Opt::Long(l) => write!(f, "--{l}"),
        }
    }
}

/// Parses a chain-loader's command line: options as `on_option` takes them (it returns
/// false for one it does not know), then `operands` leading operands (a file, an
/// account), then the program. Exits 100 with the usage on any error.
pub fn parse_args(
    prog: &str,
    synopsis: &str,
    operands: usize,
    mut on_option: impl FnMut(&mut lexopt::Parser, Opt) -> Result<bool, String>,
) -> (Vec<OsString>, Program) {
    let mut parser = lexopt::Parser::from_env();
    let mut handle = |parser: &mut lexopt::Parser, opt: Opt| match on_option(parser, opt.clone()) {
        Ok(true) => {}
        Ok(false) => usage_error(prog, synopsis, format!("invalid option '{opt}'")),
        Err(msg) => usage_error(prog, synopsis, msg),
    };
    let mut first = None;
    loop {
        match parser.next() {
            Ok(Some(lexopt::Arg::Value(v))) => {
                first = Some(v);
                break;
            }
            Ok(Some(lexopt::Arg::Short(c))) => handle(&mut parser, Opt::Short(c)),
            Ok(Some(lexopt::Arg::Long(l))) => {
                let opt = Opt::Long(l.to_string());
                handle(&mut parser, opt)
            }
            Ok(None) => break,
            Err(e) => usage_error(prog, synopsis, e),
        }
    }
    // Everything after the first operand is taken verbatim: the program's own options
    // must not be read as ours.
    let mut rest: Vec<OsString> = first.into_iter().collect();
    if let Ok(raw) = parser.raw_args() {
        rest.extend(raw);
    }
    if rest.len() <= operands {
        usage(prog, synopsis);
    }
    let program = rest.split_off(operands);
    match Program::new(program) {
        Some(p) => (rest, p),
        None => usage(prog, synopsis),
    }
}
