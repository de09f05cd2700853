//! Guild scheduled events: create, list, get, modify (including status changes), delete, with
//! Discord's field rules by entity type and its status transitions
//! (docs: resources/guild-scheduled-event).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::app::id;
use super::channels::snowflake_field;
use super::{Reply, Req, RestResult, ok};
use crate::api_error::{ApiError, FormErrors, codes, path};
use crate::config::intents;
use crate::gateway::Gate;
use crate::ids::{ChannelId, ScheduledEventId};
use crate::json;
use crate::model::{ScheduledEvent, ScheduledEventStatus};
use crate::state::{Shared, State};
use crate::validate::{
    SCHEDULED_EVENT_DESCRIPTION_LIMIT, SCHEDULED_EVENT_LOCATION_LIMIT, SCHEDULED_EVENT_NAME_LIMIT,
    SCHEDULED_EVENTS_LIMIT,
};

/// Entity type of an event that happens somewhere else (the only kind the emulator can host:
/// it has no voice or stage channels).
const EXTERNAL: u8 = 3;
/// The only privacy level Discord accepts.
const GUILD_ONLY: u8 = 2;

fn check_guild(st: &State, g: &str) -> Result<(), ApiError> {
    if id(g) != Some(st.world.guild_id.0) {
        return Err(ApiError::not_found(codes::UNKNOWN_GUILD, "Unknown Guild"));
    }
    Ok(())
}

fn unknown_event() -> ApiError {
    ApiError::not_found(
        codes::UNKNOWN_SCHEDULED_EVENT,
        "Unknown Guild Scheduled Event",
    )
}

fn known_event(st: &State, e: &str) -> Result<ScheduledEventId, ApiError> {
    id(e)
        .map(ScheduledEventId)
        .filter(|e| st.world.scheduled_events.get(e).is_some_and(|e| !e.deleted))
        .ok_or_else(unknown_event)
}

fn event_json(st: &State, e: &ScheduledEvent, with_count: bool) -> Value {
    let mut v = json::scheduled_event(&st.world, e);
    if with_count {
        v["user_count"] = json!(0);
    }
    v
}

fn time(v: &Value, key: &str, errs: &mut FormErrors) -> Option<Option<DateTime<Utc>>> {
    match v.get(key)? {
        Value::Null => Some(None),
        Value::String(s) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => Some(Some(t.with_timezone(&Utc))),
            Err(_) => {
                errs.add(
                    &path(&[key]),
                    "DATE_TIME_TYPE_CONVERT",
                    "Could not parse the timestamp. Should be ISO8601.",
                );
                Some(None)
            }
        },
        _ => {
            errs.add(
                &path(&[key]),
                "DATE_TIME_TYPE_CONVERT",
                "Could not parse the timestamp. Should be ISO8601.",
            );
            Some(None)
        }
    }
}

