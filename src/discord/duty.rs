//! Who talks to Discord. Every process with a bot token builds the REST client and the Discord
//! pager (pages go out through REST from whichever engine claimed them). Of the processes
//! sharing a database, one holds the gateway lease (`discord-gateway`): it alone connects the
//! gateway, answers interactions, records channels and runs the projector. The others stand
//! by and take over when the lease lapses (a fresh IDENTIFY, then a catch-up).
//!
//! Shutdown, in order: stop taking interactions (new ones get a private "restarting"), finish
//! those in flight (bounded; the ones that cannot finish are told so), and — after the app has
//! finished or interrupted running commands — show what is left to show, close the gateway and
//! release the lease at once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::ExposeSecret;
use serenity::all::{ApplicationId, Builder, CreateInteractionResponseFollowup, Http, HttpBuilder};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::context::Bot;
use super::gateway::Gateway;
use super::pager::DiscordPager;
use super::render::replies;
use crate::config::DiscordConfig;
use crate::domain::{GATEWAY_LEASE, GatewayState};
use crate::escalation::Pagers;
use crate::ops::Ops;
use crate::ops::lease::{self, Held, LeaseTimes};

/// Discord's own API; any other `api_base` is a proxy or an emulator (see `build_http`).
pub const DISCORD_API_BASE: &str = "https://discord.com";

/// A REST call to Discord that takes longer than this has failed; the default client would
/// wait forever.
const REST_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a shutdown waits for interactions in flight before telling their people it
/// could not finish: long enough for a slow database, short of what an orchestrator allows.
pub const INTERACTION_DRAIN: Duration = Duration::from_secs(10);

/// How long the last projection at shutdown may take.
const FINAL_PROJECTION: Duration = Duration::from_secs(5);

/// After a gateway that could not connect, the pause before trying again.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);

/// How often the database's health is checked, and how long a check may take before the
/// database counts as unreachable: people are then told at once, within about three seconds
/// of an outage. A database merely slow (answering within the bound) still works, deferred.
const HEALTH_EVERY: Duration = Duration::from_secs(1);
const HEALTH_WITHIN: Duration = Duration::from_millis(2_500);

/// How often forgotten claims are cleared: Discord redelivers nothing older than a day.
const FORGET_CLAIMS_EVERY: Duration = Duration::from_secs(60 * 60);
const CLAIM_MEMORY: Duration = Duration::from_secs(24 * 60 * 60);

/// The running Discord adapter of this process.
pub struct DiscordHandle {
    bot: Arc<Bot>,
    stop: watch::Sender<bool>,
    duty: JoinHandle<()>,
    /// Where the Discord pager is registered; it is taken out again on stop.
    pagers: Arc<Pagers>,
}

impl DiscordHandle {
    /// New interactions are answered "warroom is restarting" from now on.
    pub fn stop_taking_interactions(&self) {
        self.bot.inflight.close();
    }

    /// [`Self::stop_taking_interactions`], to call from elsewhere (the shutdown signal).
    pub fn interaction_gate(&self) -> impl FnOnce() + Send + 'static {
        let bot = self.bot.clone();
        move || bot.inflight.close()
    }

    /// Waits for the interactions in flight, at most `limit`; the people of those that did not
    /// finish are told, privately, that warroom shut down before it could.
    pub async fn finish_interactions(&self, limit: Duration) {
        let unfinished = self.bot.inflight.drain(limit).await;
        for token in unfinished {
            let followup = CreateInteractionResponseFollowup::new()
                .content(format!("⚠️ {}", replies::SHUTDOWN_UNFINISHED))
                .ephemeral(true);
            if let Err(error) = followup.execute(self.bot.http(), (None, &token)).await {
                tracing::warn!(%error, "telling someone their command did not finish failed");
            }
        }
    }

    /// Stops paging through Discord, shows what is left to show, closes the gateway and
    /// releases the lease.
    pub async fn stop(self) {
        self.pagers.set_discord(None);
        let _ = self.stop.send(true);
        let _ = self.duty.await;
    }
}

/// The one place serenity's `Http` is built. With Discord's own base URL it is serenity's
/// default; with any other (`[discord] api_base`, used by tests and proxies) every request
/// goes there, which requires serenity's rate limiter to be off (it ignores the proxy).
fn build_http(discord: &DiscordConfig, token: &str) -> anyhow::Result<Http> {
    let mut builder = HttpBuilder::new(token);
    if discord.api_base != DISCORD_API_BASE {
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(REST_TIMEOUT)
            .build()
            .context("building the HTTP client for Discord")?;
        builder = builder
            .proxy(&discord.api_base)
            .ratelimiter_disabled(true)
            .client(client);
    }
    if let Some(application_id) = discord.application_id {
        builder = builder.application_id(ApplicationId::new(application_id));
    }
    Ok(builder.build())
}

