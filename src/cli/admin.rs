//! The command line of the admin frontends svcstart, svcstop, svcreset, svcrestart.

use crate::admin::{Interrupted, Options, Output, Verb};
use std::ffi::OsString;

/// The whole program for one frontend: parse the command line, handle each service in
/// turn (`admin::handle_services`), exit with the worst code.
pub fn main(verb: Verb) -> ! {
    let prog = verb.program();
    let synopsis = verb.synopsis();
    super::help_if_asked(prog, &synopsis, true);
    let (opts, names) = match parse_args(verb, std::env::args_os().skip(1)) {
        Ok(v) => v,
        Err(why) => super::usage_error(prog, &synopsis, why),
    };
    if names.is_empty() {
        super::usage(prog, &synopsis);
    }
    match crate::admin::handle_services(verb, &opts, &names) {
        Ok(code) => std::process::exit(code),
        Err(Interrupted(sig)) => super::die_of_signal(sig),
    }
}

/// Options and service names from the command line.
fn parse_args(
    verb: Verb,
    args: impl IntoIterator<Item = OsString>,
) -> Result<(Options, Vec<OsString>), String> {
    use lexopt::Arg;
    let mut opts = Options::default();
    let mut names = Vec::new();
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Arg::Short('q') | Arg::Long("quiet") => opts.output = Output::Quiet,
            Arg::Long("json") => opts.output = Output::Json,
            Arg::Short('t') | Arg::Long("timeout") => {
                opts.timeout = super::duration_arg(&mut p)?;
            }
            Arg::Short('T') | Arg::Long("script-timeout") => {
                opts.script_timeout = super::duration_arg(&mut p)?;
            }
            Arg::Short('s') | Arg::Long("settle") => {
                opts.settle = super::duration_arg(&mut p)?;
            }
            Arg::Short('p') | Arg::Long("persist") if matches!(verb, Verb::Start | Verb::Stop) => {
                opts.persist = true
            }
            Arg::Value(v) => names.push(v),
            other => return Err(other.unexpected().to_string()),
        }
    }
    Ok((opts, names))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::{DEFAULT_SCRIPT_TIMEOUT, DEFAULT_TIMEOUT};
    use std::time::Duration;

    fn args(a: &[&str]) -> Vec<std::ffi::OsString> {
        a.iter().map(Into::into).collect()
    }

    #[test]
    fn parses_options() {
        let (o, n) = parse_args(
            Verb::Start,
            args(&[
                "-p", "-t", "1m", "-T", "2h", "-s", "250ms", "--json", "a", "b",
            ]),
        )
        .unwrap();
        assert!(o.persist);
        assert_eq!(o.timeout, Duration::from_secs(60));
        assert_eq!(o.script_timeout, Duration::from_secs(7200));
        assert_eq!(o.settle, Duration::from_millis(250));
        assert_eq!(o.output, Output::Json);
        assert_eq!(n, ["a", "b"]);
        let (o, _) = parse_args(Verb::Stop, args(&["-q", "x"])).unwrap();
        assert_eq!(o.output, Output::Quiet);
        assert_eq!(o.timeout, DEFAULT_TIMEOUT);
        assert_eq!(o.script_timeout, DEFAULT_SCRIPT_TIMEOUT);
        let (o, _) = parse_args(Verb::Start, args(&["--script-timeout", "90s", "x"])).unwrap();
        assert_eq!(o.script_timeout, Duration::from_secs(90));
    }

    #[test]
    fn rejects_what_does_not_apply() {
        assert!(parse_args(Verb::Restart, args(&["-p", "x"])).is_err());
        assert!(parse_args(Verb::Start, args(&["-t", "soon", "x"])).is_err());
        assert!(parse_args(Verb::Start, args(&["-z", "x"])).is_err());
    }
}
