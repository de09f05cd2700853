//! More guild setup for tests (forums, permission overwrites, users outside the guild, members
//! who leave, thread members, a large guild in one call) and reads of what Discord would
//! compute or keep (a member's permissions in a channel, threads, scheduled events).

use std::time::Duration;

use serde_json::json;

use crate::config::{intents, permissions};
use crate::emulator::Emulator;
use crate::error::{Error, Result};
use crate::gateway::Gate;
use crate::ids::{ChannelId, ForumTagId, RoleId, ScheduledEventId, UserId};
use crate::model::{
    Channel, ChannelKind, ForumTag, Member, PermissionOverwrite, Role, ScheduledEvent, User,
};
use crate::ops::{self, NewChannel};

/// Discord allows at most 50 channels in one category.
const CHANNELS_PER_CATEGORY: usize = 50;
/// Roles [`Emulator::seed_large_guild`] spreads the members over.
const SEED_ROLES: usize = 10;
/// Every how many seeded members one has a nickname (nicknames are part of what a cache holds).
const SEED_NICK_EVERY: usize = 7;

/// What [`Emulator::seed_large_guild`] made.
#[derive(Clone, Debug)]
pub struct SeededGuild {
    pub roles: Vec<RoleId>,
    pub categories: Vec<ChannelId>,
    /// The text channels (not counting the categories).
    pub channels: Vec<ChannelId>,
    pub members: Vec<UserId>,
}

impl Emulator {
    /// Adds a forum channel (type 15) with these tags, optionally under a category
    /// (CHANNEL_CREATE if connected).
    pub fn add_forum(&self, name: &str, parent: Option<ChannelId>, tags: &[&str]) -> ChannelId {
        self.shared.with(|st| {
            let tags = tags
                .iter()
                .map(|t| ForumTag {
                    id: ForumTagId(st.next_id(&self.shared.clock)),
                    name: t.to_string(),
                    moderated: false,
                    emoji_id: None,
                    emoji_name: None,
                })
                .collect();
            let mut new =
                NewChannel::new(ChannelKind::Forum, name.to_lowercase().replace(' ', "-"));
            new.parent_id = parent;
            new.available_tags = tags;
            ops::create_channel(&self.shared, st, new)
        })
    }

    /// Replaces a channel's (or category's) permission overwrites, as a guild admin would in
    /// the client: CHANNEL_UPDATE, and channels synced to a category follow it.
    pub fn set_overwrites(
        &self,
        channel: ChannelId,
        overwrites: &[PermissionOverwrite],
    ) -> Result<()> {
        self.shared.with(|st| {
            let c = st
                .world
                .channel(channel)
                .ok_or_else(|| Error::NotFound(format!("no channel {channel}")))?;
            if c.kind.is_thread() || c.kind == ChannelKind::Dm {
                return Err(Error::Invalid(format!(
                    "#{} is a thread or DM: it has no overwrites of its own",
                    c.name
                )));
            }
            let list = overwrites
                .iter()
                .map(PermissionOverwrite::to_json)
                .collect();
            ops::set_overwrites(st, channel, list);
            ops::channel_changed(st, channel, false);
            Ok(())
        })
    }

    /// A Discord user who is not in the guild (the bot can still DM them).
    pub fn add_user(&self, name: &str) -> UserId {
        self.shared.with(|st| {
            let id = UserId(st.next_id(&self.shared.clock));
            st.world.users.insert(
                id,
                User {
                    id,
                    name: name.to_string(),
                    bot: false,
                },
            );
            id
        })
    }

    /// The member leaves the guild (GUILD_MEMBER_REMOVE, GUILD_MEMBERS intent); they stay a
    /// Discord user.
    pub fn remove_member(&self, user: UserId) -> Result<()> {
        self.shared.with(|st| {
            if user == st.world.bot || user == st.world.owner_id {
                return Err(Error::Invalid(
                    "the bot and the guild owner cannot leave the guild".into(),
                ));
            }
            st.world
                .members
                .remove(&user)
                .ok_or_else(|| Error::NotFound(format!("user {user} is not a guild member")))?;
            for c in st.world.channels.values_mut() {
                c.thread_members.retain(|u| *u != user);
            }
            let d = json!({
                "guild_id": st.world.guild_id.to_string(),
                "user": crate::json::user(&st.world, user),
            });
            st.gateway.dispatch(
                "GUILD_MEMBER_REMOVE",
                d,
                Gate::intent(intents::GUILD_MEMBERS),
            );
            Ok(())
        })
    }

    /// Adds a member to a thread, as a moderator would (THREAD_MEMBERS_UPDATE).
    pub fn add_thread_member(&self, thread: ChannelId, user: UserId) -> Result<()> {
        self.shared.with(|st| {
            let t = st
                .world
                .channel(thread)
                .filter(|c| c.kind.is_thread())
                .ok_or_else(|| Error::NotFound(format!("no thread {thread}")))?;
            if t.archived {
                return Err(Error::Invalid(format!("thread #{} is archived", t.name)));
            }
            if !st.world.members.contains_key(&user) {
                return Err(Error::NotFound(format!(
                    "user {user} is not a guild member"
                )));
            }
            ops::set_thread_member(st, thread, user, true);
            Ok(())
        })
    }