/// Starts the Discord adapter: the REST client and pager at once, and the gateway duty (held,
/// or stood by for) in the background. `instance` names this process in leases and claims.
pub async fn start(
    ops: Ops,
    gateway: watch::Sender<GatewayState>,
    pagers: Arc<Pagers>,
    instance: String,
) -> anyhow::Result<DiscordHandle> {
    let config = ops.config().clone();
    let token = config
        .discord
        .token
        .as_ref()
        .context("Discord has no token")?
        .expose_secret()
        .to_owned();
    let http = build_http(&config.discord, &token)?;
    let times = LeaseTimes::from_ttl(config.discord.gateway_lease);
    let bot = Arc::new(Bot::new(ops, Arc::new(http), gateway, instance));
    match bot.http().get_current_user().await {
        Ok(me) => bot.set_me(me.id.get()),
        Err(error) => {
            tracing::warn!(%error, "cannot ask Discord who the bot is yet; it is known once the gateway connects")
        }
    }
    pagers.set_discord(Some(Arc::new(DiscordPager::new(bot.clone()))));
    let (stop, stopped) = watch::channel(false);
    let duty = tokio::spawn(hold_the_gateway(bot.clone(), token, times, stopped));
    Ok(DiscordHandle {
        bot,
        stop,
        duty,
        pagers,
    })
}

/// What this process runs while it holds the gateway lease.
struct Holding {
    gateway: Gateway,
    projector: JoinHandle<()>,
    retries: JoinHandle<()>,
    stop_projector: watch::Sender<bool>,
}

impl Holding {
    /// Shows what is left (bounded), then closes the gateway.
    async fn end(self) {
        let _ = self.stop_projector.send(true);
        self.retries.abort();
        if tokio::time::timeout(FINAL_PROJECTION, self.projector)
            .await
            .is_err()
        {
            tracing::warn!("the last projection did not finish; the next holder shows the rest");
        }
        self.gateway.close().await;
    }
}

async fn hold_the_gateway(
    bot: Arc<Bot>,
    token: String,
    times: LeaseTimes,
    mut stop: watch::Receiver<bool>,
) {
    let (stop_lease, lease_stopped) = watch::channel(false);
    let (mut held, lease_task) = lease::hold(
        bot.ops().store().clone(),
        bot.ops().clock().clone(),
        GATEWAY_LEASE,
        bot.instance().to_owned(),
        times,
        lease_stopped,
    );
    let forgetting = tokio::spawn(forget_old_claims(bot.clone()));
    let health = {
        let bot = bot.clone();
        tokio::spawn(async move { bot.watch_database(HEALTH_EVERY, HEALTH_WITHIN).await })
    };
    bot.gateway
        .send_replace(GatewayState::Standby { holder: None });
    let mut holding: Option<Holding> = None;
    loop {
        let current = held.borrow_and_update().clone();
        match (&current, holding.is_some()) {
            (Held::Here, false) => match take_the_gateway(&bot, &token).await {
                Ok(taken) => {
                    tracing::info!("holding the Discord gateway");
                    holding = Some(taken);
                }
                Err(error) => {
                    tracing::error!(%error, "cannot connect the Discord gateway; trying again shortly");
                }
            },
            (Held::Elsewhere(holder), true) => {
                tracing::warn!(
                    ?holder,
                    "the gateway lease is no longer this process's; standing by"
                );
                if let Some(taken) = holding.take() {
                    taken.end().await;
                }
                bot.gateway.send_replace(GatewayState::Standby {
                    holder: holder.clone(),
                });
            }
            (Held::Elsewhere(holder), false) => {
                bot.gateway.send_replace(GatewayState::Standby {
                    holder: holder.clone(),
                });
            }
            (Held::Here, true) => {}
        }
        let retry = matches!(current, Held::Here) && holding.is_none();
        tokio::select! {
            changed = held.changed() => if changed.is_err() { break },
            _ = stop.changed() => break,
            _ = tokio::time::sleep(RECONNECT_AFTER), if retry => {}
        }
    }
    if let Some(taken) = holding.take() {
        taken.end().await;
    }
    forgetting.abort();
    health.abort();
    let _ = stop_lease.send(true);
    let _ = lease_task.await;
    bot.gateway
        .send_replace(GatewayState::Standby { holder: None });
}

/// Connects the gateway and starts what its holder runs.
async fn take_the_gateway(bot: &Arc<Bot>, token: &str) -> anyhow::Result<Holding> {
    let http = build_http(&bot.config().discord, token)?;
    let gateway = Gateway::connect(bot.clone(), http).await?;
    let (stop_projector, projector_stopped) = watch::channel(false);
    let projector = tokio::spawn(bot.clone().project(projector_stopped));
    let retries = tokio::spawn(retry_dirty_channels(bot.clone()));
    Ok(Holding {
        gateway,
        projector,
        retries,
        stop_projector,
    })
}

/// Reconciles, every few seconds, the channels whose events could not be recorded.
async fn retry_dirty_channels(bot: Arc<Bot>) {
    let mut ticks = tokio::time::interval(super::timeline::RETRY_DIRTY_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        bot.retry_dirty().await;
    }
}

async fn forget_old_claims(bot: Arc<Bot>) {
    let mut ticks = tokio::time::interval(FORGET_CLAIMS_EVERY);
    loop {
        ticks.tick().await;
        let before = bot.ops().clock().now().minus(CLAIM_MEMORY);
        if let Err(error) = bot.ops().store().forget_claims(before).await {
            tracing::debug!(%error, "forgetting old Discord claims failed; trying again later");
        }
    }
}
