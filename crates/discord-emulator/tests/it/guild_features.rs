//! Forums, threads, channel moves and permission overwrites, and scheduled events, driven by
//! serenity's own `Http` and builders (what warroom calls), with every dispatch decoded
//! through serenity's types by a raw gateway client.

use std::time::Duration;

use discord_emulator::{
    ChannelId as EmuChannelId, Emulator, EmulatorConfig, Error,
    PermissionOverwrite as EmuOverwrite, RoleId as EmuRoleId, ScheduledEventId,
    ScheduledEventStatus as EmuStatus, UserId as EmuUserId, intents, permissions,
};
use serde_json::json;
use serenity::all::{
    ChannelFlags, ChannelId, ChannelType, CreateChannel, CreateForumPost, CreateForumTag,
    CreateMessage, CreateScheduledEvent, CreateThread, EditChannel, EditMessage,
    EditScheduledEvent, EditThread, ForumTagId, GuildId, PermissionOverwrite,
    PermissionOverwriteType, Permissions, RoleId, ScheduledEventStatus, ScheduledEventType,
    Timestamp, UserId,
};

use crate::conformance::check_frame;
use crate::support::{RawGateway, discord_code, serenity_http, start};

const ALL: u64 = intents::GUILDS
    | intents::GUILD_MEMBERS
    | intents::GUILD_MESSAGES
    | intents::MESSAGE_CONTENT
    | intents::GUILD_SCHEDULED_EVENTS;

fn guild(emu: &Emulator) -> GuildId {
    GuildId::new(emu.guild_id().get())
}

fn emu_channel(c: ChannelId) -> EmuChannelId {
    EmuChannelId(c.get())
}

/// Reads what arrived and checks that every frame decodes as the serenity event it names.
async fn decoded(gw: &mut RawGateway) -> Vec<String> {
    gw.drain(Duration::from_millis(200)).await;
    let mut names = Vec::new();
    for f in &gw.frames {
        if let serenity::model::event::GatewayEvent::Dispatch(_, ev) = check_frame(f) {
            names.push(ev.name().unwrap_or_default());
        }
    }
    names
}

