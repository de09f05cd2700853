//! The `[notifiers]` section, read into `notify::NotifierConfig`s: the kind, where it sends
//! (a URL, or a variable holding one that embeds a token), its credential from the
//! environment, and its delivery and rate limits.

use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use super::load::{Environment, Loader, is_env_var_name, join_path};
use crate::notify::delivery::{self, DeliveryPolicy, MAX_ATTEMPTS_LIMIT, MAX_TIMEOUT, RateLimit};
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
}

impl Loader {
    pub(super) fn build_notifiers(
        &mut self,
        raw: Option<toml::Value>,
        env: &Environment,
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
            let endpoint = self.notifier_endpoint(&path, kind, &raw, env);
            let credential = self.notifier_credential(&path, kind, &raw, env);
            let delivery = self.delivery_policy(&path, &raw);
            let rate_limit = self.rate_limit(&path, &raw);
            notifiers.push(NotifierConfig {
                name,
                kind,
                endpoint,
                credential,
                delivery,
                rate_limit,
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
            NotifierKind::PagerDuty => &["url", "routing_key_env"],
            NotifierKind::Opsgenie => &["url", "api_key_env"],
            NotifierKind::Webhook => &["url", "url_env", "secret_env"],
            NotifierKind::SlackWebhook | NotifierKind::DiscordWebhook => &["url_env"],
            NotifierKind::Discord => &[],
        };
        for (key, present) in [
            ("url", raw.url.is_some()),
            ("url_env", raw.url_env.is_some()),
            ("routing_key_env", raw.routing_key_env.is_some()),
            ("api_key_env", raw.api_key_env.is_some()),
            ("secret_env", raw.secret_env.is_some()),
        ] {
            if present && !allowed.contains(&key) {
                let message = if key == "url" {
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

fn is_http_url(text: &str) -> bool {
    reqwest::Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
}
