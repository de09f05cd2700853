//! Channels, threads, DM channels, messages, reactions and pins.

use serde_json::{Value, json};

use super::app::id;
use super::{Reply, Req, RestResult, ok, threads};
use crate::api_error::{ApiError, FormErrors, codes, path};
use crate::ids::{ChannelId, MessageId, UserId};
use crate::json;
use crate::model::{Channel, ChannelKind, PermissionOverwrite};
use crate::ops::{self, NewChannel, NewMessage};
use crate::state::{Shared, State};
use crate::validate::{
    self, AUTO_ARCHIVE_DURATIONS, CHANNEL_NAME_LIMIT, CHANNEL_TOPIC_LIMIT, FILE_SIZE_LIMIT,
    FORUM_TOPIC_LIMIT,
};

/// Discord keeps at most this many pins per channel.
const PINS_PER_CHANNEL_LIMIT: usize = 50;
/// `GET /channels/{id}/messages` returns at most this many (and 50 when `limit` is absent).
const MESSAGES_PAGE_LIMIT: usize = 100;
const MESSAGES_PAGE_DEFAULT: usize = 50;

pub(crate) fn known_channel<'a>(st: &'a State, c: &str) -> Result<&'a Channel, ApiError> {
    id(c)
        .and_then(|c| st.world.channel(ChannelId(c)))
        .ok_or_else(ApiError::unknown_channel)
}

fn known_message(st: &State, c: &str, m: &str) -> Result<(ChannelId, MessageId), ApiError> {
    let channel = known_channel(st, c)?.id;
    let msg = id(m)
        .map(MessageId)
        .filter(|m| st.world.live_message(channel, *m).is_some())
        .ok_or_else(ApiError::unknown_message)?;
    Ok((channel, msg))
}

pub(crate) fn get_channel(st: &State, c: &str) -> RestResult {
    let ch = known_channel(st, c)?;
    ok(json::channel(&st.world, ch))
}

pub(crate) fn guild_channels(st: &State, g: &str) -> RestResult {
    if id(g) != Some(st.world.guild_id.0) {
        return Err(ApiError::not_found(codes::UNKNOWN_GUILD, "Unknown Guild"));
    }
    let list = st
        .world
        .channels
        .values()
        .filter(|c| !c.deleted && !c.kind.is_thread() && c.kind != ChannelKind::Dm);
    ok(Value::Array(
        list.map(|c| json::channel(&st.world, c)).collect(),
    ))
}

/// Discord's normalisation of text channel names: lower case, whitespace runs become one `-`.
pub(crate) fn text_channel_name(name: &str) -> String {
    name.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-")
}

pub(crate) fn check_name(name: &str, errs: &mut FormErrors) {
    let n = name.chars().count();
    if n == 0 || n > CHANNEL_NAME_LIMIT {
        errs.add(
            &path(&["name"]),
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between 1 and {CHANNEL_NAME_LIMIT} in length."),
        );
    }
}

/// Checks `permission_overwrites` the way Discord does: each needs an `id` and a `type` of 0
/// (role) or 1 (member); `allow`/`deny` are bit sets as strings or numbers, absent meaning 0.
pub(crate) fn check_overwrites(list: &Value, errs: &mut FormErrors) -> Vec<Value> {
    let Some(list) = list.as_array() else {
        errs.add(
            &path(&["permission_overwrites"]),
            "BASE_TYPE_ARRAY",
            "Must be an array.",
        );
        return Vec::new();
    };
    for (i, o) in list.iter().enumerate() {
        if PermissionOverwrite::from_json(o).is_none() {
            errs.add(
                &path(&["permission_overwrites".to_string(), i.to_string()]),
                "BASE_TYPE_INVALID",
                "Overwrites need an id, a type of 0 (role) or 1 (member), and allow/deny bit sets.",
            );
        }
    }
    list.clone()
}

/// A snowflake given as a string or a number; `Some(None)` for an explicit null.
pub(crate) fn snowflake_field(body: &Value, key: &str) -> Option<Option<u64>> {
    match body.get(key)? {
        Value::Null => Some(None),
        Value::String(s) => Some(id(s)),
        Value::Number(n) => Some(n.as_u64()),
        _ => Some(None),
    }
}

