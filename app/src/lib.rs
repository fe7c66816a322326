//! guardrail's browser UI: the planner, compiled to WebAssembly, and the
//! declarations of the server functions it calls.
//!
//! Everything the planner shows is computed here, in the browser, by
//! `guardrail-core`: validation, the schedule, the what-if simulation and the
//! detection analysis. The server only runs rollouts and stores their events.

// Leptos views are nested types; the run view holds the alarm editor, which
// takes the server-side render past the default depth of 128.
#![recursion_limit = "256"]
pub mod alarm_editor;
pub mod alarm_kinds;
pub mod analysis;
pub mod api;
pub mod bench;
pub mod browser;
pub mod charts;
pub mod designer;
pub mod edit;
pub mod fields;
pub mod history;
pub mod judge_editor;
pub mod judge_view;
pub mod lazy;
pub mod library;
pub mod panels;
pub mod planner;
pub mod presets;
pub mod runs;
pub mod state;
pub mod team_metrics;

pub use planner::App;