/// Applies a create or modify body onto `e` and checks the result as a whole: the field
/// requirements by entity type, lengths, and that a scheduled event starts in the future and
/// ends after it starts.
fn apply(
    shared: &Shared,
    st: &State,
    e: &mut ScheduledEvent,
    body: &Value,
    creating: bool,
) -> Result<(), ApiError> {
    let mut errs = FormErrors::default();
    if !body.is_object() {
        errs.add(&[], "DICT_TYPE_CONVERT", "Only dictionaries may be used.");
        return errs.into_result();
    }
    if let Some(n) = body.get("name") {
        e.name = n.as_str().unwrap_or("").to_string();
    }
    if let Some(d) = body.get("description") {
        e.description = d.as_str().map(str::to_string).filter(|d| !d.is_empty());
    }
    if let Some(p) = body.get("privacy_level") {
        e.privacy_level = p.as_u64().unwrap_or(0) as u8;
    }
    if let Some(t) = body.get("entity_type") {
        e.entity_type = t.as_u64().unwrap_or(0) as u8;
    }
    if let Some(c) = snowflake_field(body, "channel_id") {
        e.channel_id = c.map(ChannelId);
    }
    if let Some(m) = body.get("entity_metadata") {
        e.location = m
            .get("location")
            .and_then(Value::as_str)
            .map(str::to_string);
    }
    let start = time(body, "scheduled_start_time", &mut errs);
    if let Some(Some(s)) = start {
        e.start = s;
    }
    if let Some(end) = time(body, "scheduled_end_time", &mut errs) {
        e.end = end;
    }
    if let Some(img) = body.get("image") {
        e.image = img.as_str().map(|_| format!("emulator-image-{}", e.id));
    }
    let len = |s: &str| s.chars().count();
    if e.name.is_empty() || len(&e.name) > SCHEDULED_EVENT_NAME_LIMIT {
        errs.add(
            &path(&["name"]),
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between 1 and {SCHEDULED_EVENT_NAME_LIMIT} in length."),
        );
    }
    if e.description
        .as_deref()
        .is_some_and(|d| len(d) > SCHEDULED_EVENT_DESCRIPTION_LIMIT)
    {
        errs.add(
            &path(&["description"]),
            "BASE_TYPE_BAD_LENGTH",
            format!("Must be between 1 and {SCHEDULED_EVENT_DESCRIPTION_LIMIT} in length."),
        );
    }
    if e.privacy_level != GUILD_ONLY {
        errs.add(
            &path(&["privacy_level"]),
            "BASE_TYPE_CHOICES",
            "Value must be one of (2,).",
        );
    }
    if creating && start.is_none() {
        errs.add(
            &path(&["scheduled_start_time"]),
            "BASE_TYPE_REQUIRED",
            "This field is required",
        );
    }
    match e.entity_type {
        EXTERNAL => {
            if e.channel_id.is_some() {
                errs.add(
                    &path(&["channel_id"]),
                    "GUILD_SCHEDULED_EVENT_CHANNEL_ID_NOT_NULL",
                    "channel_id must be null for external events",
                );
            }
            match e.location.as_deref() {
                Some(l) if !l.is_empty() && len(l) <= SCHEDULED_EVENT_LOCATION_LIMIT => {}
                Some(_) => errs.add(
                    &path(&["entity_metadata", "location"]),
                    "BASE_TYPE_BAD_LENGTH",
                    format!("Must be between 1 and {SCHEDULED_EVENT_LOCATION_LIMIT} in length."),
                ),
                None => errs.add(
                    &path(&["entity_metadata", "location"]),
                    "BASE_TYPE_REQUIRED",
                    "This field is required",
                ),
            }
            if e.end.is_none() {
                errs.add(
                    &path(&["scheduled_end_time"]),
                    "BASE_TYPE_REQUIRED",
                    "This field is required for external events",
                );
            }
        }
        1 | 2 => {
            // Stage and voice events need a stage or voice channel; the emulator has none.
            let known = e.channel_id.is_some_and(|c| st.world.channel(c).is_some());
            errs.add(
                &path(&["channel_id"]),
                if known {
                    "GUILD_SCHEDULED_EVENT_CHANNEL_TYPE_INVALID"
                } else {
                    "BASE_TYPE_REQUIRED"
                },
                "Stage and voice events need a stage or voice channel",
            );
        }
        _ => errs.add(
            &path(&["entity_type"]),
            "BASE_TYPE_CHOICES",
            "Value must be one of (1, 2, 3).",
        ),
    }
    let now = shared.clock.utc();
    let start_changed = matches!(start, Some(Some(_)));
    if e.status == ScheduledEventStatus::Scheduled && start_changed && e.start <= now {
        errs.add(
            &path(&["scheduled_start_time"]),
            "GUILD_SCHEDULED_EVENT_SCHEDULE_PAST",
            "Cannot schedule event in the past.",
        );
    }
    if let Some(end) = e.end
        && end <= e.start
    {
        errs.add(
            &path(&["scheduled_end_time"]),
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
            "Cannot schedule event to end before starting.",
        );
    }
    errs.into_result()
}

fn dispatch(st: &mut State, name: &str, e: ScheduledEventId) {
    let v = json::scheduled_event(&st.world, &st.world.scheduled_events[&e]);
    st.gateway
        .dispatch(name, v, Gate::intent(intents::GUILD_SCHEDULED_EVENTS));
}

