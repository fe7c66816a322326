//! Server functions: start and abort a rollout, follow a run's events, list
//! runs, read a recorded run's plan. Each has an explicit endpoint under `/api/`.
//!
//! The bodies run on the server only. They reach the engine through the
//! [`service::Service`] that the server puts in the request's context, so this
//! crate never depends on the server crate. Errors are [`ServiceError`]s, typed
//! by kind, so that the CLI can exit with the right code and the planner can say
//! what went wrong.

use guardrail_core::event::RunSummary;
use leptos::prelude::*;
use leptos::server_fn::codec::{JsonEncoding, StreamingText, TextStream};
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What kind of failure a server function reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The plan is not valid.
    Invalid,
    /// The request itself is wrong: not a plan, a value out of range.
    Input,
    /// The engine refused: the endpoint is busy, unknown, the run cannot be aborted.
    Refused,
    /// Something failed on the way or on the server (the store, the network).
    Failed,
    /// This guardrail is reachable off loopback and the call changes something:
    /// it needs the access token `guardrail serve` printed at start-up.
    Unauthorized,
    /// No guardrail server answered: the page was opened without one (a
    /// static host, a file), or it stopped. Said once; what needs a server
    /// is disabled.
    Unreachable,
}

/// What the planner says, once, when no guardrail server answers.
pub const NO_SERVER: &str = "No guardrail server answers at this address, so runs cannot be started or shown here. \
     The plan, the what-if, Compare and the exports work without one. To run plans, start guardrail with \
     `scripts/run.sh` (or `guardrail serve`) and open the address it prints.";

/// The header the planner presents the access token in, when the server is
/// reachable off loopback.
pub const TOKEN_HEADER: &str = "x-guardrail-token";

/// Where the planner keeps the access token for this tab (session storage).
pub const TOKEN_KEY: &str = "guardrail-access-token";

/// The browser's client, presenting the access token the user gave this tab
/// (if any) with the calls that change something.
pub struct WithToken;

impl<E, IS, OS> leptos::server_fn::client::Client<E, IS, OS> for WithToken
where
    E: FromServerFnError,
    IS: FromServerFnError,
    OS: FromServerFnError,
{
    type Request = leptos::server_fn::request::browser::BrowserRequest;
    type Response = leptos::server_fn::response::browser::BrowserResponse;

    fn send(
        request: Self::Request,
    ) -> impl std::future::Future<Output = Result<Self::Response, E>> + Send {
        #[cfg(feature = "csr")]
        if let Some(token) = crate::browser::session_get::<String>(TOKEN_KEY) {
            request.headers().set(TOKEN_HEADER, &token);
        }
        <leptos::server_fn::client::browser::BrowserClient as leptos::server_fn::client::Client<
            E,
            IS,
            OS,
        >>::send(request)
    }

    fn open_websocket(
        path: &str,
    ) -> impl std::future::Future<
        Output = Result<
            (
                impl futures::Stream<
                        Item = Result<leptos::server_fn::Bytes, leptos::server_fn::Bytes>,
                    > + Send
                    + 'static,
                impl futures::Sink<leptos::server_fn::Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <leptos::server_fn::client::browser::BrowserClient as leptos::server_fn::client::Client<
            E,
            IS,
            OS,
        >>::open_websocket(path)
    }

    fn spawn(future: impl std::future::Future<Output = ()> + Send + 'static) {
        <leptos::server_fn::client::browser::BrowserClient as leptos::server_fn::client::Client<
            E,
            IS,
            OS,
        >>::spawn(future)
    }
}

/// A server function's error: its kind and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct ServiceError {
    pub kind: ErrorKind,
    pub message: String,
}

impl ServiceError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ServiceError {
            kind,
            message: message.into(),
        }
    }
}

impl FromServerFnError for ServiceError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            // The request did not get through, or what answered is not a
            // guardrail server (a static host answers its page, or 404).
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Deserialization(_) => {
                ServiceError::new(ErrorKind::Unreachable, NO_SERVER)
            }
            other => ServiceError::new(
                ErrorKind::Failed,
                format!("the guardrail server answered oddly ({other})"),
            ),
        }
    }
}

/// A backend the server offers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackendInfo {
    /// `local` or `sagemaker`.
    pub name: String,
    pub label: String,
}

/// How to start a run, beyond its plan and backend.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunOptions {
    /// Plan seconds per second on the local engine; SageMaker keeps its own clock.
    pub time_scale: f64,
    /// SageMaker: put the plan's alarms with `PutMetricAlarm` before the update.
    pub create_alarms: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            time_scale: 1.0,
            create_alarms: false,
        }
    }
}

