//! Turns a typed command line (`/incident open title:"Checkout is down" severity:SEV2`) into
//! the `data` of an INTERACTION_CREATE, using the commands the bot registered: option types,
//! subcommands, choices and bounds all come from the registration.

use serde_json::{Map, Value, json};

use crate::ids::{ChannelId, RoleId, UserId};
use crate::json;
use crate::model::{ChannelKind, RegisteredCommand, World};

/// Option types (docs: interactions/application-commands, "Application Command Option Type").
mod opt {
    pub const SUB_COMMAND: u64 = 1;
    pub const SUB_COMMAND_GROUP: u64 = 2;
    pub const STRING: u64 = 3;
    pub const INTEGER: u64 = 4;
    pub const BOOLEAN: u64 = 5;
    pub const USER: u64 = 6;
    pub const CHANNEL: u64 = 7;
    pub const ROLE: u64 = 8;
    pub const MENTIONABLE: u64 = 9;
    pub const NUMBER: u64 = 10;
    pub const ATTACHMENT: u64 = 11;
}

/// Splits on whitespace; `"..."` groups (also inside a token: `title:"a b"`), `\"` and `\\`
/// escape inside quotes.
pub(crate) fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut tokens = Vec::new();
    let mut cur = String::new();
    let mut in_token = false;
    let mut quoted = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                in_token = true;
            }
            '\\' if quoted => match chars.next() {
                Some(n) => cur.push(n),
                None => return Err(format!("command line ends with a backslash: {line}")),
            },
            c if c.is_whitespace() && !quoted => {
                if in_token {
                    tokens.push(std::mem::take(&mut cur));
                    in_token = false;
                }
            }
            c => {
                cur.push(c);
                in_token = true;
            }
        }
    }
    if quoted {
        return Err(format!("unbalanced quote in command line: {line}"));
    }
    if in_token {
        tokens.push(cur);
    }
    Ok(tokens)
}

/// The command a line names, from the registered ones (guild scope first, then global).
pub(crate) fn find_command<'a>(
    w: &'a World,
    line: &str,
    in_dm: bool,
) -> Result<(&'a RegisteredCommand, Vec<String>), String> {
    let tokens = tokenize(line)?;
    let Some(first) = tokens.first() else {
        return Err("empty command line".into());
    };
    let Some(name) = first.strip_prefix('/') else {
        return Err(format!("a command line starts with /name, got {first:?}"));
    };
    let mut candidates = w.commands.iter().filter(|c| c.kind == 1 && c.name == name);
    let found = if in_dm {
        candidates.find(|c| c.guild_id.is_none() && dm_allowed(c))
    } else {
        let all: Vec<&RegisteredCommand> = candidates.collect();
        all.iter()
            .find(|c| c.guild_id.is_some())
            .or(all.first())
            .copied()
    };
    match found {
        Some(c) => Ok((c, tokens[1..].to_vec())),
        None => {
            let known: Vec<String> = w
                .commands
                .iter()
                .filter(|c| c.kind == 1)
                .map(|c| format!("/{}", c.name))
                .collect();
            let scope = if in_dm { " usable in DMs" } else { "" };
            Err(format!(
                "no registered slash command /{name}{scope}; the bot registered: {}",
                if known.is_empty() {
                    "nothing".to_string()
                } else {
                    known.join(", ")
                }
            ))
        }
    }
}

fn dm_allowed(c: &RegisteredCommand) -> bool {
    match c.json.get("contexts").and_then(Value::as_array) {
        Some(ctx) => ctx.iter().any(|v| v.as_u64() == Some(1)),
        None => c
            .json
            .get("dm_permission")
            .and_then(Value::as_bool)
            .unwrap_or(true),
    }
}