#[tokio::test]
async fn forum_posts_carry_tags_and_follow_discords_archive_and_lock_rules() {
    let emu = start().await;
    let http = serenity_http(&emu);
    let mut gw = RawGateway::identify(&emu, ALL).await;
    let alice = emu.member("alice", &[]);

    let forum = guild(&emu)
        .create_channel(
            &http,
            CreateChannel::new("Incidents")
                .kind(ChannelType::Forum)
                .topic("One post per incident"),
        )
        .await
        .unwrap();
    assert_eq!(
        (forum.kind, forum.name.as_str()),
        (ChannelType::Forum, "incidents")
    );
    // serenity's CreateForumTag carries no id: every tag it sends is a new tag.
    let forum = forum
        .id
        .edit(
            &http,
            EditChannel::new()
                .available_tags([CreateForumTag::new("SEV1"), CreateForumTag::new("open")]),
        )
        .await
        .unwrap();
    let tag = |c: &serenity::all::GuildChannel, name: &str| -> ForumTagId {
        c.available_tags.iter().find(|t| t.name == name).unwrap().id
    };
    let (sev1, open) = (tag(&forum, "SEV1"), tag(&forum, "open"));

    let post = forum
        .id
        .create_forum_post(
            &http,
            CreateForumPost::new(
                "INC-1 checkout down",
                CreateMessage::new().content("the card"),
            )
            .add_applied_tag(sev1)
            .add_applied_tag(open),
        )
        .await
        .unwrap();
    assert_eq!(post.kind, ChannelType::PublicThread);
    assert_eq!(post.parent_id, Some(forum.id));
    assert_eq!(post.applied_tags, vec![sev1, open]);
    let created = gw.next_dispatch("THREAD_CREATE").await;
    assert_eq!(created["d"]["id"], json!(post.id.to_string()));
    let first = gw.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(first["d"]["channel_id"], json!(post.id.to_string()));
    assert_eq!(
        first["d"]["id"],
        json!(post.id.to_string()),
        "a post's first message has its id"
    );

    // People talk in the post; nobody posts in the forum itself.
    alice.say(emu_channel(post.id), "looking at it").unwrap();
    let said = gw.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(said["d"]["channel_id"], json!(post.id.to_string()));
    let refused = forum.id.say(&http, "not here").await.unwrap_err();
    assert_eq!(discord_code(&refused), Some(40058));
    assert!(matches!(
        alice.say(emu_channel(forum.id), "x"),
        Err(Error::Invalid(_))
    ));

    // A new tag while keeping the others: only raw JSON can carry the existing ids.
    let forum = http
        .edit_channel(
            forum.id,
            &json!({"available_tags": [
                {"id": sev1.to_string(), "name": "SEV1"},
                {"id": open.to_string(), "name": "open"},
                {"name": "resolved"},
            ]}),
            None,
        )
        .await
        .unwrap();
    assert_eq!((tag(&forum, "SEV1"), tag(&forum, "open")), (sev1, open));
    let resolved = tag(&forum, "resolved");
    post.id
        .edit_thread(&http, EditThread::new().applied_tags([sev1, resolved]))
        .await
        .unwrap();
    let stored = emu.channel(emu_channel(post.id)).unwrap();
    assert_eq!(
        stored.applied_tags,
        vec![
            discord_emulator::ForumTagId(sev1.get()),
            discord_emulator::ForumTagId(resolved.get())
        ]
    );
    let bad = post
        .id
        .edit_thread(&http, EditThread::new().applied_tags([ForumTagId::new(42)]))
        .await
        .unwrap_err();
    assert_eq!(discord_code(&bad), Some(50035));

    // Archived and locked: closed to users and to edits; unarchiving opens it again.
    post.id
        .edit_thread(&http, EditThread::new().archived(true).locked(true))
        .await
        .unwrap();
    assert!(
        matches!(alice.say(emu_channel(post.id), "late"), Err(Error::Invalid(m)) if m.contains("archived and locked"))
    );
    let first_id = serenity::all::MessageId::new(post.id.get());
    let edit = post
        .id
        .edit_message(&http, first_id, EditMessage::new().content("edited"))
        .await
        .unwrap_err();
    assert_eq!(discord_code(&edit), Some(50083));
    let rename = post
        .id
        .edit_thread(&http, EditThread::new().name("renamed"))
        .await
        .unwrap_err();
    assert_eq!(
        discord_code(&rename),
        Some(50083),
        "an archived thread accepts only unarchiving"
    );
    let sent = post.id.say(&http, "bot speaks").await.unwrap_err();
    assert_eq!(discord_code(&sent), Some(50083));
    post.id
        .edit_thread(&http, EditThread::new().archived(false).locked(false))
        .await
        .unwrap();
    // Archived but not locked: a message unarchives it (THREAD_UPDATE first).
    post.id
        .edit_thread(&http, EditThread::new().archived(true))
        .await
        .unwrap();
    alice.say(emu_channel(post.id), "reopening").unwrap();
    assert!(!emu.channel(emu_channel(post.id)).unwrap().archived);

    // A forum that requires tags, and tags that go away.
    forum
        .id
        .edit(&http, EditChannel::new().flags(ChannelFlags::REQUIRE_TAG))
        .await
        .unwrap();
    let untagged = forum
        .id
        .create_forum_post(
            &http,
            CreateForumPost::new("no tag", CreateMessage::new().content("x")),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_code(&untagged), Some(40067));
    http.edit_channel(
        forum.id,
        &json!({"available_tags": [{"id": sev1.to_string(), "name": "SEV1"}]}),
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        emu.channel(emu_channel(post.id)).unwrap().applied_tags,
        vec![discord_emulator::ForumTagId(sev1.get())]
    );
    assert_eq!(emu.threads_of(emu_channel(forum.id)).len(), 1);

    // A new session's GUILD_CREATE lists active threads only.
    post.id
        .edit_thread(&http, EditThread::new().archived(true))
        .await
        .unwrap();
    let mut fresh = RawGateway::connect(&emu).await;
    fresh
        .send(json!({"op": 2, "d": {"token": format!("Bot {}", emu.config().bot_token), "intents": ALL, "properties": {}}}))
        .await;
    let gc = fresh.next_dispatch("GUILD_CREATE").await;
    assert_eq!(gc["d"]["threads"], json!([]));
    assert!(
        gc["d"]["channels"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["type"] == 15 && c["available_tags"].is_array())
    );
    let active = guild(&emu).get_active_threads(&http).await.unwrap();
    assert!(active.threads.is_empty());
    let archived = forum
        .id
        .get_archived_public_threads(&http, None, None)
        .await
        .unwrap();
    assert_eq!(archived.threads.len(), 1);

    let seen = decoded(&mut gw).await;
    for name in [
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "THREAD_CREATE",
        "THREAD_UPDATE",
        "MESSAGE_CREATE",
    ] {
        assert!(
            seen.iter().any(|s| s == name),
            "{name} not seen in {seen:?}"
        );
    }
    emu.shutdown().await;
}

