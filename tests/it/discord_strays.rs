//! What warroom was not meant to act on, through the real client and the emulator on both
//! backends (issue 11's bad input): a button whose `custom_id` names no live incident or run
//! (a card left from before the database was restored), an interaction from another guild
//! than the configured one, and messages in a channel that belongs to no incident. Each is
//! refused or ignored, changes nothing, and the gateway stays up (a command after them is
//! answered).

use serde_json::json;

use crate::on_both_backends;
use crate::support::TestDb;
use crate::support::discord::{Converse, World};

on_both_backends!(
    buttons_naming_no_live_incident_or_run_are_refused_and_change_nothing,
    an_interaction_from_another_guild_is_ignored,
    messages_in_a_channel_of_no_incident_are_ignored,
);

/// Posts, as the bot would have, a message in `general` with buttons naming incident 999 and
/// run 999 (neither exists).
async fn stale_card(world: &World) -> discord_emulator::MessageId {
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/v10/channels/{}/messages",
            world.emu.api_base(),
            world.general
        ))
        .header(
            "Authorization",
            format!("Bot {}", world.emu.config().bot_token),
        )
        .json(&json!({
            "content": "a card from before the restore",
            "components": [{"type": 1, "components": [
                {"type": 2, "style": 1, "label": "Acknowledge", "custom_id": "incident:ack:999"},
                {"type": 2, "style": 3, "label": "Approve", "custom_id": "run:approve:999"},
                {"type": 2, "style": 4, "label": "Deny", "custom_id": "run:deny:999"},
                {"type": 2, "style": 2, "label": "?", "custom_id": "something:else:1"}
            ]}]
        }))
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let body: serde_json::Value = response.json().await.unwrap();
    discord_emulator::MessageId(body["id"].as_str().unwrap().parse().unwrap())
}

async fn buttons_naming_no_live_incident_or_run_are_refused_and_change_nothing(db: TestDb) {
    let world = World::start(db).await;
    let alice = world.emu.member(
        "alice",
        &[world.responders, world.commanders, world.admins, world.dbas],
    );
    alice
        .runs(
            world.general,
            r#"/incident open title:"Live one" severity:SEV3"#,
        )
        .await
        .replied("Opened **INC-1**");
    world.wait_for_room(warroom::domain::IncidentId(1)).await;
    let card = stale_card(&world).await;
    let before = world.db.snapshot().await;
    alice
        .clicks(card, "incident:ack:999")
        .await
        .replied_privately("INC-999");
    alice
        .clicks(card, "run:approve:999")
        .await
        .replied_privately("999");
    alice
        .clicks(card, "run:deny:999")
        .await
        .replied_privately("999");
    alice
        .clicks(card, "something:else:1")
        .await
        .replied_privately("not one warroom knows");
    assert_eq!(
        world.db.snapshot().await,
        before,
        "a stale button changed something"
    );
    alice.runs(world.general, "/oncall show").await.replied("");
    world.stop().await;
}

async fn an_interaction_from_another_guild_is_ignored(db: TestDb) {
    let world = World::start(db).await;
    let alice = world.emu.member("alice", &[world.responders]);
    let before = world.db.snapshot().await;
    world
        .emu
        .next_interaction_from_guild(discord_emulator::GuildId(4242));
    let foreign = alice
        .run(
            world.general,
            r#"/incident open title:"Not ours" severity:SEV3"#,
        )
        .unwrap();
    // Nothing answers it; the command after it (from this guild) is answered, so the first
    // was looked at and passed over, not left in a queue.
    alice.runs(world.general, "/oncall show").await.replied("");
    assert!(
        foreign.current_response().is_none(),
        "an interaction from another guild was answered"
    );
    assert_eq!(
        world.db.snapshot().await,
        before,
        "another guild's command changed something"
    );
    world.stop().await;
}

async fn messages_in_a_channel_of_no_incident_are_ignored(db: TestDb) {
    let world = World::start(db).await;
    let alice = world.emu.member("alice", &[world.responders]);
    alice
        .runs(
            world.general,
            r#"/incident open title:"Elsewhere" severity:SEV3"#,
        )
        .await
        .replied("Opened **INC-1**");
    world.wait_for_room(warroom::domain::IncidentId(1)).await;
    let before = world.db.snapshot().await;
    let said = alice.say(world.general, "chatter in #general").unwrap();
    alice.react(said, "📌").unwrap();
    alice.edit(said, "edited chatter").unwrap();
    alice.delete(said).unwrap();
    alice.runs(world.general, "/oncall show").await.replied("");
    assert_eq!(
        world.db.snapshot().await,
        before,
        "a message outside incidents was recorded"
    );
    world.stop().await;
}
