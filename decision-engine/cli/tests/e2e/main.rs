//! End-to-end tests of the `decision-engine` binary, in one test binary:
//! the command line (`cli`), the gRPC service (`grpc`), the policy registry
//! (`registry`), whole-village batch runs (`batch`), the pre-credit
//! register (`precredit`), reviews (`reviews`), impact analysis
//! (`simulate`), score monitoring (`scores`), champion/challenger (`challenger`),
//! province governance (`governance`) and several servers over
//! one PostgreSQL (`replicas`), each against the
//! real binary and, where needed, a real server process (`common`).

mod batch;
mod challenger;
mod cli;
mod common;
mod governance;
mod grpc;
mod monitor;
mod precredit;
mod registry;
mod replicas;
mod reviews;
mod scores;
mod simulate;
