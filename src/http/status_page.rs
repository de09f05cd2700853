//! The public status page (SPEC §3): `GET /status`, server-rendered HTML with nothing fetched
//! from elsewhere (no scripts at all), and its Atom feed `GET /status/feed.atom`. Both show
//! only what `ops::public_status` gives — never a private incident or a drill — and escape
//! every text people wrote. Off unless `[status_page] enabled = true`.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use super::error::ApiError;
use crate::domain::Timestamp;
use crate::ops::{PublicIncident, PublicStatus, STATUS_PAGE_RESOLVED_DAYS};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/status", get(page))
        .route("/status/feed.atom", get(feed))
}

/// Text made safe in HTML and XML content and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters other than tab and newlines are not allowed in XML 1.0.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

async fn status(state: &AppState) -> Result<PublicStatus, ApiError> {
    state.ops.public_status().await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "the status page is off; set [status_page] enabled = true to serve it",
        )
    })
}

/// A self-contained page (the status page, its feed, the HTML report): nothing on it may load
/// or run anything.
pub(super) fn with_type(body: String, content_type: &'static str) -> Response {
    let mut response = body.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    response
}

async fn page(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let status = status(&state).await?;
    Ok(with_type(render_page(&status), "text/html; charset=utf-8"))
}

async fn feed(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let status = status(&state).await?;
    let base = state.ops.config().links.public_url.clone();
    Ok(with_type(
        render_feed(&status, base.as_deref()),
        "application/atom+xml; charset=utf-8",
    ))
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:820px;margin:2em auto;padding:0 1em;color:#222}\
.ok{background:#e6f4ea;padding:1em;border-radius:6px}.incident{border:1px solid #ddd;border-radius:6px;padding:.5em 1em;margin:1em 0}\
.status{font-weight:600;text-transform:capitalize}.t{color:#666;font-size:.9em}";

fn render_page(status: &PublicStatus) -> String {
    let title = escape(&status.title);
    let mut html = format!(
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{title}</title>\
         <meta name=viewport content=\"width=device-width,initial-scale=1\">\
         <link rel=alternate type=\"application/atom+xml\" href=\"/status/feed.atom\" title=\"{title}\">\
         <style>{STYLE}</style></head><body><h1>{title}</h1>"
    );
    if status.open.is_empty() {
        html.push_str("<p class=ok>All systems operational.</p>");
    } else {
        html.push_str("<h2>Current incidents</h2>");
        for incident in &status.open {
            incident_html(&mut html, incident);
        }
    }
    let _ = write!(
        html,
        "<h2>Resolved in the last {STATUS_PAGE_RESOLVED_DAYS} days</h2>"
    );
    if status.resolved.is_empty() {
        html.push_str("<p>None.</p>");
    }
    for incident in &status.resolved {
        incident_html(&mut html, incident);
    }
    let _ = write!(
        html,
        "<p class=t>Updated {} · <a href=\"/status/feed.atom\">Atom feed</a></p></body></html>",
        status.generated_at.human()
    );
    html
}

fn incident_html(html: &mut String, public: &PublicIncident) {
    let incident = &public.incident;
    let _ = write!(
        html,
        "<div class=incident><h3>{} · {}</h3><p><span class=status>{}</span>{} · opened {}</p>",
        incident.id,
        escape(&incident.title),
        incident.status,
        incident
            .service
            .as_deref()
            .map(|service| format!(" · {}", escape(service)))
            .unwrap_or_default(),
        incident.opened_at.human()
    );
    if let Some(resolved) = incident.resolved_at {
        let _ = write!(html, "<p class=t>Resolved {}</p>", resolved.human());
    }
    if !public.updates.is_empty() {
        html.push_str("<ul>");
        for update in &public.updates {
            let _ = write!(
                html,
                "<li><span class=t>{}</span> {}</li>",
                update.at.human(),
                escape(&update.text)
            );
        }
        html.push_str("</ul>");
    }
    html.push_str("</div>");
}

/// Atom (RFC 4287): one entry per status update, and one per incident without any.
fn render_feed(status: &PublicStatus, base: Option<&str>) -> String {
    let base = base.unwrap_or("");
    let mut entries: Vec<(Timestamp, String)> = Vec::new();
    for public in status.open.iter().chain(&status.resolved) {
        let incident = &public.incident;
        let heading = format!("{} ({}) {}", incident.id, incident.status, incident.title);
        for update in &public.updates {
            entries.push((
                update.at,
                entry(
                    &format!("urn:warroom:status:{}:{}", incident.id.0, update.seq),
                    &heading,
                    update.at,
                    &update.text,
                    base,
                ),
            ));
        }
        if public.updates.is_empty() {
            let at = incident.resolved_at.unwrap_or(incident.opened_at);
            entries.push((
                at,
                entry(
                    &format!("urn:warroom:status:{}:0", incident.id.0),
                    &heading,
                    at,
                    &format!("{} is {}.", incident.id, incident.status),
                    base,
                ),
            ));
        }
    }
    entries.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    let updated = entries.first().map_or(status.generated_at, |(at, _)| *at);
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\
         <title>{}</title><id>urn:warroom:status</id><updated>{}</updated>\
         <author><name>warroom</name></author>\
         <link rel=\"alternate\" type=\"text/html\" href=\"{}/status\"/>\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{}/status/feed.atom\"/>",
        escape(&status.title),
        updated.to_rfc3339(),
        escape(base),
        escape(base)
    );
    for (_, entry) in entries {
        xml.push_str(&entry);
    }
    xml.push_str("</feed>\n");
    xml
}

fn entry(id: &str, title: &str, at: Timestamp, text: &str, base: &str) -> String {
    format!(
        "<entry><id>{id}</id><title>{}</title><updated>{}</updated>\
         <link rel=\"alternate\" type=\"text/html\" href=\"{}/status\"/>\
         <content type=\"text\">{}</content></entry>",
        escape(title),
        at.to_rfc3339(),
        escape(base),
        escape(text)
    )
}
