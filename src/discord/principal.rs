//! Who is asking, from what Discord says about them: ids for permissions, names for people.

use serenity::all::{Member, PartialMember, User};

use crate::config::Config;
use crate::domain::Actor;
use crate::ops::Principal;

/// The name people know them by here: server nickname, then global display name, then
/// username. Only shown, never checked.
pub(crate) fn display_name(user: &User, nick: Option<&str>) -> String {
    nick.or(user.global_name.as_deref())
        .unwrap_or(&user.name)
        .to_owned()
}

pub(crate) fn actor(user: &User, nick: Option<&str>) -> Actor {
    Actor::discord(user.id.get(), display_name(user, nick))
}

/// A guild member: bot roles from their role ids through `[roles]`. Outside a guild (a DM)
/// there are no role ids, so no bot roles.
pub(crate) fn from_member(config: &Config, user: &User, member: Option<&Member>) -> Principal {
    let role_ids: Vec<u64> = member
        .map(|member| member.roles.iter().map(|role| role.get()).collect())
        .unwrap_or_default();
    let nick = member.and_then(|member| member.nick.as_deref());
    Principal::from_discord_roles(actor(user, nick), &role_ids, &config.roles)
}

/// The same for a partial member (as in message events): used for names only.
pub(crate) fn message_author(user: &User, member: Option<&PartialMember>) -> Actor {
    actor(user, member.and_then(|member| member.nick.as_deref()))
}
