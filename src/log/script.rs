//! multilog's script: daemontools' actions plus svkit's `T`, `r`, `1`, `p` and `E`,
//! parsed from the command line's words (bytes: paths and patterns need not be UTF-8).

use crate::log::logdir::{MAX_PLAIN_SIZE, MIN_SIZE, Settings};
use crate::units::{parse_duration, parse_size};
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// `e` shows this much of a line unless `E` says otherwise (daemontools' length).
pub const STDERR_LEN: usize = 200;

/// The label put in front of each line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// `t`: `@` + TAI64N, as tai64n.
    Tai64n,
    /// `T`: ISO 8601 UTC, `2026-11-22T00:20:33.123456789Z`.
    Iso,
}

/// What `1` puts before each line: `NAME: `.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prefix {
    None,
    /// `pNAME`.
    Given(Vec<u8>),
    /// A lone `p`: the service's name, from the working directory (see `multilog::service_name`).
    ServiceDir,
}

/// Where selected lines go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    /// `e`: the line's first bytes (this many; 0: all of it) to stderr.
    Stderr(usize),
    /// `1`: the whole line to stdout.
    Stdout(Prefix),
    Status(PathBuf),
    Dir(PathBuf, Settings),
}

/// One item of the script as the selection runs it over each line, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Directive {
    Select(Vec<u8>),
    Deselect(Vec<u8>),
    /// After `F`: the pattern is a shell glob (fnmatch(3)).
    SelectGlob(Vec<u8>),
    DeselectGlob(Vec<u8>),
    /// Index into `Script::sinks`.
    Output(usize),
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    pub stamp: Option<Stamp>,
    pub directives: Vec<Directive>,
    pub sinks: Vec<Sink>,
}

/// What is wrong with a word of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    EmptyAction,
    TimestampNotFirst,
    InvalidAlertSize,
    InvalidSize,
    InvalidNumberOfFiles,
    InvalidRotationAge,
    UnknownAction,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Problem::EmptyAction => "empty action",
            Problem::TimestampNotFirst => "timestamp action must come first",
            Problem::InvalidAlertSize => "invalid alert size",
            Problem::InvalidSize => "invalid size",
            Problem::InvalidNumberOfFiles => "invalid number of files",
            Problem::InvalidRotationAge => "invalid rotation age",
            Problem::UnknownAction => "unknown action",
        })
    }
}

/// A word of the script that cannot be used: a usage error (exit 100). Shown as
/// `WHY: WORD`, the word lossily.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptError {
    pub problem: Problem,
    pub word: OsString,
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.problem, self.word.to_string_lossy())
    }
}

impl crate::cli::Failure for ScriptError {
    fn exit_code(&self) -> i32 {
        crate::cli::EXIT_USAGE
    }
}

/// Parses the script.
pub fn parse(words: &[OsString]) -> Result<Script, ScriptError> {
    let mut parser = Parser::default();
    for (i, w) in words.iter().enumerate() {
        parser.word(i == 0, w).map_err(|problem| ScriptError {
            problem,
            word: w.clone(),
        })?;
    }
    Ok(parser.script)
}

/// The script so far, and the settings later words take.
struct Parser {
    script: Script,
    /// For the directories that follow (`s`, `n`, `!`, `r`).
    settings: Settings,
    /// For the `1`s that follow (`p`).
    prefix: Prefix,
    /// For the `e`s that follow (`E`).
    alert: usize,
    /// After `F`: patterns are globs.
    glob: bool,
}

impl Default for Parser {
    fn default() -> Self {
        Parser {
            script: Script::default(),
            settings: Settings::default(),
            prefix: Prefix::None,
            alert: STDERR_LEN,
            glob: false,
        }
    }
}

/// A number or duration's text: they are ASCII, so anything else is invalid (not a
/// panic).
fn ascii_text(rest: &[u8]) -> &str {
    std::str::from_utf8(rest).unwrap_or("\u{fffd}")
}

impl Parser {
    fn word(&mut self, is_first: bool, w: &OsStr) -> Result<(), Problem> {
        let Some((&first, rest)) = w.as_bytes().split_first() else {
            return Err(Problem::EmptyAction);
        };
        match first {
            b't' | b'T' if rest.is_empty() => {
                if !is_first {
                    return Err(Problem::TimestampNotFirst);
                }
                self.script.stamp = Some(match first {
                    b't' => Stamp::Tai64n,
                    _ => Stamp::Iso,
                });
            }
            b'-' | b'+' => self.select(first == b'+', rest),
            b'F' if rest.is_empty() => self.glob = true,
            b'e' if rest.is_empty() => self.output(Sink::Stderr(self.alert)),
            b'1' if rest.is_empty() => self.output(Sink::Stdout(self.prefix.clone())),
            b'=' if !rest.is_empty() => {
                self.output(Sink::Status(PathBuf::from(OsStr::from_bytes(rest))))
            }
            b'.' | b'/' => self.output(Sink::Dir(PathBuf::from(w), self.settings.clone())),
            b'p' | b'E' => self.line_setting(first, rest)?,
            b's' | b'n' | b'!' | b'r' => self.dir_setting(first, rest)?,
            _ => return Err(Problem::UnknownAction),
        }
        Ok(())
    }

    fn select(&mut self, select: bool, pattern: &[u8]) {
        let pattern = pattern.to_vec();
        self.script.directives.push(match (select, self.glob) {
            (true, false) => Directive::Select(pattern),
            (false, false) => Directive::Deselect(pattern),
            (true, true) => Directive::SelectGlob(pattern),
            (false, true) => Directive::DeselectGlob(pattern),
        });
    }

