//! Client names (what may be a file name in `locks/`), `-m` comments, and the host name that is the default client.

use super::{COMMENT_MAX, NAME_MAX};
use nix::errno::Errno;
use std::ffi::OsStr;

/// What is wrong with a client name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameProblem {
    Empty,
    TooLong,
    LeadingDot,
    TrailingDot,
    DotDot,
    BadChar(char),
}

/// A client name that cannot be used: it would not be a plain file name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameError {
    pub input: String,
    pub problem: NameProblem,
}

impl std::fmt::Display for NameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid client name {:?}: ", self.input)?;
        match self.problem {
            NameProblem::Empty => write!(f, "empty"),
            NameProblem::TooLong => write!(f, "longer than {NAME_MAX} characters"),
            NameProblem::LeadingDot => write!(f, "starts with '.'"),
            NameProblem::TrailingDot => write!(f, "ends with '.'"),
            NameProblem::DotDot => write!(f, "contains '..'"),
            NameProblem::BadChar(c) => write!(
                f,
                "{c:?} not allowed (want letters, digits, '.', '_' and '-')"
            ),
        }
    }
}

impl std::error::Error for NameError {}

/// A checked client name: letters, digits, `.`, `_`, `-`, not starting or ending with
/// `.`, no `..`, at most NAME_MAX long. It is used as a file name, never as a path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientName(pub(super) String);

impl ClientName {
    pub fn new(s: &str) -> Result<ClientName, NameError> {
        let err = |problem| NameError {
            input: s.to_string(),
            problem,
        };
        if s.is_empty() {
            return Err(err(NameProblem::Empty));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(err(NameProblem::BadChar(c)));
        }
        if s.len() > NAME_MAX {
            return Err(err(NameProblem::TooLong));
        }
        if s.starts_with('.') {
            return Err(err(NameProblem::LeadingDot));
        }
        if s.contains("..") {
            return Err(err(NameProblem::DotDot));
        }
        // The client of a lock file is everything before its last '.'.
        if s.ends_with('.') {
            return Err(err(NameProblem::TrailingDot));
        }
        Ok(ClientName(s.to_string()))
    }

    /// From a command-line or environment value, which may not be UTF-8.
    pub fn from_os(s: &OsStr) -> Result<ClientName, NameError> {
        ClientName::new(&s.to_string_lossy())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ClientName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A `-m` comment that cannot be stored on one line of a lock file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommentError {
    TooLong,
    ControlChar,
}

impl std::fmt::Display for CommentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommentError::TooLong => write!(f, "comment longer than {COMMENT_MAX} bytes"),
            CommentError::ControlChar => write!(f, "comment must be one line of printable text"),
        }
    }
}

impl std::error::Error for CommentError {}

pub fn check_comment(s: &str) -> Result<(), CommentError> {
    if s.len() > COMMENT_MAX {
        return Err(CommentError::TooLong);
    }
    if s.chars().any(char::is_control) {
        return Err(CommentError::ControlChar);
    }
    Ok(())
}

/// The host name, which is also the default client name.
pub fn hostname() -> Result<String, Errno> {
    nix::unistd::gethostname().map(|h| h.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_names() {
        for good in [
            "alpha",
            "host.example.com",
            "a_b-c",
            "A1",
            "x.y",
            &"n".repeat(64),
        ] {
            assert_eq!(ClientName::new(good).unwrap().as_str(), good);
        }
        let bad = |s: &str| ClientName::new(s).unwrap_err().problem;
        assert_eq!(bad(""), NameProblem::Empty);
        assert_eq!(bad(&"n".repeat(65)), NameProblem::TooLong);
        assert_eq!(bad(".hidden"), NameProblem::LeadingDot);
        assert_eq!(bad(".."), NameProblem::LeadingDot);
        assert_eq!(bad("a..b"), NameProblem::DotDot);
        assert_eq!(bad("a."), NameProblem::TrailingDot);
        assert_eq!(bad("a/b"), NameProblem::BadChar('/'));
        assert_eq!(bad("../x"), NameProblem::BadChar('/'));
        assert_eq!(bad("a b"), NameProblem::BadChar(' '));
        assert_eq!(bad("a\0b"), NameProblem::BadChar('\0'));
        assert_eq!(bad("héllo"), NameProblem::BadChar('é'));
        assert_eq!(
            ClientName::new("a/b").unwrap_err().to_string(),
            "invalid client name \"a/b\": '/' not allowed (want letters, digits, '.', '_' and '-')"
        );
    }

    #[test]
    fn comments() {
        assert!(check_comment("nightly backup, see #42").is_ok());
        assert_eq!(check_comment("a\nb"), Err(CommentError::ControlChar));
        assert_eq!(check_comment(&"x".repeat(513)), Err(CommentError::TooLong));
    }
}
