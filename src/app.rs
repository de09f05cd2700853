//! Builds everything from the config and runs it: `run(config, listener, shutdown)`, so
//! tests start the real thing on port 0 and main wires in the signals.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use std::time::Duration;

use crate::config::{Config, Environment};
use crate::discord;
use crate::domain::GatewayState;
use crate::domain::{Clock, SystemClock};
use crate::escalation::{Engine, Pagers};
use crate::http::{self, AppState};
use crate::notify;
use crate::ops::{Commands, Ops};
use crate::runner::{Catalog, CatalogError, CatalogHandle, Runner, RunnerSettings};
use crate::store::{self, Store};

/// Parts of the outside world a caller may supply instead of the ones built from the config
/// (tests slow the database down or pass a manual clock).
#[derive(Default)]
pub struct Overrides {
    /// How the store's pools connect (see [`store::ConnectOptions`]).
    pub database: store::ConnectOptions,
    pub clock: Option<Arc<dyn Clock>>,
}

/// Runs warroom until `shutdown` completes, then shuts down in order (see [`Running::stop`]).
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    run_with(config, listener, Overrides::default(), shutdown).await
}

pub async fn run_with(
    config: Config,
    listener: TcpListener,
    overrides: Overrides,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (ops, catalog) = build_ops(config, overrides).await?;
    let workers = Workers::start(ops.clone(), catalog).await?;
    let state = Arc::new(AppState {
        ops,
        gateway: workers.gateway.clone(),
        instance: workers.instance.clone(),
    });
    let address = listener.local_addr()?;
    tracing::info!(%address, "listening");
    let gate = workers.interaction_gate();
    let limits = http::Limits::from_config(&state.ops.config().http);
    let served = http::serve(listener, http::router(state), limits, async move {
        shutdown.await;
        // The moment the signal comes: no new Discord interaction is taken on.
        if let Some(gate) = gate {
            gate();
        }
    })
    .await
    .context("the HTTP server failed");
    workers.stop().await;
    served?;
    tracing::info!("stopped");
    Ok(())
}

/// The store, the clock, the command catalog and runner, as `ops` uses them; and the catalog,
/// which SIGHUP reloads.
async fn build_ops(
    config: Config,
    overrides: Overrides,
) -> anyhow::Result<(Ops, Arc<CatalogHandle>)> {
    let store: Arc<dyn Store> = store::connect_with(&config.database, overrides.database)
        .await
        .with_context(|| {
            format!(
                "cannot open the database {}",
                config.database.url.redacted()
            )
        })?;
    let clock = overrides.clock.unwrap_or_else(|| Arc::new(SystemClock));
    tracing::info!(backend = store.backend(), database = %config.database.url.redacted(), "database ready");
    let catalog = Arc::new(load_catalog(&config)?);
    let schedule_problems = crate::config::schedule_problems(&config, &catalog.current());
    if !schedule_problems.is_empty() {
        anyhow::bail!(
            "the scheduled checks and drills do not fit the command catalog:\n  {}",
            schedule_problems.join("\n  ")
        );
    }
    let commands = Commands {
        catalog: catalog.clone(),
        runner: Arc::new(Runner::new(
            RunnerSettings::from_config(&config.commands),
            // Where `{ from_env = "..." }` secrets of the catalog are read at run time.
            Environment::from_process(),
        )),
        output_dir: config.commands.output_dir.clone(),
        instance: format!("warroom pid {} started {}", std::process::id(), clock.now()),
    };
    let ops = Ops::new(store, Arc::new(config), clock).with_commands(commands);
    Ok((ops, catalog))
}

/// What runs beside the HTTP server: the catalog's SIGHUP reload, the run sweeper, Discord,
/// the escalation engine.
struct Workers {
    ops: Ops,
    instance: String,
    gateway: watch::Receiver<GatewayState>,
    sighup: tokio::task::JoinHandle<()>,
    sweeper: tokio::task::JoinHandle<()>,
    discord: Option<discord::DiscordHandle>,
    stop_engine: tokio::sync::oneshot::Sender<()>,
    escalation: tokio::task::JoinHandle<()>,
    /// The durable timer engine (deadlines, reminders, schedules).
    stop_timers: tokio::sync::oneshot::Sender<()>,
    timers: tokio::task::JoinHandle<()>,
}

