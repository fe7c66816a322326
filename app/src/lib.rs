//! guardrail's browser UI: the planner, compiled to WebAssembly, and the
//! declarations of the server functions it calls.
//!
//! Everything the planner shows is computed here, in the browser, by
//! `guardrail-core`: validation, the schedule, the what-if simulation and the
//! detection analysis. The server only runs rollouts and stores their events.

pub mod charts;
pub mod planner;

pub use planner::App;
