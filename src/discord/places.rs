//! Where an incident lives beyond a plain channel (SPEC §2, issue 14), all shown by the
//! projector from committed events:
//!
//! - **forum posts**: with `[discord] incident_forum_channel_id` each incident is a post whose
//!   applied tags show its severity and status; tags the forum lacks are created (keeping the
//!   ids of those it has: serenity's `CreateForumTag` has none, so the edit is raw JSON), and
//!   every card redraw sets the post's tags from the incident as it is now;
//! - **private channels**: a private incident always gets a channel (never a forum post or a
//!   public thread) that `@everyone` cannot see, visible to the Discord roles of the bot roles
//!   that see private incidents, to warroom, to its opener and to everyone given an incident
//!   role later (a member overwrite each);
//! - **archiving**: an `archived` event moves a channel under `archive_category_id` and
//!   locks it (or archives and locks a thread or post); reopening undoes both.
//!
//! Every step reads the channel as Discord has it and changes only what differs, so showing
//! an event again (after a crash or a takeover) changes nothing more.

use serde_json::json;
use serenity::all::{
    Channel, ChannelId, ChannelType, CreateAllowedMentions, CreateChannel, CreateForumPost,
    CreateMessage, EditChannel, EditThread, ForumTagId, GuildChannel, PermissionOverwrite,
    PermissionOverwriteType, Permissions, RoleId, UserId,
};

use super::context::Bot;
use super::render;
use super::rooms::Failed;
use crate::config::PrivateAnnouncement;
use crate::domain::{Actor, Incident, Status};
use crate::ops::Principal;

/// Discord's limit on a forum tag's name.
const TAG_NAME_LIMIT: usize = 20;

/// What a lock takes from `@everyone`: talking in the channel (warroom keeps Manage Channels,
/// so it still says what happens).
const LOCKED: Permissions = Permissions::SEND_MESSAGES
    .union(Permissions::SEND_MESSAGES_IN_THREADS)
    .union(Permissions::ADD_REACTIONS)
    .union(Permissions::CREATE_PUBLIC_THREADS);

/// What the people and roles of a private incident may do in its channel.
const PRIVATE_MEMBER: Permissions = Permissions::VIEW_CHANNEL
    .union(Permissions::SEND_MESSAGES)
    .union(Permissions::READ_MESSAGE_HISTORY)
    .union(Permissions::ADD_REACTIONS)
    .union(Permissions::ATTACH_FILES)
    .union(Permissions::EMBED_LINKS)
    .union(Permissions::USE_APPLICATION_COMMANDS);

/// One tag edit at a time: two projections adding missing tags at once would each send the
/// list they read, and the second would drop what the first added.
static TAG_EDITS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The tag names of a status.
fn status_tag(status: Status) -> String {
    status.as_str().to_owned()
}

fn tag_name(name: &str) -> String {
    name.chars().take(TAG_NAME_LIMIT).collect()
}

impl Bot {
    /// The forum an incident's post goes in, if it gets one (private incidents never do).
    pub(crate) fn forum_of(&self, incident: &Incident) -> Option<u64> {
        self.config()
            .discord
            .incident_forum_channel_id
            .filter(|_| !incident.private)
    }

    /// Makes the incident's post in `forum`, tagged with its severity and status.
    pub(crate) async fn create_forum_post(
        &self,
        forum: u64,
        incident: &Incident,
    ) -> Result<u64, Failed> {
        let tags = self.forum_tags_for(forum, incident).await?;
        let opening = CreateMessage::new()
            .content(render::fit(format!(
                "**{}**: {}\n{}",
                incident.id, incident.title, incident.description
            )))
            .allowed_mentions(CreateAllowedMentions::new());
        let post =
            CreateForumPost::new(render::channel_name(incident), opening).set_applied_tags(tags);
        ChannelId::new(forum)
            .create_forum_post(self.http(), post)
            .await
            .map(|channel| channel.id.get())
            .map_err(|error| Failed::of(&error, "Discord refused to create the forum post"))
    }

