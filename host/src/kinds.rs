//! What kind a library error is: a mark found in its chain, or one of the library's typed
//! errors (a plan's, a plugin's, a package's, an HTTP one).

use crate::engine::plan::PlanError;
use crate::error::{Error, ErrorKind, Marked};
use crate::net::http::HttpError;
use crate::package::PackageError;
use crate::plugin::PluginError;
use crate::plugin::types::GuestError;

impl Error {
    /// The kind of an error that may hold one of ours in its chain (a front end that keeps
    /// `anyhow` finds it so); `None` when it holds none.
    pub fn kind_of(e: &anyhow::Error) -> Option<ErrorKind> {
        e.chain().find_map(kind_of_cause)
    }

    /// As `From<anyhow::Error>`, with `default` where nothing in the chain says.
    pub(crate) fn or(e: anyhow::Error, default: ErrorKind) -> Error {
        let kind = Error::kind_of(&e).unwrap_or(default);
        Error { kind, error: e }
    }
}

/// The kind a cause says: a mark, or a typed error of the library.
fn kind_of_cause(cause: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    if let Some(e) = cause.downcast_ref::<Error>() {
        return Some(e.kind);
    }
    if let Some(m) = cause.downcast_ref::<Marked>() {
        return Some(m.kind);
    }
    if let Some(e) = cause.downcast_ref::<PlanError>() {
        return Some(match e {
            PlanError::Usage(_) => ErrorKind::Config,
            PlanError::Plugin(p) => return kind_of_cause(p),
            PlanError::Conflicts(_) | PlanError::Unresolved(_) | PlanError::Prune(_) => {
                ErrorKind::Plan
            }
            PlanError::Locked(_) => ErrorKind::Locked,
        });
    }
    if let Some(e) = cause.downcast_ref::<PluginError>() {
        return Some(match e {
            // A plugin's own error relays the platform's answer.
            PluginError::Guest { error, .. } => match error {
                GuestError::Denied(_) => ErrorKind::Credentials,
                GuestError::Transient(_) => ErrorKind::Network,
                _ => ErrorKind::Platform,
            },
            _ => ErrorKind::Plugin,
        });
    }
    if cause.downcast_ref::<PackageError>().is_some() {
        return Some(ErrorKind::Package);
    }
    if let Some(e) = cause.downcast_ref::<HttpError>() {
        return Some(match e {
            HttpError::Timeout { .. } | HttpError::Connect { .. } => ErrorKind::Network,
            HttpError::Refused(_) => ErrorKind::Plugin,
            _ => ErrorKind::Platform,
        });
    }
    if cause.downcast_ref::<reqwest::Error>().is_some() {
        return Some(ErrorKind::Network);
    }
    None
}

impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Error {
        Error::or(e, ErrorKind::Internal)
    }
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Error {
        Error::from(anyhow::Error::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Mark;

    #[test]
    fn the_outermost_kind_wins_and_the_message_is_the_whole_chain() {
        let inner: anyhow::Result<()> = Err(anyhow::anyhow!("no key")).kind(ErrorKind::Credentials);
        let e = inner.unwrap_err().context("opening the source");
        assert_eq!(Error::kind_of(&e), Some(ErrorKind::Credentials));
        let e = Error::from(e);
        assert_eq!(e.kind(), ErrorKind::Credentials);
        assert_eq!(e.to_string(), "opening the source: no key");
        // Kept as anyhow by a front end, then found again.
        let again = anyhow::Error::new(e).context("job 1");
        assert_eq!(Error::kind_of(&again), Some(ErrorKind::Credentials));
        assert_eq!(format!("{again:#}"), "job 1: opening the source: no key");
        let plain = Error::from(anyhow::anyhow!("disk full"));
        assert_eq!(plain.kind(), ErrorKind::Internal);
        let locked = Error::from(crate::engine::plan::PlanError::Locked("held".into()));
        assert_eq!(locked.kind(), ErrorKind::Locked);
    }
}
