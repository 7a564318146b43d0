//! The use cases of the decision engine, shared by every front door (gRPC,
//! batch, the command line, and any other to come): none of them knows
//! tonic, protobuf or clap. Each returns a [`ServiceError`] in the domain's
//! terms; each front door turns it into its own form in one place.
//!
//! - [`policy`]: which policy a request runs (activation in force at a
//!   time, pins limited to approved versions), compiled from stored
//!   documents;
//! - [`prereview`] and [`replay`]: decide, record durably, answer retries
//!   from the record (idempotency); read a decision back; replay it;
//! - [`find`]: a stored decision, online or batch, found in one place;
//! - [`precredit`] and [`identity`]: the pre-credit register (publish a
//!   batch run, four-eyes approval, sign, draw, repay, revoke; national ID
//!   numbers as keyed hashes only) and what an online decision meets there;
//! - [`reviews`]: the human decision beside the system's (review steps at
//!   the authority matrix's levels, four-eyes on overrides, the queue,
//!   the account beside the system decision, the override report);
//! - [`monitoring`]: post-loan monitoring: the monitoring policy in force,
//!   a loan's evaluation, its signals and tasks recorded, red signals handed
//!   to the pre-credit register, the task queue and completion;
//! - [`registry`]: publish, validate, four-eyes activation, rollback,
//!   diff, audit;
//! - [`auth`]: bearer tokens, people and roles;
//! - [`clock`]: times and ids, made in one place.

#![forbid(unsafe_code)]

pub mod auth;
pub mod clock;
mod error;
pub mod find;
pub mod identity;
pub mod monitoring;
pub mod policy;
pub mod precredit;
pub mod prereview;
pub mod registry;
pub mod replay;
pub mod retention;
pub mod reviews;
pub mod stability;

pub use auth::{Bearer, Principal, Role, Scope, Tokens};
pub use error::ServiceError;
pub use find::find_decision;
pub use identity::IdKey;
pub use policy::{Pin, Policies};
pub use precredit::{Operation, PreCreditLink, PreCredits, Publish};
pub use prereview::{Decisions, Limits, PreReview, Recorded};
pub use registry::{ActivationRequest, Published, Registry, Validation};
pub use replay::{Found, PrunedDecision, Replayed, Stored};
pub use reviews::account::{ChainLink, ReviewAccount};
pub use reviews::report::{ReportRow, ReviewReport};
pub use reviews::{Pending, ReviewInput, Reviewed, Reviews};
