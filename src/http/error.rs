//! The one error answer: a status and `{"error": "..."}` saying what was wrong and what to do;
//! plus reading a JSON body with every refusal in that form.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::MAX_BODY_BYTES;
use crate::alerts::InputError;
use crate::ops::{IngestError, OpsError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({"error": self.message}))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warroom\""),
            );
        }
        response
    }
}

impl From<OpsError> for ApiError {
    fn from(error: OpsError) -> ApiError {
        let status = match &error {
            OpsError::Forbidden { .. } => StatusCode::FORBIDDEN,
            OpsError::NotFound(_) | OpsError::Unknown(_) => StatusCode::NOT_FOUND,
            OpsError::Refused(_) | OpsError::RunRefused(_) => StatusCode::CONFLICT,
            OpsError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            // A database that does not answer is transient: 503 makes senders retry.
            OpsError::Store(_) | OpsError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OpsError::Output(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut message = error.to_string();
        if let OpsError::Forbidden { .. } = error {
            // The Discord hint (map a Discord role) does not help a token.
            message = message
                .split("; ask an admin")
                .next()
                .unwrap_or_default()
                .to_owned()
                + "; give the token that role in its [api_tokens] entry";
        }
        ApiError::new(status, message)
    }
}

impl From<IngestError> for ApiError {
    fn from(error: IngestError) -> ApiError {
        match error {
            IngestError::Ops(error) => error.into(),
            IngestError::Busy(message) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message),
        }
    }
}

impl From<InputError> for ApiError {
    fn from(error: InputError) -> ApiError {
        let status = match error {
            InputError::TooMany(_) | InputError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, error.to_string())
    }
}

/// The body, when the request says it is JSON and it fits the limit. An empty body passes
/// without a content type when `allow_empty` (actions whose fields are all optional).
pub fn json_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    allow_empty: bool,
) -> Result<Bytes, ApiError> {
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the body is larger than {} KiB (1 MiB), the most one request may carry; send fewer alerts per request",
                    MAX_BODY_BYTES / 1024
                ),
            )
        } else {
            ApiError::bad_request(format!("the body could not be read: {}", rejection.body_text()))
        }
    })?;
    if allow_empty && body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::from_static(b"{}"));
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("");
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if essence != "application/json" && !essence.ends_with("+json") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            if content_type.is_empty() {
                "the body must be JSON sent with `Content-Type: application/json`; the request has no Content-Type".to_owned()
            } else {
                format!(
                    "the body must be JSON sent with `Content-Type: application/json`, not `{content_type}`"
                )
            },
        ));
    }
    Ok(body)
}

/// Reads a REST body as `T`, naming the field at fault.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        match inner.classify() {
            serde_json::error::Category::Data if path != "." => {
                ApiError::bad_request(format!("{path}: {inner}"))
            }
            serde_json::error::Category::Data => ApiError::bad_request(inner.to_string()),
            _ => ApiError::bad_request(format!("the body is not valid JSON: {inner}")),
        }
    })?;
    deserializer
        .end()
        .map_err(|error| ApiError::bad_request(format!("the body is not valid JSON: {error}")))?;
    Ok(value)
}

/// Query parameters read into `T` by axum's `Query`; a parameter `T` does not know (a typo)
/// or one that does not fit is refused with the parameter named, not silently ignored.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|axum::extract::Query(query)| ApiQuery(query))
            .map_err(query_error)
    }
}

/// serde says `unknown field `colour`, expected one of `status`, `search``; people read
/// "unknown query parameter `colour`; this endpoint takes status, search".
fn query_error(rejection: axum::extract::rejection::QueryRejection) -> ApiError {
    let detail = std::error::Error::source(&rejection)
        .map(ToString::to_string)
        .unwrap_or_else(|| rejection.body_text());
    // axum names the path first (`colour: unknown field ...`).
    if let Some((_, rest)) = detail.split_once("unknown field ") {
        let (name, expected) = rest.split_once(", expected ").unwrap_or((rest, "none"));
        let expected = expected
            .strip_prefix("one of ")
            .unwrap_or(expected)
            .replace('`', "");
        return ApiError::bad_request(format!(
            "unknown query parameter {name}; this endpoint takes {expected}"
        ));
    }
    ApiError::bad_request(format!("the query string is not valid: {detail}"))
}
