//! setuidgid [-s] ACCOUNT PROGRAM...: run PROGRAM as ACCOUNT.

use svkit::account::become_account;
use svkit::cli::chain::{Opt, parse_args};
use svkit::cli::lookup_account;
use svkit::cli::{EXIT_TEMP, fatal, help_if_asked};

const SYNOPSIS: &str = "setuidgid [-s] account child";

pub fn main() {
    help_if_asked("setuidgid", SYNOPSIS, true);
    let mut supplementary = false;
    let (operands, program) = parse_args("setuidgid", SYNOPSIS, 1, |_, opt| {
        Ok(match opt {
            Opt::Short('s') => {
                supplementary = true;
                true
            }
            _ => false,
        })
    });
    let name = operands[0].to_string_lossy();
    let (acct, source) = lookup_account("setuidgid", &name);
    if let Err(e) = become_account(&acct, source, supplementary) {
        fatal("setuidgid", EXIT_TEMP, &e.to_string());
    }
    program.exec("setuidgid", program.command());
}
