//! The web server: the planner's static files (same origin, deep links falling
//! back to `index.html`), the server functions under `/api/`, and the local
//! engine's router under `/endpoints/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use futures::StreamExt;
use guardrail_app::api::service::{Answer, LineStream, RolloutService, Service};
use guardrail_app::api::{BackendInfo, ErrorKind, RunOptions, ServiceError, Target};
use guardrail_core::event::{Event, EventKind, RunSummary, StreamLine};
use leptos::prelude::provide_context;
use tower_http::services::{ServeDir, ServeFile};

use crate::backend::{service_error, Backends};
use crate::engine::{Engine, EngineError};
use crate::store::{Live, Store, StoreError};

/// The planner's static files only. `tools/bundle` writes each file the page
/// loads first gzipped beside itself (`.gz`); a browser that accepts gzip
/// gets it, with `Content-Encoding`. (Brotli is smaller but made the first
/// chart later on loopback: BENCHMARKS.md, "Bundle size".)
pub fn router(dist: &Path) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/timeline.svg", get(link_timeline))
        .fallback_service(
            ServeDir::new(dist)
                .precompressed_gzip()
                .fallback(index_page(dist)),
        )
}

/// `dist/index.html`, compressed as [`router`]'s files are.
fn index_page(dist: &Path) -> ServeFile {
    ServeFile::new(dist.join("index.html")).precompressed_gzip()
}

