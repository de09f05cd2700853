//! `[discord]`: the bot's token (from the environment), the guild, where incident rooms go,
//! the announce channel, and the API base a test or proxy may point elsewhere; and what the
//! Discord setup still lacks, for `warroom check`.

use secrecy::SecretString;
use serde::Deserialize;

use super::Config;
use super::load::{Environment, Loader, Snowflake, is_env_var_name};
use crate::domain::bot_roles;

#[derive(Clone, Debug)]
pub struct DiscordConfig {
    /// The name of the environment variable holding the bot token.
    pub token_env: String,
    /// The token itself, read from `token_env` at load time; `None` disables Discord.
    pub token: Option<SecretString>,
    pub application_id: Option<u64>,
    pub guild_id: Option<u64>,
    pub incident_category_id: Option<u64>,
    pub incident_thread_channel_id: Option<u64>,
    pub announce_channel_id: Option<u64>,
    /// Discord's base URL, without a trailing slash. Tests point it at the emulator.
    pub api_base: String,
    /// How long one renewal of the gateway lease holds: after the holder dies, the longest a
    /// standby waits before taking over (it renews every quarter of this).
    pub gateway_lease: std::time::Duration,
    /// A forum channel: each incident is a post in it whose tags show severity and status (the
    /// third placement, beside a category and a thread channel).
    pub incident_forum_channel_id: Option<u64>,
    /// Where a resolved incident's channel moves when it is archived (`archive_after`).
    pub archive_category_id: Option<u64>,
    /// How long after resolution an incident's channel (or thread, or post) is archived and
    /// locked; `None` (written "off") keeps it open.
    pub archive_after: Option<std::time::Duration>,
    /// What the announce channel says about a private incident.
    pub private_announcement: PrivateAnnouncement,
}

/// What the announce channel gets for a private incident (`[discord] private_announcement`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivateAnnouncement {
    /// Nothing at all.
    Nothing,
    /// One line without content: that a private incident was opened, nothing about it.
    Line,
}

/// `archive_after` when not configured: a week after resolution (issue 14), long enough for
/// the review to happen in the channel.
pub const ARCHIVE_AFTER_DEFAULT: &str = "7d";

/// The shortest and longest `gateway_lease`: renewals every quarter of it must stay well
/// above a database round trip, and a failover much longer than this leaves Discord unanswered.
pub const GATEWAY_LEASE_MIN: std::time::Duration = std::time::Duration::from_secs(1);
pub const GATEWAY_LEASE_MAX: std::time::Duration = std::time::Duration::from_secs(60);

#[derive(Deserialize)]
#[serde(default)]
struct RawDiscord {
    token_env: String,
    application_id: Snowflake,
    guild_id: Snowflake,
    incident_category_id: Snowflake,
    incident_thread_channel_id: Snowflake,
    announce_channel_id: Snowflake,
    api_base: String,
    gateway_lease: String,
    incident_forum_channel_id: Snowflake,
    archive_category_id: Snowflake,
    archive_after: String,
    private_announcement: String,
}

impl Default for RawDiscord {
    fn default() -> RawDiscord {
        RawDiscord {
            token_env: "WARROOM_DISCORD_TOKEN".to_owned(),
            application_id: Snowflake::default(),
            guild_id: Snowflake::default(),
            incident_category_id: Snowflake::default(),
            incident_thread_channel_id: Snowflake::default(),
            announce_channel_id: Snowflake::default(),
            api_base: "https://discord.com".to_owned(),
            gateway_lease: "4s".to_owned(),
            incident_forum_channel_id: Snowflake::default(),
            archive_category_id: Snowflake::default(),
            archive_after: ARCHIVE_AFTER_DEFAULT.to_owned(),
            private_announcement: "nothing".to_owned(),
        }
    }
}

