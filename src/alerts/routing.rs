//! Alert routing: routes that map label matchers to a service, severity and drill flag, a
//! default route, and storm control's cap (the `[alerts]` section, read by `config`).

use std::collections::BTreeMap;
use std::fmt;

use crate::domain::{ServiceConfig, SeverityConfig};
use regex::Regex;

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
