//! guardrail-core: the pure, deterministic heart of guardrail.
//!
//! It models a SageMaker-style guarded endpoint update and everything around it:
//! the plan document ([`plan`]), validation and lint ([`validate`], [`lint`]), the
//! schedule of phases and traffic ([`schedule`]), CloudWatch alarm semantics
//! ([`alarm`]), the rollout decisions ([`controller`]), the what-if simulator and
//! detection analysis ([`simulate`]), share links ([`link`]) and exports
//! ([`export`]). Undocumented AWS behaviour is decided in one place,
//! [`assumptions`].
//!
//! Invariants: no IO, no clock, no threads, no global state. The same inputs give
//! the same outputs on every platform, including `wasm32-unknown-unknown`.

pub mod alarm;
pub mod assumptions;
pub mod controller;
pub mod event;
pub mod examples;
pub mod explain;
pub mod export;
pub mod link;
pub mod lint;
pub mod plan;
pub mod problem;
pub mod random;
pub mod rollout;
pub mod schedule;
pub mod simulate;
pub mod validate;

pub use plan::Plan;
pub use problem::{ParseError, Problem, Report};
pub use rollout::{Rollout, Strategy};
pub use validate::{check, check_json, Checked};
