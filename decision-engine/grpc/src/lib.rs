//! The gRPC front door: the `decision.v1` contract (generated at build time
//! from `proto/`), the conversions between its messages and the engine's
//! types, thin handlers over the use cases of `decision-service`, and the
//! server's wiring (health, reflection, metrics, TLS, graceful shutdown).
//! [`status`] is the one place a domain error becomes a gRPC status.

#![forbid(unsafe_code)]

pub mod convert;
mod decisions;
pub mod limits;
mod metadata;
pub mod monitoring;
pub mod precredit;
mod registry;
pub mod reviews;
pub mod server;
pub mod status;

pub use decisions::DecisionHandlers;
pub use monitoring::MonitoringHandlers;
pub use precredit::PreCreditHandlers;
pub use registry::RegistryHandlers;
pub use reviews::ReviewHandlers;
pub use server::{ServerConfig, serve};

/// Generated messages, client and server of `decision.v1`.
#[allow(clippy::all, missing_docs)]
pub mod pb {
    tonic::include_proto!("decision.v1");

    /// The encoded descriptors of `decision.v1`, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("decision_v1_descriptor");
}
