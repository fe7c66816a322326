//! AWS's own APIs on guardrail's port, so that boto3, the AWS CLI and the AWS
//! SDK for Rust drive the local engine unchanged (`AWS_ENDPOINT_URL`):
//! - SageMaker: awsJson1_1, `POST /` with `X-Amz-Target: SageMaker.<Op>`;
//! - CloudWatch in the three forms its clients send: awsJson1_0 (`X-Amz-Target:
//!   GraniteServiceVersion20100801.<Op>`), Smithy RPC v2 CBOR (`POST
//!   /service/GraniteServiceVersion20100801/operation/<Op>`) and the
//!   form-encoded query protocol (`Action=<Op>`);
//! - SageMaker Runtime is the engine's router (`crate::engine::Engine::routes`).
//!
//! Requests are signed with SigV4 by every client. On loopback any signature
//! is accepted; off loopback (`guardrail serve --bind`) the signature must be
//! made with the access token as the secret key ([`sigv4`]). The signature's
//! credential scope names the region that ARNs use.
//! Errors are in each client's own format, with the codes it maps.

pub mod cloudwatch;
pub mod failure;
pub mod sagemaker;
pub mod sigv4;
pub use guardrail_wire as wire;

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

pub use crate::aws::failure::{parse, Failure};
use crate::engine::Engine;

/// The CloudWatch CBOR path's prefix.
pub const CBOR_PATH: &str = "/service/GraniteServiceVersion20100801/operation/";
/// CloudWatch's JSON target prefix.
pub const CLOUDWATCH_TARGET: &str = "GraniteServiceVersion20100801";
/// SageMaker's target prefix.
pub const SAGEMAKER_TARGET: &str = "SageMaker";

/// The largest request body accepted: SageMaker's and CloudWatch's requests
/// are small documents.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The region ARNs use when a request names none.
pub const DEFAULT_REGION: &str = "us-east-1";

/// How a request is encoded, and so how it is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    SageMaker,
    CloudWatchJson,
    CloudWatchCbor,
    CloudWatchQuery,
}

/// A unique request id, shaped like AWS's.
fn request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let number = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = crate::engine::clock::wall_ms() ^ (number << 40) ^ u64::from(std::process::id());
    let mut random = guardrail_core::random::Random::new(seed);
    let a = random.next_u64();
    let b = random.next_u64();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}

/// The region of the request's SigV4 credential scope
/// (`Credential=AKID/20261122/us-east-1/sagemaker/aws4_request`).
fn region_of(headers: &HeaderMap) -> String {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split("Credential=").nth(1))
        .and_then(|scope| scope.split('/').nth(2))
        .filter(|region| {
            !region.is_empty()
                && region.len() <= 32
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .unwrap_or(DEFAULT_REGION)
        .to_string()
}

/// Which protocol and operation a request is, from its path and headers;
/// `None` for a query request, whose operation is in its body.
fn classify(path: &str, headers: &HeaderMap) -> Result<(Protocol, Option<String>), Failure> {
    if let Some(operation) = path.strip_prefix(CBOR_PATH) {
        return Ok((Protocol::CloudWatchCbor, Some(operation.to_string())));
    }
    if let Some(target) = headers
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
    {
        return match target.split_once('.') {
            Some((SAGEMAKER_TARGET, operation)) => {
                Ok((Protocol::SageMaker, Some(operation.to_string())))
            }
            Some((CLOUDWATCH_TARGET, operation)) => {
                Ok((Protocol::CloudWatchJson, Some(operation.to_string())))
            }
            _ => Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "UnknownOperationException",
                format!(
                    "guardrail answers SageMaker ({SAGEMAKER_TARGET}.*) and CloudWatch ({CLOUDWATCH_TARGET}.*) here, not X-Amz-Target {}",
                    crate::engine::ids::shown(target)
                ),
            )),
        };
    }
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/x-www-form-urlencoded"));
    if form {
        return Ok((Protocol::CloudWatchQuery, None));
    }
    Err(Failure::new(
        StatusCode::BAD_REQUEST,
        "UnknownOperationException",
        "guardrail answers AWS's APIs here: SageMaker and CloudWatch JSON need an X-Amz-Target header, CloudWatch's query protocol a form body, and its CBOR protocol the path /service/GraniteServiceVersion20100801/operation/<Operation>",
    ))
}

/// The most a compressed body may inflate to: CloudWatch takes 1 MB
/// requests, and a body that inflates further is refused rather than read.
pub const MAX_INFLATED_BYTES: usize = 4 * MAX_REQUEST_BYTES;

