//! The driver reads like a conversation and refuses what a Discord client would not send.

use std::time::Duration;

use discord_emulator::{CallbackKind, Error, intents};
use serde_json::json;

use crate::support::{BotHttp, RawGateway, incident_command, start};

const ALL: u64 = intents::GUILDS
    | intents::GUILD_MESSAGES
    | intents::GUILD_MESSAGE_REACTIONS
    | intents::DIRECT_MESSAGES
    | intents::MESSAGE_CONTENT;

async fn registered() -> (discord_emulator::Emulator, BotHttp, RawGateway) {
    let emu = start().await;
    let http = BotHttp::new(&emu);
    let gw = RawGateway::identify(&emu, ALL).await;
    let path = format!(
        "/applications/{}/guilds/{}/commands",
        emu.config().application_id,
        emu.guild_id()
    );
    http.ok("PUT", &path, Some(json!([incident_command()])))
        .await;
    (emu, http, gw)
}

#[tokio::test]
async fn a_command_line_becomes_nested_options_with_resolved_objects() {
    let (emu, _http, mut gw) = registered().await;
    let responders = emu.add_role("responders");
    let alice = emu.member("alice", &[responders]);
    let bob = emu.member("bob", &[]);
    let general = emu.add_text_channel("general", None);
    let line = format!(
        r#"/incident open title:"Checkout \"cart\" is down" severity:sev2 drill:true commander:{} team:@responders where:#general impact:12"#,
        bob.mention()
    );
    alice.run(general, &line).unwrap();
    let d = gw.next_dispatch("INTERACTION_CREATE").await["d"].clone();
    assert_eq!(d["type"], 2);
    assert_eq!(d["guild_id"], json!(emu.guild_id().to_string()));
    assert_eq!(d["member"]["user"]["id"], json!(alice.id().to_string()));
    assert!(d["member"]["permissions"].is_string() && d["app_permissions"].is_string());
    let sub = &d["data"]["options"][0];
    assert_eq!(
        (sub["name"].as_str(), sub["type"].as_u64()),
        (Some("open"), Some(1))
    );
    let opt = |name: &str| {
        sub["options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["name"] == name)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(opt("title"), json!("Checkout \"cart\" is down"));
    assert_eq!(
        opt("severity"),
        json!("SEV2"),
        "choices match by name, case-insensitively"
    );
    assert_eq!(opt("drill"), json!(true));
    assert_eq!(opt("impact"), json!(12));
    assert_eq!(opt("commander"), json!(bob.id().to_string()));
    let resolved = &d["data"]["resolved"];
    assert_eq!(resolved["users"][bob.id().to_string()]["username"], "bob");
    assert!(resolved["members"][bob.id().to_string()]["permissions"].is_string());
    assert_eq!(
        resolved["roles"][responders.to_string()]["name"],
        "responders"
    );
    assert_eq!(resolved["channels"][general.to_string()]["name"], "general");
}

