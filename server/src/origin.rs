//! Which browser pages may change something here: the same-origin rule that
//! the server functions and the AWS APIs both apply.

/// Why a request that would change something is refused: a browser sent it
/// from a page of another origin (any web page, or the planner served from
/// elsewhere for a review link). Such a page must not start, stop or edit
/// anything through a user's browser. Requests without an `Origin` header
/// (the CLI, the AWS SDKs, boto3, curl) and the planner's own pass.
pub fn foreign_origin(headers: &axum::http::HeaderMap) -> Option<String> {
    use axum::http::header::{HOST, ORIGIN};
    let origin = headers.get(ORIGIN)?;
    let origin = origin.to_str().unwrap_or("(not text)");
    let host = headers
        .get(HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let authority = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    match authority {
        Some(authority) if !host.is_empty() && authority.eq_ignore_ascii_case(host) => None,
        _ => Some(format!(
            "refused: this request comes from a page at {}, not from this guardrail's own planner at http://{}: a page of another origin (a review link opened elsewhere, any web site) cannot start, stop or change anything here",
            crate::engine::ids::shown(origin),
            crate::engine::ids::shown(host)
        )),
    }
}
