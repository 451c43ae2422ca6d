//! The API's one error type and its JSON shape,
//! `{"error": {"code": "...", "message": "..."}}`.
//!
//! Queue errors are mapped to a status here and only here, by their
//! [`ErrorKind`]; handlers never pick status codes for queue failures. The
//! [`Json`] extractor turns a malformed body into this same shape instead of
//! axum's plain-text rejection.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::queue::{self, ErrorKind};

/// An error as the API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

impl ApiError {
    /// An error with an explicit status, for refusals that happen before any
    /// queue call (bad headers, bad query strings).
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl From<queue::Error> for ApiError {
    fn from(err: queue::Error) -> ApiError {
        let status = match (err.kind(), &err) {
            (_, queue::Error::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
            (ErrorKind::NotFound, _) => StatusCode::NOT_FOUND,
            (ErrorKind::Invalid, _) => StatusCode::BAD_REQUEST,
            (ErrorKind::Conflict, _) => StatusCode::CONFLICT,
            (ErrorKind::Internal, _) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, err.code(), err.to_string())
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Body {
            error: Detail {
                code: self.code,
                message: &self.message,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

/// `axum::Json`, but a body that is missing, too large or not the expected
/// JSON is refused in the API's own error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(rejection_error(rejection)),
        }
    }
}

fn rejection_error(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let code = match status {
        StatusCode::PAYLOAD_TOO_LARGE => "too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ => "invalid_json",
    };
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            "The request body is over the size limit.\n  Write large outputs to a file and send its path instead.".to_owned()
        }
        _ => format!("{}\n  Send a JSON object as the body.", rejection.body_text()),
    };
    ApiError::new(status, code, message)
}

/// A query string that does not fit the endpoint's parameters.
pub(crate) fn query_error(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(
        "invalid_query",
        format!(
            "{}\n  See /api/openapi.json for the parameters.",
            rejection.body_text()
        ),
    )
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// What every handler returns.
pub(crate) type ApiResult<T> = Result<T, ApiError>;
