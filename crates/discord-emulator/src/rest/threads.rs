//! Threads and forums: threads without a message (public or private), forum posts with their
//! first message and tags, thread edits (archive, lock, tags), thread members, and the lists
//! of active and archived threads. Rules from docs: resources/channel and topics/threads.

use serde_json::{Value, json};

use super::app::id;
use super::channels::{
    check_message_body, check_name, known_channel, snowflake_field, thread_body_checks,
    wrong_channel_type,
};
use super::{Reply, Req, RestResult, ok};
use crate::api_error::{ApiError, FormErrors, codes, path};
use crate::ids::{ChannelId, ForumTagId, MessageId, UserId};
use crate::json;
use crate::model::{ChannelKind, ForumTag};
use crate::ops::{self, NewChannel, NewMessage};
use crate::state::{Shared, State};
use crate::validate::{
    APPLIED_TAGS_LIMIT, AUTO_ARCHIVE_DURATIONS, FORUM_TAG_NAME_LIMIT, FORUM_TAGS_LIMIT,
};

/// Channel flag: a forum that requires a tag on every post.
const FLAG_REQUIRE_TAG: u64 = 1 << 4;

/// Checks a forum's `available_tags` and turns it into tags: entries with the `id` of an
/// existing tag keep it (and are edited), entries without one are new tags, tags left out
/// are removed (docs: Forum Tag Object; "only `name` is required" when updating).
pub(crate) fn check_tags(
    shared: &Shared,
    st: &mut State,
    list: &Value,
    existing: &[ForumTag],
    errs: &mut FormErrors,
) -> Vec<ForumTag> {
    let Some(list) = list.as_array() else {
        errs.add(
            &path(&["available_tags"]),
            "BASE_TYPE_ARRAY",
            "Must be an array.",
        );
        return Vec::new();
    };
    if list.len() > FORUM_TAGS_LIMIT {
        errs.add(
            &path(&["available_tags"]),
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {FORUM_TAGS_LIMIT} or fewer in length."),
        );
    }
    let mut out = Vec::new();
    for (i, t) in list.iter().enumerate() {
        let at = |field: &str| path(&["available_tags".to_string(), i.to_string(), field.into()]);
        let name = t.get("name").and_then(Value::as_str).unwrap_or("");
        if name.chars().count() > FORUM_TAG_NAME_LIMIT || t.get("name").is_none() {
            errs.add(
                &at("name"),
                "BASE_TYPE_BAD_LENGTH",
                format!("Must be between 0 and {FORUM_TAG_NAME_LIMIT} in length."),
            );
        }
        let emoji_id = snowflake_field(t, "emoji_id").flatten();
        let emoji_name = t
            .get("emoji_name")
            .and_then(Value::as_str)
            .map(str::to_string);
        if emoji_id.is_some() && emoji_name.is_some() {
            errs.add(
                &at("emoji_id"),
                "FORUM_TAG_EMOJI_INVALID",
                "At most one of emoji_id and emoji_name may be set",
            );
        }
        let given = snowflake_field(t, "id").flatten();
        let tag_id = match given {
            Some(g) if existing.iter().any(|e| e.id.0 == g) => ForumTagId(g),
            Some(_) => {
                errs.add(&at("id"), "FORUM_TAG_UNKNOWN", "Unknown tag");
                ForumTagId(0)
            }
            None => ForumTagId(st.next_id(&shared.clock)),
        };
        out.push(ForumTag {
            id: tag_id,
            name: name.to_string(),
            moderated: t.get("moderated").and_then(Value::as_bool).unwrap_or(false),
            emoji_id,
            emoji_name,
        });
    }
    out
}

/// Checks `applied_tags` against the forum's tags.
fn check_applied(
    st: &State,
    forum: ChannelId,
    list: &Value,
    errs: &mut FormErrors,
) -> Vec<ForumTagId> {
    let tags = &st.world.channels[&forum].available_tags;
    let ids: Vec<Option<u64>> = list
        .as_array()
        .map(|l| {
            l.iter()
                .map(|v| v.as_str().and_then(id).or(v.as_u64()))
                .collect()
        })
        .unwrap_or_default();
    if ids.len() > APPLIED_TAGS_LIMIT {
        errs.add(
            &path(&["applied_tags"]),
            "BASE_TYPE_MAX_LENGTH",
            format!("Must be {APPLIED_TAGS_LIMIT} or fewer in length."),
        );
    }
    let mut out = Vec::new();
    for (i, tag) in ids.iter().enumerate() {
        match tag.filter(|t| tags.iter().any(|x| x.id.0 == *t)) {
            Some(t) if !out.contains(&ForumTagId(t)) => out.push(ForumTagId(t)),
            Some(_) => {}
            None => errs.add(
                &path(&["applied_tags".to_string(), i.to_string()]),
                "FORUM_TAG_UNKNOWN",
                "Unknown tag",
            ),
        }
    }
    out
}

