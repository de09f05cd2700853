//! The `[notifiers]` section, read into `notify::NotifierConfig`s: the kind, where it sends
//! (a URL, a variable holding one that embeds a token, or an SMTP server), its credentials
//! from the environment, its delivery and rate limits, the secret its inbound webhook is
//! checked against (PagerDuty, Opsgenie), and the one-click links its pages carry.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::links::LinksConfig;
use super::load::{Environment, Loader, is_env_var_name, join_path};
use crate::escalation::{Schedule, Target};
use crate::notify::delivery::{self, DeliveryPolicy, MAX_ATTEMPTS_LIMIT, MAX_TIMEOUT, RateLimit};
use crate::notify::email::{EmailRecipient, EmailSettings, SmtpTls};
use crate::notify::people::People;
use crate::notify::{Credential, Endpoint, NotifierConfig, NotifierKind};

/// The highest `rate_per_second` accepted: no paging API takes more, so a larger number is
/// a typo.
pub const MAX_RATE_PER_SECOND: f64 = 1_000.0;

#[derive(Deserialize)]
struct RawNotifier {
    kind: String,
    url: Option<String>,
    url_env: Option<String>,
    routing_key_env: Option<String>,
    api_key_env: Option<String>,
    secret_env: Option<String>,
    // Secrets pasted into the file: accepted by the parser only to be refused with a clear
    // message (and never echoed).
    routing_key: Option<toml::Value>,
    api_key: Option<toml::Value>,
    secret: Option<toml::Value>,
    timeout: Option<String>,
    max_attempts: Option<u32>,
    backoff_base: Option<String>,
    backoff_max: Option<String>,
    rate_per_second: Option<f64>,
    rate_burst: Option<u32>,
    /// PagerDuty and Opsgenie: what their webhooks back to warroom are checked against.
    webhook_secret_env: Option<String>,
    /// Webhook, Slack and Discord webhooks, email: also send incidents' status updates.
    status_updates: Option<bool>,
    // Email only.
    host: Option<String>,
    port: Option<u16>,
    tls: Option<String>,
    from: Option<String>,
    username_env: Option<String>,
    password_env: Option<String>,
    to: Option<Vec<String>>,
    password: Option<toml::Value>,
}

/// What an email notifier's settings need from the rest of the config.
pub(super) struct EmailContext<'a> {
    pub people: &'a People,
    pub schedules: &'a [Schedule],
    pub links: &'a LinksConfig,
}

impl Loader {
    pub(super) fn build_notifiers(
        &mut self,
        raw: Option<toml::Value>,
        env: &Environment,
        context: &EmailContext<'_>,
    ) -> Vec<NotifierConfig> {
        let mut notifiers = Vec::new();
        for (name, value) in self.entries("notifiers", raw) {
            let path = vec!["notifiers".to_owned(), name.clone()];
            self.check_entry_name(&path, &name, "a notifier");
            let Some(raw) = self.decode::<RawNotifier>(&path, value) else {
                continue;
            };
            let Some(kind) = self.notifier_kind(&path, &raw.kind) else {
                continue;
            };
            self.refuse_pasted_secrets(&path, &raw);
            self.refuse_keys_of_other_kinds(&path, kind, &raw);
            let endpoint = if kind == NotifierKind::Email {
                Endpoint::Url(String::new())
            } else {
                self.notifier_endpoint(&path, kind, &raw, env)
            };
            let credential = self.notifier_credential(&path, kind, &raw, env);
            let delivery = self.delivery_policy(&path, &raw);
            let rate_limit = self.rate_limit(&path, &raw);
            let email = (kind == NotifierKind::Email)
                .then(|| self.email_settings(&path, &raw, env, context));
            if email.is_some() && context.links.links.is_none() {
                self.warn(
                    &path,
                    "its emails carry no one-click acknowledgement link: set [http] public_url and put a secret in the variable [http] ack_secret_env names",
                );
            }
            let inbound_secret = match kind {
                NotifierKind::PagerDuty => self.credential(
                    &path,
                    "webhook_secret_env",
                    raw.webhook_secret_env.as_deref(),
                    false,
                    "signing secret of the PagerDuty webhook subscription (V3) that calls /v1/webhooks/pagerduty",
                    env,
                ),
                NotifierKind::Opsgenie => self.credential(
                    &path,
                    "webhook_secret_env",
                    raw.webhook_secret_env.as_deref(),
                    false,
                    "token the Opsgenie outgoing webhook sends to /v1/webhooks/opsgenie (as Authorization: Bearer)",
                    env,
                ),
                _ => None,
            };
            let links = match kind {
                NotifierKind::Email | NotifierKind::Webhook | NotifierKind::SlackWebhook => {
                    context.links.links.clone()
                }
                _ => None,
            };
            let status_updates = raw.status_updates.unwrap_or(false);
            if status_updates
                && !matches!(
                    kind,
                    NotifierKind::Webhook
                        | NotifierKind::SlackWebhook
                        | NotifierKind::DiscordWebhook
                        | NotifierKind::Email
                )
            {
                self.problem(
                    &join_path(&path, "status_updates"),
                    format!(
                        "a {} notifier pages people through its own service and cannot carry status updates; set it on a webhook, slack_webhook, discord_webhook or email notifier",
                        raw.kind
                    ),
                );
            }
            notifiers.push(NotifierConfig {
                status_updates,
                name,
                kind,
                endpoint,
                credential,
                delivery,
                rate_limit,
                email,
                links,
                inbound_secret,
            });
        }
        notifiers
    }