fn check_topic(body: &Value, kind: ChannelKind, errs: &mut FormErrors) {
    let limit = if kind == ChannelKind::Forum {
        FORUM_TOPIC_LIMIT
    } else {
        CHANNEL_TOPIC_LIMIT
    };
    if let Some(t) = body.get("topic").and_then(Value::as_str)
        && t.chars().count() > limit
    {
        errs.add(
            &path(&["topic"]),
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {limit} or fewer in length."),
        );
    }
}

/// Discord's normalisation of names of channels people type in (text and forum).
fn channel_name(kind: ChannelKind, name: &str) -> String {
    if matches!(kind, ChannelKind::Text | ChannelKind::Forum) {
        text_channel_name(name)
    } else {
        name.to_string()
    }
}

pub(crate) fn create_guild_channel(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    g: &str,
) -> RestResult {
    if id(g) != Some(st.world.guild_id.0) {
        return Err(ApiError::not_found(codes::UNKNOWN_GUILD, "Unknown Guild"));
    }
    let body = req.body();
    let mut errs = FormErrors::default();
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    check_name(name, &mut errs);
    let kind_code = body.get("type").and_then(Value::as_u64).unwrap_or(0);
    let kind = match ChannelKind::from_code(kind_code) {
        Some(k @ (ChannelKind::Text | ChannelKind::Category | ChannelKind::Forum)) => k,
        _ => {
            errs.add(
                &path(&["type"]),
                "BASE_TYPE_CHOICES",
                "Value must be one of (0, 4, 15).",
            );
            ChannelKind::Text
        }
    };
    check_topic(body, kind, &mut errs);
    let parent = snowflake_field(body, "parent_id").flatten().map(ChannelId);
    if let Some(p) = parent {
        let is_category = st
            .world
            .channel(p)
            .is_some_and(|c| c.kind == ChannelKind::Category);
        if !is_category || kind == ChannelKind::Category {
            errs.add(
                &path(&["parent_id"]),
                "CHANNEL_PARENT_INVALID_TYPE",
                "Not a category",
            );
        }
    }
    let overwrites = body
        .get("permission_overwrites")
        .filter(|o| !o.is_null())
        .map(|o| check_overwrites(o, &mut errs));
    let tags = match body.get("available_tags").filter(|t| !t.is_null()) {
        Some(t) if kind == ChannelKind::Forum => threads::check_tags(shared, st, t, &[], &mut errs),
        Some(_) => {
            errs.add(
                &path(&["available_tags"]),
                "CHANNEL_TYPE_INVALID",
                "Only forum channels have tags",
            );
            Vec::new()
        }
        None => Vec::new(),
    };
    errs.into_result()?;
    let mut new = NewChannel::new(kind, channel_name(kind, name));
    new.parent_id = parent;
    new.topic = body
        .get("topic")
        .and_then(Value::as_str)
        .map(str::to_string);
    new.permission_overwrites = overwrites;
    new.available_tags = tags;
    new.flags = body.get("flags").and_then(Value::as_u64).unwrap_or(0);
    let cid = ops::create_channel(shared, st, new);
    Ok(Reply::Json(
        201,
        json::channel(&st.world, &st.world.channels[&cid]),
    ))
}

