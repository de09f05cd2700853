//! Every gateway frame and REST body the emulator produces decodes through serenity 0.12.5's
//! own types, and no dispatch falls into `Event::Unknown` (serenity drops those silently).

use std::time::Duration;

use discord_emulator::{Emulator, intents};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use serenity::model::application::{Command, CurrentApplicationInfo, Interaction};
use serenity::model::channel::{Channel, GuildChannel, Message, PrivateChannel};
use serenity::model::event::{Event, GatewayEvent};
use serenity::model::gateway::BotGateway;
use serenity::model::guild::{Member, PartialGuild, Role};
use serenity::model::user::{CurrentUser, User};

use crate::support::{BotHttp, RawGateway, WAIT, incident_command, start};

/// Decodes `d` into the struct serenity uses for `t`, to turn a silent `Event::Unknown` into
/// the serde error that caused it.
fn diagnose(frame: &Value) -> String {
    use serenity::model::event::*;
    fn try_as<T: DeserializeOwned>(d: &Value) -> String {
        match serde_json::from_value::<T>(d.clone()) {
            Ok(_) => "decodes as its struct (so the tag itself is wrong?)".into(),
            Err(e) => e.to_string(),
        }
    }
    let d = &frame["d"];
    match frame["t"].as_str().unwrap_or("") {
        "READY" => try_as::<ReadyEvent>(d),
        "GUILD_CREATE" => try_as::<GuildCreateEvent>(d),
        "MESSAGE_CREATE" => try_as::<MessageCreateEvent>(d),
        "MESSAGE_UPDATE" => try_as::<MessageUpdateEvent>(d),
        "MESSAGE_DELETE" => try_as::<MessageDeleteEvent>(d),
        "MESSAGE_REACTION_ADD" => try_as::<ReactionAddEvent>(d),
        "MESSAGE_REACTION_REMOVE" => try_as::<ReactionRemoveEvent>(d),
        "MESSAGE_REACTION_REMOVE_ALL" => try_as::<ReactionRemoveAllEvent>(d),
        "CHANNEL_PINS_UPDATE" => try_as::<ChannelPinsUpdateEvent>(d),
        "CHANNEL_CREATE" => try_as::<ChannelCreateEvent>(d),
        "CHANNEL_UPDATE" => try_as::<ChannelUpdateEvent>(d),
        "CHANNEL_DELETE" => try_as::<ChannelDeleteEvent>(d),
        "THREAD_CREATE" => try_as::<ThreadCreateEvent>(d),
        "THREAD_UPDATE" => try_as::<ThreadUpdateEvent>(d),
        "THREAD_DELETE" => try_as::<ThreadDeleteEvent>(d),
        "INTERACTION_CREATE" => try_as::<InteractionCreateEvent>(d),
        "GUILD_MEMBER_ADD" => try_as::<GuildMemberAddEvent>(d),
        "GUILD_MEMBER_UPDATE" => try_as::<GuildMemberUpdateEvent>(d),
        "GUILD_ROLE_CREATE" => try_as::<GuildRoleCreateEvent>(d),
        "GUILD_MEMBER_REMOVE" => try_as::<GuildMemberRemoveEvent>(d),
        "THREAD_MEMBERS_UPDATE" => try_as::<ThreadMembersUpdateEvent>(d),
        "GUILD_SCHEDULED_EVENT_CREATE" => try_as::<GuildScheduledEventCreateEvent>(d),
        "GUILD_SCHEDULED_EVENT_UPDATE" => try_as::<GuildScheduledEventUpdateEvent>(d),
        "GUILD_SCHEDULED_EVENT_DELETE" => try_as::<GuildScheduledEventDeleteEvent>(d),
        "RESUMED" => try_as::<ResumedEvent>(d),
        other => format!("no diagnosis for {other}"),
    }
}