    fn notifier_kind(&mut self, path: &[String], text: &str) -> Option<NotifierKind> {
        if let Some(kind) = NotifierKind::parse(text.trim()) {
            return Some(kind);
        }
        let known: Vec<&str> = NotifierKind::CONFIGURABLE
            .iter()
            .map(|kind| kind.as_str())
            .collect();
        let hint = if text.trim() == "discord" {
            "; Discord DMs and mentions need no notifier (use user:, role: or schedule: targets), and discord_webhook cross-posts to another channel"
        } else {
            ""
        };
        self.problem(
            &join_path(path, "kind"),
            format!(
                "`{text}` is not a notifier kind warroom knows; use one of {}{hint}",
                known.join(", ")
            ),
        );
        None
    }

    fn refuse_pasted_secrets(&mut self, path: &[String], raw: &RawNotifier) {
        for (key, pasted, instead) in [
            ("routing_key", raw.routing_key.is_some(), "routing_key_env"),
            ("api_key", raw.api_key.is_some(), "api_key_env"),
            ("secret", raw.secret.is_some(), "secret_env"),
            ("password", raw.password.is_some(), "password_env"),
        ] {
            if pasted {
                self.problem(
                    &join_path(path, key),
                    format!("secrets never go in this file; put it in an environment variable and name that variable in {instead}"),
                );
            }
        }
    }

    fn refuse_keys_of_other_kinds(
        &mut self,
        path: &[String],
        kind: NotifierKind,
        raw: &RawNotifier,
    ) {
        let allowed: &[&str] = match kind {
            NotifierKind::PagerDuty => &["url", "routing_key_env", "webhook_secret_env"],
            NotifierKind::Opsgenie => &["url", "api_key_env", "webhook_secret_env"],
            NotifierKind::Webhook => &["url", "url_env", "secret_env"],
            NotifierKind::SlackWebhook | NotifierKind::DiscordWebhook => &["url_env"],
            NotifierKind::Email => &[
                "host",
                "port",
                "tls",
                "from",
                "username_env",
                "password_env",
                "to",
            ],
            NotifierKind::Discord => &[],
        };
        for (key, present) in [
            ("url", raw.url.is_some()),
            ("url_env", raw.url_env.is_some()),
            ("routing_key_env", raw.routing_key_env.is_some()),
            ("api_key_env", raw.api_key_env.is_some()),
            ("secret_env", raw.secret_env.is_some()),
            ("webhook_secret_env", raw.webhook_secret_env.is_some()),
            ("host", raw.host.is_some()),
            ("port", raw.port.is_some()),
            ("tls", raw.tls.is_some()),
            ("from", raw.from.is_some()),
            ("username_env", raw.username_env.is_some()),
            ("password_env", raw.password_env.is_some()),
            ("to", raw.to.is_some()),
        ] {
            if present && !allowed.contains(&key) {
                let message = if key == "url" && kind != NotifierKind::Email {
                    format!(
                        "a {kind} URL embeds its token, so it never goes in this file; put it in an environment variable and name that variable in url_env"
                    )
                } else {
                    format!(
                        "does not apply to a {kind} notifier; it takes {}",
                        allowed.join(", ")
                    )
                };
                self.problem(&join_path(path, key), message);
            }
        }
    }