pub(crate) fn edit_channel(shared: &Shared, st: &mut State, req: &Req<'_>, c: &str) -> RestResult {
    let cid = known_channel(st, c)?.id;
    if st.world.channels[&cid].kind.is_thread() {
        return threads::edit_thread(shared, st, req, cid);
    }
    let body = req.body();
    let kind = st.world.channels[&cid].kind;
    let mut errs = FormErrors::default();
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        check_name(name, &mut errs);
    }
    check_topic(body, kind, &mut errs);
    let new_parent = snowflake_field(body, "parent_id").map(|p| p.map(ChannelId));
    if let Some(Some(p)) = new_parent {
        let is_category = st
            .world
            .channel(p)
            .is_some_and(|c| c.kind == ChannelKind::Category);
        if !is_category || kind == ChannelKind::Category || p == cid {
            errs.add(
                &path(&["parent_id"]),
                "CHANNEL_PARENT_INVALID_TYPE",
                "Not a category",
            );
        }
    }
    let overwrites = body
        .get("permission_overwrites")
        .filter(|o| !o.is_null())
        .map(|o| check_overwrites(o, &mut errs));
    let tags = match body.get("available_tags").filter(|t| !t.is_null()) {
        Some(t) if kind == ChannelKind::Forum => {
            let existing = st.world.channels[&cid].available_tags.clone();
            Some(threads::check_tags(shared, st, t, &existing, &mut errs))
        }
        Some(_) => {
            errs.add(
                &path(&["available_tags"]),
                "CHANNEL_TYPE_INVALID",
                "Only forum channels have tags",
            );
            None
        }
        None => None,
    };
    errs.into_result()?;
    let ch = st.world.channels.get_mut(&cid).expect("known");
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        ch.name = channel_name(ch.kind, name);
    }
    if let Some(t) = body.get("topic") {
        ch.topic = t.as_str().map(str::to_string);
    }
    if let Some(p) = body.get("position").and_then(Value::as_u64) {
        ch.position = p as u16;
    }
    if let Some(f) = body.get("flags").and_then(Value::as_u64) {
        ch.flags = f;
    }
    if let Some(tags) = tags {
        ch.available_tags = tags;
    }
    prune_applied_tags(st, cid);
    let ch = st.world.channels.get_mut(&cid).expect("known");
    if let Some(p) = new_parent {
        ch.parent_id = p;
    }
    // Modify Channel has no `lock_permissions` (Modify Guild Channel Positions does): a
    // channel moved here keeps its own overwrites unless the same request sets new ones.
    match overwrites {
        Some(o) => ops::set_overwrites(st, cid, o),
        None => resync_flag(st, cid),
    }
    ops::channel_changed(st, cid, false);
    ok(json::channel(&st.world, &st.world.channels[&cid]))
}

/// A channel is synced exactly when its overwrites equal its category's.
fn resync_flag(st: &mut State, cid: ChannelId) {
    let parent_overwrites = st.world.channels[&cid]
        .parent_id
        .and_then(|p| st.world.channels.get(&p))
        .filter(|p| p.kind == ChannelKind::Category)
        .map(|p| p.permission_overwrites.clone());
    let ch = st.world.channels.get_mut(&cid).expect("known");
    ch.permissions_synced =
        parent_overwrites.is_some_and(|p| ops::same_overwrites(&p, &ch.permission_overwrites));
}

/// `PATCH /guilds/{id}/channels` (Modify Guild Channel Positions): positions, and moves to
/// another category, with `lock_permissions` syncing the moved channel to its new category.
/// At most one entry may change `parent_id` (40009).
pub(crate) fn positions(st: &mut State, req: &Req<'_>, g: &str) -> RestResult {
    if id(g) != Some(st.world.guild_id.0) {
        return Err(ApiError::not_found(codes::UNKNOWN_GUILD, "Unknown Guild"));
    }
    let list = req.body().as_array().cloned().unwrap_or_default();
    let mut errs = FormErrors::default();
    let mut moves = 0;
    for (i, e) in list.iter().enumerate() {
        let at = |k: &str| path(&[i.to_string(), k.to_string()]);
        let cid = snowflake_field(e, "id").flatten().map(ChannelId);
        let Some(ch) = cid.and_then(|c| st.world.channel(c)) else {
            errs.add(&at("id"), "CHANNEL_UNKNOWN", "Unknown channel");
            continue;
        };
        if ch.kind.is_thread() || ch.kind == ChannelKind::Dm {
            errs.add(
                &at("id"),
                "CHANNEL_TYPE_INVALID",
                "Threads and DMs have no position",
            );
        }
        if let Some(p) = snowflake_field(e, "parent_id") {
            moves += 1;
            let bad = p.is_some_and(|p| {
                ch.kind == ChannelKind::Category
                    || st
                        .world
                        .channel(ChannelId(p))
                        .is_none_or(|c| c.kind != ChannelKind::Category)
            });
            if bad {
                errs.add(
                    &at("parent_id"),
                    "CHANNEL_PARENT_INVALID_TYPE",
                    "Not a category",
                );
            }
        }
    }
    if moves > 1 {
        return Err(ApiError::new(
            400,
            codes::ONE_PARENT_CHANGE,
            "Only one channel can have a parent_id modified at a time",
        ));
    }
    errs.into_result()?;
    for e in &list {
        let cid = ChannelId(snowflake_field(e, "id").flatten().expect("checked"));
        let ch = st.world.channels.get_mut(&cid).expect("checked");
        if let Some(p) = e.get("position").and_then(Value::as_u64) {
            ch.position = p as u16;
        }
        if let Some(p) = snowflake_field(e, "parent_id") {
            ch.parent_id = p.map(ChannelId);
            let lock = e.get("lock_permissions").and_then(Value::as_bool) == Some(true);
            let parent = ch.parent_id;
            match parent.and_then(|p| st.world.channels.get(&p)) {
                Some(cat) if lock => {
                    let o = cat.permission_overwrites.clone();
                    ops::set_overwrites(st, cid, o);
                }
                _ => resync_flag(st, cid),
            }
        }
        ops::channel_changed(st, cid, false);
    }
    Ok(Reply::NoContent)
}

