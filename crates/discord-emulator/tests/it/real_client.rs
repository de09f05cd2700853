//! A real serenity 0.12.5 `Client`, pointed at the emulator, connects, registers a command,
//! answers interactions, posts, sees what users do, and survives every scripted gateway fault.

use std::sync::Arc;
use std::time::Duration;

use discord_emulator::{CallbackKind, ChannelId as EmuChannelId, Delivery, Emulator};
use serenity::all::{
    ButtonStyle, ChannelId, Client, CommandDataOptionValue, CommandOptionType,
    ComponentInteraction, Context, CreateActionRow, CreateAttachment, CreateButton, CreateCommand,
    CreateCommandOption, CreateInteractionResponse, CreateInteractionResponseFollowup,
    CreateInteractionResponseMessage, EditInteractionResponse, EventHandler, GatewayIntents,
    GuildId, HttpBuilder, Interaction, Message, MessageId, MessageUpdateEvent, Ready, ResumedEvent,
    ShardManager,
};
use serenity::async_trait;
use tokio::sync::{Mutex, mpsc};
use tokio::task::JoinHandle;

use crate::support::{WAIT, start};

/// What the bot's handler saw, in order.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Ready {
        session_id: String,
    },
    GuildCreate {
        channels: usize,
        members: usize,
        roles: usize,
    },
    Registered,
    Message {
        content: String,
    },
    Updated {
        id: u64,
        content: Option<String>,
    },
    Deleted {
        id: u64,
    },
    Resumed,
    Answered {
        interaction: String,
    },
}

struct Handler {
    guild: GuildId,
    seen: mpsc::UnboundedSender<Seen>,
}

fn title_of(options: &[serenity::all::CommandDataOption]) -> String {
    for o in options {
        if let CommandDataOptionValue::SubCommand(inner) = &o.value {
            return title_of(inner);
        }
        if o.name == "title"
            && let Some(s) = o.value.as_str()
        {
            return s.to_string();
        }
    }
    String::new()
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        let _ = self.seen.send(Seen::Ready {
            session_id: ready.session_id.clone(),
        });
        let incident = CreateCommand::new("incident")
            .description("Incident commands")
            .add_option(
                CreateCommandOption::new(CommandOptionType::SubCommand, "open", "Open an incident")
                    .add_sub_option(
                        CreateCommandOption::new(
                            CommandOptionType::String,
                            "title",
                            "What is broken",
                        )
                        .required(true),
                    )
                    .add_sub_option(
                        CreateCommandOption::new(CommandOptionType::String, "severity", "How bad")
                            .add_string_choice("SEV1", "SEV1")
                            .add_string_choice("SEV2", "SEV2"),
                    ),
            )
            .add_option(CreateCommandOption::new(
                CommandOptionType::SubCommand,
                "slow",
                "Answer after a defer",
            ));
        match self.guild.set_commands(&ctx.http, vec![incident]).await {
            Ok(_) => {
                let _ = self.seen.send(Seen::Registered);
            }
            Err(e) => panic!("registering commands failed: {e}"),
        }
    }

    async fn guild_create(
        &self,
        _ctx: Context,
        guild: serenity::all::Guild,
        _is_new: Option<bool>,
    ) {
        let _ = self.seen.send(Seen::GuildCreate {
            channels: guild.channels.len(),
            members: guild.members.len(),
            roles: guild.roles.len(),
        });
    }

    async fn message(&self, ctx: Context, msg: Message) {
        if msg.author.bot {
            return;
        }
        let _ = self.seen.send(Seen::Message {
            content: msg.content.clone(),
        });
        if msg.content == "!post" {
            msg.channel_id
                .say(&ctx.http, "posted by the bot")
                .await
                .expect("post a channel message");
        }
    }

    async fn message_update(
        &self,
        _ctx: Context,
        _old: Option<Message>,
        _new: Option<Message>,
        event: MessageUpdateEvent,
    ) {
        let _ = self.seen.send(Seen::Updated {
            id: event.id.get(),
            content: event.content.clone(),
        });
    }

    async fn message_delete(
        &self,
        _ctx: Context,
        _channel: ChannelId,
        id: MessageId,
        _guild: Option<GuildId>,
    ) {
        let _ = self.seen.send(Seen::Deleted { id: id.get() });
    }

    async fn resume(&self, _ctx: Context, _: ResumedEvent) {
        let _ = self.seen.send(Seen::Resumed);
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        let id = interaction.id().to_string();
        match interaction {
            Interaction::Command(cmd) => {
                let sub = cmd
                    .data
                    .options
                    .first()
                    .map(|o| o.name.clone())
                    .unwrap_or_default();
                if sub == "slow" {
                    cmd.defer(&ctx.http).await.expect("defer");
                    let button = CreateButton::new("ack")
                        .label("Acknowledge")
                        .style(ButtonStyle::Primary);
                    // A file makes serenity send multipart (`payload_json` + `files[0]`).
                    let report = CreateAttachment::bytes(b"# Report\n".to_vec(), "report.md");
                    let edit = EditInteractionResponse::new()
                        .content("done slowly")
                        .components(vec![CreateActionRow::Buttons(vec![button])])
                        .new_attachment(report);
                    cmd.edit_response(&ctx.http, edit)
                        .await
                        .expect("edit @original");
                    let followup = CreateInteractionResponseFollowup::new()
                        .content("and a follow-up")
                        .ephemeral(true);
                    cmd.create_followup(&ctx.http, followup)
                        .await
                        .expect("follow-up");
                } else {
                    let msg = CreateInteractionResponseMessage::new()
                        .content(format!("opened: {}", title_of(&cmd.data.options)));
                    // A redelivered interaction gets 40060 here; the test checks the attempts.
                    let _ = cmd
                        .create_response(&ctx.http, CreateInteractionResponse::Message(msg))
                        .await;
                }
            }
            Interaction::Component(c) => answer_click(&ctx, &c).await,
            _ => {}
        }
        let _ = self.seen.send(Seen::Answered { interaction: id });
    }
}