impl Loader {
    pub(super) fn build_discord(
        &mut self,
        raw: Option<toml::Value>,
        env: &Environment,
    ) -> DiscordConfig {
        let raw: RawDiscord = self.section("discord", raw);
        let path = |key: &str| vec!["discord".to_owned(), key.to_owned()];
        if !is_env_var_name(&raw.token_env) {
            self.problem(
                &path("token_env"),
                // The value is not repeated: when this fails, it is often the token itself.
                "must name an environment variable (A-Z, 0-9 and _); the token itself never goes in this file, only the name of the variable that holds it, e.g. WARROOM_DISCORD_TOKEN",
            );
        }
        let token = env
            .get(&raw.token_env)
            .filter(|token| !token.trim().is_empty())
            .map(|token| SecretString::from(token.trim().to_owned()));
        let mut id = |key: &str, value: &Snowflake| match value.parse() {
            Ok(id) => id,
            Err(message) => {
                self.problem(&path(key), message);
                None
            }
        };
        let application_id = id("application_id", &raw.application_id);
        let guild_id = id("guild_id", &raw.guild_id);
        let incident_category_id = id("incident_category_id", &raw.incident_category_id);
        let incident_thread_channel_id = id(
            "incident_thread_channel_id",
            &raw.incident_thread_channel_id,
        );
        let announce_channel_id = id("announce_channel_id", &raw.announce_channel_id);
        let incident_forum_channel_id =
            id("incident_forum_channel_id", &raw.incident_forum_channel_id);
        let archive_category_id = id("archive_category_id", &raw.archive_category_id);
        if incident_category_id.is_some() && incident_thread_channel_id.is_some() {
            self.problem(
                &path("incident_thread_channel_id"),
                "set either incident_category_id (a channel per incident) or incident_thread_channel_id (a thread per incident), not both",
            );
        }
        if incident_forum_channel_id.is_some() && incident_thread_channel_id.is_some() {
            self.problem(
                &path("incident_forum_channel_id"),
                "set either incident_thread_channel_id (a thread per incident) or incident_forum_channel_id (a forum post per incident), not both",
            );
        }
        let archive_after = self.archive_after(&raw.archive_after);
        let private_announcement = self.private_announcement(&raw.private_announcement);
        let api_base = raw.api_base.trim_end_matches('/').to_owned();
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            self.problem(
                &path("api_base"),
                format!(
                    "`{}` is not an http(s) URL; the default is https://discord.com",
                    raw.api_base
                ),
            );
        }
        let gateway_lease = self.duration(&path("gateway_lease"), &raw.gateway_lease, false);
        if !(GATEWAY_LEASE_MIN..=GATEWAY_LEASE_MAX).contains(&gateway_lease) {
            self.problem(
                &path("gateway_lease"),
                "must be between 1s and 60s: a standby takes over this long after the gateway holder dies",
            );
        }
        DiscordConfig {
            gateway_lease: gateway_lease.clamp(GATEWAY_LEASE_MIN, GATEWAY_LEASE_MAX),
            token_env: raw.token_env,
            token,
            application_id,
            guild_id,
            incident_category_id,
            incident_thread_channel_id,
            announce_channel_id,
            api_base,
            incident_forum_channel_id,
            archive_category_id,
            archive_after,
            private_announcement,
        }
    }

    /// `private_announcement`: "nothing" or "line".
    fn private_announcement(&mut self, text: &str) -> PrivateAnnouncement {
        match text {
            "nothing" => PrivateAnnouncement::Nothing,
            "line" => PrivateAnnouncement::Line,
            other => {
                self.problem(
                    &["discord".to_owned(), "private_announcement".to_owned()],
                    format!("`{other}` is not a choice; write \"nothing\" (the announce channel says nothing about private incidents) or \"line\" (one line without any detail)"),
                );
                PrivateAnnouncement::Nothing
            }
        }
    }

    /// `archive_after`: a duration, or "off" to keep resolved incidents' channels open.
    fn archive_after(&mut self, text: &str) -> Option<std::time::Duration> {
        if text.trim() == "off" {
            return None;
        }
        let path = vec!["discord".to_owned(), "archive_after".to_owned()];
        let after = self.duration(&path, text, false);
        (!after.is_zero()).then_some(after)
    }
}
impl Config {
    /// Parts of the Discord setup that are still missing (empty when Discord is ready to go).
    /// Not errors: warroom runs without Discord, and `warroom check` lists these as to-dos.
    pub fn discord_setup_gaps(&self) -> Vec<String> {
        let discord = &self.discord;
        let mut gaps = Vec::new();
        if discord.token.is_none() {
            gaps.push(format!(
                "the bot token: set the environment variable {} (Discord developer portal → your application → Bot → Reset Token)",
                discord.token_env
            ));
        }
        if discord.application_id.is_none() {
            gaps.push("[discord] application_id (developer portal → General Information → Application ID)".to_owned());
        }
        if discord.guild_id.is_none() {
            gaps.push("[discord] guild_id (Discord → Settings → Advanced → Developer Mode, then right-click the server → Copy Server ID)".to_owned());
        }
        if discord.incident_category_id.is_none()
            && discord.incident_thread_channel_id.is_none()
            && discord.incident_forum_channel_id.is_none()
        {
            gaps.push("[discord] incident_category_id, incident_thread_channel_id or incident_forum_channel_id (right-click the category or channel → Copy Channel ID)".to_owned());
        }
        if discord.announce_channel_id.is_none() {
            gaps.push(
                "[discord] announce_channel_id (right-click the channel → Copy Channel ID)"
                    .to_owned(),
            );
        }
        for role in [
            bot_roles::RESPONDER,
            bot_roles::INCIDENT_COMMANDER,
            bot_roles::ADMIN,
        ] {
            if self.roles.get(role).is_none_or(Vec::is_empty) {
                gaps.push(format!("[roles] {role}: no Discord role id grants it yet, so nobody can use the commands that need it (Server Settings → Roles → right-click → Copy Role ID)"));
            }
        }
        gaps
    }
}