/// `GET|POST /guilds/{id}/scheduled-events`.
pub(crate) fn list_or_create(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    g: &str,
) -> RestResult {
    check_guild(st, g)?;
    if req.method == "GET" {
        let with_count = req.query("with_user_count") == Some("true");
        let list: Vec<Value> = st
            .world
            .scheduled_events
            .values()
            .filter(|e| !e.deleted && !e.status.is_finished())
            .map(|e| event_json(st, e, with_count))
            .collect();
        return ok(Value::Array(list));
    }
    if req.method != "POST" {
        return Err(ApiError::new(405, 0, "405: Method Not Allowed"));
    }
    let open = st
        .world
        .scheduled_events
        .values()
        .filter(|e| !e.deleted && !e.status.is_finished())
        .count();
    if open >= SCHEDULED_EVENTS_LIMIT {
        return Err(ApiError::new(
            400,
            codes::MAX_SCHEDULED_EVENTS,
            "Maximum number of uncompleted guild scheduled events reached (100)",
        ));
    }
    let now = shared.clock.utc();
    let mut e = ScheduledEvent {
        id: ScheduledEventId(st.next_id(&shared.clock)),
        name: String::new(),
        description: None,
        start: now,
        end: None,
        status: ScheduledEventStatus::Scheduled,
        entity_type: 0,
        location: None,
        channel_id: None,
        privacy_level: 0,
        creator: st.world.bot,
        image: None,
        created_at: now,
        deleted: false,
        changes: Vec::new(),
    };
    apply(shared, st, &mut e, req.body(), true)?;
    let eid = e.id;
    st.world.scheduled_events.insert(eid, e);
    dispatch(st, "GUILD_SCHEDULED_EVENT_CREATE", eid);
    ok(event_json(st, &st.world.scheduled_events[&eid], false))
}

/// `GET|PATCH|DELETE /guilds/{id}/scheduled-events/{event}` and `.../users`.
pub(crate) fn one(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    g: &str,
    e: &str,
    users: bool,
) -> RestResult {
    check_guild(st, g)?;
    let eid = known_event(st, e)?;
    if users {
        return ok(json!([]));
    }
    match req.method {
        "GET" => ok(event_json(
            st,
            &st.world.scheduled_events[&eid],
            req.query("with_user_count") == Some("true"),
        )),
        "PATCH" => {
            let current = st.world.scheduled_events[&eid].clone();
            if current.status.is_finished() {
                return Err(ApiError::new(
                    400,
                    codes::FINISHED_EVENT,
                    "Cannot update a finished event",
                ));
            }
            let body = req.body();
            let mut next = current.clone();
            apply(shared, st, &mut next, body, false)?;
            if let Some(s) = body.get("status") {
                let to = s.as_u64().and_then(ScheduledEventStatus::from_code);
                let allowed = to.is_some_and(|to| transition_allowed(current.status, to));
                if !allowed {
                    let mut errs = FormErrors::default();
                    errs.add(
                        &path(&["status"]),
                        "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION",
                        format!(
                            "Cannot go from {:?} to {s}: Discord allows SCHEDULED -> ACTIVE, ACTIVE -> COMPLETED and SCHEDULED -> CANCELED",
                            current.status
                        ),
                    );
                    return Err(errs.into_result().unwrap_err());
                }
                next.status = to.expect("checked");
            }
            next.changes.push(body.clone());
            st.world.scheduled_events.insert(eid, next);
            dispatch(st, "GUILD_SCHEDULED_EVENT_UPDATE", eid);
            ok(event_json(st, &st.world.scheduled_events[&eid], false))
        }
        "DELETE" => {
            st.world
                .scheduled_events
                .get_mut(&eid)
                .expect("known")
                .deleted = true;
            dispatch(st, "GUILD_SCHEDULED_EVENT_DELETE", eid);
            Ok(Reply::NoContent)
        }
        _ => Err(ApiError::new(405, 0, "405: Method Not Allowed")),
    }
}

/// Discord's valid transitions (a status "changed" to itself is accepted as no change).
fn transition_allowed(from: ScheduledEventStatus, to: ScheduledEventStatus) -> bool {
    use ScheduledEventStatus::*;
    from == to
        || matches!(
            (from, to),
            (Scheduled, Active) | (Active, Completed) | (Scheduled, Canceled)
        )
}