/// Posts of a forum lose the tags the forum no longer has.
fn prune_applied_tags(st: &mut State, forum: ChannelId) {
    let Some(f) = st.world.channels.get(&forum) else {
        return;
    };
    if f.kind != ChannelKind::Forum {
        return;
    }
    let ids: Vec<_> = f.available_tags.iter().map(|t| t.id).collect();
    for post in st.world.channels.values_mut() {
        if post.parent_id == Some(forum) {
            post.applied_tags.retain(|t| ids.contains(t));
        }
    }
}

pub(crate) fn delete_channel(st: &mut State, c: &str) -> RestResult {
    let cid = known_channel(st, c)?.id;
    st.world.channels.get_mut(&cid).expect("known").deleted = true;
    let v = json::channel(&st.world, &st.world.channels[&cid]);
    ops::channel_changed(st, cid, true);
    // Deleting a category leaves its channels without a parent (docs: Delete/Close Channel).
    let orphans: Vec<ChannelId> = st
        .world
        .channels
        .values()
        .filter(|ch| ch.parent_id == Some(cid) && !ch.deleted && !ch.kind.is_thread())
        .map(|ch| ch.id)
        .collect();
    for orphan in orphans {
        let ch = st.world.channels.get_mut(&orphan).expect("listed");
        ch.parent_id = None;
        ch.permissions_synced = false;
        ops::channel_changed(st, orphan, false);
    }
    ok(v)
}

pub(crate) fn overwrite(
    st: &mut State,
    req: &Req<'_>,
    c: &str,
    target: &str,
    put: bool,
) -> RestResult {
    let cid = known_channel(st, c)?.id;
    if st.world.channels[&cid].kind.is_thread() || st.world.channels[&cid].kind == ChannelKind::Dm {
        return Err(wrong_channel_type());
    }
    let target_id = id(target)
        .ok_or_else(|| ApiError::not_found(codes::UNKNOWN_OVERWRITE, "Unknown Overwrite"))?;
    let mut list: Vec<Value> = st.world.channels[&cid]
        .permission_overwrites
        .iter()
        .filter(|o| PermissionOverwrite::from_json(o).is_none_or(|o| o.id != target_id))
        .cloned()
        .collect();
    if put {
        let b = req.body();
        let mut with_id = if b.is_object() { b.clone() } else { json!({}) };
        with_id["id"] = json!(target);
        let Some(o) = PermissionOverwrite::from_json(&with_id) else {
            let mut errs = FormErrors::default();
            errs.add(
                &path(&["type"]),
                "BASE_TYPE_CHOICES",
                "Value must be one of (0, 1).",
            );
            return Err(errs.into_result().unwrap_err());
        };
        list.push(o.to_json());
    }
    ops::set_overwrites(st, cid, list);
    ops::channel_changed(st, cid, false);
    Ok(Reply::NoContent)
}

