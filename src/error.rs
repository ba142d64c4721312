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