impl Workers {
    async fn start(ops: Ops, catalog: Arc<CatalogHandle>) -> anyhow::Result<Workers> {
        let config = ops.config().clone();
        let instance = crate::ops::instance::new_instance(ops.clock().now());
        let sighup = reload_on_sighup(catalog);
        let sweeper = tokio::spawn(sweep_runs(ops.clone()));
        let (notifiers, not_ready) = notify::build_all(
            &config.notifiers,
            &notify::http_client(),
            Arc::new(notify::TokioTimer::new(ops.clock().clone())),
        );
        for gap in &not_ready {
            tracing::warn!(
                "{gap}; pages to it fail (and move on to the next level) until it is set"
            );
        }
        let pagers = Arc::new(Pagers::new(notifiers, not_ready));
        let discord_enabled = config.discord.token.is_some();
        let (gateway_tx, gateway) = watch::channel(GatewayState::Disabled);
        let discord = if discord_enabled {
            Some(discord::start(ops.clone(), gateway_tx, pagers.clone(), instance.clone()).await?)
        } else {
            tracing::info!(
                token_env = %config.discord.token_env,
                "Discord is disabled: no bot token in ${}; HTTP and the CLI work without it",
                config.discord.token_env
            );
            None
        };
        // After the Discord pager is registered: a page due from before a restart must not be
        // claimed while Discord is still missing and fail for that.
        let engine = Arc::new(Engine::new(ops.clone(), pagers));
        let (stop_engine, engine_stopped) = tokio::sync::oneshot::channel::<()>();
        let escalation = tokio::spawn(engine.run(async move {
            let _ = engine_stopped.await;
        }));
        if let Err(error) = ops.arm_start_up_timers().await {
            tracing::warn!(%error, "arming heartbeat deadlines and handoffs failed; they are armed at the next start");
        }
        let (stop_timers, timers_stopped) = tokio::sync::oneshot::channel::<()>();
        match ops.arm_schedules().await {
            Ok(armed) if !armed.set.is_empty() || !armed.cancelled.is_empty() => {
                tracing::info!(set = ?armed.set, cancelled = ?armed.cancelled, "scheduled checks and drills armed");
            }
            Ok(_) => {}
            Err(error) => {
                tracing::warn!(%error, "arming the scheduled checks and drills failed; those not armed yet wait for the next start")
            }
        }
        let timers = crate::ops::timers::Timers::new(ops.clone(), crate::ops::timers::handlers());
        let timers = tokio::spawn(timers.run(async move {
            let _ = timers_stopped.await;
        }));
        Ok(Workers {
            ops,
            instance,
            gateway,
            sighup,
            sweeper,
            discord,
            stop_engine,
            escalation,
            stop_timers,
            timers,
        })
    }

    /// Closes Discord's door to new interactions, for the moment the signal comes.
    fn interaction_gate(&self) -> Option<impl FnOnce() + Send + 'static> {
        self.discord
            .as_ref()
            .map(|discord| discord.interaction_gate())
    }

    /// The shutdown, in order: interactions in flight are answered (bounded), running commands
    /// finish or are interrupted (never orphaned), pages in flight are delivered, what is left
    /// to show in Discord is shown, and the gateway lease is released.
    async fn stop(self) {
        if let Some(discord) = &self.discord {
            discord.stop_taking_interactions();
            discord
                .finish_interactions(discord::INTERACTION_DRAIN)
                .await;
        }
        self.sighup.abort();
        self.sweeper.abort();
        match self.ops.shutdown_runs().await {
            Ok(report) if !report.is_empty() => tracing::info!(?report, "command runs at shutdown"),
            Ok(_) => {}
            Err(error) => tracing::warn!(%error, "ending command runs at shutdown failed"),
        }
        // A timer firing finishes (its claim would otherwise make it wait for the lease).
        let _ = self.stop_timers.send(());
        let _ = self.timers.await;
        // Deliveries in flight finish, so their claims do not make them go out twice.
        let _ = self.stop_engine.send(());
        if tokio::time::timeout(ENGINE_STOP, self.escalation)
            .await
            .is_err()
        {
            tracing::warn!(
                "pages still in flight at shutdown are sent again when their claims run out"
            );
        }
        if let Some(discord) = self.discord {
            discord.stop().await;
        }
    }
}