    /// Sets the tags of the incident's forum post to its severity and status now.
    pub(crate) async fn sync_forum_tags(&self, incident: &Incident) -> Result<(), Failed> {
        let (Some(forum), Some(post)) = (self.forum_of(incident), incident.channel_id) else {
            return Ok(());
        };
        let room = self.guild_channel(post).await?;
        if room.parent_id.map(ChannelId::get) != Some(forum) {
            return Ok(()); // made before the forum was configured: a channel or thread
        }
        let wanted = self.forum_tags_for(forum, incident).await?;
        let mut current = room.applied_tags.clone();
        current.sort();
        let mut sorted = wanted.clone();
        sorted.sort();
        if current == sorted {
            return Ok(());
        }
        let archived = room.thread_metadata.is_some_and(|meta| meta.archived);
        // An archived post takes no edit unless the same edit unarchives it; it stays archived.
        let mut edit = EditThread::new().applied_tags(wanted.clone());
        if archived {
            edit = edit.archived(false);
        }
        ChannelId::new(post)
            .edit_thread(self.http(), edit)
            .await
            .map_err(|error| Failed::of(&error, "setting the forum post's tags"))?;
        if archived {
            ChannelId::new(post)
                .edit_thread(self.http(), EditThread::new().archived(true))
                .await
                .map_err(|error| Failed::of(&error, "archiving the forum post again"))?;
        }
        Ok(())
    }

    /// The ids of the forum's tags for the incident's severity and status, creating them first
    /// when the forum lacks them.
    async fn forum_tags_for(
        &self,
        forum: u64,
        incident: &Incident,
    ) -> Result<Vec<ForumTagId>, Failed> {
        let names = [
            tag_name(&incident.severity),
            tag_name(&status_tag(incident.status)),
        ];
        let _one_at_a_time = TAG_EDITS.lock().await;
        let mut channel = self.guild_channel(forum).await?;
        let missing: Vec<&String> = names
            .iter()
            .filter(|name| !channel.available_tags.iter().any(|tag| &tag.name == *name))
            .collect();
        if !missing.is_empty() {
            let mut tags: Vec<serde_json::Value> = channel
                .available_tags
                .iter()
                .map(|tag| json!({"id": tag.id.get().to_string(), "name": tag.name, "moderated": tag.moderated}))
                .collect();
            tags.extend(missing.iter().map(|name| json!({"name": name})));
            channel = self
                .http()
                .edit_channel(
                    ChannelId::new(forum),
                    &json!({ "available_tags": tags }),
                    None,
                )
                .await
                .map_err(|error| Failed::of(&error, "adding tags to the incident forum"))?;
        }
        Ok(names
            .iter()
            .filter_map(|name| {
                channel
                    .available_tags
                    .iter()
                    .find(|tag| &tag.name == name)
                    .map(|tag| tag.id)
            })
            .collect())
    }

    async fn guild_channel(&self, id: u64) -> Result<GuildChannel, Failed> {
        match ChannelId::new(id).to_channel(self.http()).await {
            Ok(Channel::Guild(channel)) => Ok(channel),
            Ok(_) => Err(Failed {
                reason: format!("<#{id}> is not a guild channel"),
                permanent: true,
            }),
            Err(error) => Err(Failed::of(&error, "reading a channel")),
        }
    }

