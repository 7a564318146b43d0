//! The one error of the use cases. Each variant says what went wrong in the
//! domain's terms; each front door turns it into its own form in one place
//! (a gRPC status in `decision-grpc`, an exit code in the command line).

use decision_core::{FieldError, InputError};
use decision_store::StoreError;

/// Why a use case did not do what was asked. The message names the field,
/// the document or the record and says what was expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The request or document is wrong; `fields` names each problem.
    #[error("{summary}")]
    Invalid {
        summary: String,
        fields: Vec<FieldError>,
    },
    /// No such decision, version or activation.
    #[error("{0}")]
    NotFound(String),
    /// The name is taken by other content (a request id, a version).
    #[error("{0}")]
    Conflict(String),
    /// The request is well formed but the state does not allow it (a
    /// version not published, a rollback to versions that never ran).
    #[error("{0}")]
    Precondition(String),
    /// No credentials, or unknown ones.
    #[error("{0}")]
    Unauthenticated(String),
    /// Known caller, not allowed (a role, four-eyes).
    #[error("{0}")]
    Forbidden(String),
    /// The record changed while acting on it; list it and retry.
    #[error("{0}")]
    Changed(String),
    /// The store cannot be reached; nothing was recorded or changed.
    #[error("{0}")]
    Unavailable(String),
    /// Stored data is damaged or does not match its hash.
    #[error("{0}")]
    Corrupt(String),
    /// The caller's deadline passed.
    #[error("{0}")]
    DeadlineExceeded(String),
    /// The service is at its limit of work in flight.
    #[error("{0}")]
    Overloaded(String),
    /// A bug.
    #[error("{0}")]
    Internal(String),
}

impl ServiceError {
    /// One problem with one field.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> ServiceError {
        ServiceError::from(InputError::one(field, message))
    }

    /// Every problem of a refused input.
    pub fn from_fields(errors: Vec<FieldError>) -> ServiceError {
        ServiceError::from(InputError { errors })
    }

    /// A store failure, saying what did not happen (e.g. "nothing was
    /// recorded, retry with the same request_id").
    pub fn store(e: StoreError, consequence: &str) -> ServiceError {
        match e {
            StoreError::TooNew { .. } => ServiceError::Precondition(e.to_string()),
            StoreError::Duplicate(m) => ServiceError::Precondition(m),
            other => ServiceError::Unavailable(format!("{other}; {consequence}")),
        }
    }
}

impl From<InputError> for ServiceError {
    fn from(e: InputError) -> ServiceError {
        ServiceError::Invalid {
            summary: e.to_string(),
            fields: e.errors,
        }
    }
}

impl ServiceError {
    /// The stable name of the kind of refusal, as the audit log records it
    /// (`FailedPrecondition: ...`). These are the gRPC code names the log
    /// has always held; they are a stored format, so they never change.
    pub fn code_name(&self) -> &'static str {
        match self {
            ServiceError::Invalid { .. } => "InvalidArgument",
            ServiceError::NotFound(_) => "NotFound",
            ServiceError::Conflict(_) => "AlreadyExists",
            ServiceError::Precondition(_) => "FailedPrecondition",
            ServiceError::Unauthenticated(_) => "Unauthenticated",
            ServiceError::Forbidden(_) => "PermissionDenied",
            ServiceError::Changed(_) => "Aborted",
            ServiceError::Unavailable(_) => "Unavailable",
            ServiceError::Corrupt(_) => "DataLoss",
            ServiceError::DeadlineExceeded(_) => "DeadlineExceeded",
            ServiceError::Overloaded(_) => "ResourceExhausted",
            ServiceError::Internal(_) => "Internal",
        }
    }
}
