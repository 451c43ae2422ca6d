//! The web UI's files, compiled into the binary from `web/` so the server
//! needs nothing on disk and serves no path a request could steer.

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// Every embedded file: URL path, content type, content.
const FILES: [(&str, &str, &str); 9] = [
    ("/", HTML, include_str!("../../web/index.html")),
    ("/style.css", CSS, include_str!("../../web/style.css")),
    ("/main.js", JS, include_str!("../../web/main.js")),
    ("/app.js", JS, include_str!("../../web/app.js")),
    ("/dashboard.js", JS, include_str!("../../web/dashboard.js")),
    ("/tasks.js", JS, include_str!("../../web/tasks.js")),
    ("/forms.js", JS, include_str!("../../web/forms.js")),
    ("/conflicts.js", JS, include_str!("../../web/conflicts.js")),
    ("/since.js", JS, include_str!("../../web/since.js")),
];

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The files change only with the binary; revalidating keeps an upgraded
    // server from running yesterday's script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

pub(crate) fn routes() -> Router<AppState> {
    let mut router = Router::new();
    for (path, content_type, body) in FILES {
        router = router.route(path, get(move || async move { file(content_type, body) }));
    }
    router.route("/index.html", get(|| async { file(HTML, FILES[0].2) }))
}