/// `GET /timeline.svg?r=RECORD`: the timeline of the run a review link
/// carries (a server never sees a URL's fragment, so the record comes as a
/// query parameter). Needs no store: any guardrail draws it.
async fn link_timeline(
    axum::extract::Query(query): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> axum::response::Response {
    let Some(token) = query.get("r") else {
        return bad_request(
            "timeline.svg needs the run's record: ?r=<the token after r= in a review link>".into(),
        );
    };
    match guardrail_core::record::RunRecord::from_token(token) {
        Ok(record) => timeline_svg(&record.timeline()),
        Err(error) => bad_request(format!("timeline.svg: {error}")),
    }
}

/// `GET /runs/{id}/timeline.svg`: a recorded run's timeline.
async fn run_timeline(
    State(store): State<Store>,
    axum::extract::Path(run_id): axum::extract::Path<String>,
) -> axum::response::Response {
    match store.events(&run_id) {
        Ok(events) if !events.is_empty() => {
            timeline_svg(&guardrail_core::event::RunTimeline::from_events(&events))
        }
        Ok(_) => (
            axum::http::StatusCode::NOT_FOUND,
            format!("no run {} here", crate::engine::ids::shown(&run_id)),
        )
            .into_response(),
        Err(error) => (axum::http::StatusCode::NOT_FOUND, error.to_string()).into_response(),
    }
}

/// The review image: the run chart, titled, with every phase listed.
fn timeline_svg(timeline: &guardrail_core::event::RunTimeline) -> axum::response::Response {
    let svg = guardrail_app::charts::timeline_image(
        timeline,
        &guardrail_core::review::headline(timeline),
    );
    (
        [
            (axum::http::header::CONTENT_TYPE, "image/svg+xml"),
            // A run still going changes; a finished one never does.
            (
                axum::http::header::CACHE_CONTROL,
                if timeline.outcome.is_some() {
                    "public, max-age=31536000, immutable"
                } else {
                    "no-store"
                },
            ),
        ],
        svg,
    )
        .into_response()
}

fn bad_request(message: String) -> axum::response::Response {
    (axum::http::StatusCode::BAD_REQUEST, message).into_response()
}

/// The whole application: static files, server functions, SageMaker's and
/// CloudWatch's APIs, and SageMaker Runtime (the engine's router).
pub fn app(dist: &Path, engine: Engine) -> Router {
    let backends = Backends::local(&engine);
    app_with(dist, engine, backends)
}

/// [`app`] as `guardrail serve` serves it: SageMaker Runtime's invocations
/// answered ahead of axum's router.
pub fn served(dist: &Path, engine: Engine) -> Served {
    Served {
        invocations: Some(engine.invocations()),
        app: app(dist, engine),
    }
}

/// The same, with runs started on `backends` (the local engine, SageMaker).
pub fn app_with(dist: &Path, engine: Engine, backends: Backends) -> Router {
    register_server_functions();
    let store = backends.store.clone();
    let functions = Functions {
        service: Service(Arc::new(BackendService { backends })),
        access_token: engine.access_token(),
    };
    let aws = {
        let engine = engine.clone();
        move |request: Request<Body>| crate::aws::handle(engine.clone(), request)
    };
    Router::new()
        .route(
            "/api/{*fn_name}",
            get(server_functions).post(server_functions),
        )
        .with_state(functions)
        .route(
            "/runs/{run_id}/timeline.svg",
            get(run_timeline).with_state(store),
        )
        // AWS's JSON and query protocols post to `/`; a browser gets the planner.
        .route("/", post(aws.clone()).fallback_service(index_page(dist)))
        .route(
            &format!("{}{{operation}}", crate::aws::CBOR_PATH),
            post(aws),
        )
        .merge(engine.routes())
        .merge(router(dist))
}

/// The server binary must name the server functions, or the linker drops their
/// registrations and `/api/...` answers "Could not find a server function".
fn register_server_functions() {
    use guardrail_app::api::{
        AbortRollout, ListBackends, ListRuns, RunEvents, RunPlan, RunTarget, StartRollout,
    };
    use leptos::server_fn::axum::register_explicit;
    register_explicit::<RunTarget>();
    register_explicit::<ListBackends>();
    register_explicit::<StartRollout>();
    register_explicit::<AbortRollout>();
    register_explicit::<RunEvents>();
    register_explicit::<ListRuns>();
    register_explicit::<RunPlan>();
}

async fn server_functions(
    State(Functions {
        service,
        access_token,
    }): State<Functions>,
    request: Request<Body>,
) -> axum::response::Response {
    let foreign = (request.method() == axum::http::Method::POST)
        .then(|| crate::origin::foreign_origin(request.headers()))
        .flatten();
    // The token is checked whatever the method: a start must not slip in
    // by another verb.
    let refusal = match foreign {
        Some(refusal) => Some((
            axum::http::StatusCode::FORBIDDEN,
            ServiceError::new(ErrorKind::Refused, refusal),
        )),
        None => missing_token(
            access_token.as_deref(),
            request.uri().path(),
            request.headers(),
        )
        .map(|error| (axum::http::StatusCode::UNAUTHORIZED, error)),
    };
    if let Some((status, error)) = refusal {
        return service_error_response(status, &error);
    }
    let request = match within_limit(request).await {
        Ok(request) => request,
        Err(error) => {
            let mut response =
                service_error_response(axum::http::StatusCode::PAYLOAD_TOO_LARGE, &error);
            // What was not read of the body is still on the connection.
            response.headers_mut().insert(
                axum::http::header::CONNECTION,
                axum::http::HeaderValue::from_static("close"),
            );
            return response;
        }
    };
    let response = leptos_axum::handle_server_fns_with_context(
        move || provide_context(service.clone()),
        request,
    )
    .await
    .into_response();
    with_status_of_its_error(response).await
}

/// The largest body a server function takes: a plan is a few kilobytes, and
/// the AWS APIs take as much.
pub const MAX_SERVER_FUNCTION_BYTES: usize = crate::aws::MAX_REQUEST_BYTES;

/// A `ServiceError` as the planner decodes it, with `status`.
fn service_error_response(
    status: axum::http::StatusCode,
    error: &ServiceError,
) -> axum::response::Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        serde_json::to_string(error).unwrap_or_default(),
    )
        .into_response()
}

/// How much of a body over the limit is read and discarded before the 413
/// is sent: a client still sending when the connection closes never sees the
/// answer. A larger body's connection is closed as soon as it is answered.
const MOST_DISCARDED_BYTES: usize = 64 * 1024 * 1024;

