//! guardrail-server: the `guardrail` CLI, the web server that serves the planner,
//! and (growing) the local rollout engine and its store.

pub mod cli;
pub mod engine;
pub mod output;
pub mod progress;
pub mod run_command;
pub mod settings;
pub mod store;
pub mod web;
