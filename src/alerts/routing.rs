//! The `[alerts]` section: routes that map label matchers to a service, severity and drill
//! flag, a default route, and storm control's cap. Read through the config `Loader`, so every
//! problem comes with its file and line.

use std::collections::BTreeMap;
use std::fmt;

use regex::Regex;
use serde::Deserialize;

use crate::config::{Loader, ServiceConfig, SeverityConfig, is_entry_name, join_path};

/// New incidents one route may open per minute unless configured: enough for a real outage
/// touching several services at once, few enough that a storm of alerts does not bury the
/// Discord server in channels.
pub const DEFAULT_MAX_NEW_INCIDENTS_PER_MINUTE: u32 = 10;

/// The name of the route used when no other matches.
pub const DEFAULT_ROUTE: &str = "default";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertsConfig {
    /// In file order; the first whose matchers all hold wins.
    pub routes: Vec<Route>,
    pub default_route: Route,
}

impl Default for AlertsConfig {
    fn default() -> AlertsConfig {
        AlertsConfig {
            routes: Vec::new(),
            default_route: Route {
                name: DEFAULT_ROUTE.to_owned(),
                matchers: Vec::new(),
                service: None,
                severity: None,
                drill: false,
                mitigate_when_resolved: false,
                max_new_incidents_per_minute: DEFAULT_MAX_NEW_INCIDENTS_PER_MINUTE,
            },
        }
    }
}

impl AlertsConfig {
    /// The route for an alert group with these labels.
    pub fn route(&self, labels: &BTreeMap<String, String>) -> &Route {
        self.routes
            .iter()
            .find(|route| route.matchers.iter().all(|matcher| matcher.matches(labels)))
            .unwrap_or(&self.default_route)
    }

    pub fn route_named(&self, name: &str) -> Option<&Route> {
        self.routes
            .iter()
            .chain(std::iter::once(&self.default_route))
            .find(|route| route.name == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Route {
    pub name: String,
    pub matchers: Vec<Matcher>,
    pub service: Option<String>,
    /// `None`: the service's `default_severity`, else the least severe severity.
    pub severity: Option<String>,
    pub drill: bool,
    /// Mark the incident mitigated when every alert of it has resolved.
    pub mitigate_when_resolved: bool,
    /// Storm control: incidents this route may open per minute; later groups join the
    /// route's overflow incident.
    pub max_new_incidents_per_minute: u32,
}

impl Route {
    /// The severity an incident opened through this route gets.
    pub fn severity_in<'a>(
        &'a self,
        severities: &'a [SeverityConfig],
        services: &'a [ServiceConfig],
    ) -> &'a str {
        if let Some(severity) = &self.severity {
            return severity;
        }
        let service_default = self.service.as_ref().and_then(|name| {
            services
                .iter()
                .find(|service| service.name.eq_ignore_ascii_case(name))
                .and_then(|service| service.default_severity.as_deref())
        });
        service_default
            .or_else(|| severities.last().map(|severity| severity.name.as_str()))
            .unwrap_or("SEV4")
    }
}

/// One Alertmanager-style matcher: `name="value"`, `name!="value"`, `name=~"regex"`,
/// `name!~"regex"`. Regexes are anchored at both ends, as in Alertmanager. A missing label
/// reads as the empty string.
#[derive(Clone, Debug)]
pub struct Matcher {
    name: String,
    op: MatchOp,
    value: String,
    regex: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, other: &Matcher) -> bool {
        self.name == other.name && self.op == other.op && self.value == other.value
    }
}

impl Eq for Matcher {}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MatchOp {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

impl MatchOp {
    fn as_str(self) -> &'static str {
        match self {
            MatchOp::Equal => "=",
            MatchOp::NotEqual => "!=",
            MatchOp::Regex => "=~",
            MatchOp::NotRegex => "!~",
        }
    }
}

impl fmt::Display for Matcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

impl Matcher {
    pub fn parse(text: &str) -> Result<Matcher, String> {
        let hint = "write a matcher like severity=\"critical\", env!=\"staging\" or service=~\"pg|postgres\"";
        let position = text
            .find(['=', '!'])
            .ok_or_else(|| format!("`{text}` is not a matcher; {hint}"))?;
        let name = text[..position].trim();
        let rest = &text[position..];
        let (op, value) = [
            ("=~", MatchOp::Regex),
            ("!~", MatchOp::NotRegex),
            ("!=", MatchOp::NotEqual),
            ("=", MatchOp::Equal),
        ]
        .into_iter()
        .find_map(|(token, op)| rest.strip_prefix(token).map(|value| (op, value)))
        .ok_or_else(|| format!("`{text}` is not a matcher; {hint}"))?;
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(format!(
                "`{name}` is not a label name (letters, digits and `_`); {hint}"
            ));
        }
        let value = value.trim();
        let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(quoted) => quoted.replace("\\\"", "\"").replace("\\\\", "\\"),
            None => value.to_owned(),
        };
        let regex = match op {
            MatchOp::Regex | MatchOp::NotRegex => {
                Some(Regex::new(&format!("^(?:{value})$")).map_err(|error| {
                    // The regex crate draws a multi-line picture; its last line says why.
                    let text = error.to_string();
                    let why = text
                        .lines()
                        .last()
                        .unwrap_or("")
                        .trim()
                        .trim_start_matches("error: ");
                    format!("`{value}` is not a regular expression ({why})")
                })?)
            }
            _ => None,
        };
        Ok(Matcher {
            name: name.to_owned(),
            op,
            value,
            regex,
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let actual = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match (self.op, &self.regex) {
            (MatchOp::Equal, _) => actual == self.value,
            (MatchOp::NotEqual, _) => actual != self.value,
            (MatchOp::Regex, Some(regex)) => regex.is_match(actual),
            (MatchOp::NotRegex, Some(regex)) => !regex.is_match(actual),
            (_, None) => false,
        }
    }
}

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
    pub(crate) fn build_alerts(
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

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect()
    }

    #[test]
    fn matchers_work_like_alertmanagers() {
        let critical = Matcher::parse(r#"severity="critical""#).unwrap();
        let not_staging = Matcher::parse(r#"env!="staging""#).unwrap();
        let postgres = Matcher::parse(r#"service=~"pg|postgres""#).unwrap();
        let no_test = Matcher::parse(r#"team!~"test.*""#).unwrap();
        let alert = labels(&[("severity", "critical"), ("service", "postgres")]);
        assert!(critical.matches(&alert) && not_staging.matches(&alert));
        assert!(postgres.matches(&alert) && no_test.matches(&alert));
        assert!(
            !postgres.matches(&labels(&[("service", "postgres-replica")])),
            "regexes are anchored"
        );
        assert!(Matcher::parse("severity").is_err());
        assert!(Matcher::parse(r#"9x="y""#).is_err());
        assert!(Matcher::parse(r#"x=~"(""#).is_err());
    }
}
