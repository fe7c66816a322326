//! guardrail-core: the pure, deterministic heart of guardrail.
//!
//! It models a SageMaker-style guarded endpoint update and everything around it:
//! the plan document ([`plan`]) and its fields and limits ([`field`]), one
//! [`check`] that validates and lints, the schedule of phases and traffic
//! ([`schedule`]), CloudWatch alarm semantics ([`alarm`]) and the alarm monitor
//! ([`monitor`]), the rollout decisions ([`controller`]) paired with the monitor
//! in a [`session`], the what-if simulator and detection analysis
//! ([`simulate`]), share links ([`link`]) and exports ([`export`]). Undocumented
//! AWS behaviour is decided in one place, [`assumptions`].
//!
//! Invariants: no IO, no clock, no threads, no global state. The same inputs give
//! the same outputs on every platform, including `wasm32-unknown-unknown`.

pub mod alarm;
pub mod assumptions;
pub mod check;
pub mod composite;
pub mod controller;
pub mod describe;
pub mod event;
pub mod examples;
pub mod explain;
pub mod export;
pub mod field;
pub mod fleets;
pub mod import;
pub mod instance_types;
pub mod json;
pub mod judge;
pub mod link;
mod lint;
pub mod math;
pub mod monitor;
pub mod plan;
pub mod problem;
pub mod published;
pub mod random;
pub mod record;
pub mod retro;
pub mod review;
pub mod rollout;
pub mod schedule;
pub mod session;
pub mod simulate;
pub mod tick;
pub mod timeline;
pub mod tune;
pub mod units;
mod validate;
pub mod verdict;

pub use check::{check, check_alarm, check_composite, check_json, check_with, Checked};
pub use fleets::Fleets;
pub use plan::Plan;
pub use problem::{ParseError, Problem, Report};
pub use rollout::{Rollout, Strategy};
