//! SigV4 verification, for a guardrail bound off loopback: every AWS client
//! signs its requests, and with the access token as its secret access key the
//! signature proves it holds the token. The canonical request follows AWS's
//! Signature Version 4 rules for services other than S3 (the path's segments
//! encoded again, the query sorted, the signed headers trimmed and in order,
//! the body's SHA-256 or the `x-amz-content-sha256` the client sent).
//!
//! Never logged: the token, signatures, or the canonical request.

use axum::http::{HeaderMap, Method, StatusCode, Uri};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::aws::failure::Failure;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's `X-Amz-Date` may be from the server's clock, as on AWS.
const MOST_SKEW_SECONDS: u64 = 15 * 60;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts a key of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 percent-encoding of everything but unreserved characters.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes (and `+` in a query, as a space).
fn decode(text: &str, plus_is_space: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'%' if index + 2 < bytes.len() => {
                let pair = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap_or("");
                match u8::from_str_radix(pair, 16) {
                    Ok(byte) => {
                        out.push(byte);
                        index += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' if plus_is_space => out.push(b' '),
            byte => out.push(byte),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn canonical_uri(path: &str) -> String {
    if path.is_empty() {
        return "/".into();
    }
    // The path as sent, each segment encoded once more.
    path.split('/').map(encode).collect::<Vec<_>>().join("/")
}

fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (encode(&decode(key, true)), encode(&decode(value, true)))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
struct Authorization<'a> {
    scope: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn authorization(headers: &HeaderMap) -> Result<Authorization<'_>, String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or("the request is not signed: this guardrail requires every AWS API call to be signed with SigV4, its access token as the secret access key (it is reachable off loopback, or was started with --token)")?
        .to_str()
        .map_err(|_| "the Authorization header is not text")?;
    let rest = value
        .strip_prefix(ALGORITHM)
        .ok_or_else(|| format!("only {ALGORITHM} signatures are accepted"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',') {
        let (key, value) = part.trim().split_once('=').unwrap_or(("", ""));
        match key {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => {}
        }
    }
    let credential = credential.ok_or("the Authorization header has no Credential")?;
    let scope = credential
        .split_once('/')
        .map(|(_, scope)| scope)
        .filter(|scope| scope.split('/').count() == 4 && scope.ends_with("/aws4_request"))
        .ok_or("the Credential is not ACCESS_KEY/DATE/REGION/SERVICE/aws4_request")?;
    Ok(Authorization {
        scope,
        signed_headers: signed_headers.ok_or("the Authorization header has no SignedHeaders")?,
        signature: signature.ok_or("the Authorization header has no Signature")?,
    })
}

/// Seconds since the epoch of an `X-Amz-Date` (`20261123T041500Z`).
fn amz_seconds(date: &str) -> Option<u64> {
    if date.len() != 16 || date.as_bytes()[8] != b'T' || !date.ends_with('Z') {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &date[0..4],
        &date[4..6],
        &date[6..8],
        &date[9..11],
        &date[11..13],
        &date[13..15]
    );
    humantime::parse_rfc3339(&iso)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|elapsed| elapsed.as_secs())
}

/// Checks that the request was signed with `secret`. The failure is in AWS's
/// words: `MissingAuthenticationToken` (403) for an unsigned request,
/// `IncompleteSignature` (403) for a malformed one, `SignatureDoesNotMatch`
/// (403) for a wrong key or a changed request. The caller names the code
/// its protocol uses.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    secret: &str,
) -> Result<(), Failure> {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if header("authorization").is_none() {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "MissingAuthenticationToken",
            authorization(headers).err().unwrap_or_default(),
        ));
    }
    let incomplete =
        |message: String| Failure::new(StatusCode::FORBIDDEN, "IncompleteSignature", message);
    let auth = authorization(headers).map_err(incomplete)?;
    let date = header("x-amz-date")
        .ok_or_else(|| incomplete("the request has no X-Amz-Date header".into()))?;
    let signed_at = amz_seconds(date).ok_or_else(|| {
        incomplete(format!(
            "X-Amz-Date {} is not YYYYMMDDTHHMMSSZ",
            crate::engine::ids::shown(date)
        ))
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0);
    if signed_at.abs_diff(now) > MOST_SKEW_SECONDS {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            format!("Signature expired: {date} is more than 15 minutes from the server's time; check the client's clock"),
        ));
    }
    if !auth.scope.starts_with(&date[..8]) {
        return Err(incomplete(
            "the Credential's date is not X-Amz-Date's day".into(),
        ));
    }
    let string_to_sign = string_to_sign(method, uri, headers, body, &auth, date)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&signing_key(secret, auth.scope))
        .expect("HMAC takes any key");
    mac.update(string_to_sign.as_bytes());
    let claimed = (0..auth.signature.len() / 2)
        .map(|index| {
            u8::from_str_radix(
                auth.signature.get(index * 2..index * 2 + 2).unwrap_or("zz"),
                16,
            )
        })
        .collect::<Result<Vec<u8>, _>>()
        .unwrap_or_default();
    // Compared in constant time.
    mac.verify_slice(&claimed).map_err(|_| {
        Failure::new(
            StatusCode::FORBIDDEN,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key (this guardrail's access token) and signing method.",
        )
    })
}

