//! Discord's rules that serenity does not check, answered with Discord's error bodies.

use std::time::Duration;

use discord_emulator::{Emulator, EmulatorConfig, intents};
use serde_json::{Value, json};

use crate::support::{BotHttp, RawGateway, incident_command, init_logs, start};

const BASIC: u64 = intents::GUILDS | intents::GUILD_MESSAGES | intents::DIRECT_MESSAGES;

async fn connected() -> (Emulator, BotHttp, RawGateway) {
    let emu = start().await;
    let http = BotHttp::new(&emu);
    let gw = RawGateway::identify(&emu, BASIC | intents::MESSAGE_CONTENT).await;
    let path = format!(
        "/applications/{}/guilds/{}/commands",
        emu.config().application_id,
        emu.guild_id()
    );
    http.ok("PUT", &path, Some(json!([incident_command()])))
        .await;
    (emu, http, gw)
}

fn callback(i: &discord_emulator::Interaction) -> String {
    format!("/interactions/{}/{}/callback", i.id(), i.token())
}

fn form_error(body: &Value, pointer: &str) -> String {
    assert_eq!(body["code"], 50035, "not an Invalid Form Body: {body}");
    assert_eq!(body["message"], "Invalid Form Body");
    let errs = body["errors"]
        .pointer(pointer)
        .and_then(|v| v.get("_errors"))
        .unwrap_or_else(|| panic!("no error at {pointer}: {body}"));
    errs[0]["code"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_callback_after_three_seconds_is_an_unknown_interaction() {
    let (emu, http, _gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    let alice = emu.member("alice", &[]);
    let i = alice
        .run(ch, "/incident open title:x severity:SEV1")
        .unwrap();
    emu.advance(Duration::from_millis(3100));
    let (status, body) = http
        .call(
            "POST",
            &callback(&i),
            Some(json!({"type": 4, "data": {"content": "late"}})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (404, Some(10062)),
        "{body}"
    );
    assert_eq!(body["message"], "Unknown interaction");
    assert_eq!(i.attempts()[0].error_code, Some(10062));
    assert!(i.current_response().is_none());
}

#[tokio::test]
async fn a_second_callback_is_already_acknowledged() {
    let (emu, http, _gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    let i = emu
        .member("alice", &[])
        .run(ch, "/incident open title:x severity:SEV1")
        .unwrap();
    http.ok("POST", &callback(&i), Some(json!({"type": 5})))
        .await;
    let (status, body) = http
        .call(
            "POST",
            &callback(&i),
            Some(json!({"type": 4, "data": {"content": "again"}})),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(40060)),
        "{body}"
    );
    let attempts = i.attempts();
    assert_eq!((attempts[0].status, attempts[1].status), (204, 400));
}

#[tokio::test]
async fn webhook_use_after_fifteen_minutes_is_refused() {
    let (emu, http, _gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    let i = emu
        .member("alice", &[])
        .run(ch, "/incident open title:x severity:SEV1")
        .unwrap();
    http.ok("POST", &callback(&i), Some(json!({"type": 5})))
        .await;
    let original = format!(
        "/webhooks/{}/{}/messages/@original",
        emu.config().application_id,
        i.token()
    );
    http.ok("PATCH", &original, Some(json!({"content": "in time"})))
        .await;
    emu.advance(Duration::from_secs(15 * 60 + 1));
    // Discord answers an expired interaction token with 401 "Invalid Webhook Token".
    let (status, body) = http
        .call("PATCH", &original, Some(json!({"content": "too late"})))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (401, Some(50027)),
        "{body}"
    );
    let (status, _) = http
        .call(
            "POST",
            &format!("/webhooks/{}/{}", emu.config().application_id, i.token()),
            Some(json!({"content": "late follow-up"})),
        )
        .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn message_limits_are_invalid_form_bodies() {
    let (emu, http, _gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    let post = format!("/channels/{ch}/messages");
    let (status, body) = http
        .call("POST", &post, Some(json!({"content": "x".repeat(2001)})))
        .await;
    assert_eq!(status, 400);
    assert_eq!(form_error(&body, "/content"), "BASE_TYPE_MAX_LENGTH");
    let eleven: Vec<Value> = (0..11).map(|i| json!({"title": format!("e{i}")})).collect();
    let (_, body) = http
        .call("POST", &post, Some(json!({"embeds": eleven})))
        .await;
    assert_eq!(form_error(&body, "/embeds"), "BASE_TYPE_MAX_LENGTH");
    let (_, body) = http
        .call(
            "POST",
            &post,
            Some(json!({"embeds": [{"description": "d".repeat(4097)}]})),
        )
        .await;
    assert_eq!(
        form_error(&body, "/embeds/0/description"),
        "BASE_TYPE_MAX_LENGTH"
    );
    let fields: Vec<Value> = (0..26)
        .map(|i| json!({"name": format!("f{i}"), "value": "v"}))
        .collect();
    let (_, body) = http
        .call("POST", &post, Some(json!({"embeds": [{"fields": fields}]})))
        .await;
    assert_eq!(
        form_error(&body, "/embeds/0/fields"),
        "BASE_TYPE_MAX_LENGTH"
    );
    let half = json!({"description": "d".repeat(3001)});
    let (_, body) = http
        .call("POST", &post, Some(json!({"embeds": [half.clone(), half]})))
        .await;
    assert_eq!(form_error(&body, "/embeds"), "MAX_EMBED_SIZE_EXCEEDED");
    let button = |id: String| json!({"type": 2, "style": 1, "label": "b", "custom_id": id});
    let rows: Vec<Value> = (0..6)
        .map(|r| json!({"type": 1, "components": [button(format!("r{r}"))]}))
        .collect();
    let (_, body) = http
        .call(
            "POST",
            &post,
            Some(json!({"content": "c", "components": rows})),
        )
        .await;
    assert_eq!(form_error(&body, "/components"), "BASE_TYPE_MAX_LENGTH");
    let wide = json!({"type": 1, "components": (0..6).map(|b| button(format!("b{b}"))).collect::<Vec<_>>()});
    let (_, body) = http
        .call(
            "POST",
            &post,
            Some(json!({"content": "c", "components": [wide]})),
        )
        .await;
    assert_eq!(
        form_error(&body, "/components/0/components"),
        "BASE_TYPE_MAX_LENGTH"
    );
    let long_id = json!({"type": 1, "components": [button("x".repeat(101))]});
    let (_, body) = http
        .call(
            "POST",
            &post,
            Some(json!({"content": "c", "components": [long_id]})),
        )
        .await;
    assert_eq!(
        form_error(&body, "/components/0/components/0/custom_id"),
        "BASE_TYPE_BAD_LENGTH"
    );
    let (status, body) = http.call("POST", &post, Some(json!({"content": ""}))).await;
    assert_eq!((status, body["code"].as_u64()), (400, Some(50006)));
    // The same rules apply to interaction responses (paths under `data`).
    let i = emu
        .member("alice", &[])
        .run(ch, "/incident open title:x severity:SEV1")
        .unwrap();
    let (_, body) = http
        .call(
            "POST",
            &callback(&i),
            Some(json!({"type": 4, "data": {"content": "x".repeat(2001)}})),
        )
        .await;
    assert_eq!(form_error(&body, "/data/content"), "BASE_TYPE_MAX_LENGTH");
    assert!(
        emu.bot_messages(ch).is_empty(),
        "nothing invalid was posted"
    );
}

#[tokio::test]
async fn twenty_six_autocomplete_choices_are_refused() {
    let (emu, http, mut gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    let alice = emu.member("alice", &[]);
    let pending =
        tokio::spawn(async move { alice.autocomplete(ch, "/incident ack incident:", "c").await });
    let frame = gw.next_dispatch("INTERACTION_CREATE").await;
    assert_eq!(
        frame["d"]["data"]["options"][0]["options"][0]["focused"],
        true
    );
    let path = format!(
        "/interactions/{}/{}/callback",
        frame["d"]["id"].as_str().unwrap(),
        frame["d"]["token"].as_str().unwrap()
    );
    let choices: Vec<Value> = (0..26)
        .map(|i| json!({"name": format!("c{i}"), "value": format!("{i}")}))
        .collect();
    let (status, body) = http
        .call(
            "POST",
            &path,
            Some(json!({"type": 8, "data": {"choices": choices}})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(form_error(&body, "/data/choices"), "BASE_TYPE_MAX_LENGTH");
    // A refused callback is not an answer.
    let id = discord_emulator::InteractionId(frame["d"]["id"].as_str().unwrap().parse().unwrap());
    let interaction = emu.interaction(id).unwrap();
    assert!(interaction.current_response().is_none());
    assert_eq!(interaction.attempts()[0].error_code, Some(50035));
    pending.abort();
}

#[tokio::test]
async fn command_registration_limits_are_refused() {
    let (emu, http, _gw) = connected().await;
    let path = format!("/applications/{}/commands", emu.config().application_id);
    let options: Vec<Value> = (0..26)
        .map(|i| json!({"type": 3, "name": format!("o{i}"), "description": "d"}))
        .collect();
    let (status, body) = http
        .call(
            "PUT",
            &path,
            Some(json!([{"name": "big", "description": "d", "options": options}])),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(form_error(&body, "/0/options"), "BASE_TYPE_MAX_LENGTH");
    let (_, body) = http
        .call(
            "PUT",
            &path,
            Some(json!([{"name": "Has Spaces", "description": "d"}])),
        )
        .await;
    assert_eq!(
        form_error(&body, "/0/name"),
        "APPLICATION_COMMAND_INVALID_NAME"
    );
    let choices: Vec<Value> = (0..26)
        .map(|i| json!({"name": format!("c{i}"), "value": format!("{i}")}))
        .collect();
    let (_, body) = http.call("PUT", &path, Some(json!([{"name": "pick", "description": "d", "options": [{"type": 3, "name": "x", "description": "d", "choices": choices}]}]))).await;
    assert_eq!(
        form_error(&body, "/0/options/0/choices"),
        "BASE_TYPE_MAX_LENGTH"
    );
    let (_, body) = http
        .call(
            "PUT",
            &path,
            Some(json!([{"name": "x", "description": "d".repeat(101)}])),
        )
        .await;
    assert_eq!(form_error(&body, "/0/description"), "BASE_TYPE_BAD_LENGTH");
    let (_, body) = http.call("PUT", &path, Some(json!([{"name": "x", "description": "d", "options": [{"type": 3, "name": "a", "description": "d"}, {"type": 3, "name": "b", "description": "d", "required": true}]}]))).await;
    assert_eq!(
        form_error(&body, "/0/options/1/required"),
        "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID_ORDER"
    );
    assert!(
        emu.registered_commands()
            .iter()
            .all(|c| c.guild_id.is_some()),
        "refused registrations register nothing"
    );
}

#[tokio::test]
async fn an_armed_429_carries_retry_after_and_rate_limit_headers() {
    let (emu, _http, _gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    emu.rate_limit_next("POST /channels/{id}/messages", Duration::from_millis(1500));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("{}/api/v10/channels/{ch}/messages", emu.api_base());
    let send = || {
        client
            .post(&url)
            .header("Authorization", format!("Bot {}", emu.config().bot_token))
            .json(&json!({"content": "hi"}))
            .send()
    };
    let resp = send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 429);
    let h = resp.headers().clone();
    assert_eq!(h["retry-after"], "2");
    assert_eq!(h["x-ratelimit-remaining"], "0");
    assert_eq!(h["x-ratelimit-reset-after"], "1.500");
    assert!(
        h.contains_key("x-ratelimit-bucket")
            && h.contains_key("x-ratelimit-limit")
            && h.contains_key("x-ratelimit-reset")
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["retry_after"], 1.5);
    assert_eq!(body["global"], false);
    assert_eq!(
        send().await.unwrap().status().as_u16(),
        200,
        "only the next request was limited"
    );
}

#[tokio::test]
async fn unknown_things_and_wrong_tokens_get_discords_errors() {
    let (emu, http, _gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    let (status, body) = http.call("GET", "/channels/42", None).await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10003)));
    let (status, body) = http
        .call("GET", &format!("/channels/{ch}/messages/42"), None)
        .await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10008)));
    let (status, body) = http
        .call(
            "POST",
            "/interactions/42/nope/callback",
            Some(json!({"type": 4, "data": {"content": "x"}})),
        )
        .await;
    assert_eq!((status, body["code"].as_u64()), (404, Some(10062)));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let resp = client
        .get(format!("{}/api/v10/users/@me", emu.api_base()))
        .header("Authorization", "Bot wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // Gateway: a wrong token is closed with 4004.
    let mut gw = RawGateway::connect(&emu).await;
    gw.send(json!({"op": 2, "d": {"token": "Bot wrong", "intents": BASIC, "properties": {}}}))
        .await;
    assert_eq!(close_code(&mut gw).await, 4004);
}

async fn close_code(gw: &mut RawGateway) -> u16 {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match tokio::time::timeout(crate::support::WAIT, gw.raw().next())
            .await
            .expect("a close within the wait")
        {
            Some(Ok(Message::Close(Some(frame)))) => return frame.code.into(),
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn privileged_intents_the_app_lacks_are_closed_with_4014() {
    init_logs();
    let config = EmulatorConfig {
        allowed_privileged_intents: 0,
        ..EmulatorConfig::for_tests()
    };
    let emu = Emulator::start(config).await;
    let mut gw = RawGateway::connect(&emu).await;
    gw.send(json!({"op": 2, "d": {"token": format!("Bot {}", emu.config().bot_token), "intents": BASIC | intents::MESSAGE_CONTENT, "properties": {}}})).await;
    assert_eq!(close_code(&mut gw).await, 4014);
}

#[tokio::test]
async fn without_message_content_the_content_arrives_blank_except_dms_and_mentions() {
    let emu = start().await;
    let ch = emu.add_text_channel("general", None);
    let alice = emu.member("alice", &[]);
    let mut gw = RawGateway::identify(&emu, BASIC).await;
    alice.say(ch, "secret plans").unwrap();
    let f = gw.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(f["d"]["content"], "");
    alice
        .say(ch, &format!("<@{}> look", emu.bot_user_id()))
        .unwrap();
    let f = gw.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(f["d"]["content"], format!("<@{}> look", emu.bot_user_id()));
    alice.say_in_dm("dm text").unwrap();
    let f = gw.next_dispatch("MESSAGE_CREATE").await;
    assert_eq!(f["d"]["content"], "dm text");
    // The world keeps the real content.
    assert_eq!(emu.messages(ch)[0].content, "secret plans");
}

#[tokio::test]
async fn context_menu_commands_have_no_description_or_options() {
    let (emu, http, _gw) = connected().await;
    let path = format!(
        "/applications/{}/guilds/{}/commands",
        emu.config().application_id,
        emu.guild_id()
    );
    let ok = http
        .call(
            "PUT",
            &path,
            Some(json!([incident_command(), {"name": "Open incident from message", "type": 3}])),
        )
        .await;
    assert_eq!(ok.0, 200, "{}", ok.1);
    let (_, body) = http
        .call(
            "PUT",
            &path,
            Some(json!([{"name": "Open incident from message", "type": 3, "description": "no"}])),
        )
        .await;
    assert_eq!(
        form_error(&body, "/0/description"),
        "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION"
    );
    let (_, body) = http
        .call(
            "PUT",
            &path,
            Some(json!([{"name": "Open", "type": 3, "options": [{"type": 3, "name": "x", "description": "d"}]}])),
        )
        .await;
    assert_eq!(
        form_error(&body, "/0/options"),
        "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS"
    );
    let six: Vec<Value> = (0..6)
        .map(|i| json!({"name": format!("Message {i}"), "type": 3}))
        .collect();
    let (status, _) = http.call("PUT", &path, Some(json!(six))).await;
    assert_eq!(status, 400, "at most five message commands per scope");
    assert!(
        emu.registered_commands()
            .iter()
            .any(|c| c.kind == 3 && c.name == "Open incident from message"),
        "the refused overwrites left the accepted one in place"
    );
}

fn text_input(id: &str) -> Value {
    json!({"type": 1, "components": [{"type": 4, "custom_id": id, "label": "Title", "style": 1}]})
}

#[tokio::test]
async fn modals_are_checked_as_discord_checks_them() {
    let (emu, http, _gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    let alice = emu.member("alice", &[]);
    let mut refuse = Vec::new();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"custom_id": "m", "title": "t".repeat(46), "components": [text_input("a")]}),
            "/data/title",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            json!({"custom_id": "m", "title": "t", "components": []}),
            "/data/components",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            json!({"custom_id": "m", "title": "t", "components": (0..6).map(|i| text_input(&format!("f{i}"))).collect::<Vec<_>>()}),
            "/data/components",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            json!({"custom_id": "", "title": "t", "components": [text_input("a")]}),
            "/data/custom_id",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            json!({"custom_id": "m", "title": "t", "components": [text_input("a"), text_input("a")]}),
            "/data/components/1/components/0/custom_id",
            "COMPONENT_CUSTOM_ID_DUPLICATED",
        ),
        (
            json!({"custom_id": "m", "title": "t", "components": [{"type": 1, "components": [{"type": 4, "custom_id": "a", "label": "A", "style": 1}, {"type": 4, "custom_id": "b", "label": "B", "style": 1}]}]}),
            "/data/components/0/components",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            json!({"custom_id": "m", "title": "t", "components": [{"type": 1, "components": [{"type": 4, "custom_id": "a", "label": "A", "style": 3}]}]}),
            "/data/components/0/components/0/style",
            "BASE_TYPE_CHOICES",
        ),
        (
            json!({"custom_id": "m", "title": "t", "components": [{"type": 1, "components": [{"type": 4, "custom_id": "a", "label": "L".repeat(46), "style": 1}]}]}),
            "/data/components/0/components/0/label",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            json!({"custom_id": "m", "title": "t", "components": [{"type": 1, "components": [{"type": 4, "custom_id": "a", "label": "A", "style": 1, "min_length": 10, "max_length": 5}]}]}),
            "/data/components/0/components/0/min_length",
            "TEXT_INPUT_MIN_LENGTH_INVALID",
        ),
        (
            json!({"custom_id": "m", "title": "t", "components": [{"type": 1, "components": [{"type": 2, "custom_id": "a", "label": "A", "style": 1}]}]}),
            "/data/components/0/components/0/type",
            "UNION_TYPE_CHOICES",
        ),
    ];
    for (data, pointer, code) in cases {
        let i = alice
            .run(ch, "/incident open title:x severity:SEV1")
            .unwrap();
        let (status, body) = http
            .call(
                "POST",
                &callback(&i),
                Some(json!({"type": 9, "data": data})),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(form_error(&body, pointer), code, "{body}");
        refuse.push(i);
    }
    assert!(refuse.iter().all(|i| i.current_response().is_none()));
    // A label (type 18) around a text input is accepted too.
    let i = alice
        .run(ch, "/incident open title:x severity:SEV1")
        .unwrap();
    let label = json!({"type": 18, "label": "Title", "component": {"type": 4, "custom_id": "title", "style": 1}});
    http.ok(
        "POST",
        &callback(&i),
        Some(
            json!({"type": 9, "data": {"custom_id": "m", "title": "Open", "components": [label]}}),
        ),
    )
    .await;
    // An autocomplete interaction cannot be answered with a modal; a modal submit neither.
    let submitted = alice.submit_modal(&i, &[("title", "x")]).await.unwrap();
    let (status, body) = http
        .call("POST", &callback(&submitted), Some(json!({"type": 9, "data": {"custom_id": "m2", "title": "t", "components": [text_input("a")]}})))
        .await;
    assert_eq!(
        (status, body["code"].as_u64()),
        (400, Some(40043)),
        "{body}"
    );
    // poise acknowledges a modal submit with type 6 even when the modal came from a command.
    http.ok("POST", &callback(&submitted), Some(json!({"type": 6})))
        .await;
}

#[tokio::test]
async fn select_menus_are_checked_as_discord_checks_them() {
    let (emu, http, _gw) = connected().await;
    let ch = emu.add_text_channel("general", None);
    let post = format!("/channels/{ch}/messages");
    let select = |extra: Value| {
        let mut s = json!({"type": 3, "custom_id": "sev", "options": [{"label": "SEV1", "value": "1"}, {"label": "SEV2", "value": "2"}]});
        for (k, v) in extra.as_object().unwrap() {
            s[k] = v.clone();
        }
        json!({"content": "pick", "components": [{"type": 1, "components": [s]}]})
    };
    let at = "/components/0/components/0";
    let cases = vec![
        (json!({"options": []}), "/options", "BASE_TYPE_BAD_LENGTH"),
        (
            json!({"min_values": 2, "max_values": 1}),
            "/min_values",
            "SELECT_COMPONENT_MIN_VALUES_INVALID",
        ),
        (
            json!({"max_values": 3}),
            "/max_values",
            "SELECT_COMPONENT_MAX_VALUES_TOO_LARGE",
        ),
        (json!({"max_values": 26}), "/max_values", "NUMBER_TYPE_MAX"),
        (
            json!({"placeholder": "p".repeat(151)}),
            "/placeholder",
            "BASE_TYPE_MAX_LENGTH",
        ),
        (
            json!({"options": [{"label": "a", "value": "1"}, {"label": "b", "value": "1"}]}),
            "/options/1/value",
            "SELECT_COMPONENT_OPTION_VALUE_DUPLICATED",
        ),
        (
            json!({"options": [{"label": "l".repeat(101), "value": "1"}]}),
            "/options/0/label",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            json!({"options": [{"label": "a", "value": "1", "default": true}, {"label": "b", "value": "2", "default": true}]}),
            "/options",
            "SELECT_COMPONENT_TOO_MANY_DEFAULT_VALUES",
        ),
    ];
    for (extra, pointer, code) in cases {
        let (status, body) = http.call("POST", &post, Some(select(extra.clone()))).await;
        assert_eq!(status, 400, "{extra}: {body}");
        assert_eq!(form_error(&body, &format!("{at}{pointer}")), code, "{body}");
    }
    http.ok(
        "POST",
        &post,
        Some(select(json!({"min_values": 0, "max_values": 2}))),
    )
    .await;
}

#[tokio::test]
async fn scheduled_event_bodies_are_checked_by_entity_type() {
    let (emu, http, _gw) = connected().await;
    let path = format!("/guilds/{}/scheduled-events", emu.guild_id());
    let start = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let end = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let base = json!({"name": "Review", "privacy_level": 2, "entity_type": 3, "scheduled_start_time": start, "scheduled_end_time": end, "entity_metadata": {"location": "#inc-1"}});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b
    };
    let cases = vec![
        (
            with("privacy_level", json!(1)),
            "/privacy_level",
            "BASE_TYPE_CHOICES",
        ),
        (with("name", json!("")), "/name", "BASE_TYPE_BAD_LENGTH"),
        (
            with("entity_metadata", json!({"location": "x".repeat(101)})),
            "/entity_metadata/location",
            "BASE_TYPE_BAD_LENGTH",
        ),
        (
            with("channel_id", json!("123")),
            "/channel_id",
            "GUILD_SCHEDULED_EVENT_CHANNEL_ID_NOT_NULL",
        ),
        (
            with("scheduled_end_time", json!(start)),
            "/scheduled_end_time",
            "GUILD_SCHEDULED_EVENT_END_BEFORE_START",
        ),
        (
            with("scheduled_start_time", json!("tomorrow")),
            "/scheduled_start_time",
            "DATE_TIME_TYPE_CONVERT",
        ),
        (
            with("entity_type", json!(2)),
            "/channel_id",
            "BASE_TYPE_REQUIRED",
        ),
    ];
    for (body, pointer, code) in cases {
        let (status, reply) = http.call("POST", &path, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {reply}");
        assert_eq!(form_error(&reply, pointer), code, "{reply}");
    }
    assert!(emu.scheduled_events().is_empty(), "nothing half-made");
    let made = http.ok("POST", &path, Some(base)).await;
    assert_eq!(made["status"], 1);
    let (status, reply) = http
        .call(
            "PATCH",
            &format!("{path}/{}", made["id"].as_str().unwrap()),
            Some(json!({"status": 3})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        form_error(&reply, "/status"),
        "GUILD_SCHEDULED_EVENT_INVALID_STATUS_TRANSITION"
    );
    let (status, reply) = http.call("GET", &format!("{path}/1"), None).await;
    assert_eq!((status, reply["code"].as_u64()), (404, Some(10070)));
}

#[tokio::test]
async fn a_message_with_an_enforced_nonce_is_created_once_within_the_window() {
    let emu = start().await;
    let http = BotHttp::new(&emu);
    let channel = emu.add_text_channel("general", None);
    let path = format!("/channels/{channel}/messages");
    let body = json!({"content": "posted once", "nonce": "card-7", "enforce_nonce": true});
    let first = http.ok("POST", &path, Some(body.clone())).await;
    let again = http.ok("POST", &path, Some(body.clone())).await;
    assert_eq!(
        first["id"], again["id"],
        "the same nonce returned the first message"
    );
    // Without enforce_nonce, or with another nonce, a new message each time.
    let loose = json!({"content": "posted twice", "nonce": "card-7"});
    let other = http.ok("POST", &path, Some(loose)).await;
    assert_ne!(other["id"], first["id"]);
    let different = json!({"content": "x", "nonce": "card-8", "enforce_nonce": true});
    assert_ne!(
        http.ok("POST", &path, Some(different)).await["id"],
        first["id"]
    );
    // After the window, the nonce makes a new message.
    emu.advance(Duration::from_secs(6 * 60));
    assert_ne!(http.ok("POST", &path, Some(body)).await["id"], first["id"]);
    let posted = emu
        .messages(channel)
        .into_iter()
        .filter(|m| m.text() == "posted once")
        .count();
    assert_eq!(posted, 2);
}