fn deny_everyone(emu: &Emulator, deny: Permissions) -> PermissionOverwrite {
    PermissionOverwrite {
        allow: Permissions::empty(),
        deny,
        kind: PermissionOverwriteType::Role(RoleId::new(emu.everyone_role().get())),
    }
}

fn allow_role(role: EmuRoleId, allow: Permissions) -> PermissionOverwrite {
    PermissionOverwrite {
        allow,
        deny: Permissions::empty(),
        kind: PermissionOverwriteType::Role(RoleId::new(role.get())),
    }
}

fn sorted(mut v: Vec<EmuUserId>) -> Vec<EmuUserId> {
    v.sort();
    v
}

#[tokio::test]
async fn overwrites_moves_and_threads_decide_who_sees_and_who_talks() {
    let emu = start().await;
    let http = serenity_http(&emu);
    let mut gw = RawGateway::identify(&emu, ALL).await;
    let commanders = emu.add_role("commanders");
    let responders = emu.add_role("responders");
    let cora = emu.member("cora", &[commanders]);
    let rita = emu.member("rita", &[responders]);
    let incidents = emu.add_category("incidents");
    let archive = emu.add_category("archive");
    let (owner, bot) = (emu.owner_id(), emu.bot_user_id());

    // A private incident channel: @everyone may not see it, commanders may.
    let private = guild(&emu)
        .create_channel(
            &http,
            CreateChannel::new("inc-2-breach")
                .category(ChannelId::new(incidents.get()))
                .permissions([
                    deny_everyone(&emu, Permissions::VIEW_CHANNEL),
                    allow_role(
                        commanders,
                        Permissions::VIEW_CHANNEL | Permissions::SEND_MESSAGES,
                    ),
                ]),
        )
        .await
        .unwrap();
    let private_id = emu_channel(private.id);
    assert!(cora.can_view(private_id) && cora.can_send(private_id));
    assert!(!rita.can_view(private_id) && !rita.can_send(private_id));
    assert_eq!(
        rita.permissions_in(private_id),
        0,
        "no VIEW_CHANNEL means nothing"
    );
    assert_eq!(
        sorted(emu.members_who_can_view(private_id)),
        sorted(vec![owner, bot, cora.id()])
    );
    assert!(!emu.channel(private_id).unwrap().permissions_synced);

    // A member overwrite adds rita; a member deny beats a role allow.
    private
        .id
        .create_permission(
            &http,
            PermissionOverwrite {
                allow: Permissions::VIEW_CHANNEL,
                deny: Permissions::empty(),
                kind: PermissionOverwriteType::Member(UserId::new(rita.id().get())),
            },
        )
        .await
        .unwrap();
    assert!(rita.can_view(private_id));
    emu.set_overwrites(
        private_id,
        &[
            EmuOverwrite::role(emu.everyone_role(), 0, permissions::VIEW_CHANNEL),
            EmuOverwrite::role(
                commanders,
                permissions::VIEW_CHANNEL | permissions::SEND_MESSAGES,
                0,
            ),
            EmuOverwrite::member(cora.id(), 0, permissions::SEND_MESSAGES),
        ],
    )
    .unwrap();
    assert!(cora.can_view(private_id) && !cora.can_send(private_id));
    assert!(
        !rita.can_view(private_id),
        "replacing the overwrites dropped rita's"
    );
    // Without SEND_MESSAGES, embeds and files go too (Discord's implicit denials).
    assert_eq!(
        cora.permissions_in(private_id) & permissions::EMBED_LINKS,
        0
    );

    // A channel made under a category without overwrites is synced to it and follows it.
    emu.set_overwrites(
        archive,
        &[EmuOverwrite::role(
            emu.everyone_role(),
            0,
            permissions::SEND_MESSAGES,
        )],
    )
    .unwrap();
    let archived = guild(&emu)
        .create_channel(
            &http,
            CreateChannel::new("inc-0-old").category(ChannelId::new(archive.get())),
        )
        .await
        .unwrap();
    let archived_id = emu_channel(archived.id);
    assert!(emu.channel(archived_id).unwrap().permissions_synced);
    assert!(rita.can_view(archived_id) && !rita.can_send(archived_id));
    emu.set_overwrites(archive, &[]).unwrap();
    assert!(
        rita.can_send(archived_id),
        "a synced channel follows its category"
    );

    // Moving with Modify Channel keeps the channel's own overwrites; it can set new ones in
    // the same request, or be synced with Modify Guild Channel Positions' lock_permissions.
    let public = emu.add_text_channel("inc-1-checkout", Some(incidents));
    ChannelId::new(public.get())
        .edit(
            &http,
            EditChannel::new()
                .category(ChannelId::new(archive.get()))
                .permissions([deny_everyone(&emu, Permissions::SEND_MESSAGES)]),
        )
        .await
        .unwrap();
    let moved = emu.channel(public).unwrap();
    assert_eq!(moved.parent_id, Some(archive));
    assert!(rita.can_view(public) && !rita.can_send(public));
    emu.set_overwrites(
        archive,
        &[EmuOverwrite::role(
            emu.everyone_role(),
            0,
            permissions::VIEW_CHANNEL,
        )],
    )
    .unwrap();
    assert!(
        rita.can_view(public),
        "not synced: the category's change does not reach it"
    );
    http.edit_guild_channel_positions(
        guild(&emu),
        &json!([{"id": public.to_string(), "parent_id": archive.to_string(), "lock_permissions": true}]),
    )
    .await
    .unwrap();
    assert!(emu.channel(public).unwrap().permissions_synced);
    assert!(!rita.can_view(public));
    let two_moves = http
        .edit_guild_channel_positions(
            guild(&emu),
            &json!([
                {"id": public.to_string(), "parent_id": incidents.to_string()},
                {"id": archived_id.to_string(), "parent_id": incidents.to_string()},
            ]),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_code(&two_moves), Some(40009));

    // Threads: a private one is seen by its members only; SEND_MESSAGES_IN_THREADS decides.
    let general = emu.add_text_channel("general", None);
    let thread = ChannelId::new(general.get())
        .create_thread(
            &http,
            CreateThread::new("inc-3 private notes").kind(ChannelType::PrivateThread),
        )
        .await
        .unwrap();
    let thread_id = emu_channel(thread.id);
    assert!(!rita.can_view(thread_id));
    thread
        .id
        .add_thread_member(&http, UserId::new(rita.id().get()))
        .await
        .unwrap();
    assert!(rita.can_view(thread_id) && rita.can_send(thread_id));
    let members = thread.id.get_thread_members(&http).await.unwrap();
    assert_eq!(members.len(), 2, "the bot and rita");
    emu.set_overwrites(
        general,
        &[EmuOverwrite::role(
            emu.everyone_role(),
            0,
            permissions::SEND_MESSAGES_IN_THREADS,
        )],
    )
    .unwrap();
    assert!(rita.can_send(general) && !rita.can_send(thread_id));
    emu.set_overwrites(general, &[]).unwrap();
    // A locked thread is closed to those without Manage Threads; the bot still talks.
    thread
        .id
        .edit_thread(&http, EditThread::new().locked(true))
        .await
        .unwrap();
    assert!(matches!(rita.say(thread_id, "x"), Err(Error::Invalid(m)) if m.contains("locked")));
    thread.id.say(&http, "the bot may").await.unwrap();

    let seen = decoded(&mut gw).await;
    for name in [
        "CHANNEL_UPDATE",
        "THREAD_CREATE",
        "THREAD_UPDATE",
        "THREAD_MEMBERS_UPDATE",
    ] {
        assert!(
            seen.iter().any(|s| s == name),
            "{name} not seen in {seen:?}"
        );
    }
    emu.shutdown().await;

    // With the knob on, the driver refuses what a member's permissions do not allow.
    let strict = Emulator::start(EmulatorConfig {
        enforce_member_permissions: true,
        ..EmulatorConfig::for_tests()
    })
    .await;
    let rita = strict.member("rita", &[]);
    let hidden = strict.add_text_channel("hidden", None);
    strict
        .set_overwrites(
            hidden,
            &[EmuOverwrite::role(
                strict.everyone_role(),
                0,
                permissions::VIEW_CHANNEL,
            )],
        )
        .unwrap();
    assert!(
        matches!(rita.say(hidden, "hi"), Err(Error::Invalid(m)) if m.contains("cannot send messages in #hidden"))
    );
    strict.shutdown().await;
}