/// The body as sent, or inflated when `Content-Encoding: gzip` says so.
fn inflate(headers: &HeaderMap, body: axum::body::Bytes) -> Result<axum::body::Bytes, Failure> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value
                .split(',')
                .any(|part| part.trim().eq_ignore_ascii_case("gzip"))
        });
    if !gzip {
        return Ok(body);
    }
    use std::io::Read;
    let mut inflated = Vec::new();
    let read = flate2::read::GzDecoder::new(body.as_ref())
        .take(MAX_INFLATED_BYTES as u64 + 1)
        .read_to_end(&mut inflated);
    match read {
        Ok(size) if size <= MAX_INFLATED_BYTES => Ok(inflated.into()),
        Ok(_) => Err(Failure::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "InvalidParameterValue",
            format!("the gzip request body inflates to more than {MAX_INFLATED_BYTES} bytes"),
        )),
        Err(error) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "InvalidParameterValue",
            format!("the request body says Content-Encoding gzip but cannot be inflated: {error}"),
        )),
    }
}

/// Answers one AWS API request.
pub async fn handle(engine: Engine, request: Request) -> Response {
    let request_id = request_id();
    let (parts, body) = request.into_parts();
    let region = region_of(&parts.headers);
    let (protocol, operation) = match classify(parts.uri.path(), &parts.headers) {
        Ok(classified) => classified,
        Err(failure) => return error_response(Protocol::SageMaker, &failure, &request_id),
    };
    if let Some(refusal) = crate::origin::foreign_origin(&parts.headers) {
        let code = match protocol {
            Protocol::SageMaker => "AccessDeniedException",
            _ => "AccessDenied",
        };
        let failure = Failure::new(StatusCode::FORBIDDEN, code, refusal);
        return error_response(protocol, &failure, &request_id);
    }
    let body = match axum::body::to_bytes(body, MAX_REQUEST_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            let failure = Failure::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                match protocol {
                    Protocol::SageMaker => "SerializationException",
                    _ => "InvalidParameterValue",
                },
                format!("the request body is larger than {MAX_REQUEST_BYTES} bytes"),
            );
            return error_response(protocol, &failure, &request_id);
        }
    };
    if let Some(secret) = engine.access_token() {
        if let Err(mut failure) =
            sigv4::verify(&parts.method, &parts.uri, &parts.headers, &body, &secret)
        {
            if protocol == Protocol::SageMaker {
                failure.code = sigv4::json_code(failure.code);
            }
            return error_response(protocol, &failure, &request_id);
        }
    }
    // boto3 and the AWS CLI gzip a large PutMetricData body (CloudWatch's
    // `requestcompression`); the signature is over what was sent.
    let body = match inflate(&parts.headers, body) {
        Ok(body) => body,
        Err(failure) => return error_response(protocol, &failure, &request_id),
    };
    let decoded = match protocol {
        Protocol::SageMaker | Protocol::CloudWatchJson => {
            wire::from_json(&body).map(|input| (operation.unwrap_or_default(), input))
        }
        Protocol::CloudWatchCbor => {
            wire::from_cbor(&body).map(|input| (operation.unwrap_or_default(), input))
        }
        Protocol::CloudWatchQuery => wire::from_query(&body),
    };
    let (operation, input) = match decoded {
        Ok(decoded) => decoded,
        Err(reason) => {
            let code = match protocol {
                Protocol::SageMaker => "SerializationException",
                _ => "InvalidParameterValue",
            };
            let failure = Failure::new(StatusCode::BAD_REQUEST, code, reason);
            return error_response(protocol, &failure, &request_id);
        }
    };
    let answer = match protocol {
        Protocol::SageMaker => sagemaker::call(&engine, &region, &operation, input).await,
        _ => cloudwatch::call(&engine, &region, &operation, input),
    };
    match answer {
        Ok(output) => output_response(protocol, &operation, &output, &request_id),
        Err(failure) => {
            if failure.status.is_server_error() {
                tracing::error!("{operation}: {}", failure.message);
            }
            error_response(protocol, &failure, &request_id)
        }
    }
}

