//! Gateway discovery, users, the application, command registration, the guild, its members
//! and roles.

use serde_json::{Value, json};

use super::{Reply, Req, RestResult, ok};
use crate::api_error::{ApiError, FormErrors, codes};
use crate::config::intents;
use crate::gateway::Gate;
use crate::ids::{CommandId, GuildId, RoleId, UserId};
use crate::json;
use crate::model::{RegisteredCommand, Role};
use crate::ops;
use crate::state::{Shared, State};
use crate::validate;

pub(crate) fn id(s: &str) -> Option<u64> {
    s.parse().ok()
}

pub(crate) fn gateway(shared: &Shared) -> RestResult {
    ok(json!({"url": shared.ws_url}))
}

pub(crate) fn gateway_bot(shared: &Shared) -> RestResult {
    ok(json!({
        "url": shared.ws_url,
        "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1},
    }))
}

pub(crate) fn user(st: &State, which: &str) -> RestResult {
    let uid = if which == "@me" {
        Some(st.world.bot)
    } else {
        id(which).map(UserId)
    };
    match uid.filter(|u| st.world.users.contains_key(u)) {
        Some(u) => {
            let mut v = json::user(&st.world, u);
            if u == st.world.bot {
                v["verified"] = json!(true);
                v["mfa_enabled"] = json!(false);
                v["flags"] = json!(0);
            }
            ok(v)
        }
        None => Err(ApiError::not_found(codes::UNKNOWN_USER, "Unknown User")),
    }
}

pub(crate) fn application(shared: &Shared, st: &State) -> RestResult {
    let cfg = &shared.config;
    ok(json!({
        "id": cfg.application_id.to_string(),
        "name": cfg.bot_name,
        "icon": null,
        "description": "",
        "bot_public": false,
        "bot_require_code_grant": false,
        "verify_key": "0".repeat(64),
        "flags": 0,
        "owner": json::user(&st.world, st.world.owner_id),
        "bot": json::user(&st.world, st.world.bot),
        "team": null,
    }))
}

pub(crate) fn check_guild(st: &State, g: &str) -> Result<GuildId, ApiError> {
    match id(g) {
        Some(g) if g == st.world.guild_id.0 => Ok(GuildId(g)),
        _ => Err(ApiError::not_found(codes::UNKNOWN_GUILD, "Unknown Guild")),
    }
}

/// Turns what the bot sent into the stored command (Discord's defaults filled in).
fn command_json(
    shared: &Shared,
    body: &Value,
    id: CommandId,
    guild: Option<GuildId>,
    version: u64,
) -> Value {
    let mut v = body.clone();
    if !v.is_object() {
        v = json!({});
    }
    v["id"] = json!(id.to_string());
    v["application_id"] = json!(shared.config.application_id.to_string());
    v["version"] = json!(version.to_string());
    if v.get("type").is_none_or(Value::is_null) {
        v["type"] = json!(1);
    }
    if v.get("description").is_none_or(Value::is_null) {
        v["description"] = json!("");
    }
    if v.get("default_member_permissions").is_none() {
        v["default_member_permissions"] = Value::Null;
    }
    if v.get("nsfw").is_none() {
        v["nsfw"] = json!(false);
    }
    match guild {
        Some(g) => v["guild_id"] = json!(g.to_string()),
        None => {
            if v.get("dm_permission").is_none() {
                v["dm_permission"] = json!(true);
            }
        }
    }
    v
}

fn upsert(
    shared: &Shared,
    st: &mut State,
    body: &Value,
    guild: Option<GuildId>,
) -> (RegisteredCommand, bool) {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let kind = body.get("type").and_then(Value::as_u64).unwrap_or(1) as u8;
    let version = st.next_id(&shared.clock);
    let existing = st
        .world
        .commands
        .iter()
        .position(|c| c.guild_id == guild && c.name == name && c.kind == kind);
    let id = existing
        .map(|i| st.world.commands[i].id)
        .unwrap_or_else(|| CommandId(st.next_id(&shared.clock)));
    let cmd = RegisteredCommand {
        id,
        guild_id: guild,
        name,
        kind,
        version,
        json: command_json(shared, body, id, guild, version),
    };
    match existing {
        Some(i) => st.world.commands[i] = cmd.clone(),
        None => st.world.commands.push(cmd.clone()),
    }
    (cmd, existing.is_none())
}

