//! Typed snowflake ids and the generator that hands them out in increasing order.

use std::fmt;

use chrono::{DateTime, Utc};

/// Discord's epoch (2015-01-01T00:00:00Z) in Unix milliseconds: snowflakes count from it, and
/// serenity's `created_at()` decodes our ids with it, so ids made here carry plausible timestamps.
pub const DISCORD_EPOCH_MS: i64 = 1_420_070_400_000;

macro_rules! snowflake {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub u64);

        impl $name {
            /// The raw snowflake.
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}", self.0)
            }
        }

        impl From<u64> for $name {
            fn from(raw: u64) -> Self {
                Self(raw)
            }
        }
    )*};
}

snowflake!(
    /// A user (a member, the bot, a DM recipient).
    UserId,
    /// A guild role; the `@everyone` role has the guild's id.
    RoleId,
    /// Any channel: text, category, thread or DM.
    ChannelId,
    /// A message in a channel.
    MessageId,
    /// An interaction (command, component click, autocomplete, modal submit).
    InteractionId,
    /// A registered application command.
    CommandId,
    /// An uploaded file.
    AttachmentId,
    /// The guild.
    GuildId,
    /// A guild scheduled event.
    ScheduledEventId,
    /// A tag of a forum channel.
    ForumTagId,
);

/// Hands out snowflakes derived from the emulator's clock, strictly increasing even when many
/// are made in the same millisecond (Discord's ids sort by creation; bots rely on it for `after=`).
#[derive(Debug, Default)]
pub(crate) struct Snowflakes {
    last: u64,
}

impl Snowflakes {
    pub(crate) fn next(&mut self, now: DateTime<Utc>) -> u64 {
        let ms = (now.timestamp_millis() - DISCORD_EPOCH_MS).max(0) as u64;
        let candidate = ms << 22;
        self.last = candidate.max(self.last + 1);
        self.last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snowflakes_increase_within_one_millisecond() {
        let mut ids = Snowflakes::default();
        let now = Utc::now();
        let a = ids.next(now);
        let b = ids.next(now);
        assert!(b > a);
        assert_eq!((a >> 22) as i64 + DISCORD_EPOCH_MS, now.timestamp_millis());
    }
}
