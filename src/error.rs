//! Errors by what the caller does with them: the CLI maps them to exit codes
//! (invalid input → 2, everything else → 1) and to messages a marketer understands.

use crate::consent::Refusal;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The input (a file, a flag, a config value) is wrong; nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The operation would break a rule that protects a person's choice; nothing was written.
    #[error("refused: {0}")]
    Refused(String),
    /// Something Herald depends on (the relays) cannot be reached; nothing was sent.
    #[error("{0}")]
    Unavailable(String),
    /// Storage or I/O failed; the operation may be retried.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Invalid(_) => 2,
            _ => 1,
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database error"))
    }
}

impl From<sqlx::migrate::MigrateError> for Error {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        Error::Internal(anyhow::Error::new(e).context("database migration failed"))
    }
}

impl From<Refusal> for Error {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::Invalid(m) => Error::Invalid(m),
            Refusal::NotFound => Error::NotFound(r.to_string()),
            other => Error::Refused(other.to_string()),
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An error in an input file at a byte offset: `FILE:LINE:COL: message` (1-based line
/// and column in characters), the form every file Herald reads reports its errors in.
pub fn at_offset(path: &std::path::Path, text: &str, offset: usize, message: &str) -> Error {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Error::Invalid(format!("{}:{line}:{col}: {message}", path.display()))
}

/// A TOML parse or schema error of an input file, placed by [`at_offset`] when the
/// parser knows where it is.
pub fn toml_error(path: &std::path::Path, text: &str, e: &toml::de::Error) -> Error {
    match e.span() {
        Some(span) => at_offset(path, text, span.start, e.message().trim()),
        None => Error::Invalid(format!("{}: {}", path.display(), e.message().trim())),
    }
}
