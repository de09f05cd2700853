//! The interaction callback and the interaction webhooks (`@original`, follow-ups), with
//! Discord's time rules: 3 s to acknowledge, once; 15 minutes of token life.

use serde_json::{Value, json};

use super::app::id;
use super::channels::check_message_body;
use super::{Reply, Req, RestResult, ok};
use crate::api_error::{ApiError, FormErrors, codes, path};
use crate::ids::{InteractionId, MessageId};
use crate::json;
use crate::model::{Callback, CallbackAttempt, CallbackKind, FLAG_EPHEMERAL, FLAG_LOADING};
use crate::ops::{self, NewMessage, message_type};
use crate::state::{Shared, State};
use crate::validate;

/// Which callback types Discord accepts for which interaction type
/// (docs: interactions/receiving-and-responding, "Interaction Callback Type").
fn allowed(interaction_kind: u8, callback: CallbackKind) -> bool {
    use CallbackKind::*;
    match interaction_kind {
        2 => matches!(callback, Message | DeferredMessage | Modal),
        3 => matches!(
            callback,
            Message | DeferredMessage | DeferredUpdate | UpdateMessage | Modal
        ),
        4 => matches!(callback, Autocomplete),
        5 => matches!(
            callback,
            Message | DeferredMessage | DeferredUpdate | UpdateMessage
        ),
        _ => false,
    }
}

fn check_callback(
    shared: &Shared,
    st: &State,
    iid: InteractionId,
    body: &Value,
    files: usize,
) -> Result<CallbackKind, ApiError> {
    let rec = &st.world.interactions[&iid];
    if rec.callback.is_some() {
        return Err(ApiError::new(
            400,
            codes::ALREADY_ACKNOWLEDGED,
            "Interaction has already been acknowledged.",
        ));
    }
    if shared.clock.now().saturating_duration_since(rec.created_at)
        > shared.config.interaction_ack_deadline
    {
        return Err(ApiError::unknown_interaction());
    }
    let Some(code) = body.get("type").and_then(Value::as_u64) else {
        let mut errs = FormErrors::default();
        errs.add(
            &path(&["type"]),
            "BASE_TYPE_REQUIRED",
            "This field is required",
        );
        return Err(errs.into_result().unwrap_err());
    };
    let kind = CallbackKind::from_code(code);
    if !allowed(rec.kind, kind) {
        return Err(ApiError::new(
            400,
            40043,
            "Interaction response type is not valid for this interaction type",
        ));
    }
    let data = body.get("data").cloned().unwrap_or(json!({}));
    let at = path(&["data"]);
    let mut errs = FormErrors::default();
    match kind {
        CallbackKind::Message | CallbackKind::UpdateMessage => {
            validate::message(&data, &at, &mut errs)
        }
        CallbackKind::Autocomplete => validate::autocomplete(
            data.get("choices").unwrap_or(&json!([])),
            &path(&["data", "choices"]),
            &mut errs,
        ),
        CallbackKind::Modal => validate::modal(&data, &at, &mut errs),
        _ => {}
    }
    errs.into_result()?;
    if kind == CallbackKind::Message {
        validate::empty_message(&data, files)?;
    }
    // A modal submit may be acknowledged with type 6 even when the modal came from a command
    // (poise does exactly that); updating a message needs a message.
    let needs_source = kind == CallbackKind::UpdateMessage
        || (kind == CallbackKind::DeferredUpdate && rec.kind != 5);
    if needs_source && rec.source_message.is_none() {
        return Err(ApiError::new(
            400,
            40043,
            "Interaction response type is not valid for this interaction type",
        ));
    }
    Ok(kind)
}