    /// A large guild in one call, for memory and start-up benchmarks: `channels` text
    /// channels spread over categories of at most 50, ten roles, and `members` members (each
    /// with one of the roles, every seventh with a nickname). Done before the bot connects,
    /// it is all in GUILD_CREATE; afterwards each piece is also dispatched.
    pub fn seed_large_guild(&self, members: usize, channels: usize) -> SeededGuild {
        self.shared.with(|st| {
            let clock = &self.shared.clock;
            let now = clock.utc();
            let mut roles = Vec::new();
            for i in 0..SEED_ROLES {
                let id = RoleId(st.next_id(clock));
                let position = st.world.roles.len() as u16;
                st.world.roles.push(Role {
                    id,
                    name: format!("seed-role-{i}"),
                    permissions: self.shared.config.everyone_permissions,
                    position,
                    managed: false,
                });
                let v = crate::json::role(&st.world, st.world.roles.last().expect("pushed"));
                let d = json!({"guild_id": st.world.guild_id.to_string(), "role": v});
                st.gateway
                    .dispatch("GUILD_ROLE_CREATE", d, Gate::intent(intents::GUILDS));
                roles.push(id);
            }
            let mut categories = Vec::new();
            let mut made = Vec::new();
            for i in 0..channels {
                if i % CHANNELS_PER_CATEGORY == 0 {
                    let name = format!("seed-category-{}", i / CHANNELS_PER_CATEGORY);
                    let cat = ops::create_channel(
                        &self.shared,
                        st,
                        NewChannel::new(ChannelKind::Category, name),
                    );
                    categories.push(cat);
                }
                let mut new = NewChannel::new(ChannelKind::Text, format!("seed-channel-{i}"));
                new.parent_id = categories.last().copied();
                new.topic = Some(format!("Seeded channel {i}"));
                made.push(ops::create_channel(&self.shared, st, new));
            }
            let mut users = Vec::new();
            for i in 0..members {
                let id = UserId(st.next_id(clock));
                let name = format!("seed-member-{i}");
                st.world.users.insert(
                    id,
                    User {
                        id,
                        name: name.clone(),
                        bot: false,
                    },
                );
                st.world.members.insert(
                    id,
                    Member {
                        user: id,
                        roles: vec![roles[i % SEED_ROLES]],
                        joined_at: now,
                        nick: (i % SEED_NICK_EVERY == 0).then(|| format!("Seed {i}")),
                    },
                );
                let mut d = crate::json::member(&st.world, id, true);
                d["guild_id"] = json!(st.world.guild_id.to_string());
                st.gateway
                    .dispatch("GUILD_MEMBER_ADD", d, Gate::intent(intents::GUILD_MEMBERS));
                users.push(id);
            }
            SeededGuild {
                roles,
                categories,
                channels: made,
                members: users,
            }
        })
    }

    // ----- what Discord computes -----

    /// A member's permissions in a channel, computed as Discord does: `@everyone` and their
    /// roles at guild level, then the channel's `@everyone`, role and member overwrites (a
    /// channel synced to its category has the category's), implicit denials, and for threads
    /// the parent's permissions with SEND_MESSAGES_IN_THREADS and private-thread membership.
    /// The owner and administrators have everything; non-members nothing.
    pub fn permissions_in(&self, user: UserId, channel: ChannelId) -> u64 {
        self.shared
            .read(|st| st.world.channel_permissions(user, channel))
    }

    /// Whether `user` can see `channel` (VIEW_CHANNEL after overwrites).
    pub fn can_view(&self, user: UserId, channel: ChannelId) -> bool {
        self.permissions_in(user, channel) & permissions::VIEW_CHANNEL != 0
    }

    /// Whether `user` can post in `channel` (SEND_MESSAGES, or SEND_MESSAGES_IN_THREADS in a
    /// thread, and VIEW_CHANNEL).
    pub fn can_send(&self, user: UserId, channel: ChannelId) -> bool {
        self.permissions_in(user, channel) & permissions::SEND_MESSAGES != 0
    }

    /// The members (bot and owner included) who can see `channel`, in id order.
    pub fn members_who_can_view(&self, channel: ChannelId) -> Vec<UserId> {
        self.shared.read(|st| {
            st.world
                .members
                .keys()
                .copied()
                .filter(|u| {
                    st.world.channel_permissions(*u, channel) & permissions::VIEW_CHANNEL != 0
                })
                .collect()
        })
    }

    /// The live threads (forum posts included) whose parent is `parent`, in creation order.
    pub fn threads_of(&self, parent: ChannelId) -> Vec<Channel> {
        self.shared.read(|st| {
            st.world
                .channels
                .values()
                .filter(|c| c.kind.is_thread() && c.parent_id == Some(parent) && !c.deleted)
                .cloned()
                .collect()
        })
    }

    // ----- scheduled events -----

    /// Every scheduled event the bot created, deleted ones included (flagged), in creation
    /// order, with Discord's automatic status changes applied.
    pub fn scheduled_events(&self) -> Vec<ScheduledEvent> {
        self.run_event_clock();
        self.shared
            .read(|st| st.world.scheduled_events.values().cloned().collect())
    }

    pub fn scheduled_event(&self, id: ScheduledEventId) -> Option<ScheduledEvent> {
        self.run_event_clock();
        self.shared
            .read(|st| st.world.scheduled_events.get(&id).cloned())
    }

    /// Waits for a scheduled event (deleted ones included) that satisfies `pred`.
    pub async fn wait_for_scheduled_event(
        &self,
        pred: impl Fn(&ScheduledEvent) -> bool,
        timeout: Duration,
    ) -> Result<ScheduledEvent> {
        self.run_event_clock();
        self.shared
            .wait_until(
                || "a scheduled event matching the predicate".to_string(),
                timeout,
                |st| {
                    st.world
                        .scheduled_events
                        .values()
                        .find(|e| pred(e))
                        .cloned()
                },
            )
            .await
    }

    /// Applies Discord's automatic start and end of external events, if any is due.
    pub(crate) fn run_event_clock(&self) {
        if self
            .shared
            .read(|st| ops::event_clock_due(&self.shared, st))
        {
            self.shared
                .with(|st| ops::run_event_clock(&self.shared, st));
        }
    }
}
