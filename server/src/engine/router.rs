//! The weighted router: SageMaker Runtime's `POST /endpoints/{name}/invocations`
//! goes to blue or green by the current weights, round-robin within the fleet,
//! and every outcome and latency is recorded in the endpoint's metrics.
//!
//! Answers are SageMaker Runtime's: the model's body and content type with
//! `x-Amzn-Invoked-Production-Variant`, and, when the model fails, a
//! `ModelError` (424) that carries the model's own status, as boto3 and the AWS
//! SDKs expect.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use guardrail_core::assumptions::{invocation_timeout_real_seconds, WHOLE_BP};
use guardrail_core::event::Fleet;

use crate::engine::clock::{ApiClock, PlanClock};
use crate::engine::ids::{shown, ACCOUNT};
use crate::engine::metrics::{Metrics, Observation};

/// An instance the router may send to.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub instance: Arc<str>,
    pub invocations: Uri,
    /// The endpoint config the instance belongs to: its metrics' dimension.
    pub config: Arc<str>,
    /// `host:port` of the instance, which [`crate::engine::upstream`] keeps connections to.
    authority: Arc<str>,
    /// The same as a `Host` header.
    host: HeaderValue,
}

impl Target {
    pub fn new(instance: &str, base_url: &str, config: &str) -> Target {
        let invocations: Uri = format!("{base_url}/invocations")
            .parse()
            .unwrap_or_else(|_| Uri::from_static("http://127.0.0.1:9/invocations"));
        let authority = invocations
            .authority()
            .map_or("127.0.0.1:9", |authority| authority.as_str())
            .to_string();
        Target {
            instance: Arc::from(instance),
            host: HeaderValue::from_str(&authority)
                .unwrap_or_else(|_| HeaderValue::from_static("127.0.0.1:9")),
            authority: Arc::from(authority),
            invocations,
            config: Arc::from(config),
        }
    }
}

/// Who serves, and green's share in basis points.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Routing {
    pub blue: Vec<Target>,
    pub green: Vec<Target>,
    pub green_bp: u32,
    /// The clock of the run that routes, if one does: a request waits while
    /// it is held (see [`PlanClock`]).
    pub clock: Option<PlanClock>,
}

impl Routing {
    /// All traffic to `blue`, with no run holding it.
    pub fn blue_only(blue: Vec<Target>) -> Routing {
        Routing {
            blue,
            ..Routing::default()
        }
    }
}

/// One endpoint's router.
pub struct EndpointRouter {
    pub name: String,
    /// The production variant's name, as `x-Amzn-Invoked-Production-Variant` says.
    pub variant: String,
    variant_header: Option<HeaderValue>,
    routing: RwLock<Arc<Routing>>,
    /// Routings replaced but perhaps still held by invocations in flight
    /// (each holds the routing it chose from until it is answered).
    replaced: std::sync::Mutex<Vec<std::sync::Weak<Routing>>>,
    /// The last changes of green's share, in real time.
    changes: std::sync::Mutex<std::collections::VecDeque<(Instant, u32)>>,
    counter: AtomicU64,
    pub metrics: Metrics,
    /// SageMaker's 60 s for an invocation, on the API clock.
    invocation_timeout: Duration,
}

/// SageMaker Runtime's message when a container does not answer in time.
const TIMED_OUT: &str = "Your invocation timed out while waiting for a response from container model. \
    Review the latency metrics for each container in Amazon CloudWatch, resolve the issue, and try again.";