#[tokio::test]
async fn lines_a_discord_client_would_refuse_are_errors_that_say_why() {
    let (emu, _http, _gw) = registered().await;
    let general = emu.add_text_channel("general", None);
    let alice = emu.member("alice", &[]);
    let err = |line: &str| match alice.run(general, line) {
        Err(Error::Invalid(m)) => m,
        other => panic!(
            "{line:?} should be refused, got {:?}",
            other.map(|i| i.id())
        ),
    };
    assert!(
        err("/nope").contains("no registered slash command /nope; the bot registered: /incident")
    );
    assert!(err("/incident").contains("needs a subcommand: open, ack"));
    assert!(err("/incident close").contains("no subcommand \"close\""));
    assert!(err("/incident open severity:SEV1").contains("required option \"title\" is missing"));
    assert!(err("/incident open title:x severity:SEV9").contains("not one of the choices"));
    assert!(
        err("/incident open title:x severity:SEV1 colour:red").contains("no option \"colour\"")
    );
    assert!(err("/incident open title:x severity:SEV1 impact:-1").contains("below min_value"));
    assert!(err("/incident open title:x severity:SEV1 drill:maybe").contains("not true or false"));
    assert!(err(r#"/incident open title:"x severity:SEV1"#).contains("unbalanced quote"));
}

#[tokio::test]
async fn an_interaction_needs_a_connected_bot() {
    let emu = start().await;
    let general = emu.add_text_channel("general", None);
    let alice = emu.member("alice", &[]);
    match alice.run(general, "/incident open title:x severity:SEV1") {
        Err(Error::NotConnected(m)) => assert!(m.contains("wait_connected")),
        other => panic!("expected NotConnected, got {:?}", other.map(|i| i.id())),
    }
}

#[tokio::test]
async fn messages_keep_their_history_and_produce_discords_dispatches() {
    let (emu, http, mut gw) = registered().await;
    let general = emu.add_text_channel("general", None);
    let alice = emu.member("alice", &[]);
    let m = alice.say(general, "first").unwrap();
    let created = gw.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(created["d"]["guild_id"], json!(emu.guild_id().to_string()));
    assert!(created["d"]["member"]["roles"].is_array());
    alice.edit(m, "second").unwrap();
    alice.react(m, "📌").unwrap();
    alice.pin(m).unwrap();
    gw.next_dispatch("CHANNEL_PINS_UPDATE").await;
    let reply = alice.reply(m, "a reply").unwrap();
    alice.delete(reply).unwrap();
    let files = alice
        .say_with_attachment(general, "log attached", "log.txt", b"boom\n")
        .unwrap();
    let msgs = emu.messages(general);
    let first = msgs.iter().find(|x| x.id == m).unwrap();
    assert_eq!(first.content, "second");
    assert_eq!(first.revisions[0].content, "first");
    assert!(first.pinned && first.edited_at.is_some());
    assert_eq!(first.reactors("📌"), vec![alice.id()]);
    assert!(
        msgs.iter().any(|x| x.kind == 6),
        "pinning posts Discord's system message"
    );
    let deleted = msgs.iter().find(|x| x.id == reply).unwrap();
    assert!(deleted.deleted && deleted.kind == 19);
    // Attachment URLs point at the emulator, so `Attachment::download()` works.
    let got = http
        .ok(
            "GET",
            &format!("/channels/{general}/messages/{files}"),
            None,
        )
        .await;
    let url = got["attachments"][0]["url"].as_str().unwrap();
    assert!(url.starts_with(&emu.api_base()));
    let bytes = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"boom\n");
    // Edits of someone else's message are refused, like in Discord's client.
    let bob = emu.member("bob", &[]);
    assert!(matches!(bob.edit(m, "hijack"), Err(Error::Invalid(_))));
}

#[tokio::test]
async fn responses_followups_selects_and_waits() {
    let (emu, http, _gw) = registered().await;
    let general = emu.add_text_channel("general", None);
    let alice = emu.member("alice", &[]);
    let i = alice
        .run(general, "/incident open title:x severity:SEV1")
        .unwrap();
    assert_eq!(i.user(), alice.id());
    let select = json!([{"type": 1, "components": [{"type": 3, "custom_id": "sev", "options": [{"label": "SEV1", "value": "1"}, {"label": "SEV2", "value": "2"}]}]}]);
    let cb = format!("/interactions/{}/{}/callback", i.id(), i.token());
    http.ok("POST", &cb, Some(json!({"type": 4, "data": {"content": "pick", "components": select, "flags": 64, "allowed_mentions": {"parse": []}}}))).await;
    let r = i.response().await.unwrap();
    assert_eq!(r.kind, CallbackKind::Message);
    assert!(r.ephemeral());
    assert_eq!(r.allowed_mentions(), Some(&json!({"parse": []})));
    let hook = format!("/webhooks/{}/{}", emu.config().application_id, i.token());
    http.ok("POST", &hook, Some(json!({"content": "one"})))
        .await;
    assert_eq!(i.wait_followups(1).await.unwrap()[0].content, "one");
    let msg = r.message.unwrap();
    assert!(
        matches!(alice.click(msg.id, "sev"), Err(Error::Invalid(_))),
        "a select is not clicked"
    );
    let picked = alice.select(msg.id, "sev", &["2"]).unwrap();
    assert_eq!(picked.payload()["data"]["values"], json!(["2"]));
    assert_eq!(picked.payload()["message"]["id"], json!(msg.id.to_string()));
    match emu
        .wait_for_message(
            general,
            |m: &discord_emulator::Message| m.content == "never",
            Duration::from_millis(50),
        )
        .await
    {
        Err(Error::Timeout { awaited, .. }) => assert!(awaited.contains("#general"), "{awaited}"),
        other => panic!("expected a timeout, got {other:?}"),
    }
}