/// The request with its body read, if the body is within
/// [`MAX_SERVER_FUNCTION_BYTES`]; otherwise the error that says the limit.
/// Nothing over the limit is kept: the rest is discarded as it arrives.
async fn within_limit(request: Request<Body>) -> Result<Request<Body>, ServiceError> {
    use http_body_util::BodyExt;
    let path = request.uri().path().to_string();
    let declared = request
        .headers()
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<u64>().ok());
    let (parts, mut body) = request.into_parts();
    let mut kept = Vec::new();
    let mut seen = 0usize;
    let mut over = declared.is_some_and(|length| length > MAX_SERVER_FUNCTION_BYTES as u64);
    // A body that fails mid-way (the client went) ends here like one that ended.
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        seen = seen.saturating_add(data.len());
        over |= seen > MAX_SERVER_FUNCTION_BYTES;
        if over {
            kept = Vec::new();
            if seen > MOST_DISCARDED_BYTES {
                break;
            }
        } else {
            kept.extend_from_slice(&data);
        }
    }
    if over {
        return Err(ServiceError::new(
            ErrorKind::Input,
            format!(
                "the request body of {} is larger than the limit of {MAX_SERVER_FUNCTION_BYTES} bytes (1 MiB)",
                crate::engine::ids::shown(&path)
            ),
        ));
    }
    Ok(Request::from_parts(parts, Body::from(kept)))
}

/// The largest error body read to choose its status: errors are a line of
/// JSON.
const MOST_ERROR_BYTES: usize = 64 * 1024;

/// Server functions answer every error with 500. Bad input is the caller's,
/// so it gets a 4xx: arguments that do not decode and `Input` 400, an
/// invalid plan 422, a refusal (a busy endpoint, an unknown run) 409. The
/// body stays the `ServiceError` the planner decodes (it decodes any 4xx or
/// 5xx as one).
async fn with_status_of_its_error(response: axum::response::Response) -> axum::response::Response {
    use axum::http::StatusCode;
    if response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MOST_ERROR_BYTES).await else {
        return (
            parts.status,
            "the server function's error could not be read",
        )
            .into_response();
    };
    let Ok(mut error) = serde_json::from_slice::<ServiceError>(&bytes) else {
        return axum::response::Response::from_parts(parts, Body::from(bytes));
    };
    // server_fn's own message for arguments it could not decode.
    let undecodable = error.kind == ErrorKind::Failed
        && error
            .message
            .contains("error deserializing server function arguments");
    if undecodable {
        error = ServiceError::new(
            ErrorKind::Input,
            error.message.replace(
                "the guardrail server answered oddly",
                "the request's arguments could not be read",
            ),
        );
    }
    parts.status = match error.kind {
        ErrorKind::Input => StatusCode::BAD_REQUEST,
        ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Refused => StatusCode::CONFLICT,
        ErrorKind::Failed | ErrorKind::Unreachable => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
    };
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&error).unwrap_or_else(|_| bytes.to_vec());
    axum::response::Response::from_parts(parts, Body::from(body))
}

/// The backends, as the server functions see them.
pub struct BackendService {
    pub backends: Backends,
}

/// What the server functions' route holds: the service, and the access token
/// the calls that change something must present (in [`TOKEN_HEADER`]) when
/// guardrail is reachable off loopback.
#[derive(Clone)]
struct Functions {
    service: Service,
    access_token: Option<Arc<str>>,
}

/// The header the planner presents the access token in.
pub const TOKEN_HEADER: &str = guardrail_app::api::TOKEN_HEADER;

/// The server functions that change something: start and stop a rollout.
const CHANGING: [&str; 2] = ["/api/start_rollout", "/api/abort_rollout"];

/// Equal, in time that does not depend on where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |difference, (a, b)| difference | (a ^ b))
            == 0
}