/// SplitMix64's finaliser: a well-mixed value from a counter.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl EndpointRouter {
    pub fn new(name: &str, variant: &str, routing: Routing, clock: ApiClock) -> EndpointRouter {
        EndpointRouter {
            name: name.to_string(),
            variant: variant.to_string(),
            variant_header: HeaderValue::from_str(variant).ok(),
            routing: RwLock::new(Arc::new(routing)),
            replaced: std::sync::Mutex::new(Vec::new()),
            changes: std::sync::Mutex::new(std::collections::VecDeque::new()),
            counter: AtomicU64::new(0),
            metrics: Metrics::new(clock),
            invocation_timeout: Duration::from_secs_f64(invocation_timeout_real_seconds(
                clock.scale(),
            )),
        }
    }

    pub fn routing(&self) -> Arc<Routing> {
        self.routing
            .read()
            .map(|routing| routing.clone())
            .unwrap_or_default()
    }

    pub fn set_routing(&self, routing: Routing) {
        let green_bp = routing.green_bp;
        let old = self
            .routing
            .write()
            .map(|mut current| std::mem::replace(&mut *current, Arc::new(routing)));
        if let (Ok(old), Ok(mut replaced)) = (old, self.replaced.lock()) {
            replaced.retain(|routing| routing.strong_count() > 0);
            replaced.push(Arc::downgrade(&old));
        }
        if let Ok(mut changes) = self.changes.lock() {
            if changes.len() == RECENT_CHANGES {
                changes.pop_front();
            }
            changes.push_back((Instant::now(), green_bp));
        }
    }

    /// Waits until no invocation in flight still holds a routing that has
    /// been replaced, so that instances no longer routed to can be
    /// terminated without cutting a request (at most the invocation timeout
    /// and a second).
    pub async fn drained(&self) {
        let deadline = Instant::now() + self.invocation_timeout + Duration::from_secs(1);
        loop {
            let held = self
                .replaced
                .lock()
                .map(|mut replaced| {
                    replaced.retain(|routing| routing.strong_count() > 0);
                    !replaced.is_empty()
                })
                .unwrap_or(false);
            if !held || Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    /// When the routing last changed, and green's share from then, oldest
    /// first (the last 64; benchmarks time reactions by them).
    pub fn recent_changes(&self) -> Vec<(Instant, u32)> {
        self.changes
            .lock()
            .map(|changes| changes.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Picks a fleet by weight, then an instance round-robin; also says how many
    /// instances the fleet has, and gives the routing it chose from, to hold
    /// while the invocation is in flight.
    fn choose(&self, routing: Arc<Routing>) -> Option<(Arc<Routing>, Fleet, Target, u32)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let roll = (mix(n) % u64::from(WHOLE_BP)) as u32;
        let (fleet, targets) = if roll < routing.green_bp && !routing.green.is_empty() {
            (Fleet::Green, &routing.green)
        } else if !routing.blue.is_empty() {
            (Fleet::Blue, &routing.blue)
        } else if !routing.green.is_empty() {
            (Fleet::Green, &routing.green)
        } else {
            return None;
        };
        let index = (n / 7) as usize % targets.len();
        let (target, instances) = (targets[index].clone(), targets.len() as u32);
        Some((routing, fleet, target, instances))
    }

    /// Sends one invocation and records what happened.
    pub async fn invoke(&self, body: Bytes, content_type: Option<HeaderValue>) -> Response {
        let mut routing = self.routing();
        if let Some(clock) = routing.clock.clone().filter(PlanClock::is_held) {
            // The run is behind its plan: wait for it rather than be served
            // by a routing the plan has already replaced.
            drop(routing);
            clock.released().await;
            routing = self.routing();
        }
        let started = Instant::now();
        let flight = self.metrics.arrived(started);
        // `_held` keeps the routing until the answer: see `drained`.
        let Some((_held, fleet, target, instances)) = self.choose(routing) else {
            return runtime_error(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                &format!("Endpoint {} has no instance in service.", self.name),
            );
        };
        let model_started = Instant::now();
        let exchange = crate::engine::upstream::exchange(
            &target.authority,
            &target.host,
            content_type.as_ref(),
            &body,
        );
        let result = tokio::time::timeout(self.invocation_timeout, exchange)
            .await
            .unwrap_or(Err(TIMED_OUT));
        let model_latency_us = model_started.elapsed().as_secs_f64() * 1e6;
        let (status, response) = match result {
            Ok(answer) if answer.status.is_success() => {
                let mut response = (answer.status, answer.body).into_response();
                let headers = response.headers_mut();
                if let Some(content_type) = answer.content_type {
                    headers.insert(axum::http::header::CONTENT_TYPE, content_type);
                }
                if let Some(variant) = &self.variant_header {
                    headers.insert("x-amzn-invoked-production-variant", variant.clone());
                }
                (answer.status.as_u16(), response)
            }
            Ok(answer) => {
                let original = String::from_utf8_lossy(&answer.body);
                let response = self.model_error(answer.status.as_u16(), &target, &original);
                (answer.status.as_u16(), response)
            }
            // SageMaker Runtime reports the model's status as 0 when it timed out.
            Err(TIMED_OUT) => (0, self.model_error(0, &target, TIMED_OUT)),
            Err(reason) => (
                502,
                self.model_error(502, &target, &format!("instance unreachable: {reason}")),
            ),
        };
        let total_us = started.elapsed().as_secs_f64() * 1e6;
        self.metrics.record(Observation {
            received: started,
            fleet,
            config: target.config.clone(),
            instances,
            status,
            model_latency_us,
            overhead_us: (total_us - model_latency_us).max(0.0),
        });
        drop(flight);
        response
    }

    /// SageMaker Runtime's answer to a model that failed: 424 `ModelError`, with
    /// the model's status and message.
    fn model_error(&self, status: u16, target: &Target, original: &str) -> Response {
        let original: String = original.chars().take(1_024).collect();
        let body = serde_json::json!({
            "ErrorCode": if (400..500).contains(&status) { "CLIENT_ERROR_FROM_MODEL" } else { "SERVER_ERROR_FROM_MODEL" },
            "Message": format!(
                "Received server error ({status}) from model with message \"{original}\". See the instance {} of endpoint {}.",
                target.instance, self.name
            ),
            "OriginalStatusCode": status,
            "OriginalMessage": original,
            "LogStreamArn": format!("arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/{}", self.name),
        });
        let mut response = (StatusCode::FAILED_DEPENDENCY, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert("x-amzn-errortype", HeaderValue::from_static("ModelError"));
        response
    }

    /// Handles an HTTP request: reads its body and forwards it.
    pub async fn handle(&self, request: axum::extract::Request) -> Response {
        self.handle_signed(request, None).await
    }

    /// The same, refusing a request not signed with `secret` (SigV4), when
    /// there is one.
    pub async fn handle_signed(
        &self,
        request: axum::extract::Request,
        secret: Option<Arc<str>>,
    ) -> Response {
        let (parts, body) = request.into_parts();
        let content_type = parts.headers.get(axum::http::header::CONTENT_TYPE).cloned();
        let body = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
            Ok(body) => body,
            Err(_) => {
                return runtime_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "ValidationError",
                    "the request body is larger than 6 MB, SageMaker's limit",
                )
            }
        };
        if let Some(secret) = secret {
            if let Err(failure) =
                crate::aws::sigv4::verify(&parts.method, &parts.uri, &parts.headers, &body, &secret)
            {
                return runtime_error(
                    failure.status,
                    crate::aws::sigv4::json_code(failure.code),
                    &failure.message,
                );
            }
        }
        self.invoke(body, content_type).await
    }
}

/// An error in SageMaker Runtime's own format: the code in `x-amzn-ErrorType`
/// and a JSON body with the message.
pub fn runtime_error(status: StatusCode, code: &'static str, message: &str) -> Response {
    let body = serde_json::json!({ "message": message });
    let mut response = (status, body.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert("x-amzn-errortype", HeaderValue::from_static(code));
    response
}

/// SageMaker Runtime's `POST /endpoints/{name}/invocations`: `lookup` finds
/// the endpoint's router, `secret` the secret requests must be signed with
/// (SigV4), if any. An endpoint that does not exist gets SageMaker Runtime's
/// `ValidationError`. The name is read from the path directly: this is the
/// router's hot path, and SageMaker's endpoint names need no decoding
/// (letters, digits and hyphens).
///
/// It is served as an axum route ([`Invocations::routes`]), and, by
/// `web::serve_http1`, ahead of axum's router, which then never sees an
/// invocation: matching, extensions and boxed handlers were a tenth of the
/// router's own CPU (BENCHMARKS.md).
#[derive(Clone)]
pub struct Invocations {
    lookup: Arc<Lookup>,
    secret: Arc<dyn Fn() -> Option<Arc<str>> + Send + Sync>,
}

/// Finds an endpoint's router by name.
type Lookup = dyn Fn(&str) -> Option<Arc<EndpointRouter>> + Send + Sync;

impl Invocations {
    pub fn new(
        lookup: impl Fn(&str) -> Option<Arc<EndpointRouter>> + Send + Sync + 'static,
        secret: impl Fn() -> Option<Arc<str>> + Send + Sync + 'static,
    ) -> Invocations {
        Invocations {
            lookup: Arc::new(lookup),
            secret: Arc::new(secret),
        }
    }

    /// The endpoint's name, when `method` and `path` are an invocation's.
    pub fn endpoint_of<'a>(method: &axum::http::Method, path: &'a str) -> Option<&'a str> {
        let name = path
            .strip_prefix("/endpoints/")?
            .strip_suffix("/invocations")?;
        (*method == axum::http::Method::POST && !name.is_empty() && !name.contains('/'))
            .then_some(name)
    }

    /// Answers an invocation of the endpoint `name`.
    pub async fn answer(&self, name: &str, request: axum::extract::Request) -> Response {
        let found = (self.lookup)(name);
        let secret = (self.secret)();
        match found {
            Some(router) => router.handle_signed(request, secret).await,
            None => runtime_error(
                StatusCode::BAD_REQUEST,
                "ValidationError",
                &format!("Endpoint {} of account {ACCOUNT} not found.", shown(name)),
            ),
        }
    }

    /// The same as an axum route, for servers that are not `serve_http1`.
    pub fn routes(&self) -> axum::Router {
        let invocations = self.clone();
        axum::Router::new().route(
            "/endpoints/{name}/invocations",
            axum::routing::post(move |request: axum::extract::Request| {
                let invocations = invocations.clone();
                async move {
                    let path = request.uri().path().to_string();
                    let name = path
                        .strip_prefix("/endpoints/")
                        .and_then(|rest| rest.strip_suffix("/invocations"))
                        .unwrap_or_default();
                    invocations.answer(name, request).await
                }
            }),
        )
    }
}

