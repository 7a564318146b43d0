//! The farmer credit decision engine: versioned rulesets and scorecards
//! compiled once, evaluated per household into a decision with exact limits
//! and prices, reason codes and a full trace.
//!
//! Data flows one way: [`request`] -> [`validate`] -> [`evaluate`] ->
//! [`decision`] (and [`explain`]). Policy documents are described in
//! [`model`] and turned into an executable [`compile::Policy`] by
//! [`compile`]; [`policy_set`] chooses the policy for a request. The library
//! does no I/O beyond reading policy files and keeps no global state; the
//! CLI and services are adapters around it.

pub mod auth;
#[cfg(feature = "batch")]
pub mod batch;
pub mod compile;
pub mod decision;
pub mod diff;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod expr;
pub mod grpc;
pub mod hash;
pub mod import;
pub mod model;
pub mod policy_set;
pub mod registry;
pub mod request;
pub mod scoring;
pub mod server;
pub mod service;
pub mod store;
pub mod timestamp;
pub mod validate;