fn at(t: chrono::DateTime<chrono::Utc>) -> Timestamp {
    Timestamp::from_unix_timestamp(t.timestamp()).unwrap()
}

#[tokio::test]
async fn scheduled_events_follow_discords_rules_and_status_transitions() {
    let emu = start().await;
    let http = serenity_http(&emu);
    let mut gw = RawGateway::identify(&emu, ALL).await;
    let g = guild(&emu);
    let now = chrono::Utc::now();
    let start_at = now + chrono::Duration::hours(1);
    let end_at = start_at + chrono::Duration::hours(1);

    let review = g
        .create_scheduled_event(
            &http,
            CreateScheduledEvent::new(ScheduledEventType::External, "Review INC-1", at(start_at))
                .end_time(at(end_at))
                .location("#inc-1-checkout-is-down")
                .description("Post-incident review"),
        )
        .await
        .unwrap();
    assert_eq!(review.status, ScheduledEventStatus::Scheduled);
    let recorded = emu.scheduled_events();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].name, "Review INC-1");
    assert_eq!(
        recorded[0].location.as_deref(),
        Some("#inc-1-checkout-is-down")
    );
    assert_eq!(
        (recorded[0].entity_type, recorded[0].creator),
        (3, emu.bot_user_id())
    );
    let id = ScheduledEventId(review.id.get());
    gw.next_dispatch("GUILD_SCHEDULED_EVENT_CREATE").await;

    // Moving the meeting.
    let later = start_at + chrono::Duration::hours(2);
    g.edit_scheduled_event(
        &http,
        review.id,
        EditScheduledEvent::new()
            .start_time(at(later))
            .end_time(at(later + chrono::Duration::minutes(30))),
    )
    .await
    .unwrap();
    let moved = emu.scheduled_event(id).unwrap();
    assert_eq!(moved.start.timestamp(), later.timestamp());
    assert_eq!(moved.changes.len(), 1);
    let moved_update = gw.next_dispatch("GUILD_SCHEDULED_EVENT_UPDATE").await;
    assert_eq!(moved_update["d"]["status"], 1);

    // Not yet started: it cannot complete; it may be canceled (tested on another event).
    let early = g
        .edit_scheduled_event(
            &http,
            review.id,
            EditScheduledEvent::new().status(ScheduledEventStatus::Completed),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_code(&early), Some(50035));

    // Discord starts an external event at its start time by itself, and ends it at its end.
    emu.advance(Duration::from_secs(3 * 3600 + 60));
    assert_eq!(emu.scheduled_event(id).unwrap().status, EmuStatus::Active);
    let update = gw.next_dispatch("GUILD_SCHEDULED_EVENT_UPDATE").await;
    assert_eq!(update["d"]["status"], 2);
    g.edit_scheduled_event(
        &http,
        review.id,
        EditScheduledEvent::new().status(ScheduledEventStatus::Completed),
    )
    .await
    .unwrap();
    let finished = g
        .edit_scheduled_event(&http, review.id, EditScheduledEvent::new().name("again"))
        .await
        .unwrap_err();
    assert_eq!(discord_code(&finished), Some(180000));

    // Canceling one that did not start; deleting.
    let now = chrono::Utc::now() + chrono::Duration::hours(4);
    let drill = g
        .create_scheduled_event(
            &http,
            CreateScheduledEvent::new(
                ScheduledEventType::External,
                "Restore drill",
                at(now + chrono::Duration::hours(1)),
            )
            .end_time(at(now + chrono::Duration::hours(2)))
            .location("backup room"),
        )
        .await
        .unwrap();
    g.edit_scheduled_event(
        &http,
        drill.id,
        EditScheduledEvent::new().status(ScheduledEventStatus::Canceled),
    )
    .await
    .unwrap();
    assert_eq!(
        emu.scheduled_event(ScheduledEventId(drill.id.get()))
            .unwrap()
            .status,
        EmuStatus::Canceled
    );
    let listed = g.scheduled_events(&http, true).await.unwrap();
    assert!(
        listed.is_empty(),
        "finished events are not listed: {listed:?}"
    );
    g.delete_scheduled_event(&http, drill.id).await.unwrap();
    assert!(
        emu.scheduled_event(ScheduledEventId(drill.id.get()))
            .unwrap()
            .deleted
    );
    let gone = g.scheduled_event(&http, drill.id, false).await.unwrap_err();
    assert_eq!(discord_code(&gone), Some(10070));

    // Bad requests: in the past; external without a location or an end.
    let past = g
        .create_scheduled_event(
            &http,
            CreateScheduledEvent::new(ScheduledEventType::External, "x", at(chrono::Utc::now()))
                .end_time(at(chrono::Utc::now() + chrono::Duration::days(2)))
                .location("l"),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_code(&past), Some(50035));
    let soon = chrono::Utc::now() + chrono::Duration::days(1);
    let no_place = g
        .create_scheduled_event(
            &http,
            CreateScheduledEvent::new(ScheduledEventType::External, "x", at(soon))
                .end_time(at(soon + chrono::Duration::hours(1))),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_code(&no_place), Some(50035));
    let no_end = g
        .create_scheduled_event(
            &http,
            CreateScheduledEvent::new(ScheduledEventType::External, "x", at(soon)).location("l"),
        )
        .await
        .unwrap_err();
    assert_eq!(discord_code(&no_end), Some(50035));

    let seen = decoded(&mut gw).await;
    for name in [
        "GUILD_SCHEDULED_EVENT_CREATE",
        "GUILD_SCHEDULED_EVENT_UPDATE",
        "GUILD_SCHEDULED_EVENT_DELETE",
    ] {
        assert!(
            seen.iter().any(|s| s == name),
            "{name} not seen in {seen:?}"
        );
    }
    emu.shutdown().await;
}

#[tokio::test]
async fn members_leave_and_people_outside_the_guild_cannot_be_messaged() {
    let emu = start().await;
    let http = serenity_http(&emu);
    let mut gw = RawGateway::identify(&emu, ALL).await;
    let bob = emu.member("bob", &[]);
    let stranger = emu.add_user("stranger");
    let dm = UserId::new(stranger.get())
        .create_dm_channel(&http)
        .await
        .unwrap();
    let refused = dm.id.say(&http, "you are on call").await.unwrap_err();
    assert_eq!(discord_code(&refused), Some(50007));
    let bob_dm = UserId::new(bob.id().get())
        .create_dm_channel(&http)
        .await
        .unwrap();
    bob_dm.id.say(&http, "you are on call").await.unwrap();
    emu.remove_member(bob.id()).unwrap();
    gw.next_dispatch("GUILD_MEMBER_REMOVE").await;
    let after = bob_dm.id.say(&http, "still there?").await.unwrap_err();
    assert_eq!(discord_code(&after), Some(50007));
    assert_eq!(emu.dm_messages(bob.id()).len(), 1);
    decoded(&mut gw).await;
    emu.shutdown().await;
}
