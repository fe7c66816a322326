//! A scripted fake of Amazon SageMaker and Amazon CloudWatch for the SageMaker
//! backend's tests, on a free loopback port.
//!
//! It is not `guardrail serve`'s emulation: no engine stands behind it, and it
//! answers exactly what a test scripts, including what real SageMaker does and
//! our emulation never shows (throttling, 500s and 503s, `RollingBack`,
//! `UpdateRollbackFailed`, `SystemUpdating`, stale reads, expired tokens,
//! paged results).
//!
//! It speaks the protocols the AWS SDK for Rust uses: SageMaker's JSON 1.1
//! (`X-Amz-Target: SageMaker.<Op>`) and CloudWatch's Smithy RPC v2 CBOR
//! (`POST /service/GraniteServiceVersion20100801/operation/<Op>`). Answers are
//! built from botocore's service models: each scripted output is checked
//! against the operation's output shape (members, required members, types,
//! enum values) and encoded by that shape (CloudWatch's timestamps as CBOR tag
//! 1); each error code must be one the operation's model lists or one of AWS's
//! common errors. Each request is checked against the input shape too. What
//! does not fit is a problem that [`Fake::problems`] reports, so a script that
//! real AWS could not send fails its test.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ciborium::value::Value as Cbor;
use serde_json::{json, Value};

const CBOR_PREFIX: &str = "/service/GraniteServiceVersion20100801/operation/";

/// AWS's common errors (any operation may answer them), with the HTTP status
/// AWS documents for each. `Throttling` is CloudWatch's code for throttling
/// (its awsQuery heritage); `ExpiredTokenException` is what a request signed
/// with an expired session token gets; SageMaker answers `ValidationException`
/// to requests it cannot take although its model lists no such error
/// (botocore's own waiters match on it).
const COMMON_ERRORS: [(&str, u16); 11] = [
    ("ValidationException", 400),
    ("ThrottlingException", 400),
    ("Throttling", 400),
    ("InternalFailure", 500),
    ("ServiceUnavailable", 503),
    ("ExpiredTokenException", 403),
    ("AccessDeniedException", 400),
    ("IncompleteSignature", 400),
    ("InvalidClientTokenId", 403),
    ("RequestExpired", 400),
    ("ValidationError", 400),
];

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// The operation's output, as botocore's shape has it (timestamps in
    /// epoch seconds).
    Output(Value),
    /// An error: the HTTP status, the code and the message.
    Error(u16, String, String),
}

impl Reply {
    pub fn output(value: Value) -> Reply {
        Reply::Output(value)
    }

    /// A common error with the status AWS documents for it, or a modeled one
    /// (status 400).
    pub fn error(code: &str, message: &str) -> Reply {
        let status = COMMON_ERRORS
            .iter()
            .find(|(name, _)| *name == code)
            .map_or(400, |(_, status)| *status);
        Reply::Error(status, code.to_string(), message.to_string())
    }
}

type Responder = Box<dyn FnMut(&Value) -> Reply + Send>;

/// One request the fake received.
#[derive(Clone, Debug)]
pub struct Call {
    pub operation: String,
    pub input: Value,
    /// The session token it was signed with.
    pub token: Option<String>,
    pub answered: String,
}

#[derive(Default)]
struct Inner {
    /// Answers used once each, in order, before the standing one.
    queued: HashMap<String, VecDeque<Responder>>,
    /// The answer once the queue is empty.
    standing: HashMap<String, Responder>,
    expired_tokens: HashSet<String>,
    calls: Vec<Call>,
    problems: Vec<String>,
}

/// botocore's models of the two services.
struct Models {
    sagemaker: Value,
    cloudwatch: Value,
}

fn models() -> &'static Models {
    static MODELS: OnceLock<Models> = OnceLock::new();
    MODELS.get_or_init(|| {
        let program = "import json, sys, botocore.loaders\n\
                       loader = botocore.loaders.Loader()\n\
                       json.dump({'sagemaker': loader.load_service_model('sagemaker', 'service-2'),\n\
                                  'cloudwatch': loader.load_service_model('cloudwatch', 'service-2')}, sys.stdout)";
        let output = crate::common::python(program, "");
        assert!(
            output.status.success(),
            "botocore's models: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut both: Value = serde_json::from_slice(&output.stdout).expect("botocore's models");
        Models {
            sagemaker: both["sagemaker"].take(),
            cloudwatch: both["cloudwatch"].take(),
        }
    })
}

