//! Server functions: start a rollout, follow a run's events, list runs, read a
//! recorded run's plan. Each has an explicit endpoint under `/api/`.
//!
//! The bodies run on the server only. They reach the engine through the
//! [`service::Service`] that the server puts in the request's context, so this
//! crate never depends on the server crate.

use guardrail_core::event::RunSummary;
use leptos::prelude::*;
use leptos::server_fn::codec::{StreamingText, TextStream};

/// Starts `plan_json` on the local engine at `time_scale` plan seconds per
/// second; returns the run id.
#[server(endpoint = "start_rollout")]
pub async fn start_rollout(plan_json: String, time_scale: f64) -> Result<String, ServerFnError> {
    let service = expect_context::<service::Service>();
    service
        .0
        .start(plan_json, time_scale)
        .await
        .map_err(ServerFnError::new)
}

/// A run's events as JSON lines: its history first, then live events until it
/// finishes. A viewer who connects late misses nothing.
#[server(output = StreamingText, endpoint = "run_events")]
pub async fn run_events(run_id: String) -> Result<TextStream, ServerFnError> {
    let service = expect_context::<service::Service>();
    let lines = service.0.events(run_id).map_err(ServerFnError::new)?;
    Ok(TextStream::new(futures_map(lines)))
}

#[cfg(feature = "ssr")]
fn futures_map(
    lines: service::LineStream,
) -> impl futures::Stream<Item = Result<String, ServerFnError>> + Send + 'static {
    use futures::StreamExt;
    lines.map(Ok)
}

/// Recorded runs, newest first.
#[server(endpoint = "list_runs")]
pub async fn list_runs() -> Result<Vec<RunSummary>, ServerFnError> {
    let service = expect_context::<service::Service>();
    service.0.runs().map_err(ServerFnError::new)
}

/// The plan a recorded run executed, as JSON.
#[server(endpoint = "run_plan")]
pub async fn run_plan(run_id: String) -> Result<String, ServerFnError> {
    let service = expect_context::<service::Service>();
    service.0.plan(run_id).map_err(ServerFnError::new)
}

/// The boundary the server implements.
#[cfg(feature = "ssr")]
pub mod service {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    use guardrail_core::event::RunSummary;

    /// JSON lines, one event each.
    pub type LineStream = Pin<Box<dyn futures::Stream<Item = String> + Send>>;

    /// What the server functions need from the engine and its store. Errors are
    /// messages for people.
    pub trait RolloutService: Send + Sync + 'static {
        fn start(
            &self,
            plan_json: String,
            time_scale: f64,
        ) -> Pin<Box<dyn Future<Output = Result<String, String>> + Send + '_>>;
        fn events(&self, run_id: String) -> Result<LineStream, String>;
        fn runs(&self) -> Result<Vec<RunSummary>, String>;
        fn plan(&self, run_id: String) -> Result<String, String>;
    }

    /// The service as request context.
    #[derive(Clone)]
    pub struct Service(pub Arc<dyn RolloutService>);
}