pub(crate) fn commands(
    shared: &Shared,
    st: &mut State,
    req: &Req<'_>,
    app: &str,
    guild: Option<&str>,
    cmd: Option<&str>,
) -> RestResult {
    if id(app) != Some(shared.config.application_id) {
        return Err(ApiError::not_found(10002, "Unknown Application"));
    }
    let guild = match guild {
        Some(g) => Some(check_guild(st, g)?),
        None => None,
    };
    let in_scope = |c: &RegisteredCommand| c.guild_id == guild;
    match (req.method, cmd) {
        ("GET", None) => ok(Value::Array(
            st.world
                .commands
                .iter()
                .filter(|c| in_scope(c))
                .map(|c| c.json.clone())
                .collect(),
        )),
        ("PUT", None) => {
            let list = req.body().as_array().cloned().unwrap_or_default();
            let mut errs = FormErrors::default();
            validate::command_list(&list, &mut errs);
            errs.into_result()?;
            let keep: Vec<(String, u8)> = list
                .iter()
                .map(|c| {
                    (
                        c.get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                        c.get("type").and_then(Value::as_u64).unwrap_or(1) as u8,
                    )
                })
                .collect();
            st.world
                .commands
                .retain(|c| !in_scope(c) || keep.contains(&(c.name.clone(), c.kind)));
            let out: Vec<Value> = list
                .iter()
                .map(|c| upsert(shared, st, c, guild).0.json)
                .collect();
            ok(Value::Array(out))
        }
        ("POST", None) => {
            let mut errs = FormErrors::default();
            validate::command(req.body(), &[], &mut errs);
            errs.into_result()?;
            let (cmd, created) = upsert(shared, st, req.body(), guild);
            Ok(Reply::Json(if created { 201 } else { 200 }, cmd.json))
        }
        (method, Some(c)) => {
            let unknown = || {
                ApiError::not_found(
                    codes::UNKNOWN_APPLICATION_COMMAND,
                    "Unknown application command",
                )
            };
            let idx = st
                .world
                .commands
                .iter()
                .position(|x| in_scope(x) && Some(x.id.0) == id(c))
                .ok_or_else(unknown)?;
            match method {
                "GET" => ok(st.world.commands[idx].json.clone()),
                "DELETE" => {
                    st.world.commands.remove(idx);
                    Ok(Reply::NoContent)
                }
                "PATCH" => {
                    let mut merged = st.world.commands[idx].json.clone();
                    if let (Some(m), Some(b)) = (merged.as_object_mut(), req.body().as_object()) {
                        for (k, v) in b {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                    let mut errs = FormErrors::default();
                    validate::command(&merged, &[], &mut errs);
                    errs.into_result()?;
                    let version = st.next_id(&shared.clock);
                    let c = &mut st.world.commands[idx];
                    c.version = version;
                    c.name = merged
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    c.json = command_json(shared, &merged, c.id, guild, version);
                    ok(c.json.clone())
                }
                _ => Err(ApiError::new(405, 0, "405: Method Not Allowed")),
            }
        }
        _ => Err(ApiError::new(405, 0, "405: Method Not Allowed")),
    }
}

pub(crate) fn guild(st: &State, g: &str) -> RestResult {
    check_guild(st, g)?;
    ok(json::partial_guild(&st.world))
}

fn member_json(st: &State, u: UserId) -> Value {
    let mut v = json::member(&st.world, u, true);
    v["guild_id"] = json!(st.world.guild_id.to_string());
    v
}

pub(crate) fn members(st: &State, req: &Req<'_>, g: &str) -> RestResult {
    check_guild(st, g)?;
    let limit = req
        .query("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(1)
        .clamp(1, 1000);
    let after = req.query("after").and_then(id).unwrap_or(0);
    let list: Vec<Value> = st
        .world
        .members
        .keys()
        .filter(|u| u.0 > after)
        .take(limit)
        .map(|u| member_json(st, *u))
        .collect();
    ok(Value::Array(list))
}

fn known_member(st: &State, u: &str) -> Result<UserId, ApiError> {
    id(u)
        .map(UserId)
        .filter(|u| st.world.members.contains_key(u))
        .ok_or_else(|| ApiError::not_found(codes::UNKNOWN_MEMBER, "Unknown Member"))
}

pub(crate) fn member(st: &State, g: &str, u: &str) -> RestResult {
    check_guild(st, g)?;
    let u = known_member(st, u)?;
    ok(member_json(st, u))
}

pub(crate) fn edit_member(st: &mut State, req: &Req<'_>, g: &str, u: &str) -> RestResult {
    check_guild(st, g)?;
    let u = known_member(st, u)?;
    let body = req.body();
    if let Some(roles) = body.get("roles").and_then(Value::as_array) {
        let ids: Vec<RoleId> = roles
            .iter()
            .filter_map(|r| r.as_str().and_then(id).or(r.as_u64()))
            .map(RoleId)
            .collect();
        if ids.iter().any(|r| st.world.role(*r).is_none()) {
            return Err(ApiError::not_found(codes::UNKNOWN_ROLE, "Unknown Role"));
        }
        st.world.members.get_mut(&u).expect("known").roles = ids;
    }
    if let Some(nick) = body.get("nick") {
        st.world.members.get_mut(&u).expect("known").nick = nick.as_str().map(str::to_string);
    }
    ops::member_changed(st, u);
    ok(member_json(st, u))
}

pub(crate) fn member_role(st: &mut State, add: bool, g: &str, u: &str, r: &str) -> RestResult {
    check_guild(st, g)?;
    let u = known_member(st, u)?;
    let role = id(r)
        .map(RoleId)
        .filter(|r| st.world.role(*r).is_some())
        .ok_or_else(|| ApiError::not_found(codes::UNKNOWN_ROLE, "Unknown Role"))?;
    let m = st.world.members.get_mut(&u).expect("known");
    let had = m.roles.contains(&role);
    if add && !had {
        m.roles.push(role);
    } else if !add && had {
        m.roles.retain(|x| *x != role);
    }
    if add != had {
        ops::member_changed(st, u);
    }
    Ok(Reply::NoContent)
}

pub(crate) fn roles(st: &State, g: &str) -> RestResult {
    check_guild(st, g)?;
    ok(Value::Array(
        st.world
            .roles
            .iter()
            .map(|r| json::role(&st.world, r))
            .collect(),
    ))
}

pub(crate) fn create_role(shared: &Shared, st: &mut State, req: &Req<'_>, g: &str) -> RestResult {
    check_guild(st, g)?;
    let body = req.body();
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("new role")
        .to_string();
    let permissions = body
        .get("permissions")
        .and_then(|p| p.as_str().and_then(|s| s.parse().ok()).or(p.as_u64()))
        .unwrap_or(shared.config.everyone_permissions);
    let role = Role {
        id: RoleId(st.next_id(&shared.clock)),
        name,
        permissions,
        position: st.world.roles.len() as u16,
        managed: false,
    };
    st.world.roles.push(role.clone());
    let v = json::role(&st.world, &role);
    let d = json!({"guild_id": st.world.guild_id.to_string(), "role": v});
    st.gateway.dispatch(
        "GUILD_ROLE_CREATE",
        d,
        Gate {
            intent: intents::GUILDS,
            content_gated: false,
        },
    );
    ok(v)
}
