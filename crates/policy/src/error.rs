//! The crate's one error type.

use std::fmt;

/// A problem at a place in a file: `file:line:col: message`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The file's path as the user gave it (or a built-in name such as `<guarded>`).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong and what to do.
    pub message: String,
}

impl Located {
    /// Locate a byte offset of `text` (clamped to its length).
    pub fn at(file: &str, text: &str, offset: usize, message: impl Into<String>) -> Self {
        let offset = floor_char_boundary(text, offset);
        let before = text.get(..offset).unwrap_or(text);
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
        Located { file: file.to_owned(), line, col, message: message.into() }
    }
}

fn floor_char_boundary(text: &str, offset: usize) -> usize {
    let mut i = offset.min(text.len());
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// Why a configuration, policy or project file could not be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// `config.toml` is malformed or has an unknown or invalid key.
    #[error("{0}")]
    Config(Located),
    /// A Cedar policy file does not parse, does not validate, or misuses Holdpoint's annotations.
    #[error("{0}")]
    Policy(Located),
    /// A project's `.holdpoint.toml` is malformed or tries to loosen the user's policy.
    #[error("{0}")]
    Project(Located),
}

impl Error {
    /// Where the problem is.
    pub fn located(&self) -> &Located {
        match self {
            Error::Config(l) | Error::Policy(l) | Error::Project(l) => l,
        }
    }
}