    /// A private incident's channel: hidden from `@everyone`, open to the roles that see
    /// private incidents, warroom and the opener.
    pub(crate) fn private_channel(
        &self,
        guild: u64,
        incident: &Incident,
        channel: CreateChannel<'static>,
    ) -> CreateChannel<'static> {
        let everyone = PermissionOverwrite {
            allow: Permissions::empty(),
            deny: Permissions::VIEW_CHANNEL,
            kind: PermissionOverwriteType::Role(RoleId::new(guild)),
        };
        let mut overwrites = vec![everyone];
        overwrites.extend(
            self.private_role_ids()
                .into_iter()
                .map(|role| PermissionOverwrite {
                    allow: PRIVATE_MEMBER,
                    deny: Permissions::empty(),
                    kind: PermissionOverwriteType::Role(RoleId::new(role)),
                }),
        );
        let people = [self.me()]
            .into_iter()
            .flatten()
            .chain(incident.opened_by.discord_user_id());
        overwrites.extend(people.map(member_overwrite));
        channel.permissions(overwrites)
    }

    /// The Discord role ids whose holders see private incidents: those mapped to a bot role
    /// that holds one of `[incidents] private_roles` (an admin holds them all).
    fn private_role_ids(&self) -> Vec<u64> {
        let config = self.config();
        let mut ids: Vec<u64> = config
            .roles
            .iter()
            .filter(|(name, _)| {
                let holder = Principal::new(Actor::system(), [(*name).clone()]);
                self.ops().sees_private(&holder)
            })
            .flat_map(|(_, ids)| ids.iter().copied())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// Lets `person` into a private incident's channel (they were given an incident role).
    pub(crate) async fn admit(&self, incident: &Incident, person: &Actor) -> Result<(), Failed> {
        let (true, Some(channel), Some(user)) = (
            incident.private,
            incident.channel_id,
            person.discord_user_id(),
        ) else {
            return Ok(());
        };
        ChannelId::new(channel)
            .create_permission(self.http(), member_overwrite(user))
            .await
            .map_err(|error| Failed::of(&error, "letting someone into the private channel"))
    }

    /// What the announce channel gets instead of `text` for this incident, if anything.
    pub(crate) fn announcement_of(
        &self,
        incident: &Incident,
        text: String,
        opening: bool,
    ) -> Option<String> {
        if !incident.private {
            return Some(text);
        }
        match self.config().discord.private_announcement {
            PrivateAnnouncement::Line if opening => {
                Some("🔒 A private incident was opened.".to_owned())
            }
            _ => None,
        }
    }

    /// Moves the incident's channel to the archive and locks it, or archives and locks its
    /// thread or post.
    pub(crate) async fn archive_room(&self, incident: &Incident) -> Result<(), Failed> {
        let Some(room_id) = incident.channel_id else {
            return Ok(());
        };
        let room = self.guild_channel(room_id).await?;
        let room_channel = ChannelId::new(room_id);
        if is_thread(room.kind) {
            let done = room
                .thread_metadata
                .is_some_and(|meta| meta.archived && meta.locked);
            if !done {
                room_channel
                    .edit_thread(self.http(), EditThread::new().archived(true).locked(true))
                    .await
                    .map_err(|error| Failed::of(&error, "archiving the incident thread"))?;
            }
            return Ok(());
        }
        if let Some(archive) = self.config().discord.archive_category_id
            && room.parent_id.map(ChannelId::get) != Some(archive)
        {
            room_channel
                .edit(
                    self.http(),
                    EditChannel::new().category(Some(ChannelId::new(archive))),
                )
                .await
                .map_err(|error| Failed::of(&error, "moving the channel to the archive"))?;
        }
        self.set_lock(&room, true).await
    }

    /// Undoes [`Self::archive_room`] (the incident was reopened).
    pub(crate) async fn unarchive_room(&self, incident: &Incident) -> Result<(), Failed> {
        let Some(room_id) = incident.channel_id else {
            return Ok(());
        };
        let room = self.guild_channel(room_id).await?;
        let room_channel = ChannelId::new(room_id);
        if is_thread(room.kind) {
            let open = room
                .thread_metadata
                .is_none_or(|meta| !meta.archived && !meta.locked);
            if !open {
                room_channel
                    .edit_thread(self.http(), EditThread::new().archived(false).locked(false))
                    .await
                    .map_err(|error| Failed::of(&error, "unarchiving the incident thread"))?;
            }
            return Ok(());
        }
        self.set_lock(&room, false).await?;
        let discord = &self.config().discord;
        if let Some(archive) = discord.archive_category_id
            && room.parent_id.map(ChannelId::get) == Some(archive)
        {
            let back = discord.incident_category_id.map(ChannelId::new);
            room_channel
                .edit(self.http(), EditChannel::new().category(back))
                .await
                .map_err(|error| Failed::of(&error, "moving the channel out of the archive"))?;
        }
        Ok(())
    }

    /// Takes talking from `@everyone` in a channel (`lock`), or gives it back.
    async fn set_lock(&self, room: &GuildChannel, lock: bool) -> Result<(), Failed> {
        let everyone = PermissionOverwriteType::Role(RoleId::new(room.guild_id.get()));
        let current = room
            .permission_overwrites
            .iter()
            .find(|overwrite| overwrite.kind == everyone);
        let (allow, deny) = current.map_or((Permissions::empty(), Permissions::empty()), |o| {
            (o.allow, o.deny)
        });
        let channel = room.id;
        let result = if lock {
            if deny.contains(LOCKED) {
                return Ok(());
            }
            let overwrite = PermissionOverwrite {
                allow: allow - LOCKED,
                deny: deny | LOCKED,
                kind: everyone,
            };
            channel.create_permission(self.http(), overwrite).await
        } else {
            if !deny.intersects(LOCKED) {
                return Ok(());
            }
            if (deny - LOCKED).is_empty() && allow.is_empty() {
                channel.delete_permission(self.http(), everyone).await
            } else {
                let overwrite = PermissionOverwrite {
                    allow,
                    deny: deny - LOCKED,
                    kind: everyone,
                };
                channel.create_permission(self.http(), overwrite).await
            }
        };
        let what = if lock {
            "locking the channel"
        } else {
            "unlocking the channel"
        };
        result.map_err(|error| Failed::of(&error, what))
    }
}

fn member_overwrite(user: u64) -> PermissionOverwrite {
    PermissionOverwrite {
        allow: PRIVATE_MEMBER,
        deny: Permissions::empty(),
        kind: PermissionOverwriteType::Member(UserId::new(user)),
    }
}

fn is_thread(kind: ChannelType) -> bool {
    matches!(
        kind,
        ChannelType::PublicThread | ChannelType::PrivateThread | ChannelType::NewsThread
    )
}
