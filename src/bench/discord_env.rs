//! The environment that points warroom at the project's Discord emulator, set the way an
//! operator would (the token variable and `WARROOM__` overrides). Shared by the benchmarks that
//! go through Discord and by the tests.

use std::path::Path;

use crate::config::Environment;
use discord_emulator::{ChannelId, Emulator, RoleId};

/// `roles` pairs a bot role name (`responder`, `dba`, …) with the emulator role granting it.
pub fn environment(
    emu: &Emulator,
    category: ChannelId,
    announce: ChannelId,
    roles: &[(&str, RoleId)],
    commands_dir: &Path,
) -> Environment {
    let quoted = |id: u64| format!("\"{id}\"");
    let mut pairs = vec![
        (
            "WARROOM_DISCORD_TOKEN".to_owned(),
            emu.config().bot_token.clone(),
        ),
        ("WARROOM__DISCORD__API_BASE".to_owned(), emu.api_base()),
        (
            "WARROOM__DISCORD__APPLICATION_ID".to_owned(),
            quoted(emu.config().application_id),
        ),
        (
            "WARROOM__DISCORD__GUILD_ID".to_owned(),
            quoted(emu.guild_id().get()),
        ),
        (
            "WARROOM__DISCORD__INCIDENT_CATEGORY_ID".to_owned(),
            quoted(category.get()),
        ),
        (
            "WARROOM__DISCORD__ANNOUNCE_CHANNEL_ID".to_owned(),
            quoted(announce.get()),
        ),
        (
            "WARROOM__COMMANDS__DIR".to_owned(),
            commands_dir.display().to_string(),
        ),
    ];
    for (name, role) in roles {
        pairs.push((
            format!("WARROOM__ROLES__{}", name.to_ascii_uppercase()),
            format!("[{}]", quoted(role.get())),
        ));
    }
    Environment::from_pairs(pairs)
}
