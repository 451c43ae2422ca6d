//! SPEC 8 through the router: foreign hosts and origins, content types,
//! body limits, and ids or names that try to leave their folder.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::http_support::{Api, PORT};

fn with(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body.to_owned())).expect("request")
}

#[tokio::test]
async fn dns_rebinding_host_is_refused() {
    let api = Api::new();
    for host in ["evil.example", "evil.example:8420", "127.0.0.1:1", "localhost"] {
        let reply = api.send(with("GET", "/api/status", &[("host", host)], "")).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{host}");
        assert_eq!(reply.json["error"]["code"], "forbidden_host");
    }
    let page = api.send(with("GET", "/", &[("host", "evil.example")], "")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "the UI itself is refused too");
    let host = format!("localhost:{PORT}");
    assert_eq!(
        api.send(with("GET", "/api/health", &[("host", &host)], ""))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn state_change_needs_json_content_type() {
    let api = Api::new();
    let host = format!("127.0.0.1:{PORT}");
    let body = r#"{"name": "sneaky"}"#;
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let reply = api
            .send(with(
                "POST",
                "/api/sessions",
                &[("host", &host), ("content-type", content_type)],
                body,
            ))
            .await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{content_type}");
    }
    let none = api
        .send(with("POST", "/api/sessions", &[("host", &host)], body))
        .await;
    assert_eq!(none.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        api.get("/api/sessions").await.json["sessions"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "nothing was created"
    );
}

#[tokio::test]
async fn cross_origin_requests_are_refused() {
    let api = Api::new();
    let host = format!("127.0.0.1:{PORT}");
    let json = ("content-type", "application/json");
    for origin in [
        "http://evil.example",
        "null",
        "http://127.0.0.1:3000",
        "https://127.0.0.1:8420",
    ] {
        let reply = api
            .send(with(
                "POST",
                "/api/sessions",
                &[("host", &host), ("origin", origin), json],
                r#"{"name": "x"}"#,
            ))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{origin}");
        assert_eq!(reply.json["error"]["code"], "cross_origin");
    }
    let site = api
        .send(with(
            "GET",
            "/api/tasks",
            &[("host", &host), ("sec-fetch-site", "cross-site")],
            "",
        ))
        .await;
    assert_eq!(site.status, StatusCode::FORBIDDEN);
    let own = format!("http://127.0.0.1:{PORT}");
    let ok = api
        .send(with(
            "POST",
            "/api/sessions",
            &[
                ("host", &host),
                ("origin", &own),
                ("sec-fetch-site", "same-origin"),
                json,
            ],
            r#"{"name": "mine"}"#,
        ))
        .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
}

#[tokio::test]
async fn preflight_gets_no_cors_headers() {
    let api = Api::new();
    let host = format!("127.0.0.1:{PORT}");
    let reply = api
        .send(with(
            "OPTIONS",
            "/api/tasks",
            &[
                ("host", &host),
                ("origin", "http://evil.example"),
                ("access-control-request-method", "POST"),
            ],
            "",
        ))
        .await;
    assert!(!reply.status.is_success());
    assert!(
        reply
            .headers
            .keys()
            .all(|k| !k.as_str().starts_with("access-control-"))
    );
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let api = Api::new();
    let huge = format!(
        r#"{{"name": "x", "description": "{}"}}"#,
        "a".repeat(10 * 1024 * 1024)
    );
    let reply = api.post("/api/sessions", &huge).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        &reply.text[..reply.text.len().min(200)]
    );
    assert_eq!(reply.json["error"]["code"], "too_large");

    let big_payload = format!(
        r#"{{"stream": "auth", "tool_name": "run-bash", "payload": {{"blob": "{}"}}}}"#,
        "b".repeat(1024 * 1024 + 10)
    );
    let reply = api.post("/api/tasks", &big_payload).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        &reply.text[..reply.text.len().min(200)]
    );
    assert!(
        api.project.files("auth", "pending").is_empty(),
        "nothing was queued"
    );
}

#[tokio::test]
async fn ids_and_names_with_dots_or_slashes_get_400() {
    let api = Api::new();
    let gets = [
        "/api/tasks/..",
        "/api/tasks/..%2F..%2Fsparkq.yml",
        "/api/tasks/a%2Fb",
        "/api/streams/..%2Fsessions/peek",
        "/api/streams/../peek",
    ];
    for path in gets {
        let reply = api.get(path).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{path}: {}", reply.text);
    }
    let posts = [
        ("/api/tasks/..%2Fx/complete", r#"{"result": {"summary": "x"}}"#),
        ("/api/tasks/../requeue", "{}"),
        ("/api/sessions/..%2F..%2Fetc/end", "{}"),
        ("/api/streams/a%2Fb/end", "{}"),
        ("/api/streams/..%2Fauth/claim", "{}"),
        ("/api/sessions", r#"{"name": "../escape"}"#),
        ("/api/sessions", r#"{"name": "a/b"}"#),
        ("/api/streams", r#"{"name": "..", "session": "s1"}"#),
        ("/api/streams", r#"{"name": "ok", "session": "../s1"}"#),
        (
            "/api/tasks",
            r#"{"stream": "../auth", "tool_name": "run-bash", "payload": {}}"#,
        ),
    ];
    for (path, body) in posts {
        let reply = api.post(path, body).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path} {body}: {}",
            reply.text
        );
    }
    assert!(!api.project.path().join("escape.json").exists());
    assert!(!api.project.spool().join("escape.json").exists());
}

#[tokio::test]
async fn malformed_json_is_refused_in_the_api_error_shape() {
    let api = Api::new();
    for body in ["{", "[]", r#"{"name": 5}"#, r#"{"name": "x", "extra": true}"#] {
        let reply = api.post("/api/sessions", body).await;
        assert!(reply.status.is_client_error(), "{body}");
        assert!(reply.json["error"]["code"].is_string(), "{body}: {}", reply.text);
    }
}