    fn email_settings(
        &mut self,
        path: &[String],
        raw: &RawNotifier,
        env: &Environment,
        context: &EmailContext<'_>,
    ) -> EmailSettings {
        let tls = match raw.tls.as_deref() {
            None => SmtpTls::StartTls,
            Some(text) => SmtpTls::parse(text).unwrap_or_else(|| {
                self.problem(
                    &join_path(path, "tls"),
                    format!("`{text}` is not a way to secure SMTP; use starttls (the default), tls, or none (only for a relay on this host)"),
                );
                SmtpTls::StartTls
            }),
        };
        let host = raw
            .host
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        if host.is_empty() {
            self.problem(
                path,
                "an email notifier needs host, the SMTP server to send through (e.g. smtp.example.com)",
            );
        } else if host.contains(['/', ':', ' ']) && host.parse::<std::net::IpAddr>().is_err() {
            self.problem(
                &join_path(path, "host"),
                format!("`{host}` is not a host name or IP address; write the port in port"),
            );
        }
        if tls == SmtpTls::None && !is_loopback(&host) {
            self.problem(
                &join_path(path, "tls"),
                format!("\"none\" sends pages and passwords unencrypted, so it is only for a relay on this host (localhost, 127.0.0.1, ::1), not {host}; use starttls or tls"),
            );
        }
        let port = raw.port.unwrap_or_else(|| tls.default_port());
        if port == 0 {
            self.problem(
                &join_path(path, "port"),
                "must be a port number, 1 to 65535",
            );
        }
        let from = raw
            .from
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned();
        if from.is_empty() {
            self.problem(
                path,
                "an email notifier needs from, the sender, e.g. \"warroom <warroom@example.com>\"",
            );
        } else if let Err(error) = from.parse::<lettre::message::Mailbox>() {
            self.problem(
                &join_path(path, "from"),
                format!("`{from}` is not a sender address ({error}); write it like \"warroom <warroom@example.com>\""),
            );
        }
        let username = self.credential(
            path,
            "username_env",
            raw.username_env.as_deref(),
            false,
            "SMTP user name",
            env,
        );
        let password = self.credential(
            path,
            "password_env",
            raw.password_env.as_deref(),
            false,
            "SMTP password",
            env,
        );
        if username.is_some() != password.is_some() {
            self.problem(
                path,
                "SMTP authentication takes both username_env and password_env, or neither",
            );
        }
        let to = self.email_recipients(path, raw.to.as_deref().unwrap_or_default(), context);
        let schedules = context
            .schedules
            .iter()
            .filter(|schedule| {
                to.iter().any(|recipient| {
                    matches!(recipient, EmailRecipient::Schedule(name) if *name == schedule.name)
                })
            })
            .cloned()
            .collect();
        EmailSettings {
            host,
            port,
            tls,
            from,
            username,
            password,
            to,
            people: context.people.clone(),
            schedules,
        }
    }