async fn answer_click(ctx: &Context, c: &ComponentInteraction) {
    let msg = CreateInteractionResponseMessage::new()
        .content(format!("acked by {}", c.user.name))
        .components(vec![]);
    c.create_response(&ctx.http, CreateInteractionResponse::UpdateMessage(msg))
        .await
        .expect("update message");
}

/// A running serenity client and what its handler saw.
struct Bot {
    seen: Mutex<mpsc::UnboundedReceiver<Seen>>,
    history: Mutex<Vec<Seen>>,
    shards: Arc<ShardManager>,
    task: JoinHandle<Result<(), serenity::Error>>,
}

impl Bot {
    async fn start(emu: &Emulator) -> Bot {
        let reqwest = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap();
        let http = HttpBuilder::new(&emu.config().bot_token)
            .proxy(emu.api_base())
            .ratelimiter_disabled(true)
            .client(reqwest)
            .build();
        let (tx, rx) = mpsc::unbounded_channel();
        let intents = GatewayIntents::GUILDS
            | GatewayIntents::GUILD_MESSAGES
            | GatewayIntents::MESSAGE_CONTENT
            | GatewayIntents::DIRECT_MESSAGES;
        let handler = Handler {
            guild: GuildId::new(emu.guild_id().get()),
            seen: tx,
        };
        let mut client: Client = serenity::client::ClientBuilder::new_with_http(http, intents)
            .event_handler(handler)
            .await
            .expect("build the serenity client");
        let shards = client.shard_manager.clone();
        let task = tokio::spawn(async move { client.start().await });
        let bot = Bot {
            seen: Mutex::new(rx),
            history: Mutex::new(Vec::new()),
            shards,
            task,
        };
        bot.expect("READY", |s| matches!(s, Seen::Ready { .. }))
            .await;
        bot.expect("the command registration", |s| *s == Seen::Registered)
            .await;
        emu.wait_connected(WAIT).await.unwrap();
        bot
    }

    /// Waits for a handler event matching `pred` (also looking at what was already seen).
    async fn expect(&self, what: &str, pred: impl Fn(&Seen) -> bool) -> Seen {
        if let Some(s) = self.history.lock().await.iter().find(|s| pred(s)) {
            return s.clone();
        }
        let mut rx = self.seen.lock().await;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, rx.recv()).await;
            let s = match next {
                Ok(Some(s)) => s,
                Ok(None) => panic!("the bot's handler is gone while waiting for {what}"),
                Err(_) => panic!(
                    "timed out after {WAIT:?} waiting for the bot to see {what}; it saw {:?}",
                    self.history.lock().await
                ),
            };
            self.history.lock().await.push(s.clone());
            if pred(&s) {
                return s;
            }
        }
    }

    async fn saw_message(&self, content: &str) {
        self.expect(
            &format!("MESSAGE_CREATE {content:?}"),
            |s| matches!(s, Seen::Message { content: c } if c == content),
        )
        .await;
    }

    async fn stop(self, emu: &Emulator) {
        let _ = tokio::time::timeout(WAIT, self.shards.shutdown_all()).await;
        self.task.abort();
        emu.shutdown().await;
    }
}

