//! A real serenity client registers a slash command and a message context-menu command,
//! opens modals, posts a select menu and sends a DM with a button; members use all of them
//! through the driver the way Discord's client lets them.

use discord_emulator::{CallbackKind, Error, Message};
use serenity::all::{
    ActionRowComponent, ButtonStyle, CommandInteraction, CommandType, ComponentInteractionDataKind,
    Context, CreateActionRow, CreateButton, CreateCommand, CreateCommandOption, CreateInputText,
    CreateInteractionResponse, CreateInteractionResponseMessage, CreateMessage, CreateModal,
    CreateSelectMenu, CreateSelectMenuKind, CreateSelectMenuOption, EventHandler, GatewayIntents,
    GuildId, InputTextStyle, Interaction, ModalInteraction, Ready,
};
use serenity::async_trait;

use crate::support::{BotProcess, Seen, WAIT, start};

struct Desk {
    guild: GuildId,
    seen: Seen,
}

/// The incident modal, its title pre-filled when opened from a message.
fn incident_modal(custom_id: &str, title: Option<&str>) -> CreateModal {
    let mut title_input =
        CreateInputText::new(InputTextStyle::Short, "Title", "title").max_length(100);
    if let Some(t) = title {
        title_input = title_input.value(t);
    }
    CreateModal::new(custom_id, "Open an incident").components(vec![
        CreateActionRow::InputText(title_input),
        CreateActionRow::InputText(
            CreateInputText::new(InputTextStyle::Paragraph, "Description", "description")
                .required(false),
        ),
    ])
}

async fn say(ctx: &Context, cmd: &CommandInteraction, text: String) {
    let msg = CreateInteractionResponseMessage::new().content(text);
    cmd.create_response(&ctx.http, CreateInteractionResponse::Message(msg))
        .await
        .expect("answer the command");
}

fn modal_values(m: &ModalInteraction) -> (String, String) {
    let mut title = String::new();
    let mut description = String::new();
    for row in &m.data.components {
        for c in &row.components {
            if let ActionRowComponent::InputText(input) = c {
                let v = input.value.clone().unwrap_or_default();
                match input.custom_id.as_str() {
                    "title" => title = v,
                    "description" => description = v,
                    _ => {}
                }
            }
        }
    }
    (title, description)
}

#[async_trait]
impl EventHandler for Desk {
    async fn ready(&self, ctx: Context, _ready: Ready) {
        let commands = vec![
            CreateCommand::new("incident")
                .description("Incidents")
                .add_option(
                    CreateCommandOption::new(
                        serenity::all::CommandOptionType::SubCommand,
                        "open",
                        "Open one",
                    )
                    .add_sub_option(CreateCommandOption::new(
                        serenity::all::CommandOptionType::String,
                        "title",
                        "What is broken",
                    )),
                ),
            CreateCommand::new("Open incident from message").kind(CommandType::Message),
        ];
        self.guild
            .set_commands(&ctx.http, commands)
            .await
            .expect("register the commands");
        self.seen.push("registered");
    }

