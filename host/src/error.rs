//! The library's error: a message, and a kind a front end tells apart without reading the
//! message. The CLI maps the kind to an exit code, the job server to a job's record and an
//! API error code.
//!
//! Inside the library errors stay `anyhow` with context; where a failure's kind is known,
//! [`Mark::kind`] marks it, and `Error::from` (in `kinds`, which knows the typed errors)
//! finds the mark, or a typed error, in the chain. This module imports nothing of the crate,
//! so that every module may mark its errors. Messages name settings in backquotes (`` `prune.allow_delete` ``) rather than
//! one front end's flags; a front end says which of its flags or fields sets each.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What went wrong, in the terms a user acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// the run's settings: a flag, a promotion or server file, a parameter, a selection
    Config,
    /// a credential is missing, unreadable or refused
    Credentials,
    /// the platform answered with an error, or not as its contract says
    Platform,
    /// a plugin or hook did not load, broke a limit, crashed or broke a sandbox rule
    Plugin,
    /// the plan stopped the run before any write (a name conflict with `abort`, a reference
    /// that does not resolve, a prune guard)
    Plan,
    /// another run holds the target
    Locked,
    /// a package is unreadable or fails a check
    Package,
    /// a server could not be reached or did not answer in time
    Network,
    /// a fault of ferry's own (a store, a file it keeps, a bug)
    Internal,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Credentials => "credentials",
            ErrorKind::Platform => "platform",
            ErrorKind::Plugin => "plugin",
            ErrorKind::Plan => "plan",
            ErrorKind::Locked => "locked",
            ErrorKind::Package => "package",
            ErrorKind::Network => "network",
            ErrorKind::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of a library call: its kind and its message (with the causes).
pub struct Error {
    pub(crate) kind: ErrorKind,
    pub(crate) error: anyhow::Error,
}

impl Error {
    pub fn new(kind: ErrorKind, error: impl Into<anyhow::Error>) -> Error {
        Error {
            kind,
            error: error.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The whole chain: the error is a front end's last word, and has no `source`.
        write!(f, "{:#}", self.error)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {:#}", self.kind, self.error)
    }
}

impl std::error::Error for Error {}

/// An error marked with its kind where it happened; reads as the error it wraps.
pub(crate) struct Marked {
    pub(crate) kind: ErrorKind,
    error: anyhow::Error,
}

impl fmt::Display for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl fmt::Debug for Marked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.error, f)
    }
}

impl std::error::Error for Marked {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.chain().nth(1)
    }
}

/// Marking a result's error with its kind.
pub(crate) trait Mark<T> {
    fn kind(self, kind: ErrorKind) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> Mark<T> for Result<T, E> {
    fn kind(self, kind: ErrorKind) -> anyhow::Result<T> {
        self.map_err(|e| {
            anyhow::Error::new(Marked {
                kind,
                error: e.into(),
            })
        })
    }
}
