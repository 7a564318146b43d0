//! The farmer credit decision engine: versioned rulesets and scorecards
//! compiled once, evaluated per household into a decision with exact limits
//! and prices, reason codes and a full trace.
//!
//! Data flows one way: [`Request`] -> [`validate`] -> [`evaluate()`] ->
//! [`Decision`] (and [`explain()`]). Policy documents are described in
//! [`model`] and turned into an executable [`Policy`] by [`compile`];
//! [`PolicySet`] chooses the policy for a request. This crate does no I/O
//! beyond reading policy files, keeps no global state and knows nothing of
//! servers, databases or command lines: those are the adapters around it.
//!
//! ```
//! use decision_core::{Options, Outcome, PolicySet, Request, evaluate};
//! let policies = PolicySet::shipped().unwrap();
//! let request = Request::from_json(include_str!(
//!     "../../../examples/requests/05-grade-c-decline.json"
//! ))
//! .unwrap();
//! let policy = policies.select(&request.institution, &request.product).unwrap();
//! let decision = evaluate(policy, &request, Options { trace: true }).unwrap();
//! assert_eq!(decision.decision, Outcome::Decline);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cases;
pub mod compile;
pub mod counterfactual;
pub mod decision;
pub mod diff;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod expr;
pub mod hash;
pub mod model;
pub mod monitor;
pub mod policy_set;
pub mod record;
pub mod request;
pub mod validate;

pub use compile::{Document, LoneScorecard, Policy, Slot, VersionRef};
pub use decision::{Decision, Outcome, Reason, Trace, decision_id};
pub use error::{EvaluateError, FieldError, InputError, PolicyError, PolicyIssue, RenderError};
pub use evaluate::{
    Keys, Options, Outline, ReasonRef, Source, decide_bound, evaluate, evaluate_bound,
    evaluate_recorded, outline, render,
};
pub use explain::{Lang, explain};
pub use hash::{Part, content_hash, object_hash};
pub use policy_set::{PolicySet, SHIPPED, compile_exact};
pub use record::Record;
pub use request::Request;
pub use validate::{Binder, Input};