    async fn message(&self, ctx: Context, msg: serenity::all::Message) {
        if msg.author.bot {
            return;
        }
        match msg.content.as_str() {
            "!menu" => {
                let options = ["SEV1", "SEV2", "SEV3"]
                    .map(|s| CreateSelectMenuOption::new(s, s))
                    .to_vec();
                let menu = CreateSelectMenu::new("sev", CreateSelectMenuKind::String { options })
                    .min_values(1)
                    .max_values(2);
                let m = CreateMessage::new()
                    .content("Severity?")
                    .components(vec![CreateActionRow::SelectMenu(menu)]);
                msg.channel_id
                    .send_message(&ctx.http, m)
                    .await
                    .expect("post the menu");
            }
            "!dm" => {
                let m = CreateMessage::new().content("You are on call").button(
                    CreateButton::new("ack-handoff")
                        .label("Got it")
                        .style(ButtonStyle::Primary),
                );
                msg.author
                    .direct_message(&ctx, m)
                    .await
                    .expect("send the DM");
            }
            _ => {}
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        match interaction {
            Interaction::Command(cmd) if cmd.data.kind == CommandType::Message => {
                let target = cmd
                    .data
                    .resolved
                    .messages
                    .values()
                    .next()
                    .expect("the target");
                let first_line = target.content.lines().next().unwrap_or("").to_string();
                let modal = incident_modal("from-message", Some(&first_line));
                cmd.create_response(&ctx.http, CreateInteractionResponse::Modal(modal))
                    .await
                    .expect("open the modal");
            }
            Interaction::Command(cmd) => {
                let title = cmd.data.options.first().and_then(|sub| match &sub.value {
                    serenity::all::CommandDataOptionValue::SubCommand(o) => {
                        o.first().and_then(|t| t.value.as_str().map(str::to_string))
                    }
                    _ => None,
                });
                match title {
                    Some(t) => say(&ctx, &cmd, format!("opened: {t}")).await,
                    None => cmd
                        .create_response(
                            &ctx.http,
                            CreateInteractionResponse::Modal(incident_modal("open-modal", None)),
                        )
                        .await
                        .expect("open the modal"),
                }
            }
            Interaction::Modal(m) => {
                let (title, description) = modal_values(&m);
                self.seen
                    .push(format!("modal:{}:{title}", m.data.custom_id));
                let msg = CreateInteractionResponseMessage::new()
                    .content(format!("opened: {title} / {description}"));
                m.create_response(&ctx.http, CreateInteractionResponse::Message(msg))
                    .await
                    .expect("answer the modal");
            }
            Interaction::Component(c) => {
                let text = match &c.data.kind {
                    ComponentInteractionDataKind::StringSelect { values } => {
                        format!("picked: {}", values.join(","))
                    }
                    _ => "thanks".to_string(),
                };
                let msg = CreateInteractionResponseMessage::new().content(text);
                let response = if c.guild_id.is_some() {
                    CreateInteractionResponse::UpdateMessage(msg)
                } else {
                    CreateInteractionResponse::Message(msg)
                };
                c.create_response(&ctx.http, response)
                    .await
                    .expect("answer the component");
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modals_message_commands_selects_and_dm_buttons_with_a_real_client() {
    let emu = start().await;
    let alice = emu.member("alice", &[]);
    let general = emu.add_text_channel("general", None);
    let seen = Seen::new();
    let intents = GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
        | GatewayIntents::DIRECT_MESSAGES;
    let _bot = BotProcess::start(
        &emu,
        intents,
        Desk {
            guild: GuildId::new(emu.guild_id().get()),
            seen: seen.clone(),
        },
    )
    .await;
    seen.wait_count("registered", 1).await;
    let menu_cmd = emu
        .wait_for_command("Open incident from message", WAIT)
        .await
        .unwrap();
    assert_eq!(menu_cmd.kind, 3);

    // /incident open without a title opens the modal; the client checks what is typed.
    let open = alice.run(general, "/incident open").unwrap();
    let modal = open.response().await.unwrap().modal.unwrap();
    assert_eq!(modal.title, "Open an incident");
    assert_eq!(modal.field_ids(), vec!["title", "description"]);
    match alice
        .submit_modal(&open, &[("description", "no title")])
        .await
    {
        Err(Error::Invalid(m)) => assert!(m.contains("\"title\" is required"), "{m}"),
        other => panic!(
            "an empty required title must be refused, got {:?}",
            other.map(|i| i.id())
        ),
    }
    let long = "x".repeat(101);
    match alice.submit_modal(&open, &[("title", &long)]).await {
        Err(Error::Invalid(m)) => assert!(m.contains("at most 100"), "{m}"),
        other => panic!(
            "an over-long title must be refused, got {:?}",
            other.map(|i| i.id())
        ),
    }
    let submitted = alice
        .submit_modal(
            &open,
            &[("title", "Checkout down"), ("description", "502s")],
        )
        .await
        .unwrap();
    assert_eq!(submitted.payload()["type"], 5);
    let answer = submitted.response().await.unwrap();
    assert_eq!(answer.content(), "opened: Checkout down / 502s");
    // What the bot's own checks must handle if the client's are bypassed.
    let bypass = alice
        .submit_modal_unchecked(&open, &[("title", "")])
        .await
        .unwrap();
    assert_eq!(bypass.response().await.unwrap().content(), "opened:  / ");

    // The message command opens the same modal seeded with the message.
    let msg = alice
        .say(general, "checkout returns 502\nsince 10:00")
        .unwrap();
    let from_msg = alice
        .use_message_command(msg, "Open incident from message")
        .unwrap();
    let d = from_msg.payload()["data"].clone();
    assert_eq!(
        (d["type"].as_u64(), d["target_id"].as_str()),
        (Some(3), Some(msg.to_string().as_str()))
    );
    assert_eq!(
        d["resolved"]["messages"][msg.to_string()]["content"],
        "checkout returns 502\nsince 10:00"
    );
    let seeded = from_msg.response().await.unwrap();
    assert_eq!(seeded.kind, CallbackKind::Modal);
    let opened = alice.submit_modal(&from_msg, &[]).await.unwrap();
    assert_eq!(
        opened.response().await.unwrap().content(),
        "opened: checkout returns 502 / "
    );
    seen.wait_count("modal:from-message:checkout returns 502", 1)
        .await;
    assert!(matches!(
        alice.use_message_command(msg, "Delete incident"),
        Err(Error::Invalid(m)) if m.contains("Open incident from message")
    ));

    // A select menu: values within min/max, only offered options.
    alice.say(general, "!menu").unwrap();
    let menu: Message = emu
        .wait_for_message(general, |m| m.from_bot && m.content == "Severity?", WAIT)
        .await
        .unwrap();
    for bad in [
        &["SEV9"][..],
        &[],
        &["SEV1", "SEV2", "SEV3"],
        &["SEV1", "SEV1"],
    ] {
        assert!(
            matches!(alice.select(menu.id, "sev", bad), Err(Error::Invalid(_))),
            "{bad:?} must be refused"
        );
    }
    let picked = alice.select(menu.id, "sev", &["SEV1", "SEV2"]).unwrap();
    let update = picked.response().await.unwrap();
    assert_eq!(update.kind, CallbackKind::UpdateMessage);
    assert_eq!(update.content(), "picked: SEV1,SEV2");

    // A DM with a button (handoff and reminder DMs), clicked in the DM.
    alice.say(general, "!dm").unwrap();
    let dm = emu
        .wait_for_dm(alice.id(), |m| m.content == "You are on call", WAIT)
        .await
        .unwrap();
    let click = alice.click(dm.id, "ack-handoff").unwrap();
    assert!(click.payload()["member"].is_null() && click.payload()["user"]["id"].is_string());
    assert_eq!(click.response().await.unwrap().content(), "thanks");
    emu.shutdown().await;
}
