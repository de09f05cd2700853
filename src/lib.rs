//! warroom: a Discord-native incident-response bot, one binary plus one database.
//!
//! # Layout
//!
//! Read in this order:
//!
//! - [`domain`] — incidents, statuses and their legal transitions, timeline events, actors,
//!   the clock, and the values several layers share (alerts, page targets, severities and
//!   services, bot roles). Plain types and rules; no I/O.
//! - [`config`] — the typed configuration, on top of the parts it configures: `load.rs`
//!   (file, `WARROOM__` overrides, every problem with file and line), one file per section,
//!   secrets kept out of `Debug`.
//! - [`store`] — the `Store` trait and its SQLite and PostgreSQL backends (one generic SQL
//!   core). The only place with SQL.
//! - [`ops`] — the use cases, `(principal, request) -> outcome`, with authorization. Callers
//!   (CLI, Discord, HTTP) parse, call `ops`, render.
//! - [`escalation`] — on-call schedules (rotations, overrides, DST-exact handoffs), escalation
//!   policies and their pure planner, target resolution, dedup keys, `policy simulate`.
//! - [`notify`] — notifiers (PagerDuty, Opsgenie, signed webhook, Slack/Discord webhooks,
//!   email over SMTP) behind one trait, with timeouts, retries, backoff and rate limits; the
//!   signed one-click acknowledgement links and feed tokens; the `[people]` directory.
//! - [`runner`] — approved recovery commands: the catalog in `commands/` (validated with
//!   file:line problems, reloadable), binding `key=value` arguments to an exact argv, and
//!   running it without a shell in its own process group (timeout, locks, redaction, capped
//!   output).
//! - [`export`] — post-mortems in Markdown, JSON and HTML (with an SVG chart), streamed page
//!   by page.
//! - [`discord`] — the Discord adapter (the only code that knows serenity): slash commands,
//!   incident channels and cards, the channel timeline.
//! - [`alerts`] — alert senders' wire formats (Alertmanager, Grafana, generic JSON,
//!   PagerDuty Events v2) read into one `Delivery`, and the `[alerts]` routing rules.
//! - [`http`] — axum: health, readiness, alert ingestion, the REST API, `/metrics`; bearer
//!   tokens from `[api_tokens]` become `Principal`s.
//! - [`metrics`] — the Prometheus registry and the recording API every part calls.
//! - [`app`] — builds everything from a `Config` and runs it until shutdown.
//! - [`cli`] — the command line, one room per command group; [`bench`] — every measurement
//!   behind BENCHMARKS.md (`warroom bench NAME`); [`telemetry`] — logging.

pub mod alerts;
pub mod app;
pub mod bench;
pub mod checks;
pub mod cli;
pub mod config;
pub mod discord;
pub mod domain;
pub mod escalation;
pub mod export;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod runner;
pub mod store;
pub mod telemetry;
