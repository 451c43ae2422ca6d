//! SPEC 8: a local server without login that no web page can drive.
//!
//! Every request passes [`guard`] before any handler runs:
//! - `Host` must be a loopback name or address with the server's own port,
//!   which defeats DNS rebinding (a foreign name resolving to 127.0.0.1);
//! - a present `Origin` must be this server's own origin, and
//!   `Sec-Fetch-Site` must not say `cross-site` or `same-site` (another port
//!   on localhost is same-site, and must not drive this one either);
//! - a state-changing method needs `Content-Type: application/json`, which a
//!   plain HTML form or a "simple" cross-origin fetch cannot send.
//!
//! Responses get headers that forbid framing, sniffing and any script not
//! served by us. No `Access-Control-Allow-*` header is ever sent.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::error::ApiError;

const LOOPBACK_HOSTS: [&str; 3] = ["127.0.0.1", "localhost", "[::1]"];

const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     frame-ancestors 'none'; form-action 'self'";

/// Refuses requests that could come from a foreign web page, then adds the
/// security headers to whatever the handler answers.
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if let Err(err) = check(request.method(), request.headers(), state.port()) {
        return with_security_headers(err.into_response());
    }
    with_security_headers(next.run(request).await)
}

/// The checks of [`guard`], as a pure function of the request head.
pub(crate) fn check(method: &Method, headers: &HeaderMap, port: u16) -> Result<(), ApiError> {
    let host = header_str(headers, header::HOST).unwrap_or("");
    if !is_loopback_authority(host, port) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            format!(
                "Host '{host}' is not this server\n  Open http://127.0.0.1:{port}/ instead; SparkQ only answers requests addressed to a loopback name."
            ),
        ));
    }
    if let Some(origin) = header_str(headers, header::ORIGIN) {
        let own = origin
            .strip_prefix("http://")
            .is_some_and(|authority| is_loopback_authority(authority, port));
        if !own {
            return Err(cross_origin(&format!("Origin '{origin}'")));
        }
    }
    let site = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok());
    if let Some(site) =
        site.filter(|s| s.eq_ignore_ascii_case("cross-site") || s.eq_ignore_ascii_case("same-site"))
    {
        return Err(cross_origin(&format!("Sec-Fetch-Site '{site}'")));
    }
    let changes_state = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    if changes_state && !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "State-changing requests need 'Content-Type: application/json'\n  Send the body as JSON ('{}' when there is nothing to send).",
        ));
    }
    Ok(())
}

fn cross_origin(what: &str) -> ApiError {
    ApiError::new(
        StatusCode::FORBIDDEN,
        "cross_origin",
        format!(
            "{what}: cross-origin requests are refused\n  Use the SparkQ page itself, the CLI, or a client that sends no foreign Origin."
        ),
    )
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `127.0.0.1:8420`, `localhost:8420` or `[::1]:8420` for port 8420; the
/// port may only be left out when it is 80, as browsers do.
fn is_loopback_authority(authority: &str, port: u16) -> bool {
    let (host, given_port) = match authority.rsplit_once(':') {
        Some((host, p)) if !host.is_empty() && !p.contains(']') => (host, p.parse::<u16>().ok()),
        _ => (authority, Some(80)),
    };
    given_port == Some(port) && LOOPBACK_HOSTS.iter().any(|h| h.eq_ignore_ascii_case(host))
}

fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, header::CONTENT_TYPE)
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        "cross-origin-resource-policy",
        HeaderValue::from_static("same-origin"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("valid header"));
        }
        map
    }

    #[test]
    fn checks_requests() {
        let json = ("content-type", "application/json; charset=utf-8");
        type Case<'a> = (&'a str, Method, Vec<(&'static str, &'a str)>, Option<u16>);
        let cases: Vec<Case> = vec![
            ("loopback ip", Method::GET, vec![("host", "127.0.0.1:8420")], None),
            ("localhost", Method::GET, vec![("host", "localhost:8420")], None),
            ("ipv6 loopback", Method::GET, vec![("host", "[::1]:8420")], None),
            ("missing host", Method::GET, vec![], Some(403)),
            (
                "rebinding name",
                Method::GET,
                vec![("host", "evil.example:8420")],
                Some(403),
            ),
            (
                "wrong port",
                Method::GET,
                vec![("host", "127.0.0.1:9999")],
                Some(403),
            ),
            ("no port", Method::GET, vec![("host", "localhost")], Some(403)),
            ("bare ipv6", Method::GET, vec![("host", "[::1]")], Some(403)),
            (
                "lookalike",
                Method::GET,
                vec![("host", "localhost.evil.example:8420")],
                Some(403),
            ),
            (
                "own origin",
                Method::POST,
                vec![
                    ("host", "127.0.0.1:8420"),
                    ("origin", "http://127.0.0.1:8420"),
                    json,
                ],
                None,
            ),
            (
                "foreign origin",
                Method::POST,
                vec![
                    ("host", "127.0.0.1:8420"),
                    ("origin", "http://evil.example"),
                    json,
                ],
                Some(403),
            ),
            (
                "other local port",
                Method::GET,
                vec![("host", "127.0.0.1:8420"), ("origin", "http://127.0.0.1:3000")],
                Some(403),
            ),
            (
                "null origin",
                Method::POST,
                vec![("host", "127.0.0.1:8420"), ("origin", "null"), json],
                Some(403),
            ),
            (
                "cross-site fetch",
                Method::GET,
                vec![("host", "127.0.0.1:8420"), ("sec-fetch-site", "cross-site")],
                Some(403),
            ),
            (
                "same-site fetch",
                Method::GET,
                vec![("host", "127.0.0.1:8420"), ("sec-fetch-site", "same-site")],
                Some(403),
            ),
            (
                "same-origin fetch",
                Method::POST,
                vec![
                    ("host", "127.0.0.1:8420"),
                    ("sec-fetch-site", "same-origin"),
                    json,
                ],
                None,
            ),
            (
                "typed url",
                Method::GET,
                vec![("host", "127.0.0.1:8420"), ("sec-fetch-site", "none")],
                None,
            ),
            (
                "text/plain post",
                Method::POST,
                vec![("host", "127.0.0.1:8420"), ("content-type", "text/plain")],
                Some(415),
            ),
            (
                "form post",
                Method::POST,
                vec![
                    ("host", "127.0.0.1:8420"),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                Some(415),
            ),
            (
                "no content type",
                Method::POST,
                vec![("host", "127.0.0.1:8420")],
                Some(415),
            ),
            (
                "json lookalike",
                Method::POST,
                vec![("host", "127.0.0.1:8420"), ("content-type", "application/jsonx")],
                Some(415),
            ),
        ];
        for (label, method, pairs, expected) in cases {
            let got = check(&method, &headers(&pairs), 8420)
                .err()
                .map(|e| e.status.as_u16());
            assert_eq!(got, expected, "case: {label}");
        }
    }
}