/// SigV4's string to sign: the algorithm, the date, the scope and the hash
/// of the canonical request.
fn string_to_sign(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    auth: &Authorization<'_>,
    date: &str,
) -> Result<String, Failure> {
    let mut canonical_headers = String::new();
    for name in auth.signed_headers.split(';') {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect();
        if values.is_empty() {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "IncompleteSignature",
                format!(
                    "signed header {} is missing",
                    crate::engine::ids::shown(name)
                ),
            ));
        }
        let value = values
            .iter()
            .map(|value| value.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
            .join(",");
        canonical_headers.push_str(&format!("{name}:{value}\n"));
    }
    let payload = match headers
        .get("x-amz-content-sha256")
        .and_then(|value| value.to_str().ok())
    {
        Some("UNSIGNED-PAYLOAD") => "UNSIGNED-PAYLOAD".to_string(),
        _ => hex(&Sha256::digest(body)),
    };
    let canonical_request = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{}\n{payload}",
        canonical_uri(uri.path()),
        canonical_query(uri.query()),
        auth.signed_headers
    );
    Ok(format!(
        "{ALGORITHM}\n{date}\n{}\n{}",
        auth.scope,
        hex(&Sha256::digest(canonical_request.as_bytes()))
    ))
}

/// The key derived from the secret for one scope (date, region, service).
fn signing_key(secret: &str, scope: &str) -> Vec<u8> {
    let mut key = format!("AWS4{secret}").into_bytes();
    for part in scope.split('/') {
        key = hmac(&key, part.as_bytes());
    }
    key
}

/// The code a JSON protocol (SageMaker's awsJson1_1, SageMaker Runtime's
/// restJson1) gives the failure `code` names in query's words.
pub fn json_code(code: &'static str) -> &'static str {
    match code {
        "MissingAuthenticationToken" => "MissingAuthenticationTokenException",
        "IncompleteSignature" => "IncompleteSignatureException",
        "SignatureDoesNotMatch" => "InvalidSignatureException",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// AWS's own worked example (the `get-vanilla` case of the SigV4 test
    /// suite): the key, date and request it signs, and its signature.
    #[test]
    fn aws_s_vanilla_example_verifies_and_a_changed_one_does_not() {
        let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
        let mut headers = HeaderMap::new();
        headers.insert("host", HeaderValue::from_static("example.amazonaws.com"));
        headers.insert("x-amz-date", HeaderValue::from_static("20150830T123600Z"));
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
                .parse()
                .expect("a header"),
        );
        let uri = Uri::from_static("/");
        // The suite's date is long past: only the skew check refuses it.
        let error = verify(&Method::GET, &uri, &headers, b"", secret).expect_err("expired");
        assert!(error.message.starts_with("Signature expired"), "{error:?}");
        let signature = |body: &[u8]| {
            let auth = authorization(&headers).expect("parsed");
            let string_to_sign = string_to_sign(
                &Method::GET,
                &uri,
                &headers,
                body,
                &auth,
                "20150830T123600Z",
            )
            .expect("signed");
            hex(&hmac(
                &signing_key(secret, auth.scope),
                string_to_sign.as_bytes(),
            ))
        };
        assert_eq!(
            signature(b""),
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
        );
        assert_ne!(signature(b"x"), signature(b""));
    }

    #[test]
    fn a_query_is_sorted_and_encoded_once() {
        assert_eq!(canonical_query(Some("b=2&a=x%20y&a=1")), "a=1&a=x%20y&b=2");
        assert_eq!(canonical_uri("/service/a b"), "/service/a%20b");
        assert_eq!(decode("%zz%4", false), "%zz%4");
    }
}