pub(crate) fn callback(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    iid: &str,
    token: &str,
) -> RestResult {
    let iid = id(iid).map(InteractionId).filter(|i| {
        st.world
            .interactions
            .get(i)
            .is_some_and(|r| r.token == token)
    });
    let Some(iid) = iid else {
        return Err(ApiError::unknown_interaction());
    };
    let body = req.body();
    let checked = check_callback(shared, st, iid, body, req.files.len());
    let attempted = CallbackKind::from_code(body.get("type").and_then(Value::as_u64).unwrap_or(0));
    let rec = st.world.interactions.get_mut(&iid).expect("checked");
    rec.attempts.push(CallbackAttempt {
        kind: attempted,
        status: checked.as_ref().map(|_| 204).unwrap_or_else(|e| e.status),
        error_code: checked.as_ref().err().and_then(ApiError::code),
    });
    let kind = checked?;
    let data = body.get("data").cloned().unwrap_or(json!({}));
    rec.callback = Some(Callback {
        kind,
        data: data.clone(),
    });
    let (channel, source, ikind) = (rec.channel_id, rec.source_message, rec.kind);
    let msg_type = if ikind == 2 {
        message_type::CHAT_INPUT_COMMAND
    } else {
        message_type::DEFAULT
    };
    let bot = st.world.bot;
    let original = match kind {
        CallbackKind::Message => {
            let new = NewMessage {
                channel,
                author: bot,
                body: &data,
                files: req.files,
                kind: Some(msg_type),
                interaction: Some(iid),
                extra_flags: 0,
                id: None,
            };
            Some(ops::create_message(shared, st, new))
        }
        CallbackKind::DeferredMessage => {
            let flags = data.get("flags").and_then(Value::as_u64).unwrap_or(0) & FLAG_EPHEMERAL;
            let body = json!({"content": "", "flags": flags});
            let new = NewMessage {
                channel,
                author: bot,
                body: &body,
                files: &[],
                kind: Some(msg_type),
                interaction: Some(iid),
                extra_flags: FLAG_LOADING,
                id: None,
            };
            Some(ops::create_message(shared, st, new))
        }
        CallbackKind::UpdateMessage => {
            let src = source.expect("checked");
            ops::edit_message(shared, st, src, &data, req.files);
            Some(src)
        }
        CallbackKind::DeferredUpdate => source,
        _ => None,
    };
    st.world
        .interactions
        .get_mut(&iid)
        .expect("checked")
        .original = original;
    Ok(Reply::NoContent)
}

/// The interaction a webhook token belongs to, if the token is still alive.
fn by_token(
    shared: &Shared,
    st: &State,
    app: &str,
    token: &str,
) -> Result<InteractionId, ApiError> {
    let unknown = || ApiError::not_found(codes::UNKNOWN_WEBHOOK, "Unknown Webhook");
    if id(app) != Some(shared.config.application_id) {
        return Err(unknown());
    }
    let rec = st
        .world
        .interactions
        .values()
        .find(|r| r.token == token)
        .ok_or_else(unknown)?;
    if shared.clock.now().saturating_duration_since(rec.created_at)
        > shared.config.interaction_token_lifetime
    {
        // What Discord answers once the 15 minutes are over.
        return Err(ApiError::new(401, 50027, "Invalid Webhook Token"));
    }
    Ok(rec.id)
}

pub(crate) fn followup(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    app: &str,
    token: &str,
) -> RestResult {
    let iid = by_token(shared, st, app, token)?;
    let rec = &st.world.interactions[&iid];
    if rec.callback.is_none() {
        return Err(ApiError::not_found(
            codes::UNKNOWN_WEBHOOK,
            "Unknown Webhook",
        ));
    }
    let channel = rec.channel_id;
    check_message_body(req.body(), req.files, true)?;
    let bot = st.world.bot;
    let new = NewMessage {
        channel,
        author: bot,
        body: req.body(),
        files: req.files,
        kind: Some(message_type::DEFAULT),
        interaction: Some(iid),
        extra_flags: 0,
        id: None,
    };
    let mid = ops::create_message(shared, st, new);
    st.world
        .interactions
        .get_mut(&iid)
        .expect("known")
        .followups
        .push(mid);
    ok(json::message(&st.world, &st.world.messages[&mid]))
}

pub(crate) fn webhook_message(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    app: &str,
    token: &str,
    which: &str,
) -> RestResult {
    let iid = by_token(shared, st, app, token)?;
    let rec = &st.world.interactions[&iid];
    let is_original = which == "@original";
    let mid = if is_original {
        rec.original
    } else {
        id(which)
            .map(MessageId)
            .filter(|m| rec.followups.contains(m) || rec.original == Some(*m))
    };
    let mid = mid
        .filter(|m| st.world.messages.get(m).is_some_and(|m| !m.deleted))
        .ok_or_else(ApiError::unknown_message)?;
    match req.method {
        "GET" => ok(json::message(&st.world, &st.world.messages[&mid])),
        "PATCH" => {
            check_message_body(req.body(), req.files, false)?;
            ops::edit_message(shared, st, mid, req.body(), req.files);
            if is_original || st.world.interactions[&iid].original == Some(mid) {
                st.world
                    .interactions
                    .get_mut(&iid)
                    .expect("known")
                    .original_edited = true;
            }
            ok(json::message(&st.world, &st.world.messages[&mid]))
        }
        "DELETE" => {
            ops::delete_message(shared, st, mid);
            Ok(Reply::NoContent)
        }
        _ => Err(ApiError::new(405, 0, "405: Method Not Allowed")),
    }
}