/// What a run would update, shown before it starts: never credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    pub backend: String,
    pub account: String,
    pub region: String,
    pub endpoint: String,
    /// The endpoint's status now, and the config it serves.
    pub status: String,
    pub current_config: String,
    /// Where requests go: AWS's endpoint for the region, or the override.
    pub api: String,
    /// Why a start would be refused now, each naming the fix.
    pub problems: Vec<String>,
}

/// Starts `plan_json` on `backend` (`local`, the default, or `sagemaker`) at
/// `time_scale` plan seconds per second (the local engine only); returns the
/// run id. On SageMaker, `create_alarms` puts the plan's alarms first.
#[server(endpoint = "start_rollout", client = WithToken)]
pub async fn start_rollout(
    plan_json: String,
    time_scale: f64,
    backend: Option<String>,
    create_alarms: Option<bool>,
) -> Result<String, ServiceError> {
    let backend = backend.unwrap_or_else(|| "local".into());
    let options = RunOptions {
        time_scale,
        create_alarms: create_alarms.unwrap_or(false),
    };
    service()?.0.start(plan_json, options, backend).await
}

/// What a run of `plan_json` on `backend` would update, and what would stop
/// it (with the plan's alarms put first, if `create_alarms`).
#[server(endpoint = "run_target")]
pub async fn run_target(
    plan_json: String,
    backend: String,
    create_alarms: Option<bool>,
) -> Result<Target, ServiceError> {
    let options = RunOptions {
        create_alarms: create_alarms.unwrap_or(false),
        ..RunOptions::default()
    };
    service()?.0.target(plan_json, options, backend).await
}

/// The backends this server runs plans on.
#[server(endpoint = "list_backends")]
pub async fn list_backends() -> Result<Vec<BackendInfo>, ServiceError> {
    Ok(service()?.0.backends())
}

/// Aborts a run in progress: on the local engine it rolls back to blue as an
/// alarm would; on SageMaker guardrail stops watching. The record names `by`
/// as who asked.
#[server(endpoint = "abort_rollout", client = WithToken)]
pub async fn abort_rollout(run_id: String, by: String) -> Result<(), ServiceError> {
    service()?.0.abort(run_id, by).await
}

/// A run's events as JSON lines: its history first, then live events until it
/// finishes. A viewer who connects late misses nothing. If the run's record
/// cannot be written any more, the last line says why
/// ([`guardrail_core::event::StreamLine`]).
#[server(output = StreamingText, endpoint = "run_events")]
pub async fn run_events(run_id: String) -> Result<TextStream<ServiceError>, ServiceError> {
    let lines = service()?.0.events(run_id)?;
    Ok(TextStream::new(futures_map(lines)))
}

#[cfg(feature = "ssr")]
fn futures_map(
    lines: service::LineStream,
) -> impl futures::Stream<Item = Result<String, ServiceError>> + Send + 'static {
    use futures::StreamExt;
    lines.map(Ok)
}

/// Recorded runs, newest first.
#[server(endpoint = "list_runs")]
pub async fn list_runs() -> Result<Vec<RunSummary>, ServiceError> {
    service()?.0.runs()
}

/// The plan a recorded run executed, as JSON.
#[server(endpoint = "run_plan")]
pub async fn run_plan(run_id: String) -> Result<String, ServiceError> {
    service()?.0.plan(run_id)
}

#[cfg(feature = "ssr")]
fn service() -> Result<service::Service, ServiceError> {
    use_context::<service::Service>()
        .ok_or_else(|| ServiceError::new(ErrorKind::Failed, "no rollout service on this server"))
}

/// The boundary the server implements.
#[cfg(feature = "ssr")]
pub mod service {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Arc;

    use guardrail_core::event::RunSummary;

    use super::{BackendInfo, RunOptions, ServiceError, Target};

    /// JSON lines, one event each (or, last, why the stream ended).
    pub type LineStream = Pin<Box<dyn futures::Stream<Item = String> + Send>>;

    /// A boxed future the service returns.
    pub type Answer<'a, T> = Pin<Box<dyn Future<Output = Result<T, ServiceError>> + Send + 'a>>;

    /// What the server functions need from the engine and its store.
    pub trait RolloutService: Send + Sync + 'static {
        fn start(
            &self,
            plan_json: String,
            options: RunOptions,
            backend: String,
        ) -> Answer<'_, String>;
        fn target(
            &self,
            plan_json: String,
            options: RunOptions,
            backend: String,
        ) -> Answer<'_, Target>;
        fn backends(&self) -> Vec<BackendInfo>;
        fn abort(&self, run_id: String, by: String) -> Answer<'_, ()>;
        fn events(&self, run_id: String) -> Result<LineStream, ServiceError>;
        fn runs(&self) -> Result<Vec<RunSummary>, ServiceError>;
        fn plan(&self, run_id: String) -> Result<String, ServiceError>;
    }

    /// The service as request context.
    #[derive(Clone)]
    pub struct Service(pub Arc<dyn RolloutService>);
}