/// `POST /channels/{id}/threads`: a thread without a message in a text channel, or a post in
/// a forum (with its first message).
pub(crate) fn create_thread(shared: &Shared, st: &mut State, req: &Req<'_>, c: &str) -> RestResult {
    let parent = known_channel(st, c)?;
    let (cid, parent_kind) = (parent.id, parent.kind);
    match parent_kind {
        ChannelKind::Forum => forum_post(shared, st, req, cid),
        ChannelKind::Text => {
            let (name, archive) = thread_body_checks(req.body())?;
            // Without `type`, Discord makes a private thread (the API v9 default it kept).
            let kind = match req.body().get("type").and_then(Value::as_u64) {
                Some(11) => ChannelKind::PublicThread,
                _ => ChannelKind::PrivateThread,
            };
            let mut new = NewChannel::new(kind, name);
            new.parent_id = Some(cid);
            new.owner_id = Some(st.world.bot);
            new.thread_members = vec![st.world.bot];
            new.auto_archive_minutes = archive;
            new.invitable = req
                .body()
                .get("invitable")
                .and_then(Value::as_bool)
                .unwrap_or(true);
            let tid = ops::create_channel(shared, st, new);
            Ok(Reply::Json(
                201,
                json::channel(&st.world, &st.world.channels[&tid]),
            ))
        }
        _ => Err(wrong_channel_type()),
    }
}

fn forum_post(shared: &Shared, st: &mut State, req: &Req<'_>, forum: ChannelId) -> RestResult {
    let body = req.body();
    let (name, archive) = thread_body_checks(body)?;
    let mut errs = FormErrors::default();
    let applied = match body.get("applied_tags").filter(|t| !t.is_null()) {
        Some(list) => check_applied(st, forum, list, &mut errs),
        None => Vec::new(),
    };
    let message = body.get("message").filter(|m| m.is_object());
    if message.is_none() {
        errs.add(
            &path(&["message"]),
            "BASE_TYPE_REQUIRED",
            "This field is required",
        );
    }
    errs.into_result()?;
    let message = message.expect("checked").clone();
    check_message_body(&message, req.files, true)?;
    if applied.is_empty() && st.world.channels[&forum].flags & FLAG_REQUIRE_TAG != 0 {
        return Err(ApiError::new(
            400,
            codes::TAG_REQUIRED,
            "A tag is required to create a forum post in this channel",
        ));
    }
    let bot = st.world.bot;
    let mut new = NewChannel::new(ChannelKind::PublicThread, name);
    new.parent_id = Some(forum);
    new.owner_id = Some(bot);
    new.thread_members = vec![bot];
    new.auto_archive_minutes = archive;
    new.applied_tags = applied;
    let tid = ops::create_channel(shared, st, new);
    // A post's first message has the post's id (the thread is "started" from it).
    let first = NewMessage {
        channel: tid,
        author: bot,
        body: &message,
        files: req.files,
        kind: None,
        interaction: None,
        extra_flags: 0,
        id: Some(MessageId(tid.0)),
    };
    let mid = ops::create_message(shared, st, first);
    let mut v = json::channel(&st.world, &st.world.channels[&tid]);
    v["message"] = json::message(&st.world, &st.world.messages[&mid]);
    Ok(Reply::Json(201, v))
}

/// `PATCH /channels/{thread}`: name, archive, lock, auto-archive, tags, invitable. An archived
/// thread accepts nothing unless the same request unarchives it.
pub(crate) fn edit_thread(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    tid: ChannelId,
) -> RestResult {
    let body = req.body();
    let t = &st.world.channels[&tid];
    let unarchives = body.get("archived").and_then(Value::as_bool) == Some(false);
    if t.archived && !unarchives {
        return Err(archived_error());
    }
    let mut errs = FormErrors::default();
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        check_name(name, &mut errs);
    }
    if let Some(a) = body.get("auto_archive_duration").and_then(Value::as_u64)
        && !AUTO_ARCHIVE_DURATIONS.contains(&a)
    {
        errs.add(
            &path(&["auto_archive_duration"]),
            "BASE_TYPE_CHOICES",
            "Value must be one of (60, 1440, 4320, 10080).",
        );
    }
    let parent = t.parent_id;
    let in_forum = parent
        .and_then(|p| st.world.channels.get(&p))
        .is_some_and(|p| p.kind == ChannelKind::Forum);
    let applied = match body.get("applied_tags").filter(|t| !t.is_null()) {
        Some(list) if in_forum => Some(check_applied(
            st,
            parent.expect("in a forum"),
            list,
            &mut errs,
        )),
        Some(_) => {
            errs.add(
                &path(&["applied_tags"]),
                "CHANNEL_TYPE_INVALID",
                "Only posts in forum channels have tags",
            );
            None
        }
        None => None,
    };
    errs.into_result()?;
    let now = shared.clock.utc();
    let t = st.world.channels.get_mut(&tid).expect("known");
    if let Some(name) = body.get("name").and_then(Value::as_str) {
        t.name = name.to_string();
    }
    if let Some(a) = body.get("auto_archive_duration").and_then(Value::as_u64) {
        t.auto_archive_minutes = a as u32;
        t.archive_changed_at = now;
    }
    if let Some(l) = body.get("locked").and_then(Value::as_bool) {
        t.locked = l;
    }
    if let Some(a) = body.get("archived").and_then(Value::as_bool)
        && a != t.archived
    {
        t.archived = a;
        t.archive_changed_at = now;
    }
    if let Some(i) = body.get("invitable").and_then(Value::as_bool) {
        t.invitable = i;
    }
    if let Some(f) = body.get("flags").and_then(Value::as_u64) {
        t.flags = f;
    }
    if let Some(tags) = applied {
        t.applied_tags = tags;
    }
    ops::channel_changed(st, tid, false);
    ok(json::channel(&st.world, &st.world.channels[&tid]))
}