/// Decodes one frame as serenity does and checks it is what its `op`/`t` say.
pub(crate) fn check_frame(text: &str) -> GatewayEvent {
    let v: Value = serde_json::from_str(text).expect("frame is JSON");
    let ev: GatewayEvent = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("frame does not decode as GatewayEvent: {e}\n{text}"));
    match (&ev, v["op"].as_u64()) {
        (GatewayEvent::Dispatch(seq, event), Some(0)) => {
            assert_eq!(Some(*seq), v["s"].as_u64());
            if let Event::Unknown(_) = event {
                panic!(
                    "{} decodes as Event::Unknown: {}\n{text}",
                    v["t"],
                    diagnose(&v)
                );
            }
            assert_eq!(
                event.name().as_deref(),
                v["t"].as_str(),
                "wrong Event variant for {text}"
            );
            if let Event::InteractionCreate(ic) = event {
                let expected = v["d"]["type"].as_u64();
                let got = match &ic.interaction {
                    Interaction::Command(_) => 2,
                    Interaction::Component(_) => 3,
                    Interaction::Autocomplete(_) => 4,
                    Interaction::Modal(_) => 5,
                    other => panic!("unexpected interaction variant {other:?}"),
                };
                assert_eq!(Some(got), expected, "interaction variant for {text}");
            }
        }
        (GatewayEvent::Hello(_), Some(10))
        | (GatewayEvent::HeartbeatAck, Some(11))
        | (GatewayEvent::Reconnect, Some(7))
        | (GatewayEvent::InvalidateSession(_), Some(9)) => {}
        (other, op) => panic!("op {op:?} decoded as {other:?}: {text}"),
    }
    ev
}

fn all_intents() -> u64 {
    intents::GUILDS
        | intents::GUILD_MEMBERS
        | intents::GUILD_MESSAGES
        | intents::GUILD_MESSAGE_REACTIONS
        | intents::DIRECT_MESSAGES
        | intents::DIRECT_MESSAGE_REACTIONS
        | intents::MESSAGE_CONTENT
}

async fn register(emu: &Emulator, http: &BotHttp) {
    let path = format!(
        "/applications/{}/guilds/{}/commands",
        emu.config().application_id,
        emu.guild_id()
    );
    http.ok("PUT", &path, Some(json!([incident_command()])))
        .await;
}

fn callback_path(i: &discord_emulator::Interaction) -> String {
    format!("/interactions/{}/{}/callback", i.id(), i.token())
}

fn webhook_path(emu: &Emulator, i: &discord_emulator::Interaction) -> String {
    format!("/webhooks/{}/{}", emu.config().application_id, i.token())
}

fn button_row(ids: &[&str]) -> Value {
    json!([{"type": 1, "components": ids.iter().map(|id| json!({"type": 2, "style": 1, "label": id, "custom_id": id})).collect::<Vec<_>>()}])
}