    fn output(&mut self, sink: Sink) {
        let s = &mut self.script;
        s.directives.push(Directive::Output(s.sinks.len()));
        s.sinks.push(sink);
    }

    /// `pNAME` and `ESIZE`: how the `1`s and `e`s that follow show a line.
    fn line_setting(&mut self, first: u8, rest: &[u8]) -> Result<(), Problem> {
        match first {
            b'p' => {
                self.prefix = match rest {
                    [] => Prefix::ServiceDir,
                    name => Prefix::Given(name.to_vec()),
                }
            }
            _ => {
                self.alert = match rest.iter().all(u8::is_ascii_digit) {
                    true => ascii_text(rest)
                        .parse()
                        .map_err(|_| Problem::InvalidAlertSize)?,
                    false => return Err(Problem::InvalidAlertSize),
                }
            }
        }
        Ok(())
    }

    /// `s`, `n`, `!` and `r`: the settings of the directories that follow.
    fn dir_setting(&mut self, first: u8, rest: &[u8]) -> Result<(), Problem> {
        let settings = &mut self.settings;
        match first {
            b's' => {
                let n = parse_size(ascii_text(rest)).map_err(|_| Problem::InvalidSize)?;
                // Plain numbers keep daemontools' bounds; suffixed sizes may go higher.
                let max = if rest.iter().all(u8::is_ascii_digit) {
                    MAX_PLAIN_SIZE
                } else {
                    u64::MAX
                };
                settings.max_size = n.clamp(MIN_SIZE, max);
            }
            b'n' => {
                let n: usize = ascii_text(rest)
                    .parse()
                    .map_err(|_| Problem::InvalidNumberOfFiles)?;
                settings.num = n.max(2);
            }
            b'!' => {
                settings.processor =
                    (!rest.is_empty()).then(|| OsStr::from_bytes(rest).to_os_string())
            }
            _ => {
                let d =
                    parse_duration(ascii_text(rest)).map_err(|_| Problem::InvalidRotationAge)?;
                settings.max_age = (!d.is_zero()).then_some(d);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<OsString> {
        s.split_whitespace().map(OsString::from).collect()
    }

    #[test]
    fn parses_daemontools_scripts() {
        let s = parse(&words("t s16777215 n10 ./main")).unwrap();
        assert_eq!(s.stamp, Some(Stamp::Tai64n));
        assert_eq!(s.sinks.len(), 1);
        let Sink::Dir(p, set) = &s.sinks[0] else {
            panic!()
        };
        assert_eq!(p, &PathBuf::from("./main"));
        assert_eq!((set.max_size, set.num), (16_777_215, 10));
        let s = parse(&words("-* +*fatal* e =st s100 n1 !gzip /var/log/x r1h")).unwrap();
        assert_eq!(s.directives.len(), 5);
        let Sink::Dir(_, set) = &s.sinks[2] else {
            panic!()
        };
        assert_eq!((set.max_size, set.num), (4096, 2));
        assert_eq!(set.processor.as_deref(), Some(OsStr::new("gzip")));
        let s = parse(&words("s99999999 ./a s64m ./b")).unwrap();
        let sizes: Vec<u64> = s
            .sinks
            .iter()
            .map(|k| match k {
                Sink::Dir(_, s) => s.max_size,
                _ => 0,
            })
            .collect();
        assert_eq!(sizes, vec![16_777_215, 64 << 20]);
    }

    #[test]
    fn rejects_bad_words() {
        let err = |s: &str| parse(&words(s)).unwrap_err().to_string();
        assert_eq!(err("foo"), "unknown action: foo");
        assert_eq!(err("./a t"), "timestamp action must come first: t");
        assert_eq!(err("sbig ./a"), "invalid size: sbig");
        assert_eq!(err("nx ./a"), "invalid number of files: nx");
        assert_eq!(err("rsoon ./a"), "invalid rotation age: rsoon");
        assert_eq!(err("= ./a"), "unknown action: =");
        assert_eq!(err("tx"), "unknown action: tx");
        assert_eq!(err("Fx"), "unknown action: Fx");
        let e = parse(&[OsString::new()]).unwrap_err();
        assert_eq!(e.to_string(), "empty action: ");
        assert_eq!(crate::cli::Failure::exit_code(&e), 100);
    }

    #[test]
    fn patterns_after_f_are_globs() {
        let s = parse(&words("-a +b F -c +d e")).unwrap();
        assert_eq!(
            s.directives,
            vec![
                Directive::Deselect(b"a".to_vec()),
                Directive::Select(b"b".to_vec()),
                Directive::DeselectGlob(b"c".to_vec()),
                Directive::SelectGlob(b"d".to_vec()),
                Directive::Output(0),
            ]
        );
    }

    #[test]
    fn parses_svkit_outputs() {
        let s = parse(&words("1 pweb 1 p 1 e E0 e E300 e")).unwrap();
        assert_eq!(
            s.sinks,
            vec![
                Sink::Stdout(Prefix::None),
                Sink::Stdout(Prefix::Given(b"web".to_vec())),
                Sink::Stdout(Prefix::ServiceDir),
                Sink::Stderr(STDERR_LEN),
                Sink::Stderr(0),
                Sink::Stderr(300),
            ]
        );
        for bad in ["E", "Ex", "E-1", "E99999999999999999999999", "1x"] {
            assert!(parse(&words(bad)).is_err(), "{bad}");
        }
    }
}