fn with_headers(
    status: StatusCode,
    body: Vec<u8>,
    content_type: &'static str,
    request_id: &str,
) -> Response {
    let mut response = (status, Body::from(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    response
}

/// A Smithy RPC v2 CBOR answer, with the protocol header Go's SDK checks.
fn cbor_response(status: StatusCode, body: &Value, request_id: &str) -> Response {
    let mut response = with_headers(status, wire::to_cbor(body), "application/cbor", request_id);
    response
        .headers_mut()
        .insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    response
}

fn output_response(
    protocol: Protocol,
    operation: &str,
    output: &Value,
    request_id: &str,
) -> Response {
    match protocol {
        Protocol::SageMaker => with_headers(
            StatusCode::OK,
            output.to_string().into_bytes(),
            "application/x-amz-json-1.1",
            request_id,
        ),
        Protocol::CloudWatchJson => with_headers(
            StatusCode::OK,
            output.to_string().into_bytes(),
            "application/x-amz-json-1.0",
            request_id,
        ),
        Protocol::CloudWatchCbor => cbor_response(StatusCode::OK, output, request_id),
        Protocol::CloudWatchQuery => with_headers(
            StatusCode::OK,
            wire::to_query_xml(operation, output, request_id).into_bytes(),
            "text/xml",
            request_id,
        ),
    }
}

fn error_response(protocol: Protocol, failure: &Failure, request_id: &str) -> Response {
    let mut response = match protocol {
        Protocol::SageMaker => {
            let body = json!({"__type": failure.code, "message": failure.message});
            with_headers(
                failure.status,
                body.to_string().into_bytes(),
                "application/x-amz-json-1.1",
                request_id,
            )
        }
        Protocol::CloudWatchJson | Protocol::CloudWatchCbor => {
            let body = json!({
                "__type": format!("com.amazonaws.cloudwatch#{}", cloudwatch::shape_of(failure.code)),
                "message": failure.message,
            });
            let mut response = if protocol == Protocol::CloudWatchJson {
                with_headers(
                    failure.status,
                    body.to_string().into_bytes(),
                    "application/x-amz-json-1.0",
                    request_id,
                )
            } else {
                cbor_response(failure.status, &body, request_id)
            };
            let fault = if failure.status.is_server_error() {
                "Receiver"
            } else {
                "Sender"
            };
            if let Ok(value) = HeaderValue::from_str(&format!("{};{fault}", failure.code)) {
                response.headers_mut().insert("x-amzn-query-error", value);
            }
            response
        }
        Protocol::CloudWatchQuery => with_headers(
            failure.status,
            wire::query_error_xml(failure.code, &failure.message, request_id).into_bytes(),
            "text/xml",
            request_id,
        ),
    };
    if let Ok(code) = HeaderValue::from_str(failure.code) {
        response.headers_mut().insert("x-amzn-errortype", code);
    }
    if failure.status == StatusCode::PAYLOAD_TOO_LARGE {
        // The rest of the body is not read, so the connection cannot carry
        // another request: say so, or a client would send one on it.
        response.headers_mut().insert(
            axum::http::header::CONNECTION,
            HeaderValue::from_static("close"),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_told_apart_by_path_target_and_form() {
        let cbor = format!("{CBOR_PATH}DescribeAlarms");
        let cases = [
            (
                cbor.as_str(),
                None,
                Some((Protocol::CloudWatchCbor, "DescribeAlarms")),
            ),
            (
                "/",
                Some("SageMaker.UpdateEndpoint"),
                Some((Protocol::SageMaker, "UpdateEndpoint")),
            ),
            (
                "/",
                Some("GraniteServiceVersion20100801.PutMetricAlarm"),
                Some((Protocol::CloudWatchJson, "PutMetricAlarm")),
            ),
            ("/", Some("DynamoDB_20120810.GetItem"), None),
            ("/", None, None),
        ];
        for (path, target, expected) in cases {
            let mut headers = HeaderMap::new();
            if let Some(target) = target {
                headers.insert("x-amz-target", HeaderValue::from_static(target));
            }
            let classified = classify(path, &headers);
            match expected {
                Some((protocol, operation)) => assert_eq!(
                    classified,
                    Ok((protocol, Some(operation.to_string()))),
                    "{path} {target:?}"
                ),
                None => assert_eq!(
                    classified.map_err(|failure| failure.code),
                    Err("UnknownOperationException"),
                    "{path} {target:?}"
                ),
            }
        }
        let mut form = HeaderMap::new();
        form.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=utf-8"),
        );
        assert_eq!(classify("/", &form), Ok((Protocol::CloudWatchQuery, None)));
    }

    #[test]
    fn the_region_comes_from_the_credential_scope() {
        let mut headers = HeaderMap::new();
        assert_eq!(region_of(&headers), DEFAULT_REGION);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static(
                "AWS4-HMAC-SHA256 Credential=AKID/20261122/eu-west-1/sagemaker/aws4_request, SignedHeaders=host, Signature=x",
            ),
        );
        assert_eq!(region_of(&headers), "eu-west-1");
        let id = request_id();
        assert_eq!((id.len(), id.matches('-').count()), (36, 4), "{id}");
        assert_ne!(id, request_id());
    }
}