#[tokio::test]
async fn every_gateway_payload_decodes_as_the_right_serenity_event() {
    let emu = start().await;
    let responders = emu.add_role("responders");
    let alice = emu.member("alice", &[responders]);
    let incidents = emu.add_category("incidents");
    let general = emu.add_text_channel("general", None);
    let http = BotHttp::new(&emu);
    let mut gw = RawGateway::identify(&emu, all_intents()).await;
    register(&emu, &http).await;

    // A slash command, deferred then edited, plus a follow-up.
    let cmd = alice.run(general, r#"/incident open title:"Checkout is down" severity:SEV2 drill:true commander:@alice team:@responders where:#general impact:12"#).unwrap();
    gw.next_dispatch("INTERACTION_CREATE").await;
    http.ok("POST", &callback_path(&cmd), Some(json!({"type": 5})))
        .await;
    gw.next_dispatch("MESSAGE_CREATE").await;
    let edit = json!({"content": "Incident opened", "embeds": [{"title": "INC-1", "description": "Checkout is down", "fields": [{"name": "Severity", "value": "SEV2", "inline": true}], "color": 15158332, "footer": {"text": "warroom"}}], "components": button_row(&["ack", "resolve"]), "allowed_mentions": {"parse": []}});
    let original = http
        .ok(
            "PATCH",
            &format!("{}/messages/@original", webhook_path(&emu, &cmd)),
            Some(edit),
        )
        .await;
    gw.next_dispatch("MESSAGE_UPDATE").await;
    http.ok(
        "POST",
        &webhook_path(&emu, &cmd),
        Some(json!({"content": "follow-up", "flags": 0})),
    )
    .await;
    gw.next_dispatch("MESSAGE_CREATE").await;

    // Autocomplete.
    let ac = {
        let alice = alice.clone();
        tokio::spawn(async move {
            alice
                .autocomplete(general, "/incident ack incident:", "check")
                .await
        })
    };
    let frame = gw.next_dispatch("INTERACTION_CREATE").await;
    let ac_path = format!(
        "/interactions/{}/{}/callback",
        frame["d"]["id"].as_str().unwrap(),
        frame["d"]["token"].as_str().unwrap()
    );
    http.ok("POST", &ac_path, Some(json!({"type": 8, "data": {"choices": [{"name": "INC-1 Checkout is down", "value": "1"}]}}))).await;
    let choices = ac.await.unwrap().unwrap();
    assert_eq!(choices[0].value, json!("1"));

    // A button click answered with a modal, the modal submit answered with an update.
    let original_id =
        discord_emulator::MessageId(original["id"].as_str().unwrap().parse().unwrap());
    let click = alice.click(original_id, "ack").unwrap();
    gw.next_dispatch("INTERACTION_CREATE").await;
    let modal = json!({"type": 9, "data": {"custom_id": "ack-modal", "title": "Acknowledge", "components": [{"type": 1, "components": [{"type": 4, "custom_id": "note", "label": "Note", "style": 1}]}]}});
    http.ok("POST", &callback_path(&click), Some(modal)).await;
    let submit = alice
        .submit_modal(&click, &[("note", "on it")])
        .await
        .unwrap();
    gw.next_dispatch("INTERACTION_CREATE").await;
    http.ok(
        "POST",
        &callback_path(&submit),
        Some(json!({"type": 7, "data": {"content": "Acknowledged by alice", "components": []}})),
    )
    .await;
    gw.next_dispatch("MESSAGE_UPDATE").await;

    // What users do in a channel.
    let said = alice.say(general, "the checkout page 500s").unwrap();
    gw.next_dispatch("MESSAGE_CREATE").await;
    alice
        .say_with_attachment(general, "log", "log.txt", b"line 1\n")
        .unwrap();
    gw.next_dispatch("MESSAGE_CREATE").await;
    alice.edit(said, "the checkout page 502s").unwrap();
    gw.next_dispatch("MESSAGE_UPDATE").await;
    alice.react(said, "📌").unwrap();
    gw.next_dispatch("MESSAGE_REACTION_ADD").await;
    alice.react(said, "party:123456789012345678").unwrap();
    gw.next_dispatch("MESSAGE_REACTION_ADD").await;
    alice.unreact(said, "📌").unwrap();
    gw.next_dispatch("MESSAGE_REACTION_REMOVE").await;
    alice.pin(said).unwrap();
    gw.next_dispatch("CHANNEL_PINS_UPDATE").await;
    http.ok(
        "DELETE",
        &format!("/channels/{general}/messages/{said}/reactions"),
        None,
    )
    .await;
    gw.next_dispatch("MESSAGE_REACTION_REMOVE_ALL").await;
    alice.delete(said).unwrap();
    gw.next_dispatch("MESSAGE_DELETE").await;

    // Channels and threads the bot makes.
    let ch = http.ok("POST", &format!("/guilds/{}/channels", emu.guild_id()), Some(json!({"name": "inc-1-checkout", "type": 0, "parent_id": incidents.to_string(), "topic": "INC-1"}))).await;
    gw.next_dispatch("CHANNEL_CREATE").await;
    let ch_id = ch["id"].as_str().unwrap().to_string();
    http.ok(
        "PATCH",
        &format!("/channels/{ch_id}"),
        Some(json!({"name": "inc-1-resolved"})),
    )
    .await;
    gw.next_dispatch("CHANNEL_UPDATE").await;
    let posted = http
        .ok(
            "POST",
            &format!("/channels/{ch_id}/messages"),
            Some(json!({"content": "timeline"})),
        )
        .await;
    gw.next_dispatch("MESSAGE_CREATE").await;
    let thread = http
        .ok(
            "POST",
            &format!(
                "/channels/{ch_id}/messages/{}/threads",
                posted["id"].as_str().unwrap()
            ),
            Some(json!({"name": "notes", "auto_archive_duration": 1440})),
        )
        .await;
    gw.next_dispatch("THREAD_CREATE").await;
    http.ok(
        "POST",
        &format!("/channels/{ch_id}/threads"),
        Some(json!({"name": "private notes", "type": 12})),
    )
    .await;
    gw.next_dispatch("THREAD_CREATE").await;
    http.ok(
        "PATCH",
        &format!("/channels/{}", thread["id"].as_str().unwrap()),
        Some(json!({"archived": true})),
    )
    .await;
    gw.next_dispatch("THREAD_UPDATE").await;
    http.ok(
        "DELETE",
        &format!("/channels/{}", thread["id"].as_str().unwrap()),
        None,
    )
    .await;
    gw.next_dispatch("THREAD_DELETE").await;
    http.ok("DELETE", &format!("/channels/{ch_id}"), None).await;
    gw.next_dispatch("CHANNEL_DELETE").await;

    // Roles and members.
    let role = http
        .ok(
            "POST",
            &format!("/guilds/{}/roles", emu.guild_id()),
            Some(json!({"name": "inc-1"})),
        )
        .await;
    gw.next_dispatch("GUILD_ROLE_CREATE").await;
    http.ok(
        "PUT",
        &format!(
            "/guilds/{}/members/{}/roles/{}",
            emu.guild_id(),
            alice.id(),
            role["id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    gw.next_dispatch("GUILD_MEMBER_UPDATE").await;
    emu.add_member("bob", &[]);
    gw.next_dispatch("GUILD_MEMBER_ADD").await;

    // A DM and a button in it (the interaction has `user`, no `member`).
    alice.say_in_dm("hello bot").unwrap();
    gw.next_dispatch("MESSAGE_CREATE").await;
    let dm = http
        .ok(
            "POST",
            "/users/@me/channels",
            Some(json!({"recipient_id": alice.id().to_string()})),
        )
        .await;
    let page = http
        .ok(
            "POST",
            &format!("/channels/{}/messages", dm["id"].as_str().unwrap()),
            Some(json!({"content": "You are paged", "components": button_row(&["page-ack"])})),
        )
        .await;
    gw.next_dispatch("MESSAGE_CREATE").await;
    let page_id = discord_emulator::MessageId(page["id"].as_str().unwrap().parse().unwrap());
    alice.click(page_id, "page-ack").unwrap();
    let dm_click = gw.next_dispatch("INTERACTION_CREATE").await;
    assert!(dm_click["d"]["member"].is_null() && dm_click["d"]["guild_id"].is_null());
    assert_eq!(dm_click["d"]["user"]["id"], json!(alice.id().to_string()));

    // Op 7, then a resume on a new connection: replay and RESUMED.
    let last_seq = emu.gateway_stats().seq;
    emu.reconnect().unwrap();
    gw.next_op(7).await;
    alice.say(general, "said while the bot was away").unwrap();
    let mut gw2 = RawGateway::connect(&emu).await;
    gw2.send(json!({"op": 6, "d": {"token": format!("Bot {}", emu.config().bot_token), "session_id": emu.gateway_stats().session_id.unwrap(), "seq": last_seq}})).await;
    let replayed = gw2.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(replayed["d"]["content"], "said while the bot was away");
    gw2.next_dispatch("RESUMED").await;
    emu.invalid_session(true).unwrap();
    gw2.next_op(9).await;
    gw.drain(Duration::from_millis(100)).await;

    let frames: Vec<String> = gw.frames.iter().chain(gw2.frames.iter()).cloned().collect();
    let mut seen = std::collections::BTreeSet::new();
    for f in &frames {
        if let GatewayEvent::Dispatch(_, ev) = check_frame(f) {
            seen.insert(ev.name().unwrap());
        } else {
            seen.insert(format!(
                "op {}",
                serde_json::from_str::<Value>(f).unwrap()["op"]
            ));
        }
    }
    for f in emu.control_frames() {
        check_frame(&f);
    }
    // Heartbeat ACKs are control frames too; make sure one was produced and decodes.
    gw2.send(json!({"op": 1, "d": emu.gateway_stats().seq}))
        .await;
    let ack = gw2.next_op(11).await;
    check_frame(&ack.to_string());
    for name in [
        "READY",
        "GUILD_CREATE",
        "INTERACTION_CREATE",
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "MESSAGE_DELETE",
        "MESSAGE_REACTION_ADD",
        "MESSAGE_REACTION_REMOVE",
        "MESSAGE_REACTION_REMOVE_ALL",
        "CHANNEL_PINS_UPDATE",
        "CHANNEL_CREATE",
        "CHANNEL_UPDATE",
        "CHANNEL_DELETE",
        "THREAD_CREATE",
        "THREAD_UPDATE",
        "THREAD_DELETE",
        "GUILD_ROLE_CREATE",
        "GUILD_MEMBER_UPDATE",
        "GUILD_MEMBER_ADD",
        "RESUMED",
        "op 10",
        "op 7",
        "op 9",
    ] {
        assert!(
            seen.contains(name),
            "{name} was not exercised; saw {seen:?}"
        );
    }
    emu.shutdown().await;
}

fn decode<T: DeserializeOwned>(what: &str, v: &Value) -> T {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{what} does not decode: {e}\n{v}"))
}

#[tokio::test]
async fn every_rest_body_decodes_as_the_matching_serenity_type() {
    let emu = start().await;
    let alice = emu.member("alice", &[]);
    let incidents = emu.add_category("incidents");
    let general = emu.add_text_channel("general", None);
    let http = BotHttp::new(&emu);
    let _gw = RawGateway::identify(&emu, all_intents()).await;
    let app = emu.config().application_id;
    let g = emu.guild_id();

    let _: serenity::model::gateway::Gateway =
        decode("GET /gateway", &http.ok("GET", "/gateway", None).await);
    let _: BotGateway = decode(
        "GET /gateway/bot",
        &http.ok("GET", "/gateway/bot", None).await,
    );
    let _: CurrentUser = decode("GET /users/@me", &http.ok("GET", "/users/@me", None).await);
    let _: User = decode(
        "GET /users/{id}",
        &http
            .ok("GET", &format!("/users/{}", alice.id()), None)
            .await,
    );
    let _: CurrentApplicationInfo = decode(
        "GET /oauth2/applications/@me",
        &http.ok("GET", "/oauth2/applications/@me", None).await,
    );
    let _: Vec<Command> = decode(
        "PUT guild commands",
        &http
            .ok(
                "PUT",
                &format!("/applications/{app}/guilds/{g}/commands"),
                Some(json!([incident_command()])),
            )
            .await,
    );
    let _: Vec<Command> = decode(
        "GET guild commands",
        &http
            .ok(
                "GET",
                &format!("/applications/{app}/guilds/{g}/commands"),
                None,
            )
            .await,
    );
    let _: Vec<Command> = decode(
        "PUT global commands",
        &http
            .ok(
                "PUT",
                &format!("/applications/{app}/commands"),
                Some(json!([{"name": "status", "description": "Status"}])),
            )
            .await,
    );
    let _: Command = decode(
        "POST global command",
        &http
            .ok(
                "POST",
                &format!("/applications/{app}/commands"),
                Some(json!({"name": "ping", "description": "Ping"})),
            )
            .await,
    );
    let _: PartialGuild = decode(
        "GET /guilds/{id}",
        &http.ok("GET", &format!("/guilds/{g}"), None).await,
    );
    let _: Vec<GuildChannel> = decode(
        "GET guild channels",
        &http.ok("GET", &format!("/guilds/{g}/channels"), None).await,
    );
    let ch = http
        .ok(
            "POST",
            &format!("/guilds/{g}/channels"),
            Some(json!({"name": "INC 1 Checkout Down", "parent_id": incidents.to_string()})),
        )
        .await;
    let created: GuildChannel = decode("POST guild channel", &ch);
    assert_eq!(
        created.name, "inc-1-checkout-down",
        "Discord normalises text channel names"
    );
    assert_eq!(created.parent_id.map(|p| p.get()), Some(incidents.get()));
    let Channel::Guild(_) = decode::<Channel>(
        "GET /channels/{id}",
        &http.ok("GET", &format!("/channels/{general}"), None).await,
    ) else {
        panic!("not a guild channel")
    };
    let dm = http
        .ok(
            "POST",
            "/users/@me/channels",
            Some(json!({"recipient_id": alice.id().to_string()})),
        )
        .await;
    let _: PrivateChannel = decode("POST /users/@me/channels", &dm);
    let Channel::Private(_) = decode::<Channel>(
        "GET DM channel",
        &http
            .ok(
                "GET",
                &format!("/channels/{}", dm["id"].as_str().unwrap()),
                None,
            )
            .await,
    ) else {
        panic!("not a DM")
    };
    let msg = http.ok("POST", &format!("/channels/{general}/messages"), Some(json!({"content": "hi <@{}>".replace("{}", &alice.id().to_string()), "embeds": [{"title": "t", "description": "d", "fields": [{"name": "a", "value": "b"}]}], "components": button_row(&["x"])}))).await;
    let m: Message = decode("POST message", &msg);
    assert_eq!(m.mentions.len(), 1);
    let mid = msg["id"].as_str().unwrap();
    let (status, with_file) = http
        .multipart(
            "POST",
            &format!("/channels/{general}/messages"),
            json!({"content": "report", "attachments": [{"id": 0, "filename": "report.md"}]}),
            &[("report.md", b"# Report\n")],
        )
        .await;
    assert_eq!(status, 200, "{with_file}");
    let m: Message = decode("POST multipart message", &with_file);
    assert_eq!(m.attachments[0].filename, "report.md");
    let _: Message = decode(
        "PATCH message",
        &http
            .ok(
                "PATCH",
                &format!("/channels/{general}/messages/{mid}"),
                Some(json!({"content": "edited"})),
            )
            .await,
    );
    http.ok(
        "PUT",
        &format!("/channels/{general}/messages/{mid}/reactions/%F0%9F%93%8C/@me"),
        None,
    )
    .await;
    let _: Message = decode(
        "GET message",
        &http
            .ok("GET", &format!("/channels/{general}/messages/{mid}"), None)
            .await,
    );
    let _: Vec<User> = decode(
        "GET reactions",
        &http
            .ok(
                "GET",
                &format!("/channels/{general}/messages/{mid}/reactions/%F0%9F%93%8C"),
                None,
            )
            .await,
    );
    http.ok("PUT", &format!("/channels/{general}/pins/{mid}"), None)
        .await;
    let _: Vec<Message> = decode(
        "GET pins",
        &http
            .ok("GET", &format!("/channels/{general}/pins"), None)
            .await,
    );
    let _: Vec<Message> = decode(
        "GET messages",
        &http
            .ok(
                "GET",
                &format!("/channels/{general}/messages?&limit=50"),
                None,
            )
            .await,
    );
    let _: GuildChannel = decode(
        "POST thread from message",
        &http
            .ok(
                "POST",
                &format!("/channels/{general}/messages/{mid}/threads"),
                Some(json!({"name": "t"})),
            )
            .await,
    );
    let _: GuildChannel = decode(
        "POST thread",
        &http
            .ok(
                "POST",
                &format!("/channels/{general}/threads"),
                Some(json!({"name": "t2", "type": 11})),
            )
            .await,
    );
    let _: Member = decode(
        "GET member",
        &http
            .ok("GET", &format!("/guilds/{g}/members/{}", alice.id()), None)
            .await,
    );
    let _: Vec<Member> = decode(
        "GET members",
        &http
            .ok("GET", &format!("/guilds/{g}/members?&limit=100"), None)
            .await,
    );
    let _: Vec<Role> = decode(
        "GET roles",
        &http.ok("GET", &format!("/guilds/{g}/roles"), None).await,
    );
    let _: Role = decode(
        "POST role",
        &http
            .ok(
                "POST",
                &format!("/guilds/{g}/roles"),
                Some(json!({"name": "inc-1"})),
            )
            .await,
    );

    let cmd = alice
        .run(general, "/incident open title:x severity:SEV1")
        .unwrap();
    http.ok(
        "POST",
        &callback_path(&cmd),
        Some(json!({"type": 4, "data": {"content": "ok", "flags": 64}})),
    )
    .await;
    let hook = webhook_path(&emu, &cmd);
    let _: Message = decode(
        "GET @original",
        &http
            .ok("GET", &format!("{hook}/messages/@original"), None)
            .await,
    );
    let _: Message = decode(
        "PATCH @original",
        &http
            .ok(
                "PATCH",
                &format!("{hook}/messages/@original"),
                Some(json!({"content": "ok!"})),
            )
            .await,
    );
    let f = http
        .ok("POST", &hook, Some(json!({"content": "more"})))
        .await;
    let _: Message = decode("POST follow-up", &f);
    let _: Message = decode(
        "PATCH follow-up",
        &http
            .ok(
                "PATCH",
                &format!("{hook}/messages/{}", f["id"].as_str().unwrap()),
                Some(json!({"content": "more!"})),
            )
            .await,
    );

    // Error bodies decode as serenity's DiscordJsonError with the path of the bad field.
    let (status, body) = http
        .call(
            "POST",
            &format!("/channels/{general}/messages"),
            Some(json!({"content": "x".repeat(2001)})),
        )
        .await;
    assert_eq!(status, 400);
    let err: serenity::http::DiscordJsonError = decode("50035 body", &body);
    assert_eq!(err.code, 50035);
    assert_eq!(err.errors[0].path, "content");
    let _: serenity::http::DiscordJsonError = decode(
        "404 body",
        &http.call("GET", "/channels/1/messages/2", None).await.1,
    );
    tokio::time::timeout(WAIT, emu.shutdown()).await.unwrap();
}