pub(crate) fn wrong_channel_type() -> ApiError {
    ApiError::new(
        400,
        codes::WRONG_CHANNEL_TYPE,
        "Cannot execute action on this channel type",
    )
}

pub(crate) fn create_dm(shared: &Shared, st: &mut State, req: &Req<'_>) -> RestResult {
    let recipient = req
        .body()
        .get("recipient_id")
        .and_then(|r| r.as_str().and_then(id).or(r.as_u64()))
        .map(UserId);
    let Some(user) = recipient.filter(|u| st.world.users.contains_key(u)) else {
        return Err(ApiError::not_found(codes::UNKNOWN_USER, "Unknown User"));
    };
    let cid = ops::dm_channel(shared, st, user);
    ok(json::channel(&st.world, &st.world.channels[&cid]))
}

pub(crate) fn list_messages(st: &State, req: &Req<'_>, c: &str) -> RestResult {
    let cid = known_channel(st, c)?.id;
    let limit = req
        .query("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(MESSAGES_PAGE_DEFAULT)
        .clamp(1, MESSAGES_PAGE_LIMIT);
    let mut live: Vec<_> = st
        .world
        .channel_messages(cid)
        .into_iter()
        .filter(|m| !m.deleted && !m.ephemeral())
        .collect();
    live.sort_by_key(|m| m.id);
    let page: Vec<_> = if let Some(after) = req.query("after").and_then(id) {
        let mut v: Vec<_> = live
            .into_iter()
            .filter(|m| m.id.0 > after)
            .take(limit)
            .collect();
        v.reverse();
        v
    } else if let Some(around) = req.query("around").and_then(id) {
        let idx = live
            .iter()
            .position(|m| m.id.0 >= around)
            .unwrap_or(live.len());
        let start = idx.saturating_sub(limit / 2);
        let mut v: Vec<_> = live.into_iter().skip(start).take(limit).collect();
        v.reverse();
        v
    } else {
        let before = req.query("before").and_then(id).unwrap_or(u64::MAX);
        live.into_iter()
            .rev()
            .filter(|m| m.id.0 < before)
            .take(limit)
            .collect()
    };
    ok(Value::Array(
        page.into_iter()
            .map(|m| json::message(&st.world, m))
            .collect(),
    ))
}

/// Checks a create/edit body and its files the way Discord does.
pub(crate) fn check_message_body(
    body: &Value,
    files: &[crate::state::UploadedFile],
    creating: bool,
) -> Result<(), ApiError> {
    if files.iter().any(|f| f.bytes.len() > FILE_SIZE_LIMIT) {
        return Err(ApiError::new(
            413,
            codes::REQUEST_TOO_LARGE,
            "Request entity too large",
        ));
    }
    let mut errs = FormErrors::default();
    validate::message(body, &[], &mut errs);
    errs.into_result()?;
    if creating {
        validate::empty_message(body, files.len())?;
    }
    Ok(())
}

pub(crate) fn create_message(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    c: &str,
) -> RestResult {
    let cid = known_channel(st, c)?.id;
    match st.world.channels[&cid].kind {
        ChannelKind::Category => {
            return Err(ApiError::new(
                400,
                50008,
                "Cannot send messages in a non-text channel",
            ));
        }
        ChannelKind::Forum => {
            return Err(ApiError::new(
                400,
                codes::FORUM_MESSAGE,
                "Cannot send a message in a forum channel",
            ));
        }
        _ => {}
    }
    threads::check_postable(st, cid)?;
    let recipient = st.world.channels[&cid].recipient;
    // Discord refuses DMs to users who closed them, and to users who share no guild with the
    // bot (here: who are not, or no longer, members).
    if st.world.channels[&cid].kind == ChannelKind::Dm
        && recipient.is_some_and(|user| {
            st.world.dms_closed.contains(&user) || !st.world.members.contains_key(&user)
        })
    {
        return Err(ApiError::new(
            403,
            codes::CANNOT_MESSAGE_USER,
            "Cannot send messages to this user",
        ));
    }
    let body = req.body();
    check_message_body(body, req.files, true)?;
    if let Some(r) = body
        .get("message_reference")
        .and_then(|r| r.get("message_id"))
    {
        let rid = r.as_str().and_then(id).or(r.as_u64()).map(MessageId);
        if rid
            .and_then(|m| st.world.messages.get(&m))
            .is_none_or(|m| m.deleted)
        {
            let mut errs = FormErrors::default();
            errs.add(
                &path(&["message_reference"]),
                "REPLIES_UNKNOWN_MESSAGE",
                "Unknown message",
            );
            errs.into_result()?;
        }
    }
    let bot = st.world.bot;
    // `enforce_nonce`: the same author and nonce within the window get the first message back.
    let nonce = body
        .get("enforce_nonce")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        .then(|| match body.get("nonce") {
            Some(Value::String(text)) => Some(text.clone()),
            Some(Value::Number(number)) => Some(number.to_string()),
            _ => None,
        })
        .flatten();
    let now = shared.clock.utc();
    if let Some(nonce) = &nonce
        && let Some((earlier, at)) = st.world.nonces.get(&(bot, nonce.clone()))
        && now - *at < crate::validate::NONCE_WINDOW
        && st.world.live_message(cid, *earlier).is_some()
    {
        return ok(json::message(&st.world, &st.world.messages[earlier]));
    }
    let new = NewMessage {
        channel: cid,
        author: bot,
        body,
        files: req.files,
        kind: None,
        interaction: None,
        extra_flags: 0,
        id: None,
    };
    ops::unarchive_on_message(shared, st, cid);
    let mid = ops::create_message(shared, st, new);
    if let Some(nonce) = nonce {
        st.world.nonces.insert((bot, nonce), (mid, now));
    }
    ok(json::message(&st.world, &st.world.messages[&mid]))
}

pub(crate) fn message(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    c: &str,
    m: &str,
) -> RestResult {
    let (cid, mid) = known_message(st, c, m)?;
    match req.method {
        "GET" => ok(json::message(&st.world, &st.world.messages[&mid])),
        "PATCH" => {
            threads::check_not_archived(st, cid)?;
            if st.world.messages[&mid].author != st.world.bot {
                return Err(ApiError::new(
                    403,
                    codes::CANNOT_EDIT_OTHERS_MESSAGE,
                    "Cannot edit a message authored by another user",
                ));
            }
            check_message_body(req.body(), req.files, false)?;
            ops::edit_message(shared, st, mid, req.body(), req.files);
            ok(json::message(&st.world, &st.world.messages[&mid]))
        }
        "DELETE" => {
            ops::delete_message(shared, st, mid);
            Ok(Reply::NoContent)
        }
        _ => Err(ApiError::new(405, 0, "405: Method Not Allowed")),
    }
}

pub(crate) fn thread_body_checks(body: &Value) -> Result<(String, u32), ApiError> {
    let mut errs = FormErrors::default();
    let name = body.get("name").and_then(Value::as_str).unwrap_or("");
    check_name(name, &mut errs);
    let archive = body
        .get("auto_archive_duration")
        .and_then(Value::as_u64)
        .unwrap_or(1440);
    if !AUTO_ARCHIVE_DURATIONS.contains(&archive) {
        errs.add(
            &path(&["auto_archive_duration"]),
            "BASE_TYPE_CHOICES",
            "Value must be one of (60, 1440, 4320, 10080).",
        );
    }
    errs.into_result()?;
    Ok((name.to_string(), archive as u32))
}

pub(crate) fn thread_from_message(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    c: &str,
    m: &str,
) -> RestResult {
    let (cid, mid) = known_message(st, c, m)?;
    if st.world.channels[&cid].kind != ChannelKind::Text {
        return Err(wrong_channel_type());
    }
    if st.world.messages[&mid].thread.is_some() {
        return Err(ApiError::new(
            400,
            160004,
            "A thread has already been created for this message",
        ));
    }
    let (name, archive) = thread_body_checks(req.body())?;
    let mut new = NewChannel::new(ChannelKind::PublicThread, name);
    new.parent_id = Some(cid);
    new.owner_id = Some(st.world.bot);
    new.thread_members = vec![st.world.bot];
    new.auto_archive_minutes = archive;
    // A thread started from a message has that message's id.
    new.id = Some(ChannelId(mid.0));
    let tid = ops::create_channel(shared, st, new);
    st.world.messages.get_mut(&mid).expect("known").thread = Some(tid);
    Ok(Reply::Json(
        201,
        json::channel(&st.world, &st.world.channels[&tid]),
    ))
}

fn check_emoji(emoji: &str) -> Result<(), ApiError> {
    let bad = emoji.is_empty()
        || (emoji.contains(':')
            && !emoji
                .rsplit(':')
                .next()
                .is_some_and(|id| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit())));
    if bad {
        return Err(ApiError::new(400, codes::UNKNOWN_EMOJI, "Unknown Emoji"));
    }
    Ok(())
}

