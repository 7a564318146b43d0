//! The gRPC contract (`proto/decision/v1`), generated at build time, and the
//! conversions between its messages and the engine's request and decision.

pub mod convert;

/// Generated messages, client and server of `decision.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("decision.v1");

    /// The encoded descriptors of `decision.v1`, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("decision_v1_descriptor");
}