    fn email_recipients(
        &mut self,
        path: &[String],
        entries: &[String],
        context: &EmailContext<'_>,
    ) -> Vec<EmailRecipient> {
        let path = join_path(path, "to");
        if entries.is_empty() {
            self.problem(
                &path,
                "an email notifier needs to: addresses, \"user:<Discord id>\" (their [people] address) or \"schedule:<name>\" (whoever is on call)",
            );
        }
        let mut recipients = Vec::new();
        for (index, entry) in entries.iter().enumerate() {
            let entry = entry.trim();
            let parsed = if entry.starts_with("user:") || entry.starts_with("schedule:") {
                match entry.parse::<Target>() {
                    Ok(Target::User(id)) => Ok(EmailRecipient::Person(id)),
                    Ok(Target::Schedule(name)) => {
                        if context
                            .schedules
                            .iter()
                            .any(|schedule| schedule.name == name)
                        {
                            Ok(EmailRecipient::Schedule(name))
                        } else {
                            let names: Vec<&str> =
                                context.schedules.iter().map(|s| s.name.as_str()).collect();
                            Err(format!(
                                "{entry} names no schedule; the schedules are: {}",
                                if names.is_empty() {
                                    "none".to_owned()
                                } else {
                                    names.join(", ")
                                }
                            ))
                        }
                    }
                    Ok(_) => unreachable!("only user: and schedule: entries get here"),
                    Err(error) => Err(error.to_string()),
                }
            } else {
                entry
                    .parse::<lettre::message::Mailbox>()
                    .map(|_| EmailRecipient::Address(entry.to_owned()))
                    .map_err(|error| {
                        format!("`{entry}` is not an email address ({error}), user:<Discord id> or schedule:<name>")
                    })
            };
            match parsed {
                Ok(recipient) => recipients.push(recipient),
                Err(message) => self.problem_at_item(&path, index, message),
            }
        }
        recipients
    }

    fn notifier_credential(
        &mut self,
        path: &[String],
        kind: NotifierKind,
        raw: &RawNotifier,
        env: &Environment,
    ) -> Option<Credential> {
        match kind {
            NotifierKind::PagerDuty => self.credential(
                path,
                "routing_key_env",
                raw.routing_key_env.as_deref(),
                true,
                "PagerDuty integration's routing key",
                env,
            ),
            NotifierKind::Opsgenie => self.credential(
                path,
                "api_key_env",
                raw.api_key_env.as_deref(),
                true,
                "Opsgenie API integration's key",
                env,
            ),
            NotifierKind::Webhook => self.credential(
                path,
                "secret_env",
                raw.secret_env.as_deref(),
                false,
                "HMAC secret shared with the receiver",
                env,
            ),
            _ => None,
        }
    }

    fn notifier_endpoint(
        &mut self,
        path: &[String],
        kind: NotifierKind,
        raw: &RawNotifier,
        env: &Environment,
    ) -> Endpoint {
        let from_env = matches!(
            kind,
            NotifierKind::SlackWebhook | NotifierKind::DiscordWebhook
        ) || (kind == NotifierKind::Webhook && raw.url_env.is_some());
        if from_env {
            if kind == NotifierKind::Webhook && raw.url.is_some() {
                self.problem(
                    &join_path(path, "url"),
                    "set either url (in this file) or url_env (an environment variable holding the URL), not both",
                );
            }
            let Some(var) = raw.url_env.as_deref() else {
                self.problem(
                    path,
                    format!("a {kind} notifier needs url_env, the name of the environment variable holding its URL (the URL embeds a token)"),
                );
                return Endpoint::FromEnv {
                    var: String::new(),
                    url: None,
                };
            };
            if !is_env_var_name(var) {
                self.problem(
                    &join_path(path, "url_env"),
                    "must name an environment variable (A-Z, 0-9 and _); the URL itself never goes in this file",
                );
            }
            let url = env.get(var).map(str::trim).filter(|url| !url.is_empty());
            if let Some(url) = url
                && !is_http_url(url)
            {
                self.problem(
                    &join_path(path, "url_env"),
                    format!("the environment variable {var} does not hold an http(s) URL"),
                );
            }
            return Endpoint::FromEnv {
                var: var.to_owned(),
                url: url.map(|url| SecretString::from(url.to_owned())),
            };
        }
        let url = match (&raw.url, crate::notify::default_url(kind)) {
            (Some(url), _) => url.trim().trim_end_matches('/').to_owned(),
            (None, Some(default)) => default.to_owned(),
            (None, None) => {
                self.problem(
                    path,
                    "a webhook notifier needs url (or url_env, naming an environment variable that holds it)",
                );
                return Endpoint::Url(String::new());
            }
        };
        if !is_http_url(&url) {
            self.problem(
                &join_path(path, "url"),
                format!(
                    "`{url}` is not an http(s) URL; write it like https://hooks.example.com/warroom"
                ),
            );
        }
        Endpoint::Url(url)
    }

