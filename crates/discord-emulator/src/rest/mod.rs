//! REST under `/api/v10`: reads and records every request, checks the token and any armed 429,
//! then hands it to the route table in `routes.rs`.

mod app;
mod channels;
mod events;
mod interactions;
mod routes;
mod threads;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use percent_encoding::percent_decode_str;
use serde_json::{Value, json};

use crate::api_error::ApiError;
use crate::state::{RecordedRequest, Shared, State as EmuState, UploadedFile};
use crate::validate::REQUEST_FILES_LIMIT;

/// Request bodies larger than this are refused with 413 before parsing (Discord's 25 MiB per
/// request, plus room for the JSON and multipart framing).
const BODY_LIMIT: usize = REQUEST_FILES_LIMIT + 1024 * 1024;

/// A parsed request, as route handlers see it.
pub(crate) struct Req<'a> {
    pub method: &'a str,
    /// Percent-decoded path segments after `/api/v10`.
    pub segs: Vec<String>,
    pub query: &'a [(String, String)],
    pub json: Option<&'a Value>,
    pub files: &'a [UploadedFile],
}

impl Req<'_> {
    pub(crate) fn body(&self) -> &Value {
        static NULL: Value = Value::Null;
        self.json.unwrap_or(&NULL)
    }

    pub(crate) fn query(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// A successful answer.
pub(crate) enum Reply {
    Json(u16, Value),
    NoContent,
}

pub(crate) type RestResult = Result<Reply, ApiError>;

pub(crate) fn ok(v: Value) -> RestResult {
    Ok(Reply::Json(200, v))
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

async fn parse_multipart(
    content_type: &str,
    bytes: Bytes,
) -> Result<(Option<Value>, Vec<UploadedFile>), ApiError> {
    let boundary = multer::parse_boundary(content_type)
        .map_err(|_| ApiError::bad_request("Invalid multipart boundary"))?;
    let stream = futures::stream::once(async move { Ok::<_, Infallible>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut json = None;
    let mut files = Vec::new();
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(&format!("Invalid multipart body: {e}")))?
    {
        let name = field.name().unwrap_or_default().to_string();
        let filename = field.file_name().map(str::to_string);
        let content_type = field.content_type().map(|m| m.to_string());
        let data = field
            .bytes()
            .await
            .map_err(|e| ApiError::bad_request(&format!("Invalid multipart body: {e}")))?;
        if name == "payload_json" {
            json = Some(serde_json::from_slice(&data).map_err(|_| {
                ApiError::new(400, 50109, "The request body contains invalid JSON.")
            })?);
        } else {
            files.push(UploadedFile {
                field: name.clone(),
                filename: filename.unwrap_or(name),
                content_type,
                bytes: data.to_vec(),
            });
        }
    }
    Ok((json, files))
}

/// Routes where Discord authenticates by the token in the URL, not the bot token.
fn token_in_url(segs: &[String]) -> bool {
    matches!(
        segs.first().map(String::as_str),
        Some("interactions" | "webhooks")
    )
}

/// The axum handler for everything under `/api/v10`.
pub(crate) async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_string();
    let raw = parts.uri.path().to_string();
    let path = raw.strip_prefix("/api/v10").unwrap_or(&raw).to_string();
    let query = parse_query(parts.uri.query());
    let at = shared.clock.utc();
    let bytes = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(b) => b,
        Err(_) => {
            let e = ApiError::new(
                413,
                crate::api_error::codes::REQUEST_TOO_LARGE,
                "Request entity too large",
            );
            let record = RecordedRequest {
                method,
                path,
                query,
                json: None,
                files: vec![],
                status: 0,
                response: None,
                at,
            };
            let result = Err(e);
            shared
                .with(|st| crate::gateway::push_capped(&mut st.requests, finish(record, &result)));
            return respond(result);
        }
    };
    let content_type = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let parsed = if content_type.starts_with("multipart/") {
        parse_multipart(&content_type, bytes).await
    } else if bytes.is_empty() {
        Ok((None, Vec::new()))
    } else {
        serde_json::from_slice::<Value>(&bytes)
            .map(|v| (Some(v), Vec::new()))
            .map_err(|_| ApiError::new(400, 50109, "The request body contains invalid JSON."))
    };
    let (json, files, parse_error) = match parsed {
        Ok((j, f)) => (j, f, None),
        Err(e) => (None, Vec::new(), Some(e)),
    };
    let record = RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        json: json.clone(),
        files: files.clone(),
        status: 0,
        response: None,
        at,
    };
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let result = shared.with(|st| {
        // Discord's own status changes happen before anything the bot asks sees the events.
        crate::ops::run_event_clock(&shared, st);
        let result = (|| -> RestResult {
            if let Some(e) = parse_error {
                return Err(e);
            }
            if let Some(e) = armed_rate_limit(st, &method, &path) {
                return Err(e);
            }
            if !token_in_url(&segs) && !auth_ok(&shared, &parts.headers) {
                return Err(ApiError::new(401, 0, "401: Unauthorized"));
            }
            let req = Req {
                method: &method,
                segs,
                query: &query,
                json: json.as_ref(),
                files: &files,
            };
            routes::route(&shared, st, &req)
        })();
        // Recorded under the same lock as the handling, so `requests()` is in handling order.
        crate::gateway::push_capped(&mut st.requests, finish(record, &result));
        result
    });
    respond(result)
}

