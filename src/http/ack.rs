//! `GET /ack/{token}` and `POST /ack/{token}`: the one-click acknowledgement page of a page
//! sent outside Discord. The GET only shows what the link is for (incident, who was paged,
//! until when) with one button, because mail scanners and link previews follow links; the
//! button's form POST acknowledges as the paged person. A plain page without script: it must
//! work on any phone at 3 a.m. Refusals (forged, expired, used, already acknowledged) are
//! pages too, with a 4xx status and what to do instead, and change nothing.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::AppState;
use crate::notify::escape_html as escape;
use crate::notify::links::LinkError;
use crate::ops::{AckView, LinkRefusal};

pub(super) fn routes() -> Router<Arc<AppState>> {
    Router::new().route("/ack/{token}", get(show).post(acknowledge))
}

/// The longest token looked at: the longest email address (254) hex-encoded plus the other
/// fields is far below this; more is not a warroom link.
const MAX_TOKEN_CHARS: usize = 1024;

async fn show(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    if token.len() > MAX_TOKEN_CHARS {
        return refusal(LinkRefusal::Link(LinkError::Malformed));
    }
    match state.ops.ack_link(&token).await {
        Ok(view) => page(
            StatusCode::OK,
            &format!("Acknowledge {}?", view.incident.id),
            &confirm(&view),
        ),
        Err(refused) => refusal(refused),
    }
}

async fn acknowledge(State(state): State<Arc<AppState>>, Path(token): Path<String>) -> Response {
    if token.len() > MAX_TOKEN_CHARS {
        return refusal(LinkRefusal::Link(LinkError::Malformed));
    }
    match state.ops.acknowledge_by_link(&token).await {
        Ok((view, _)) => {
            let mut body = String::new();
            let _ = write!(
                body,
                "<p class=\"ok\">{} is acknowledged by {}. The escalation has stopped: nobody else will be paged for it.</p>",
                escape(&view.incident.id.to_string()),
                escape(&view.actor.name)
            );
            body.push_str(&facts(&view));
            body.push_str("<p>Join the incident in Discord to coordinate, or use <code>warroom incident</code>.</p>");
            page(
                StatusCode::OK,
                &format!("{} acknowledged", view.incident.id),
                &body,
            )
        }
        Err(refused) => refusal(refused),
    }
}

fn confirm(view: &AckView) -> String {
    let mut body = facts(view);
    let _ = write!(
        body,
        "<form method=\"post\"><button type=\"submit\">Acknowledge {} as {}</button></form>\
         <p>Acknowledging says you are on it and stops the escalation. This link works once, until {}.</p>",
        escape(&view.incident.id.to_string()),
        escape(&view.actor.name),
        escape(&view.claims.expires.to_human())
    );
    body
}

/// What, who, when.
fn facts(view: &AckView) -> String {
    let incident = &view.incident;
    let mut rows = vec![
        (
            "Incident",
            format!(
                "{}{}: {}",
                if incident.drill { "[DRILL] " } else { "" },
                incident.id,
                incident.title
            ),
        ),
        ("Severity", incident.severity.clone()),
        ("Status", incident.status.as_str().to_owned()),
    ];
    if let Some(service) = &incident.service {
        rows.push(("Service", service.clone()));
    }
    rows.push(("Opened", incident.opened_at.to_human()));
    rows.push((
        "Paged",
        if view.claims.level == 0 {
            format!("{}, by hand", view.paged)
        } else {
            format!(
                "{}, escalation level {} (round {})",
                view.paged,
                view.claims.level,
                view.claims.round + 1
            )
        },
    ));
    let mut table = String::from("<table>");
    for (label, value) in rows {
        let _ = write!(
            table,
            "<tr><th>{}</th><td>{}</td></tr>",
            escape(label),
            escape(&value)
        );
    }
    table.push_str("</table>");
    table
}

fn refusal(refused: LinkRefusal) -> Response {
    let status = match &refused {
        LinkRefusal::NotConfigured | LinkRefusal::Gone(_) => StatusCode::NOT_FOUND,
        LinkRefusal::Link(LinkError::Malformed) => StatusCode::BAD_REQUEST,
        LinkRefusal::Link(LinkError::Forged) => StatusCode::FORBIDDEN,
        LinkRefusal::Link(LinkError::Expired { .. }) => StatusCode::GONE,
        LinkRefusal::Used { .. } | LinkRefusal::Refused(_) => StatusCode::CONFLICT,
        LinkRefusal::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
    };
    let title = match &refused {
        LinkRefusal::Used { .. } => "This link was already used",
        LinkRefusal::Link(LinkError::Expired { .. }) => "This link has expired",
        LinkRefusal::Link(LinkError::Forged) => "This link is not valid",
        LinkRefusal::Refused(_) => "Nothing to acknowledge",
        LinkRefusal::Store(_) => "Try again in a moment",
        _ => "This link does not work",
    };
    page(
        status,
        title,
        &format!(
            "<p class=\"no\">{}</p><p>Nothing was changed. To acknowledge, use the button in Discord, <code>warroom incident ack</code> or the REST API.</p>",
            escape(&refused.to_string())
        ),
    )
}

/// A whole page: no script, no outside resources, not cached, not indexed, and no `Referer`
/// carrying the token anywhere.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · warroom</title><style>\
         body{{font-family:system-ui,sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.4}}\
         th{{text-align:left;padding-right:1em;vertical-align:top}}\
         button{{font-size:1.2em;padding:.6em 1.2em;background:#b00020;color:#fff;border:0;border-radius:4px}}\
         .ok{{color:#0a6b28;font-weight:bold}}.no{{color:#b00020;font-weight:bold}}\
         </style></head><body><h1>{title}</h1>\n{body}\n</body></html>\n",
        title = escape(title),
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
        ),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    headers.insert(
        header::HeaderName::from_static("x-robots-tag"),
        HeaderValue::from_static("noindex"),
    );
    response
}
