//! warroom's integration tests: one binary, flows through the real boundaries against real
//! peers (SQLite files, the local PostgreSQL, the real `warroom` binary).

mod alert_writer;
mod bench;
mod checks;
mod checks_discord;
mod cli;
mod config;
mod contract;
mod cover;
mod crash;
mod deadlines;
mod discord;
mod discord_followup;
mod discord_paging;
mod discord_strays;
mod during;
mod duties;
mod escalation;
mod escalation_crash;
mod escalation_engine;
mod followup;
mod http;
mod notify;
mod one_truth;
mod outbox;
mod places;
mod reach;
mod receiver;
mod recovery;
mod runner;
mod runs;
mod serve;
mod support;
mod timers;
mod timers_next;
