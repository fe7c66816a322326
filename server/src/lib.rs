//! guardrail-server: the `guardrail` CLI, the web server that serves the planner,
//! the local engine (a local AWS: model servers, router, metrics, CloudWatch's
//! alarms and the rollout controller), the AWS APIs it answers, and the run store.

pub mod aws;
pub mod backend;
pub mod cli;
pub mod engine;
pub mod origin;
pub mod output;
pub mod progress;
pub mod run_command;
pub mod settings;
pub mod store;
pub mod web;