fn archived_error() -> ApiError {
    ApiError::new(400, codes::ARCHIVED_THREAD, "Thread is archived")
}

/// Editing a message or reacting in an archived thread is refused (docs: topics/threads,
/// "Active & Archived Threads").
pub(crate) fn check_not_archived(st: &State, channel: ChannelId) -> Result<(), ApiError> {
    match st.world.channels.get(&channel) {
        Some(c) if c.kind.is_thread() && c.archived => Err(archived_error()),
        _ => Ok(()),
    }
}

/// Whether the bot may post here: an archived thread that a moderator locked stays closed
/// (sending would otherwise unarchive it).
pub(crate) fn check_postable(st: &State, channel: ChannelId) -> Result<(), ApiError> {
    match st.world.channels.get(&channel) {
        Some(c) if c.kind.is_thread() && c.archived && c.locked => Err(archived_error()),
        _ => Ok(()),
    }
}

fn known_thread(st: &State, c: &str) -> Result<ChannelId, ApiError> {
    let ch = known_channel(st, c)?;
    if !ch.kind.is_thread() {
        return Err(wrong_channel_type());
    }
    Ok(ch.id)
}

/// `PUT|DELETE|GET /channels/{thread}/thread-members/{user|@me}` and the list.
pub(crate) fn thread_members(
    st: &mut State,
    req: &Req<'_>,
    c: &str,
    who: Option<&str>,
) -> RestResult {
    let tid = known_thread(st, c)?;
    let Some(who) = who else {
        let with_member = req.query("with_member") == Some("true");
        let list: Vec<Value> = st.world.channels[&tid]
            .thread_members
            .iter()
            .map(|u| ops::thread_member(st, tid, *u, with_member))
            .collect();
        return ok(Value::Array(list));
    };
    let user = if who == "@me" {
        Some(st.world.bot)
    } else {
        id(who).map(UserId)
    }
    .filter(|u| st.world.members.contains_key(u))
    .ok_or_else(|| ApiError::not_found(codes::UNKNOWN_MEMBER, "Unknown Member"))?;
    match req.method {
        "GET" => {
            if !st.world.channels[&tid].thread_members.contains(&user) {
                return Err(ApiError::not_found(codes::UNKNOWN_MEMBER, "Unknown Member"));
            }
            ok(ops::thread_member(
                st,
                tid,
                user,
                req.query("with_member") == Some("true"),
            ))
        }
        "PUT" | "DELETE" => {
            if st.world.channels[&tid].archived {
                return Err(archived_error());
            }
            ops::set_thread_member(st, tid, user, req.method == "PUT");
            Ok(Reply::NoContent)
        }
        _ => Err(ApiError::new(405, 0, "405: Method Not Allowed")),
    }
}

/// `GET /guilds/{id}/threads/active`: every live, unarchived thread.
pub(crate) fn active_threads(st: &State) -> RestResult {
    let threads: Vec<_> = st
        .world
        .channels
        .values()
        .filter(|c| c.kind.is_thread() && !c.deleted && !c.archived)
        .collect();
    threads_page(st, threads)
}

/// `GET /channels/{id}/threads/archived/{public|private}`: newest archive first.
pub(crate) fn archived_threads(st: &State, c: &str, private: bool) -> RestResult {
    let parent = known_channel(st, c)?.id;
    let kind = if private {
        ChannelKind::PrivateThread
    } else {
        ChannelKind::PublicThread
    };
    let mut threads: Vec<_> = st
        .world
        .channels
        .values()
        .filter(|t| t.parent_id == Some(parent) && t.kind == kind && t.archived && !t.deleted)
        .collect();
    threads.sort_by_key(|t| std::cmp::Reverse(t.archive_changed_at));
    threads_page(st, threads)
}

fn threads_page(st: &State, threads: Vec<&crate::model::Channel>) -> RestResult {
    let bot = st.world.bot;
    let members: Vec<Value> = threads
        .iter()
        .filter(|t| t.thread_members.contains(&bot))
        .map(|t| ops::thread_member(st, t.id, bot, false))
        .collect();
    ok(json!({
        "threads": threads.iter().map(|t| json::channel(&st.world, t)).collect::<Vec<_>>(),
        "members": members,
        "has_more": false,
    }))
}
