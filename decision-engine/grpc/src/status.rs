//! The one place a domain error becomes a gRPC status: one `match`, and
//! field-level detail (google.rpc.BadRequest) for every invalid field.

use decision_service::ServiceError;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The status a use case's refusal is sent as.
pub fn to_status(e: ServiceError) -> Status {
    let code = match &e {
        ServiceError::Invalid { fields, .. } => {
            let mut details = ErrorDetails::new();
            for f in fields {
                details.add_bad_request_violation(f.field.clone(), f.message.clone());
            }
            return Status::with_error_details(Code::InvalidArgument, e.to_string(), details);
        }
        ServiceError::NotFound(_) => Code::NotFound,
        ServiceError::Conflict(_) => Code::AlreadyExists,
        ServiceError::Precondition(_) => Code::FailedPrecondition,
        ServiceError::Unauthenticated(_) => Code::Unauthenticated,
        ServiceError::Forbidden(_) => Code::PermissionDenied,
        ServiceError::Changed(_) => Code::Aborted,
        ServiceError::Unavailable(_) => Code::Unavailable,
        ServiceError::Corrupt(_) => Code::DataLoss,
        ServiceError::DeadlineExceeded(_) => Code::DeadlineExceeded,
        ServiceError::Overloaded(_) => Code::ResourceExhausted,
        ServiceError::Internal(_) => Code::Internal,
    };
    Status::new(code, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_the_code_the_handlers_always_sent() {
        // The codes the gRPC handlers sent before the use cases moved out
        // of them; the audit log's `code_name` must name the same.
        let m = String::new;
        for (e, code) in [
            (ServiceError::field("x", "bad"), Code::InvalidArgument),
            (ServiceError::NotFound(m()), Code::NotFound),
            (ServiceError::Conflict(m()), Code::AlreadyExists),
            (ServiceError::Precondition(m()), Code::FailedPrecondition),
            (ServiceError::Unauthenticated(m()), Code::Unauthenticated),
            (ServiceError::Forbidden(m()), Code::PermissionDenied),
            (ServiceError::Changed(m()), Code::Aborted),
            (ServiceError::Unavailable(m()), Code::Unavailable),
            (ServiceError::Corrupt(m()), Code::DataLoss),
            (ServiceError::DeadlineExceeded(m()), Code::DeadlineExceeded),
            (ServiceError::Overloaded(m()), Code::ResourceExhausted),
            (ServiceError::Internal(m()), Code::Internal),
        ] {
            let name = e.code_name();
            assert_eq!(format!("{code:?}"), name);
            assert_eq!(to_status(e).code(), code);
        }
    }

    #[test]
    fn invalid_fields_travel_as_bad_request_violations() {
        let s = to_status(ServiceError::field("features.age", "expected an integer"));
        assert_eq!(s.code(), Code::InvalidArgument);
        let bad = s.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "features.age");
        assert_eq!(bad.field_violations[0].description, "expected an integer");
    }
}
