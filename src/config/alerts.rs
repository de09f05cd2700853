//! The `[alerts]` section, read into `alerts::AlertsConfig`: the routes in order, the default
//! route, and storm control's cap, with every problem at its file and line.

use serde::Deserialize;

use super::load::{Loader, is_entry_name, join_path};
use crate::alerts::{
    AlertsConfig, DEFAULT_MAX_NEW_INCIDENTS_PER_MINUTE, DEFAULT_ROUTE, Matcher, Route,
};
use crate::domain::{ServiceConfig, SeverityConfig};

#[derive(Deserialize)]
#[serde(default)]
struct RawAlerts {
    max_new_incidents_per_minute: u32,
    default_route: Option<toml::Value>,
    routes: Vec<toml::Value>,
}

impl Default for RawAlerts {
    fn default() -> RawAlerts {
        RawAlerts {
            max_new_incidents_per_minute: DEFAULT_MAX_NEW_INCIDENTS_PER_MINUTE,
            default_route: None,
            routes: Vec::new(),
        }
    }
}

#[derive(Deserialize, Default)]
struct RawRoute {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    matchers: Vec<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    drill: bool,
    #[serde(default)]
    mitigate_when_resolved: bool,
    #[serde(default)]
    max_new_incidents_per_minute: Option<u32>,
}

impl Loader {
    pub(super) fn build_alerts(
        &mut self,
        raw: Option<toml::Value>,
        severities: &[SeverityConfig],
        services: &[ServiceConfig],
    ) -> AlertsConfig {
        let raw: RawAlerts = self.section("alerts", raw);
        let section = vec!["alerts".to_owned()];
        if raw.max_new_incidents_per_minute == 0 {
            self.problem(
                &join_path(&section, "max_new_incidents_per_minute"),
                "must be at least 1: the incidents one route may open per minute before alerts join its overflow incident",
            );
        }
        let cap = raw.max_new_incidents_per_minute.max(1);
        let default_path = join_path(&section, "default_route");
        let default_raw = match raw.default_route {
            None => RawRoute::default(),
            Some(value) => self.decode(&default_path, value).unwrap_or_default(),
        };
        if !default_raw.matchers.is_empty() {
            self.problem(
                &join_path(&default_path, "matchers"),
                "the default route takes every alert no other route takes; remove its matchers",
            );
        }
        let default_route = self.build_route(
            &default_path,
            default_raw,
            DEFAULT_ROUTE,
            cap,
            severities,
            services,
        );
        let mut routes: Vec<Route> = Vec::new();
        for (index, value) in raw.routes.into_iter().enumerate() {
            let path = join_path(&section, &format!("routes.{}", index + 1));
            let Some(raw) = self.decode::<RawRoute>(&path, value) else {
                continue;
            };
            let name = match raw.name.clone() {
                Some(name) => name,
                None => {
                    self.problem(
                        &path,
                        "a route needs a name (it shows in metrics and the timeline)",
                    );
                    continue;
                }
            };
            if !is_entry_name(&name) || name.len() > 64 {
                self.problem(
                    &join_path(&path, "name"),
                    "a route name is up to 64 letters, digits, `-` and `_`",
                );
            }
            if name == DEFAULT_ROUTE || routes.iter().any(|route| route.name == name) {
                self.problem(
                    &join_path(&path, "name"),
                    format!("`{name}` is already used by another route; route names are unique"),
                );
            }
            if raw.matchers.is_empty() {
                self.problem(
                    &join_path(&path, "matchers"),
                    "a route without matchers takes every alert; set matchers, or use [alerts.default_route]",
                );
            }
            let route = self.build_route(&path, raw, &name, cap, severities, services);
            routes.push(route);
        }
        AlertsConfig {
            routes,
            default_route,
        }
    }

    fn build_route(
        &mut self,
        path: &[String],
        raw: RawRoute,
        name: &str,
        cap: u32,
        severities: &[SeverityConfig],
        services: &[ServiceConfig],
    ) -> Route {
        let mut matchers = Vec::new();
        for (index, text) in raw.matchers.iter().enumerate() {
            match Matcher::parse(text) {
                Ok(matcher) => matchers.push(matcher),
                Err(message) => self.problem(
                    &join_path(path, &format!("matchers.{}", index + 1)),
                    message,
                ),
            }
        }
        let severity = raw
            .severity
            .map(|severity| severity.trim().to_owned())
            .filter(|severity| !severity.is_empty());
        if let Some(severity) = &severity
            && !severities.iter().any(|known| known.name == *severity)
        {
            let known: Vec<&str> = severities.iter().map(|s| s.name.as_str()).collect();
            self.problem(
                &join_path(path, "severity"),
                format!(
                    "`{severity}` is not a configured severity; use one of {}",
                    known.join(", ")
                ),
            );
        }
        let service = raw
            .service
            .map(|service| service.trim().to_owned())
            .filter(|service| !service.is_empty());
        if let Some(service) = &service
            && !services.iter().any(|known| known.name == *service)
        {
            let known: Vec<&str> = services.iter().map(|s| s.name.as_str()).collect();
            self.problem(
                &join_path(path, "service"),
                if known.is_empty() {
                    format!(
                        "`{service}` is not a service: no services are configured under [services]"
                    )
                } else {
                    format!(
                        "`{service}` is not a service; use one of {}",
                        known.join(", ")
                    )
                },
            );
        }
        if raw.max_new_incidents_per_minute == Some(0) {
            self.problem(
                &join_path(path, "max_new_incidents_per_minute"),
                "must be at least 1",
            );
        }
        Route {
            name: name.to_owned(),
            matchers,
            service,
            severity,
            drill: raw.drill,
            mitigate_when_resolved: raw.mitigate_when_resolved,
            max_new_incidents_per_minute: raw.max_new_incidents_per_minute.unwrap_or(cap).max(1),
        }
    }
}