/// How long a shutdown waits for pages in flight.
const ENGINE_STOP: Duration = Duration::from_secs(10);

/// How often requests nobody approved are expired and runs whose process died are failed.
/// Approval windows are minutes long, so seconds of lateness do not matter.
const RUN_SWEEP_INTERVAL: Duration = Duration::from_secs(10);

async fn sweep_runs(ops: Ops) {
    let mut ticks = tokio::time::interval(RUN_SWEEP_INTERVAL);
    loop {
        ticks.tick().await;
        if let Err(error) = ops.sweep_runs().await {
            tracing::warn!(%error, "sweeping command runs failed; trying again shortly");
        }
    }
}

/// Loads the command catalog for `warroom run`. A missing folder means no commands (said in
/// the log; creating it and sending SIGHUP loads it); an invalid catalog stops the start with
/// every problem listed, as an invalid config does, so it is fixed before anyone relies on it.
pub fn load_catalog(config: &Config) -> anyhow::Result<CatalogHandle> {
    let dir = &config.commands.dir;
    let roles = config.bot_role_names();
    match CatalogHandle::load(dir, roles.clone()) {
        Ok(handle) => {
            tracing::info!(
                dir = %dir.display(),
                commands = handle.current().len(),
                "command catalog loaded"
            );
            Ok(handle)
        }
        Err(error @ CatalogError::Missing { .. }) => {
            tracing::warn!("no approved commands can be run: {error}");
            Ok(CatalogHandle::new(Catalog::empty(dir), roles))
        }
        Err(error) => Err(error.into()),
    }
}

/// Reloads the catalog on every SIGHUP, logging what changed, or why the new catalog was
/// refused and the previous one kept. Listens from the moment it returns (a SIGHUP before
/// that would end the process, as its default action).
pub fn reload_on_sighup(catalog: Arc<CatalogHandle>) -> tokio::task::JoinHandle<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let hangups = signal(SignalKind::hangup());
    tokio::spawn(async move {
        let mut hangups = match hangups {
            Ok(hangups) => hangups,
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGHUP; the command catalog reloads only with /commands reload");
                return;
            }
        };
        while hangups.recv().await.is_some() {
            let handle = catalog.clone();
            match tokio::task::spawn_blocking(move || handle.reload()).await {
                Ok(Ok(report)) => tracing::info!("SIGHUP: {report}"),
                Ok(Err(error)) => tracing::error!(
                    "SIGHUP: the command catalog was not reloaded and the previous one ({} commands) stays in use: {error}",
                    catalog.current().len()
                ),
                Err(error) => tracing::error!(%error, "SIGHUP: the catalog reload failed"),
            }
        }
    })
}

// In-process: how tests and benchmarks start the real thing, and stop it.

/// warroom running in a task of this process, started by [`spawn`].
pub struct Running {
    address: std::net::SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

/// Starts warroom listening on `address` (port 0 takes a free one) in a task of the current
/// runtime, as `warroom run` would but with `overrides`. Returns once it listens; the
/// database and Discord come up in the task, as `/readyz` shows.
pub async fn spawn(
    config: Config,
    address: std::net::SocketAddr,
    overrides: Overrides,
) -> anyhow::Result<Running> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("cannot listen on {address}"))?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(run_with(config, listener, overrides, async {
        // A dropped `Running` stops warroom too.
        let _ = stopped.await;
    }));
    Ok(Running {
        address,
        stop,
        task,
    })
}

impl Running {
    /// Where warroom's HTTP server listens.
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Whether warroom already ended on its own (it failed to start, say).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Shuts warroom down cleanly (as on SIGTERM) and reports how it ended.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.task.await.context("the warroom task panicked")?
    }
}