/// [`Invocations`] without signing, as an axum route.
pub fn invocation_routes<F>(lookup: F) -> axum::Router
where
    F: Fn(&str) -> Option<Arc<EndpointRouter>> + Send + Sync + 'static,
{
    Invocations::new(lookup, || None).routes()
}

/// How many routing changes [`EndpointRouter::recent_changes`] keeps.
const RECENT_CHANGES: usize = 64;

/// SageMaker's payload limit for real-time invocations.
pub const MAX_BODY_BYTES: usize = crate::engine::upstream::MOST_BODY;

#[cfg(test)]
mod tests {
    use super::*;

    fn targets(prefix: &str, count: usize) -> Vec<Target> {
        (0..count)
            .map(|index| Target::new(&format!("{prefix}-{index}"), "http://127.0.0.1:9", prefix))
            .collect()
    }

    #[test]
    fn weights_split_traffic_by_basis_points() {
        let router = EndpointRouter::new(
            "e",
            "AllTraffic",
            Routing {
                blue: targets("blue", 3),
                green: targets("green", 1),
                green_bp: 2_500,
                clock: None,
            },
            ApiClock::start(1.0),
        );
        let draws = 40_000;
        let green = (0..draws)
            .filter(|_| {
                matches!(
                    router.choose(router.routing()),
                    Some((_, Fleet::Green, _, _))
                )
            })
            .count();
        let share = green as f64 / f64::from(draws);
        assert!((share - 0.25).abs() < 0.01, "{share}");
    }