async fn setup() -> (Emulator, discord_emulator::Actor, EmuChannelId, Bot) {
    let emu = start().await;
    let responders = emu.add_role("responders");
    let alice = emu.member("alice", &[responders]);
    let incidents = emu.add_category("incidents");
    let _ = emu.add_text_channel("inc-0-old", Some(incidents));
    let general = emu.add_text_channel("general", None);
    let bot = Bot::start(&emu).await;
    (emu, alice, general, bot)
}

#[tokio::test]
async fn serenity_connects_registers_answers_and_sees_users() {
    let (emu, alice, general, bot) = setup().await;
    let guild = bot
        .expect("GUILD_CREATE", |s| matches!(s, Seen::GuildCreate { .. }))
        .await;
    // @everyone, the bot's role, responders; owner, bot, alice; two channels and a category.
    assert_eq!(
        guild,
        Seen::GuildCreate {
            channels: 3,
            members: 3,
            roles: 3
        }
    );
    let cmd = emu.wait_for_command("incident", WAIT).await.unwrap();
    assert!(cmd.guild_id.is_some());

    // Immediate answer.
    let open = alice
        .run(
            general,
            r#"/incident open title:"Checkout is down" severity:SEV2"#,
        )
        .unwrap();
    let r = open.response().await.unwrap();
    assert_eq!(r.kind, CallbackKind::Message);
    assert_eq!(r.content(), "opened: Checkout is down");
    assert!(!r.ephemeral());

    // Deferred, then @original edited with a button; the click updates the message.
    let slow = alice.run(general, "/incident slow").unwrap();
    let first = slow.response().await.unwrap();
    assert_eq!(first.kind, CallbackKind::DeferredMessage);
    let last = slow.wait_final_response().await.unwrap();
    assert_eq!(last.content(), "done slowly");
    assert_eq!(last.attachments()[0].filename, "report.md");
    assert_eq!(last.attachments()[0].bytes, b"# Report\n");
    let followups = slow.wait_followups(1).await.unwrap();
    assert_eq!(followups[0].content, "and a follow-up");
    assert!(followups[0].ephemeral());
    let message = last.message.unwrap();
    assert_eq!(message.custom_ids(), vec!["ack"]);
    let click = alice.click(message.id, "ack").unwrap();
    let clicked = click.response().await.unwrap();
    assert_eq!(clicked.kind, CallbackKind::UpdateMessage);
    assert_eq!(clicked.content(), "acked by alice");

    // Redelivery of an answered interaction: this naive bot answers again and Discord's
    // 40060 comes back; a correct bot would answer once.
    open.redeliver().unwrap();
    bot.expect("the redelivered interaction", |s| {
        *s == Seen::Answered {
            interaction: open.id().to_string(),
        }
    })
    .await;
    let attempts = open.wait_attempts(2).await.unwrap();
    assert_eq!(attempts[1].error_code, Some(40060));

    // A user says, edits and deletes; the bot posts on request.
    let said = alice.say(general, "checkout 500s").unwrap();
    bot.saw_message("checkout 500s").await;
    alice.edit(said, "checkout 502s").unwrap();
    bot.expect("MESSAGE_UPDATE", |s| {
        *s == Seen::Updated {
            id: said.get(),
            content: Some("checkout 502s".into()),
        }
    })
    .await;
    alice.delete(said).unwrap();
    bot.expect("MESSAGE_DELETE", |s| *s == Seen::Deleted { id: said.get() })
        .await;
    alice.say(general, "!post").unwrap();
    let posted = emu
        .wait_for_message(
            general,
            |m| m.from_bot && m.content == "posted by the bot",
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(posted.author, emu.bot_user_id());
    assert_eq!(
        emu.requests_matching("POST /channels/{id}/messages").len(),
        1
    );
    bot.stop(&emu).await;
}

/// Says something while the bot is away, then checks it reaches the handler after the bot is
/// back, and how it came back.
async fn away_and_back(
    emu: &Emulator,
    alice: &discord_emulator::Actor,
    general: EmuChannelId,
    bot: &Bot,
    text: &str,
) {
    alice.say(general, text).unwrap();
    bot.saw_message(text).await;
    emu.wait_connected(WAIT).await.unwrap();
}

#[tokio::test]
async fn op7_reconnect_resumes_and_replays_what_was_said_meanwhile() {
    let (emu, alice, general, bot) = setup().await;
    emu.reconnect().unwrap();
    away_and_back(&emu, &alice, general, &bot, "said during op 7").await;
    bot.expect("RESUMED", |s| *s == Seen::Resumed).await;
    let stats = emu.gateway_stats();
    assert_eq!((stats.identifies, stats.resumes), (1, 1));
    let replayed = emu
        .dispatches()
        .iter()
        .any(|d| d.delivery == Delivery::Replayed && d.frame.contains("said during op 7"));
    assert!(replayed, "the message was replayed on resume");
    bot.stop(&emu).await;
}

#[tokio::test]
async fn resumable_invalid_session_resumes() {
    let (emu, alice, general, bot) = setup().await;
    emu.invalid_session(true).unwrap();
    away_and_back(&emu, &alice, general, &bot, "said during op 9 true").await;
    let stats = emu.gateway_stats();
    assert_eq!((stats.identifies, stats.resumes), (1, 1));
    bot.stop(&emu).await;
}

#[tokio::test]
async fn non_resumable_invalid_session_reidentifies_and_loses_what_was_said_meanwhile() {
    let (emu, alice, general, bot) = setup().await;
    emu.invalid_session(false).unwrap();
    // As with Discord, a dispatch between the end of a session and the next Identify goes
    // nowhere; the bot has to catch up through REST history.
    let lost = alice.say(general, "said while no session exists").unwrap();
    emu.wait_gateway("a second Identify", WAIT, |s| {
        s.identifies == 2 && s.connected
    })
    .await
    .unwrap();
    bot.expect(
        "a second READY",
        |s| matches!(s, Seen::Ready { session_id } if session_id.ends_with("-2")),
    )
    .await;
    alice.say(general, "said after the new session").unwrap();
    bot.saw_message("said after the new session").await;
    let undelivered = emu
        .dispatches()
        .iter()
        .any(|d| d.delivery == Delivery::NoSession && d.frame.contains(&lost.to_string()));
    assert!(undelivered);
    assert!(!bot.history.lock().await.contains(&Seen::Message {
        content: "said while no session exists".into()
    }));
    bot.stop(&emu).await;
}

#[tokio::test]
async fn dropped_tcp_connection_resumes_and_replays() {
    let (emu, alice, general, bot) = setup().await;
    emu.drop_connection().unwrap();
    away_and_back(
        &emu,
        &alice,
        general,
        &bot,
        "said while the socket was gone",
    )
    .await;
    let stats = emu.gateway_stats();
    assert_eq!((stats.identifies, stats.resumes), (1, 1));
    bot.stop(&emu).await;
}

#[tokio::test]
async fn close_code_4000_resumes() {
    let (emu, alice, general, bot) = setup().await;
    emu.close(4000).unwrap();
    away_and_back(&emu, &alice, general, &bot, "said after close 4000").await;
    assert_eq!(emu.gateway_stats().resumes, 1);
    bot.stop(&emu).await;
}

#[tokio::test]
async fn missed_heartbeat_ack_makes_serenity_restart_the_shard() {
    let (emu, alice, general, bot) = setup().await;
    emu.drop_heartbeat_acks(1);
    // serenity sees the un-ACKed heartbeat one interval later, closes with 4000 and boots a
    // new shard, which identifies (it does not resume).
    let stats = emu
        .wait_gateway("a re-Identify after the missed ACK", WAIT, |s| {
            s.identifies == 2 && s.connected
        })
        .await
        .unwrap();
    assert_eq!(stats.heartbeat_acks_dropped, 1);
    alice.say(general, "said after the restart").unwrap();
    bot.saw_message("said after the restart").await;
    bot.stop(&emu).await;
}

#[tokio::test]
async fn close_code_4009_ends_the_session_and_serenity_reidentifies() {
    let (emu, alice, general, bot) = setup().await;
    emu.close(4009).unwrap();
    emu.wait_gateway("a re-Identify after close 4009", WAIT, |s| {
        s.identifies == 2 && s.connected
    })
    .await
    .unwrap();
    alice.say(general, "said after close 4009").unwrap();
    bot.saw_message("said after close 4009").await;
    assert_eq!(emu.gateway_stats().resumes, 0);
    bot.stop(&emu).await;
}