fn finish(mut record: RecordedRequest, result: &RestResult) -> RecordedRequest {
    let (status, body) = match result {
        Ok(Reply::Json(status, v)) => (*status, Some(v.clone())),
        Ok(Reply::NoContent) => (204, None),
        Err(e) => (e.status, Some(e.body.clone())),
    };
    record.status = status;
    record.response = body;
    record
}

fn auth_ok(shared: &Shared, headers: &HeaderMap) -> bool {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    value.strip_prefix("Bot ") == Some(shared.config.bot_token.as_str())
}

/// Takes one armed 429 matching this request, if any.
fn armed_rate_limit(st: &mut EmuState, method: &str, path: &str) -> Option<ApiError> {
    let idx = st
        .rate_limits
        .iter()
        .position(|r| crate::state::route_matches(&r.pattern, method, path))?;
    let rl = st.rate_limits[idx].clone();
    if rl.remaining <= 1 {
        st.rate_limits.remove(idx);
    } else {
        st.rate_limits[idx].remaining -= 1;
    }
    let secs = rl.retry_after.as_secs_f64();
    let mut e = ApiError::new(429, 0, "You are being rate limited.");
    e.body["retry_after"] = json!(secs);
    e.body["global"] = json!(rl.global);
    let reset = chrono::Utc::now().timestamp_millis() as f64 / 1000.0 + secs;
    e.headers = vec![
        ("Retry-After".into(), format!("{}", secs.ceil() as u64)),
        ("X-RateLimit-Limit".into(), "5".into()),
        ("X-RateLimit-Remaining".into(), "0".into()),
        ("X-RateLimit-Reset".into(), format!("{reset:.3}")),
        ("X-RateLimit-Reset-After".into(), format!("{secs:.3}")),
        (
            "X-RateLimit-Bucket".into(),
            format!("emulator-{}", rl.pattern.replace(' ', "-")),
        ),
        (
            "X-RateLimit-Scope".into(),
            if rl.global { "global" } else { "user" }.into(),
        ),
    ];
    if rl.global {
        e.headers.push(("X-RateLimit-Global".into(), "true".into()));
    }
    Some(e)
}

fn respond(result: RestResult) -> Response {
    let (status, body, headers) = match result {
        Ok(Reply::Json(status, v)) => (status, Some(v), Vec::new()),
        Ok(Reply::NoContent) => (204, None, Vec::new()),
        Err(e) => (e.status, Some(e.body), e.headers),
    };
    let mut resp = match body {
        Some(v) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            axum::Json(v),
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    };
    for (k, v) in headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(k),
            HeaderValue::from_str(&v),
        ) {
            resp.headers_mut().insert(name, value);
        }
    }
    resp
}

/// Serves an uploaded file at the URL put in attachment objects, so `Attachment::download()`
/// works against the emulator.
pub(crate) async fn attachment(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let segs: Vec<String> = req
        .uri()
        .path()
        .trim_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    let id = segs.get(2).and_then(|s| s.parse::<u64>().ok());
    let found = shared.read(|st| {
        st.world
            .messages
            .values()
            .flat_map(|m| m.attachments.iter())
            .find(|a| Some(a.id.0) == id)
            .map(|a| (a.bytes.clone(), a.content_type.clone()))
    });
    match found {
        Some((bytes, ct)) => {
            let mut resp = Response::new(Body::from(bytes));
            if let Some(ct) = ct.and_then(|c| HeaderValue::from_str(&c).ok()) {
                resp.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            resp
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
