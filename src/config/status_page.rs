//! `[status_page]`: the public status page `GET /status` and its Atom feed
//! `GET /status/feed.atom` — whether they are served, their title, and which services they
//! show (none listed: every service, and incidents without one).

use serde::Deserialize;

use super::load::Loader;
use crate::domain::ServiceConfig;

/// What `[status_page]` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatusPageConfig {
    pub enabled: bool,
    pub title: String,
    /// Only incidents of these services; empty shows all.
    pub services: Vec<String>,
}

impl Default for StatusPageConfig {
    fn default() -> StatusPageConfig {
        StatusPageConfig {
            enabled: false,
            title: "Service status".to_owned(),
            services: Vec::new(),
        }
    }
}

#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawStatusPage {
    enabled: bool,
    title: String,
    services: Vec<String>,
}

impl Default for RawStatusPage {
    fn default() -> RawStatusPage {
        let defaults = StatusPageConfig::default();
        RawStatusPage {
            enabled: defaults.enabled,
            title: defaults.title,
            services: defaults.services,
        }
    }
}

/// Longest title accepted: it heads a public page and a feed.
const TITLE_LIMIT: usize = 100;

impl Loader {
    pub(super) fn build_status_page(
        &mut self,
        raw: Option<toml::Value>,
        services: &[ServiceConfig],
    ) -> StatusPageConfig {
        let raw: RawStatusPage = self.section("status_page", raw);
        let path = |key: &str| vec!["status_page".to_owned(), key.to_owned()];
        let title = raw.title.trim().to_owned();
        if title.is_empty() || title.chars().count() > TITLE_LIMIT {
            self.problem(
                &path("title"),
                format!("write a title of 1 to {TITLE_LIMIT} characters, e.g. \"Acme status\""),
            );
        }
        for service in &raw.services {
            if !services.iter().any(|known| known.name == *service) {
                let known: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
                self.problem(
                    &path("services"),
                    if known.is_empty() {
                        format!("`{service}` is not a service: no services are configured")
                    } else {
                        format!(
                            "`{service}` is not a service; use some of {}",
                            known.join(", ")
                        )
                    },
                );
            }
        }
        StatusPageConfig {
            enabled: raw.enabled,
            title,
            services: raw.services,
        }
    }
}