pub(crate) fn react(
    st: &mut State,
    c: &str,
    m: &str,
    emoji: &str,
    add: bool,
    user: &str,
) -> RestResult {
    let (cid, mid) = known_message(st, c, m)?;
    check_emoji(emoji)?;
    threads::check_not_archived(st, cid)?;
    let who = if user == "@me" {
        st.world.bot
    } else {
        id(user)
            .map(UserId)
            .ok_or_else(|| ApiError::not_found(codes::UNKNOWN_USER, "Unknown User"))?
    };
    if add {
        ops::add_reaction(st, mid, who, emoji);
    } else {
        ops::remove_reaction(st, mid, who, emoji);
    }
    Ok(Reply::NoContent)
}

pub(crate) fn reactors(st: &State, c: &str, m: &str, emoji: &str) -> RestResult {
    let (_, mid) = known_message(st, c, m)?;
    let users = st.world.messages[&mid].reactors(emoji);
    ok(Value::Array(
        users
            .into_iter()
            .map(|u| json::user(&st.world, u))
            .collect(),
    ))
}

pub(crate) fn clear_reactions(st: &mut State, c: &str, m: &str) -> RestResult {
    let (cid, mid) = known_message(st, c, m)?;
    st.world
        .messages
        .get_mut(&mid)
        .expect("known")
        .reactions
        .clear();
    let mut d = json!({"channel_id": cid.to_string(), "message_id": mid.to_string()});
    let guild = st.world.is_guild_channel(cid);
    if guild {
        d["guild_id"] = json!(st.world.guild_id.to_string());
    }
    let intent = if guild {
        crate::config::intents::GUILD_MESSAGE_REACTIONS
    } else {
        crate::config::intents::DIRECT_MESSAGE_REACTIONS
    };
    st.gateway.dispatch(
        "MESSAGE_REACTION_REMOVE_ALL",
        d,
        crate::gateway::Gate {
            intent,
            content_gated: false,
        },
    );
    Ok(Reply::NoContent)
}

pub(crate) fn pins(st: &State, c: &str) -> RestResult {
    let cid = known_channel(st, c)?.id;
    let mut list: Vec<_> = st
        .world
        .channel_messages(cid)
        .into_iter()
        .filter(|m| m.pinned && !m.deleted)
        .collect();
    list.sort_by_key(|m| std::cmp::Reverse(m.id));
    ok(Value::Array(
        list.into_iter()
            .map(|m| json::message(&st.world, m))
            .collect(),
    ))
}

pub(crate) fn pin(shared: &Shared, st: &mut State, c: &str, m: &str, pinned: bool) -> RestResult {
    let (cid, mid) = known_message(st, c, m)?;
    if pinned && !st.world.messages[&mid].pinned {
        let count = st
            .world
            .channel_messages(cid)
            .iter()
            .filter(|m| m.pinned && !m.deleted)
            .count();
        if count >= PINS_PER_CHANNEL_LIMIT {
            return Err(ApiError::new(
                400,
                codes::MAX_PINS,
                "Maximum number of pins reached (50)",
            ));
        }
    }
    let bot = st.world.bot;
    ops::set_pinned(shared, st, mid, bot, pinned);
    Ok(Reply::NoContent)
}
