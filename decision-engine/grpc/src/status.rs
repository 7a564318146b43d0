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
    fn the_audit_log_names_each_refusal_by_its_grpc_code() {
        // The audit log's detail (`code_name`) and the status a caller gets
        // must name the same code.
        for e in [
            ServiceError::field("x", "bad"),
            ServiceError::NotFound(String::new()),
            ServiceError::Conflict(String::new()),
            ServiceError::Precondition(String::new()),
            ServiceError::Unauthenticated(String::new()),
            ServiceError::Forbidden(String::new()),
            ServiceError::Changed(String::new()),
            ServiceError::Unavailable(String::new()),
            ServiceError::Corrupt(String::new()),
            ServiceError::DeadlineExceeded(String::new()),
            ServiceError::Overloaded(String::new()),
            ServiceError::Internal(String::new()),
        ] {
            let name = e.code_name();
            assert_eq!(format!("{:?}", to_status(e).code()), name);
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