    fn credential(
        &mut self,
        path: &[String],
        key: &str,
        var: Option<&str>,
        required: bool,
        what: &'static str,
        env: &Environment,
    ) -> Option<Credential> {
        let Some(var) = var else {
            if required {
                self.problem(
                    path,
                    format!("needs {key}, the name of the environment variable holding the {what}"),
                );
            }
            return None;
        };
        if !is_env_var_name(var) {
            self.problem(
                &join_path(path, key),
                // Not echoed: when this fails, it is often the secret itself.
                "must name an environment variable (A-Z, 0-9 and _); the secret itself never goes in this file",
            );
        }
        let value = env
            .get(var)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(|value| SecretString::from(value.to_owned()));
        Some(Credential {
            var: var.to_owned(),
            value,
            what,
        })
    }

    fn delivery_policy(&mut self, path: &[String], raw: &RawNotifier) -> DeliveryPolicy {
        let defaults = DeliveryPolicy::default();
        let mut duration = |key: &str, text: &Option<String>, default: Duration| match text {
            Some(text) => self.duration(&join_path(path, key), text, false),
            None => default,
        };
        let timeout = duration("timeout", &raw.timeout, defaults.timeout);
        let backoff_base = duration("backoff_base", &raw.backoff_base, defaults.backoff_base);
        let backoff_max = duration("backoff_max", &raw.backoff_max, defaults.backoff_max);
        if timeout > MAX_TIMEOUT {
            self.problem(
                &join_path(path, "timeout"),
                format!(
                    "is at most {}: a page held longer by one slow receiver is better failed and escalated",
                    humantime::format_duration(MAX_TIMEOUT)
                ),
            );
        }
        if backoff_max < backoff_base {
            self.problem(
                &join_path(path, "backoff_max"),
                format!(
                    "must be at least backoff_base ({})",
                    humantime::format_duration(backoff_base)
                ),
            );
        }
        let max_attempts = raw.max_attempts.unwrap_or(defaults.max_attempts);
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&max_attempts) {
            self.problem(
                &join_path(path, "max_attempts"),
                format!("must be between 1 and {MAX_ATTEMPTS_LIMIT} (attempts in all, the first included)"),
            );
        }
        DeliveryPolicy {
            timeout: timeout.min(MAX_TIMEOUT),
            max_attempts: max_attempts.clamp(1, MAX_ATTEMPTS_LIMIT),
            backoff_base,
            backoff_max: backoff_max.max(backoff_base),
        }
    }

    fn rate_limit(&mut self, path: &[String], raw: &RawNotifier) -> RateLimit {
        let per_second = raw
            .rate_per_second
            .unwrap_or(delivery::DEFAULT_RATE_PER_SECOND);
        let burst = raw.rate_burst.unwrap_or(delivery::DEFAULT_RATE_BURST);
        if !(per_second.is_finite() && per_second > 0.0 && per_second <= MAX_RATE_PER_SECOND) {
            self.problem(
                &join_path(path, "rate_per_second"),
                format!("must be more than 0 and at most {MAX_RATE_PER_SECOND}; 0.5 means one request every two seconds"),
            );
        }
        if burst == 0 {
            self.problem(
                &join_path(path, "rate_burst"),
                "must be at least 1 (requests allowed at once)",
            );
        }
        RateLimit {
            per_second: if per_second.is_finite() && per_second > 0.0 {
                per_second.min(MAX_RATE_PER_SECOND)
            } else {
                delivery::DEFAULT_RATE_PER_SECOND
            },
            burst: burst.max(1),
        }
    }
}

/// Where plain SMTP may go: this host only.
fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

fn is_http_url(text: &str) -> bool {
    reqwest::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}
