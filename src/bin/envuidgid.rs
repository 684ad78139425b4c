//! envuidgid ACCOUNT PROGRAM...: run PROGRAM with $UID and $GID of ACCOUNT.

use svkit::cli::chain::parse_args;
use svkit::cli::help_if_asked;
use svkit::cli::lookup_account;

const SYNOPSIS: &str = "envuidgid account child";

pub fn main() {
    help_if_asked("envuidgid", SYNOPSIS, true);
    let (operands, program) = parse_args("envuidgid", SYNOPSIS, 1, |_, _| Ok(false));
    let name = operands[0].to_string_lossy();
    let (acct, _) = lookup_account("envuidgid", &name);
    let mut cmd = program.command();
    cmd.env("UID", acct.uid.to_string())
        .env("GID", acct.gid.to_string());
    program.exec("envuidgid", cmd);
}