    #[test]
    fn every_instance_of_a_fleet_gets_traffic() {
        let router = EndpointRouter::new(
            "e",
            "AllTraffic",
            Routing {
                blue: targets("blue", 3),
                green: Vec::new(),
                green_bp: 0,
                clock: None,
            },
            ApiClock::start(1.0),
        );
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..100 {
            if let Some((_, _, target, _)) = router.choose(router.routing()) {
                seen.insert(target.instance.to_string());
            }
        }
        assert_eq!(seen.len(), 3);
    }

    #[tokio::test]
    async fn an_instance_that_never_answers_fails_as_a_model_error_after_the_timeout() {
        // Accepts connections and never answers.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listener");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let held = tokio::spawn(async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                open.push(socket);
            }
        });
        // 600 times real time: SageMaker's 60 s would be 100 ms; the real-time
        // floor makes them 1 s.
        let clock = ApiClock::start(600.0);
        let router = EndpointRouter::new(
            "e",
            "AllTraffic",
            Routing {
                blue: vec![Target::new("blue-1", &url, "baseline")],
                ..Routing::default()
            },
            clock,
        );
        assert_eq!(router.invocation_timeout, Duration::from_secs(1));
        let response = router.invoke(Bytes::from_static(b"1,2"), None).await;
        assert_eq!(response.status(), StatusCode::FAILED_DEPENDENCY);
        assert_eq!(
            response
                .headers()
                .get("x-amzn-errortype")
                .map(|v| v.as_bytes()),
            Some(&b"ModelError"[..])
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(body["OriginalStatusCode"], 0, "{body}");
        assert_eq!(body["ErrorCode"], "SERVER_ERROR_FROM_MODEL", "{body}");
        assert!(
            body["Message"].as_str().is_some_and(|message| message
                .starts_with("Received server error (0) from model")
                && message.contains("timed out")),
            "{body}"
        );
        let total = router.metrics.total();
        assert_eq!(total, 1, "the timed-out request is recorded");
        held.abort();
    }
}