/// Why a call that changes something is refused without the access token.
fn missing_token(
    access_token: Option<&str>,
    path: &str,
    headers: &axum::http::HeaderMap,
) -> Option<ServiceError> {
    let expected = access_token?;
    if !CHANGING.contains(&path) {
        return None;
    }
    let given = headers.get(TOKEN_HEADER).map(|value| value.as_bytes());
    match given {
        Some(given) if same_secret(given, expected.as_bytes()) => None,
        Some(_) => Some(ServiceError::new(
            ErrorKind::Unauthorized,
            "refused: the access token is not this guardrail's (the one it was started with, or printed when it started)",
        )),
        None => Some(ServiceError::new(
            ErrorKind::Unauthorized,
            "refused: starting or stopping a rollout here needs its access token (this guardrail is reachable off loopback, or was started with --token); off loopback, `guardrail serve` printed a new one when it started",
        )),
    }
}

/// Who asked, as recorded: at most 100 characters, without control characters.
fn requester(by: &str) -> String {
    let clean: String = by.chars().filter(|c| !c.is_control()).take(100).collect();
    if clean.trim().is_empty() {
        "someone who did not say".into()
    } else {
        clean
    }
}

fn store_error(error: StoreError) -> ServiceError {
    service_error(EngineError::Store(error))
}

fn parse_plan(plan_json: &str) -> Result<guardrail_core::Plan, ServiceError> {
    guardrail_core::check_json(plan_json)
        .map(|(plan, _)| plan)
        .map_err(|error| ServiceError::new(ErrorKind::Input, format!("not a plan: {error}")))
}

impl RolloutService for BackendService {
    fn start(&self, plan_json: String, options: RunOptions, backend: String) -> Answer<'_, String> {
        Box::pin(async move {
            let plan = parse_plan(&plan_json)?;
            self.backends.get(&backend)?.start(&plan, options).await
        })
    }

    fn target(
        &self,
        plan_json: String,
        options: RunOptions,
        backend: String,
    ) -> Answer<'_, Target> {
        Box::pin(async move {
            let plan = parse_plan(&plan_json)?;
            self.backends.get(&backend)?.target(&plan, options).await
        })
    }

    fn backends(&self) -> Vec<BackendInfo> {
        self.backends.infos()
    }

    fn abort(&self, run_id: String, by: String) -> Answer<'_, ()> {
        Box::pin(async move { self.backends.stop(&run_id, &requester(&by)).await })
    }

    fn events(&self, run_id: String) -> Result<LineStream, ServiceError> {
        event_lines(self.backends.store.clone(), &run_id).map_err(store_error)
    }

    fn runs(&self) -> Result<Vec<RunSummary>, ServiceError> {
        self.backends.store.runs().map_err(store_error)
    }

    fn plan(&self, run_id: String) -> Result<String, ServiceError> {
        self.backends.store.plan_json(&run_id).map_err(store_error)
    }
}