/// The fake, serving until dropped.
pub struct Fake {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Service {
    SageMaker,
    CloudWatch,
}

impl Fake {
    pub async fn start() -> Fake {
        models();
        let inner = Arc::new(Mutex::new(Inner::default()));
        let state = inner.clone();
        let app = axum::Router::new().fallback(
            move |headers: HeaderMap, uri: axum::http::Uri, body: axum::body::Bytes| {
                let state = state.clone();
                async move { answer(&state, &headers, uri.path(), &body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { url, inner, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// `operation` answers `reply` from now on, once what is queued is used.
    pub fn always(&self, operation: &str, reply: Reply) {
        self.respond(operation, move |_| reply.clone());
    }

    /// `operation` answers what `responder` makes of each request, from now
    /// on, once what is queued is used.
    pub fn respond(
        &self,
        operation: &str,
        responder: impl FnMut(&Value) -> Reply + Send + 'static,
    ) {
        self.lock()
            .standing
            .insert(operation.to_string(), Box::new(responder));
    }

    /// The next `times` requests of `operation` (after what is already
    /// queued) get `reply`.
    pub fn then(&self, operation: &str, reply: Reply, times: usize) {
        let mut inner = self.lock();
        let queue = inner.queued.entry(operation.to_string()).or_default();
        for _ in 0..times {
            let reply = reply.clone();
            queue.push_back(Box::new(move |_| reply.clone()));
        }
    }

    /// The next requests of `operation` get each of `steps`' replies its
    /// number of times, in order (after what is already queued).
    pub fn script(&self, operation: &str, steps: Vec<(Reply, usize)>) {
        for (reply, times) in steps {
            self.then(operation, reply, times);
        }
    }

    /// Requests signed with session token `token` get `ExpiredTokenException`
    /// (whatever is scripted), until [`Fake::renew_token`].
    pub fn expire_token(&self, token: &str) {
        self.lock().expired_tokens.insert(token.to_string());
    }

    /// The requests received so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// How many requests of `operation` were received.
    pub fn count(&self, operation: &str) -> usize {
        self.lock()
            .calls
            .iter()
            .filter(|call| call.operation == operation)
            .count()
    }

    /// Waits (up to 30 s) until `operation` has been received `times` times.
    pub async fn wait_for(&self, operation: &str, times: usize) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.count(operation) < times {
            assert!(
                Instant::now() < deadline,
                "the fake received {operation} {} times, not {times}: {:?}",
                self.count(operation),
                self.calls()
                    .iter()
                    .map(|call| format!("{} → {}", call.operation, call.answered))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Requests and answers that do not fit botocore's models; empty when the
    /// test met only what AWS could send.
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }
}

fn answer(state: &Mutex<Inner>, headers: &HeaderMap, path: &str, body: &[u8]) -> Response {
    let target = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok());
    let (service, operation, input) =
        if let Some(operation) = target.and_then(|target| target.strip_prefix("SageMaker.")) {
            let input = if body.is_empty() {
                json!({})
            } else {
                serde_json::from_slice(body).unwrap_or(Value::Null)
            };
            (Service::SageMaker, operation.to_string(), input)
        } else if let Some(operation) = path.strip_prefix(CBOR_PREFIX) {
            let input = ciborium::de::from_reader::<Cbor, _>(body)
                .map(|value| from_cbor(&value))
                .unwrap_or(Value::Null);
            (Service::CloudWatch, operation.to_string(), input)
        } else {
            return (StatusCode::NOT_FOUND, "not an operation the fake serves").into_response();
        };
    let model = match service {
        Service::SageMaker => &models().sagemaker,
        Service::CloudWatch => &models().cloudwatch,
    };
    let token = headers
        .get("x-amz-security-token")
        .and_then(|value| value.to_str().ok())
        .map(str::to_string);
    let mut inner = state.lock().unwrap_or_else(|poison| poison.into_inner());
    let mut problems = Vec::new();
    let spec = &model["operations"][&operation];
    if spec.is_null() {
        problems.push(format!("{operation} is not an operation of the model"));
    } else if let Some(shape) = spec["input"]["shape"].as_str() {
        check(
            model,
            shape,
            &input,
            &format!("{operation} input"),
            &mut problems,
        );
    }
    let expired = token
        .as_ref()
        .is_some_and(|token| inner.expired_tokens.contains(token));
    let reply = if expired {
        Reply::error(
            "ExpiredTokenException",
            "The security token included in the request is expired",
        )
    } else {
        let queued = inner
            .queued
            .get_mut(&operation)
            .and_then(VecDeque::pop_front);
        match queued {
            Some(mut responder) => responder(&input),
            None => match inner.standing.get_mut(&operation) {
                Some(responder) => responder(&input),
                None => {
                    problems.push(format!("{operation} was not scripted"));
                    Reply::error("InternalFailure", "the test did not script this operation")
                }
            },
        }
    };
    let (response, answered) = match reply {
        Reply::Output(output) => {
            if let Some(shape) = spec["output"]["shape"].as_str() {
                check(
                    model,
                    shape,
                    &output,
                    &format!("{operation} output"),
                    &mut problems,
                );
            }
            let response = match service {
                Service::SageMaker => json_response(StatusCode::OK, output.to_string()),
                Service::CloudWatch => {
                    let shape = spec["output"]["shape"].as_str().unwrap_or_default();
                    cbor_response(StatusCode::OK, &to_cbor(model, shape, &output))
                }
            };
            (response, "output".to_string())
        }
        Reply::Error(status, code, message) => {
            let modeled = spec["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|error| error["shape"].as_str() == Some(code.as_str()));
            let common = COMMON_ERRORS.iter().any(|(name, _)| *name == code);
            if !modeled && !common {
                problems.push(format!(
                    "{operation} cannot answer {code}: neither its model nor AWS's common errors list it"
                ));
            }
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            let response = match service {
                Service::SageMaker => json_response(
                    status,
                    json!({"__type": code, "message": message}).to_string(),
                ),
                Service::CloudWatch => {
                    let body = Cbor::Map(vec![
                        (
                            Cbor::Text("__type".into()),
                            Cbor::Text(format!("com.amazonaws.cloudwatch#{code}")),
                        ),
                        (Cbor::Text("message".into()), Cbor::Text(message.clone())),
                    ]);
                    let mut response = cbor_response(status, &body);
                    let fault = if status.is_server_error() {
                        "Receiver"
                    } else {
                        "Sender"
                    };
                    if let Ok(value) = HeaderValue::from_str(&format!("{code};{fault}")) {
                        response.headers_mut().insert("x-amzn-query-error", value);
                    }
                    response
                }
            };
            (response, format!("{status} {code}"))
        }
    };
    inner.problems.extend(problems);
    inner.calls.push(Call {
        operation,
        input,
        token,
        answered,
    });
    response
}

fn json_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, Body::from(body)).into_response();
    response.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.1"),
    );
    response
        .headers_mut()
        .insert("x-amzn-requestid", HeaderValue::from_static("fake-request"));
    response
}

fn cbor_response(status: StatusCode, body: &Cbor) -> Response {
    let mut bytes = Vec::new();
    ciborium::ser::into_writer(body, &mut bytes).expect("CBOR encodes");
    let mut response = (status, Body::from(bytes)).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/cbor"));
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    headers.insert("x-amzn-requestid", HeaderValue::from_static("fake-request"));
    response
}

/// Checks `value` against botocore shape `name`; adds what does not fit.
fn check(model: &Value, name: &str, value: &Value, at: &str, problems: &mut Vec<String>) {
    let shape = &model["shapes"][name];
    let kind = shape["type"].as_str().unwrap_or_default();
    let wrong = |problems: &mut Vec<String>, expected: &str| {
        problems.push(format!("{at}: {value} is not {expected} (shape {name})"));
    };
    match kind {
        "structure" => {
            let Some(object) = value.as_object() else {
                return wrong(problems, "a structure");
            };
            for (key, member) in object {
                match shape["members"][key]["shape"].as_str() {
                    Some(member_shape) => check(
                        model,
                        member_shape,
                        member,
                        &format!("{at}.{key}"),
                        problems,
                    ),
                    None => problems.push(format!("{at}: {name} has no member {key}")),
                }
            }
            for required in shape["required"].as_array().into_iter().flatten() {
                if let Some(required) = required.as_str() {
                    if !object.contains_key(required) {
                        problems.push(format!("{at}: required member {required} is missing"));
                    }
                }
            }
        }
        "list" => {
            let Some(items) = value.as_array() else {
                return wrong(problems, "a list");
            };
            let member = shape["member"]["shape"].as_str().unwrap_or_default();
            for (index, item) in items.iter().enumerate() {
                check(model, member, item, &format!("{at}[{index}]"), problems);
            }
        }
        "map" => {
            let Some(object) = value.as_object() else {
                return wrong(problems, "a map");
            };
            let member = shape["value"]["shape"].as_str().unwrap_or_default();
            for (key, item) in object {
                check(model, member, item, &format!("{at}.{key}"), problems);
            }
        }
        "string" => match value.as_str() {
            None => wrong(problems, "a string"),
            Some(text) => {
                if let Some(allowed) = shape["enum"].as_array() {
                    if !allowed.iter().any(|option| option.as_str() == Some(text)) {
                        problems.push(format!("{at}: {text} is not one of {name}'s values"));
                    }
                }
            }
        },
        "integer" | "long" => {
            if !value.is_i64() && !value.is_u64() {
                wrong(problems, "an integer");
            }
        }
        "float" | "double" | "timestamp" => {
            if !value.is_number() {
                wrong(problems, "a number");
            }
        }
        "boolean" => {
            if !value.is_boolean() {
                wrong(problems, "a boolean");
            }
        }
        "blob" => {
            if !value.is_string() {
                wrong(problems, "a blob");
            }
        }
        other => problems.push(format!("{at}: shape {name} has type {other:?}")),
    }
}

/// `value` in CBOR, by botocore shape `name` (timestamps as tag 1).
fn to_cbor(model: &Value, name: &str, value: &Value) -> Cbor {
    let shape = &model["shapes"][name];
    match (shape["type"].as_str().unwrap_or_default(), value) {
        ("structure", Value::Object(object)) => Cbor::Map(
            object
                .iter()
                .map(|(key, member)| {
                    let member_shape = shape["members"][key]["shape"].as_str().unwrap_or_default();
                    (
                        Cbor::Text(key.clone()),
                        to_cbor(model, member_shape, member),
                    )
                })
                .collect(),
        ),
        ("map", Value::Object(object)) => {
            let member = shape["value"]["shape"].as_str().unwrap_or_default();
            Cbor::Map(
                object
                    .iter()
                    .map(|(key, item)| (Cbor::Text(key.clone()), to_cbor(model, member, item)))
                    .collect(),
            )
        }
        ("list", Value::Array(items)) => {
            let member = shape["member"]["shape"].as_str().unwrap_or_default();
            Cbor::Array(
                items
                    .iter()
                    .map(|item| to_cbor(model, member, item))
                    .collect(),
            )
        }
        ("timestamp", value) => Cbor::Tag(1, Box::new(Cbor::Float(value.as_f64().unwrap_or(0.0)))),
        ("float" | "double", value) => Cbor::Float(value.as_f64().unwrap_or(0.0)),
        ("integer" | "long", value) => Cbor::Integer(value.as_i64().unwrap_or(0).into()),
        ("blob", Value::String(text)) => Cbor::Bytes(text.as_bytes().to_vec()),
        (_, Value::String(text)) => Cbor::Text(text.clone()),
        (_, Value::Bool(flag)) => Cbor::Bool(*flag),
        _ => Cbor::Null,
    }
}

/// A CBOR request as JSON (timestamps as epoch seconds).
fn from_cbor(value: &Cbor) -> Value {
    match value {
        Cbor::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(key, item)| {
                    let key = match key {
                        Cbor::Text(text) => text.clone(),
                        other => format!("{other:?}"),
                    };
                    (key, from_cbor(item))
                })
                .collect(),
        ),
        Cbor::Array(items) => Value::Array(items.iter().map(from_cbor).collect()),
        Cbor::Tag(_, inner) => from_cbor(inner),
        Cbor::Text(text) => Value::String(text.clone()),
        Cbor::Bool(flag) => Value::Bool(*flag),
        Cbor::Float(number) => json!(number),
        Cbor::Integer(number) => i64::try_from(*number).map_or(Value::Null, |n| json!(n)),
        Cbor::Bytes(bytes) => Value::String(String::from_utf8_lossy(bytes).into_owned()),
        _ => Value::Null,
    }
}
