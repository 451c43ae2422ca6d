//! Driving the HTTP router in-process with `oneshot`: a temp project, its
//! router, and a request helper that checks the rules every response must
//! keep (JSON errors, never an `Access-Control-Allow-Origin`).

#![allow(dead_code)]

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::Value;
use sparkq::config::Config;
use sparkq::http::{AppState, router};
use sparkq::queue::Queue;
use tower::ServiceExt;

use crate::support::Project;

/// The port the router believes it serves; `Host` must name it.
pub const PORT: u16 = 8420;

/// A project with stream `auth` and a router over it.
pub struct Api {
    pub project: Project,
    pub state: AppState,
}

/// One response, parsed.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
    pub text: String,
}

impl Api {
    pub fn new() -> Api {
        Api::over(Project::with_stream("auth"))
    }

    pub fn over(project: Project) -> Api {
        let config = Config::load(&project.path().join("sparkq.yml")).expect("config");
        let state = AppState::new(Queue::new(config), PORT);
        Api { project, state }
    }

    pub fn router(&self) -> Router {
        router(self.state.clone())
    }

    /// A request with the headers a same-origin page sends.
    pub fn request(method: &str, path: &str, body: Option<&str>) -> Request<Body> {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header("host", format!("127.0.0.1:{PORT}"));
        if method != "GET" {
            builder = builder.header("content-type", "application/json");
        }
        builder
            .body(Body::from(
                body.unwrap_or(if method == "GET" { "" } else { "{}" }).to_owned(),
            ))
            .expect("request")
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router().oneshot(request).await.expect("router answers");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(
            headers.get("access-control-allow-origin").is_none(),
            "no response may carry Access-Control-Allow-Origin"
        );
        if !status.is_success() && !text.is_empty() {
            assert!(
                json["error"]["code"].is_string(),
                "error shape for {status}: {text}"
            );
            assert!(
                json["error"]["message"].is_string(),
                "error shape for {status}: {text}"
            );
        }
        Reply {
            status,
            headers,
            json,
            text,
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Api::request("GET", path, None)).await
    }

    pub async fn post(&self, path: &str, body: &str) -> Reply {
        self.send(Api::request("POST", path, Some(body))).await
    }

    /// Enqueues a run-bash task on `auth` and returns its id.
    pub async fn enqueue(&self, payload: &str) -> String {
        let body = format!(r#"{{"stream": "auth", "tool_name": "run-bash", "payload": {payload}}}"#);
        let reply = self.post("/api/tasks", &body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.text);
        reply.json["id"].as_str().expect("id").to_owned()
    }

    /// Claims the next task of `auth`.
    pub async fn claim(&self) -> Value {
        let reply = self.post("/api/streams/auth/claim", r#"{"worker": "w1"}"#).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["task"].clone()
    }
}