fn options_of(v: &Value) -> &[Value] {
    v.get("options")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

fn kind_of(v: &Value) -> u64 {
    v.get("type").and_then(Value::as_u64).unwrap_or(0)
}

fn name_of(v: &Value) -> &str {
    v.get("name").and_then(Value::as_str).unwrap_or("")
}

/// What `build` produces.
pub(crate) struct Built {
    pub options: Vec<Value>,
    pub resolved: Map<String, Value>,
}

/// Builds `data.options` (nested for subcommands) and `data.resolved`. With `focus`, the option
/// written `name:` with an empty value is the focused one and gets `partial` as its value.
pub(crate) fn build(
    w: &World,
    cmd: &RegisteredCommand,
    args: &[String],
    focus: Option<&str>,
) -> Result<Built, String> {
    let mut level = options_of(&cmd.json);
    let mut path: Vec<(String, u64)> = Vec::new();
    let mut rest = args;
    loop {
        let subs: Vec<&Value> = level
            .iter()
            .filter(|o| matches!(kind_of(o), opt::SUB_COMMAND | opt::SUB_COMMAND_GROUP))
            .collect();
        if subs.is_empty() {
            break;
        }
        let names: Vec<&str> = subs.iter().map(|s| name_of(s)).collect();
        let where_ = describe(&cmd.name, &path);
        let Some(next) = rest.first().filter(|t| !t.contains(':')) else {
            return Err(format!("{where_} needs a subcommand: {}", names.join(", ")));
        };
        let Some(sub) = subs.iter().find(|s| name_of(s) == next.as_str()) else {
            return Err(format!(
                "{where_} has no subcommand {next:?}; it has: {}",
                names.join(", ")
            ));
        };
        path.push((next.clone(), kind_of(sub)));
        level = options_of(sub);
        rest = &rest[1..];
    }
    let where_ = describe(&cmd.name, &path);
    let mut given = Vec::new();
    let mut resolved = Map::new();
    for token in rest {
        let Some((name, raw)) = token.split_once(':') else {
            return Err(format!("{where_}: expected name:value, got {token:?}"));
        };
        let Some(spec) = level.iter().find(|o| name_of(o) == name) else {
            let known: Vec<&str> = level.iter().map(name_of).collect();
            return Err(format!(
                "{where_} has no option {name:?}; it has: {}",
                known.join(", ")
            ));
        };
        if given.iter().any(|g: &Value| g["name"] == name) {
            return Err(format!("{where_}: option {name:?} given twice"));
        }
        let kind = kind_of(spec);
        if let (Some(partial), true) = (focus, raw.is_empty()) {
            given.push(json!({"name": name, "type": kind, "value": partial, "focused": true}));
            continue;
        }
        let value = convert(w, spec, raw, &mut resolved)
            .map_err(|e| format!("{where_} option {name}: {e}"))?;
        given.push(json!({"name": name, "type": kind, "value": value}));
    }
    if focus.is_some() {
        if !given.iter().any(|g| g.get("focused").is_some()) {
            return Err(format!(
                "{where_}: no option is left empty (`name:`) to autocomplete"
            ));
        }
    } else {
        for o in level {
            let required = o.get("required").and_then(Value::as_bool).unwrap_or(false);
            if required && !given.iter().any(|g| g["name"] == name_of(o)) {
                return Err(format!(
                    "{where_}: required option {:?} is missing",
                    name_of(o)
                ));
            }
        }
    }
    // Discord sends options in the order the command declares them.
    given.sort_by_key(|g| {
        level
            .iter()
            .position(|o| name_of(o) == g["name"].as_str().unwrap_or(""))
    });
    let mut options = given;
    for (name, kind) in path.iter().rev() {
        options = vec![json!({"name": name, "type": kind, "options": options})];
    }
    Ok(Built { options, resolved })
}

fn describe(cmd: &str, path: &[(String, u64)]) -> String {
    let mut s = format!("/{cmd}");
    for (p, _) in path {
        s.push(' ');
        s.push_str(p);
    }
    s
}

fn snowflake_in(raw: &str, prefix: &str) -> Option<u64> {
    raw.strip_prefix(prefix)
        .and_then(|r| r.strip_suffix('>'))
        .and_then(|r| r.trim_start_matches('!').parse().ok())
        .or_else(|| raw.parse().ok())
}

fn resolve_user(w: &World, raw: &str) -> Option<UserId> {
    if let Some(id) = snowflake_in(raw, "<@") {
        return w.users.contains_key(&UserId(id)).then_some(UserId(id));
    }
    let name = raw.trim_start_matches('@');
    w.users.values().find(|u| u.name == name).map(|u| u.id)
}

fn resolve_role(w: &World, raw: &str) -> Option<RoleId> {
    if let Some(id) = snowflake_in(raw, "<@&") {
        return w.role(RoleId(id)).map(|r| r.id);
    }
    let name = raw.trim_start_matches('@');
    w.roles
        .iter()
        .find(|r| r.name == name || r.name == raw)
        .map(|r| r.id)
}

fn resolve_channel(w: &World, raw: &str) -> Option<ChannelId> {
    if let Some(id) = snowflake_in(raw, "<#") {
        return w.channel(ChannelId(id)).map(|c| c.id);
    }
    let name = raw.trim_start_matches('#');
    w.channels
        .values()
        .rev()
        .find(|c| !c.deleted && c.kind != ChannelKind::Dm && c.name == name)
        .map(|c| c.id)
}

pub(crate) fn add_resolved(resolved: &mut Map<String, Value>, group: &str, id: String, v: Value) {
    resolved.entry(group).or_insert_with(|| json!({}))[id] = v;
}

pub(crate) fn resolved_user(w: &World, u: UserId, resolved: &mut Map<String, Value>) {
    add_resolved(resolved, "users", u.to_string(), json::user(w, u));
    if w.members.contains_key(&u) {
        let mut m = json::member(w, u, false);
        m["permissions"] = json!(w.member_permissions(u).to_string());
        add_resolved(resolved, "members", u.to_string(), m);
    }
}

fn convert(
    w: &World,
    spec: &Value,
    raw: &str,
    resolved: &mut Map<String, Value>,
) -> Result<Value, String> {
    let kind = kind_of(spec);
    let value = match kind {
        opt::STRING => json!(raw),
        opt::INTEGER => json!(
            raw.parse::<i64>()
                .map_err(|_| format!("{raw:?} is not an integer"))?
        ),
        opt::NUMBER => json!(
            raw.parse::<f64>()
                .map_err(|_| format!("{raw:?} is not a number"))?
        ),
        opt::BOOLEAN => match raw.to_ascii_lowercase().as_str() {
            "true" | "yes" => json!(true),
            "false" | "no" => json!(false),
            _ => return Err(format!("{raw:?} is not true or false")),
        },
        opt::USER => {
            let u = resolve_user(w, raw).ok_or_else(|| format!("no user {raw:?}"))?;
            resolved_user(w, u, resolved);
            json!(u.to_string())
        }
        opt::ROLE => {
            let r = resolve_role(w, raw).ok_or_else(|| format!("no role {raw:?}"))?;
            add_resolved(
                resolved,
                "roles",
                r.to_string(),
                json::role(w, w.role(r).expect("resolved")),
            );
            json!(r.to_string())
        }
        opt::MENTIONABLE => {
            if let Some(r) = resolve_role(w, raw) {
                add_resolved(
                    resolved,
                    "roles",
                    r.to_string(),
                    json::role(w, w.role(r).expect("resolved")),
                );
                json!(r.to_string())
            } else {
                let u = resolve_user(w, raw).ok_or_else(|| format!("no user or role {raw:?}"))?;
                resolved_user(w, u, resolved);
                json!(u.to_string())
            }
        }
        opt::CHANNEL => {
            let c = resolve_channel(w, raw).ok_or_else(|| format!("no channel {raw:?}"))?;
            let ch = w.channel(c).expect("resolved");
            if let Some(types) = spec.get("channel_types").and_then(Value::as_array)
                && !types.is_empty()
                && !types
                    .iter()
                    .any(|t| t.as_u64() == Some(ch.kind.code() as u64))
            {
                return Err(format!(
                    "channel #{} has type {}, the option allows {types:?}",
                    ch.name,
                    ch.kind.code()
                ));
            }
            let mut v = json!({"id": c.to_string(), "name": ch.name, "type": ch.kind.code(), "permissions": crate::config::permissions::ALL.to_string()});
            if let Some(p) = ch.parent_id {
                v["parent_id"] = json!(p.to_string());
            }
            add_resolved(resolved, "channels", c.to_string(), v);
            json!(c.to_string())
        }
        opt::ATTACHMENT => return Err("attachment options are not supported by the driver".into()),
        other => return Err(format!("option type {other} cannot take a value")),
    };
    check_choices_and_bounds(spec, raw, value)
}

fn check_choices_and_bounds(spec: &Value, raw: &str, value: Value) -> Result<Value, String> {
    let choices = spec
        .get("choices")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if !choices.is_empty() {
        let by_value = choices.iter().find(|c| {
            c.get("value")
                .is_some_and(|v| v == &value || v.as_str() == Some(raw) || *v == raw)
        });
        let by_name = || {
            choices.iter().find(|c| {
                c.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.eq_ignore_ascii_case(raw))
            })
        };
        return match by_value.or_else(by_name) {
            Some(c) => Ok(c["value"].clone()),
            None => {
                let names: Vec<String> = choices
                    .iter()
                    .map(|c| format!("{} ({})", c["name"].as_str().unwrap_or(""), c["value"]))
                    .collect();
                Err(format!(
                    "{raw:?} is not one of the choices: {}",
                    names.join(", ")
                ))
            }
        };
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = spec.get("min_value").and_then(Value::as_f64)
            && n < min
        {
            return Err(format!("{raw} is below min_value {min}"));
        }
        if let Some(max) = spec.get("max_value").and_then(Value::as_f64)
            && n > max
        {
            return Err(format!("{raw} is above max_value {max}"));
        }
    }
    if let Some(s) = value.as_str().filter(|_| kind_of(spec) == opt::STRING) {
        let n = s.chars().count() as u64;
        if let Some(min) = spec.get("min_length").and_then(Value::as_u64)
            && n < min
        {
            return Err(format!("{raw:?} is shorter than min_length {min}"));
        }
        if let Some(max) = spec.get("max_length").and_then(Value::as_u64)
            && n > max
        {
            return Err(format!("{raw:?} is longer than max_length {max}"));
        }
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::tokenize;

    #[test]
    fn quotes_group_words_inside_a_token() {
        let t =
            tokenize(r#"/incident open title:"Checkout is down" severity:SEV2 note:"say \"hi\"""#)
                .unwrap();
        assert_eq!(
            t,
            vec![
                "/incident",
                "open",
                "title:Checkout is down",
                "severity:SEV2",
                "note:say \"hi\""
            ]
        );
        assert!(tokenize(r#"/x a:"open"#).is_err());
        assert_eq!(tokenize("/x a: b").unwrap(), vec!["/x", "a:", "b"]);
    }
}