/// A run's events as JSON lines: history, then live events until `Finished`.
/// If the live stream falls behind, the missed events are read from the store;
/// if the run's record ends without `Finished`, the last line says why. A
/// damaged record gives its events up to the damage, then a line that names
/// it: never a shorter history that looks whole.
pub fn event_lines(store: Store, run_id: &str) -> Result<LineStream, StoreError> {
    let followed = store.follow_record(run_id)?;
    if let Some(damage) = followed.damage {
        let lines: Vec<String> = followed
            .history
            .into_iter()
            .map(line)
            .chain([ended(damage)])
            .collect();
        return Ok(Box::pin(futures::stream::iter(lines)));
    }
    let (history, receiver) = (followed.history, followed.live);
    let last = history.last().map(|event| event.seq).unwrap_or(0);
    let finished = history
        .last()
        .is_some_and(|event| matches!(event.kind, EventKind::Finished { .. }));
    let run_id = run_id.to_string();
    let head = futures::stream::iter(history.into_iter().map(line));
    let tail = futures::stream::unfold(
        (receiver.filter(|_| !finished), last, store, run_id),
        |(receiver, last, store, run_id)| async move {
            let mut receiver = receiver?;
            loop {
                match receiver.recv().await {
                    Ok(Live::Event(event)) if event.seq <= last => continue,
                    Ok(Live::Event(event)) => {
                        let done = matches!(event.kind, EventKind::Finished { .. });
                        let seq = event.seq;
                        let next = (!done).then_some(receiver);
                        return Some((vec![line(*event)], (next, seq, store, run_id)));
                    }
                    Ok(Live::Ended(reason)) => {
                        return Some((vec![ended(reason)], (None, last, store, run_id)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        let missed: Vec<Event> = store
                            .events(&run_id)
                            .unwrap_or_default()
                            .into_iter()
                            .filter(|event| event.seq > last)
                            .collect();
                        let seq = missed.last().map(|event| event.seq).unwrap_or(last);
                        let done = missed
                            .iter()
                            .any(|event| matches!(event.kind, EventKind::Finished { .. }));
                        let lines = missed.into_iter().map(line).collect();
                        let next = (!done).then_some(receiver);
                        return Some((lines, (next, seq, store, run_id)));
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        let reason = format!(
                            "the run's live stream closed after event {last} without its outcome; \
                             see `guardrail events {run_id}`"
                        );
                        return Some((vec![ended(reason)], (None, last, store, run_id)));
                    }
                }
            }
        },
    )
    .flat_map(futures::stream::iter);
    Ok(Box::pin(head.chain(tail)))
}

fn ended(reason: String) -> String {
    let line = StreamLine::Ended {
        stream_ended: reason,
    };
    format!("{}\n", serde_json::to_string(&line).unwrap_or_default())
}

fn line(event: Event) -> String {
    format!("{}\n", serde_json::to_string(&event).unwrap_or_default())
}

/// What `serve_http1` serves: SageMaker Runtime's invocations, answered
/// first when given, and the axum application for everything else.
#[derive(Clone)]
pub struct Served {
    pub app: Router,
    pub invocations: Option<crate::engine::router::Invocations>,
}

impl From<Router> for Served {
    fn from(app: Router) -> Served {
        Served {
            app,
            invocations: None,
        }
    }
}

impl hyper::service::Service<hyper::Request<hyper::body::Incoming>> for Served {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn call(&self, request: hyper::Request<hyper::body::Incoming>) -> Self::Future {
        if let Some(invocations) = &self.invocations {
            let path = request.uri().path();
            if let Some(name) =
                crate::engine::router::Invocations::endpoint_of(request.method(), path)
            {
                let (invocations, name) = (invocations.clone(), name.to_string());
                let request = request.map(Body::new);
                return Box::pin(async move { Ok(invocations.answer(&name, request).await) });
            }
        }
        let app = hyper_util::service::TowerToHyperService::new(self.app.clone());
        Box::pin(hyper::service::Service::call(&app, request))
    }
}

/// Serves `app` over HTTP/1.1 only, with keep-alive and no Nagle delay. It skips
/// the HTTP/2 preface sniffing of `axum::serve`, which costs the router
/// throughput; browsers and SageMaker clients speak HTTP/1.1 to loopback anyway.
pub async fn serve_http1(
    listener: tokio::net::TcpListener,
    served: impl Into<Served>,
) -> std::io::Result<()> {
    use hyper_util::rt::TokioIo;
    let served = served.into();
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => accepted,
            // Out of file descriptors and the like: keep serving the others.
            Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = served.clone();
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
        });
    }
}

/// Serves `app` on `threads` threads, each with a single-threaded runtime and
/// its own listener on `address` (SO_REUSEPORT): the kernel spreads connections
/// over them, and a request, its handler and its upstream connection stay on one
/// thread, with no cross-thread wake-ups. This is how the router keeps up with
/// nginx (BENCHMARKS.md). Returns the port.
pub fn spawn_server_threads(
    address: SocketAddr,
    threads: usize,
    served: impl Into<Served>,
) -> Result<u16, ServeError> {
    let served = served.into();
    let bind_error = |source| ServeError::Bind { address, source };
    // A plain bind first: it fails when anything (even another reuseport
    // listener, such as a second guardrail) holds the port.
    let probe = std::net::TcpListener::bind(address).map_err(bind_error)?;
    let address = probe.local_addr().map_err(bind_error)?;
    drop(probe);
    let mut listeners = Vec::new();
    for _ in 0..threads.max(1) {
        let socket = tokio::net::TcpSocket::new_v4().map_err(bind_error)?;
        socket.set_reuseport(true).map_err(bind_error)?;
        socket.set_reuseaddr(true).map_err(bind_error)?;
        socket.bind(address).map_err(bind_error)?;
        let listener = socket.listen(1024).map_err(bind_error)?;
        listeners.push(listener.into_std().map_err(bind_error)?);
    }
    for (index, listener) in listeners.into_iter().enumerate() {
        let served = served.clone();
        std::thread::Builder::new()
            .name(format!("http-{index}"))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(error) => {
                        tracing::error!("cannot start HTTP thread {index}: {error}");
                        return;
                    }
                };
                runtime.block_on(async move {
                    match tokio::net::TcpListener::from_std(listener) {
                        Ok(listener) => {
                            let _ = serve_http1(listener, served).await;
                        }
                        Err(error) => tracing::error!("HTTP thread {index}: {error}"),
                    }
                });
            })?;
    }
    Ok(address.port())
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("no built planner in {0}: run `scripts/run.sh` (or `cargo run -p guardrail-bundle --bin bundle`) first")]
    NoDist(PathBuf),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("server stopped: {0}")]
    Io(#[from] std::io::Error),
}

/// Serves until the process is interrupted, on `address` (loopback unless
/// `--bind` says otherwise; then the engine holds an access token). The engine
/// keeps running on the calling runtime; HTTP runs on one thread per core.
pub async fn serve(
    dist: PathBuf,
    address: SocketAddr,
    engine: Engine,
    backends: Backends,
) -> Result<(), ServeError> {
    if !dist.join("index.html").exists() {
        return Err(ServeError::NoDist(dist));
    }
    let threads = std::thread::available_parallelism()
        .map(usize::from)
        .unwrap_or(2)
        .clamp(1, 8);
    let served = Served {
        app: app_with(&dist, engine.clone(), backends),
        invocations: Some(engine.invocations()),
    };
    spawn_server_threads(address, threads, served)?;
    tracing::info!("guardrail serves http://{address} on {threads} thread(s)");
    tokio::signal::ctrl_c().await?;
    engine.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GET `path` from `router` with `Accept-Encoding: accept`: the
    /// `Content-Encoding` sent back and the body's bytes as sent.
    async fn get_encoded(router: Router, path: &str, accept: &str) -> (Option<String>, Vec<u8>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let response = reqwest::Client::new()
            .get(format!("http://{address}{path}"))
            .header("accept-encoding", accept)
            .send()
            .await
            .expect("answered");
        let encoding = response
            .headers()
            .get("content-encoding")
            .map(|value| value.to_str().expect("ascii").to_string());
        let body = response.bytes().await.expect("body").to_vec();
        server.abort();
        (encoding, body)
    }

    #[tokio::test]
    async fn a_browser_gets_the_compressed_file_it_accepts_and_others_the_plain_one() {
        let dist = std::env::temp_dir().join(format!("guardrail-dist-{}", std::process::id()));
        std::fs::create_dir_all(&dist).expect("dist");
        for (name, content) in [
            ("index.html", "page"),
            ("index.html.gz", "page in gzip"),
            ("app.wasm", "module"),
            ("app.wasm.gz", "module in gzip"),
        ] {
            std::fs::write(dist.join(name), content).expect("write");
        }
        let cases = [
            // What Chromium sends.
            (
                "/app.wasm",
                "gzip, deflate, br, zstd",
                Some("gzip"),
                "module in gzip",
            ),
            ("/app.wasm", "identity", None, "module"),
            // A path the planner routes in the browser gets the page.
            ("/", "gzip", Some("gzip"), "page in gzip"),
            ("/nowhere", "gzip", Some("gzip"), "page in gzip"),
            ("/nowhere", "identity", None, "page"),
        ];
        for (path, accept, encoding, body) in cases {
            let (sent, bytes) = get_encoded(router(&dist), path, accept).await;
            assert_eq!(sent.as_deref(), encoding, "{path} with {accept}");
            assert_eq!(
                String::from_utf8_lossy(&bytes),
                body,
                "{path} with {accept}"
            );
        }
        std::fs::remove_dir_all(&dist).expect("clean");
    }
}
