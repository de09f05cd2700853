//! Reading one TOML file into typed parts: the file, `WARROOM__SECTION__KEY` overrides, and
//! every problem collected with its file and line (or the variable that set it) instead of
//! stopping at the first. The config and the command catalog read through it. It imports
//! nothing else of the crate, so any part may use it without an import circle.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// Environment variables with this prefix override keys: `WARROOM__DATABASE__URL` sets
/// `[database] url`. Double underscores separate levels because keys contain single ones.
pub const ENV_OVERRIDE_PREFIX: &str = "WARROOM__";

pub(crate) fn config_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// The environment a config is loaded in: a snapshot, so tests can pass their own.
#[derive(Clone, Debug, Default)]
pub struct Environment {
    vars: BTreeMap<String, String>,
}

impl Environment {
    pub fn from_process() -> Environment {
        Environment {
            vars: std::env::vars().collect(),
        }
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        Environment {
            vars: pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Every variable, by name (to pass on to a child process).
    pub fn vars(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
    }

    /// This environment with `pairs` added (replacing variables of the same name).
    pub fn extended<K: Into<String>, V: Into<String>>(
        mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Environment {
        self.vars.extend(
            pairs
                .into_iter()
                .map(|(key, value)| (key.into(), value.into())),
        );
        self
    }
}

/// Where a problem was found: a line of the file, or an environment override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    Line { file: PathBuf, line: usize },
    File(PathBuf),
    Env(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line { file, line } => write!(f, "{}:{line}", file.display()),
            Location::File(file) => write!(f, "{}", file.display()),
            Location::Env(var) => write!(f, "environment variable {var}"),
        }
    }
}

/// One thing wrong with the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub location: Location,
    /// The dotted key, e.g. `services.api.rto`; empty for the file as a whole.
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            write!(f, "{}: {}", self.location, self.message)
        } else {
            write!(f, "{}: {}: {}", self.location, self.key, self.message)
        }
    }
}

/// Every problem found, reported together so one edit can fix them all.
#[derive(Debug)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self.problems.len();
        write!(
            f,
            "the configuration {} has {count} problem{}:",
            self.file.display(),
            if count == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            write!(f, "\n  {problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Reads one TOML file into typed parts, collecting problems (with file:line) instead of
/// stopping at the first. The config uses it, and so can other TOML data (the command catalog).
pub(crate) struct Loader {
    path: PathBuf,
    /// Kept only to find the line of a key when reporting a problem.
    document: toml_edit::Document<String>,
    /// Byte offsets at which each line starts, to turn spans into line numbers.
    line_starts: Vec<usize>,
    /// Key paths set from the environment, so their problems point at the variable.
    env_keys: BTreeMap<Vec<String>, String>,
    problems: Vec<Problem>,
    /// Findings that do not make the file invalid; they end up in `Config::warnings`.
    warnings: Vec<Problem>,
}

impl Loader {
    pub(crate) fn new(path: &Path, text: &str) -> Result<Loader, ConfigError> {
        let document = toml_edit::Document::parse(text.to_owned()).map_err(|error| {
            let line = error
                .span()
                .map(|span| line_of(&line_starts(text), span.start));
            ConfigError {
                file: path.to_owned(),
                problems: vec![Problem {
                    location: match line {
                        Some(line) => Location::Line {
                            file: path.to_owned(),
                            line,
                        },
                        None => Location::File(path.to_owned()),
                    },
                    key: String::new(),
                    message: format!("not valid TOML: {}", error.message()),
                }],
            }
        })?;
        Ok(Loader {
            path: path.to_owned(),
            document,
            line_starts: line_starts(text),
            env_keys: BTreeMap::new(),
            problems: Vec::new(),
            warnings: Vec::new(),
        })
    }

    /// The problems recorded so far; empty means everything read was valid.
    pub(crate) fn into_problems(self) -> Vec<Problem> {
        self.problems
    }

    pub(crate) fn parse_table(&self, text: &str) -> Result<toml::Table, ConfigError> {
        toml::from_str(text).map_err(|error| ConfigError {
            file: self.path.clone(),
            problems: vec![Problem {
                location: Location::File(self.path.clone()),
                key: String::new(),
                message: format!("not valid TOML: {}", error.message()),
            }],
        })
    }

    fn apply_env_overrides(&mut self, table: &mut toml::Table, env: &Environment) {
        for (name, value) in &env.vars {
            let Some(rest) = name.strip_prefix(ENV_OVERRIDE_PREFIX) else {
                continue;
            };
            let segments: Vec<&str> = rest.split("__").collect();
            if segments.iter().any(|segment| segment.is_empty()) {
                self.problems.push(Problem {
                    location: Location::Env(name.clone()),
                    key: String::new(),
                    message: "an override is written WARROOM__SECTION__KEY, with no empty parts"
                        .to_owned(),
                });
                continue;
            }
            let path = set_path(table, &segments, parse_env_value(value));
            self.env_keys.insert(path, name.clone());
        }
    }

    /// Records a problem at `path` (dotted key segments), located by line or env variable.
    pub(crate) fn problem(&mut self, path: &[String], message: impl Into<String>) {
        let location = self.locate(path);
        self.problems.push(Problem {
            location,
            key: path.join("."),
            message: message.into(),
        });
    }

    /// Records a warning at `path`: worth saying, not worth refusing the file for.
    pub(crate) fn warn(&mut self, path: &[String], message: impl Into<String>) {
        let location = self.locate(path);
        self.warnings.push(Problem {
            location,
            key: path.join("."),
            message: message.into(),
        });
    }

    /// Records a problem with element `index` (from 0) of the array at `path`, located at that
    /// element's own line, so a long multi-line array points at the right entry.
    pub(crate) fn problem_at_item(
        &mut self,
        path: &[String],
        index: usize,
        message: impl Into<String>,
    ) {
        let line = self
            .item_span(path, index)
            .map(|offset| line_of(&self.line_starts, offset));
        let location = match line {
            Some(line) if !self.env_keys.contains_key(path) => Location::Line {
                file: self.path.clone(),
                line,
            },
            _ => self.locate(path),
        };
        self.problems.push(Problem {
            location,
            key: path.join("."),
            message: message.into(),
        });
    }

    fn item_span(&self, path: &[String], index: usize) -> Option<usize> {
        let (last, parents) = path.split_last()?;
        let mut table: &dyn toml_edit::TableLike = self.document.as_table();
        for segment in parents {
            table = table.get(segment)?.as_table_like()?;
        }
        let array = table.get(last)?.as_array()?;
        array.get(index)?.span().map(|span| span.start)
    }

    /// Where `path` was set, for problems found later (against the command catalog).
    pub(crate) fn location(&self, path: &[String]) -> Location {
        self.locate(path)
    }

    /// The environment variable or the file line that set `path` (or its nearest parent).
    fn locate(&self, path: &[String]) -> Location {
        for len in (1..=path.len()).rev() {
            if let Some(var) = self.env_keys.get(&path[..len]) {
                return Location::Env(var.clone());
            }
        }
        match self.span_of(path) {
            Some(offset) => Location::Line {
                file: self.path.clone(),
                line: line_of(&self.line_starts, offset),
            },
            None => Location::File(self.path.clone()),
        }
    }

    /// The byte offset of `path` in the file: its key, else its value, else the nearest
    /// parent found. Numeric segments index arrays and arrays of tables counting from 1, as
    /// people count ("level 2"), so `policies.critical.levels.2.after` finds that line.
    fn span_of(&self, path: &[String]) -> Option<usize> {
        enum Node<'a> {
            Table(&'a dyn toml_edit::TableLike),
            Item(&'a toml_edit::Item),
            Value(&'a toml_edit::Value),
        }
        let mut node = Node::Table(self.document.as_table());
        let mut best = None;
        for segment in path {
            // An item is a table, a value or an array of tables: look through it first.
            if let Node::Item(item) = node {
                node = match item {
                    toml_edit::Item::Table(table) => Node::Table(table),
                    toml_edit::Item::Value(value) => Node::Value(value),
                    toml_edit::Item::ArrayOfTables(tables) => {
                        let Some(table) = array_index(segment).and_then(|index| tables.get(index))
                        else {
                            break;
                        };
                        best = table.span().map(|span| span.start).or(best);
                        node = Node::Table(table);
                        continue;
                    }
                    toml_edit::Item::None => break,
                };
            }
            if let Node::Value(value) = node {
                match value {
                    toml_edit::Value::InlineTable(table) => node = Node::Table(table),
                    toml_edit::Value::Array(array) => {
                        let Some(element) = array_index(segment).and_then(|index| array.get(index))
                        else {
                            break;
                        };
                        best = element.span().map(|span| span.start).or(best);
                        node = Node::Value(element);
                        continue;
                    }
                    _ => break,
                }
            }
            let Node::Table(table) = node else { break };
            let Some(item) = table.get(segment) else {
                break;
            };
            let key_span = table.key(segment).and_then(toml_edit::Key::span);
            best = key_span
                .or_else(|| item.span())
                .map(|span| span.start)
                .or(best);
            node = Node::Item(item);
        }
        best
    }

    /// Decodes one section or entry, recording unknown keys and type errors under `path`.
    pub(crate) fn decode<T: DeserializeOwned>(
        &mut self,
        path: &[String],
        value: toml::Value,
    ) -> Option<T> {
        let mut unknown = Vec::new();
        let mut record = |ignored: serde_ignored::Path<'_>| unknown.push(ignored.to_string());
        let deserializer = serde_ignored::Deserializer::new(value, &mut record);
        let decoded: Result<T, _> = serde_path_to_error::deserialize(deserializer);
        for key in unknown {
            let full = join_path(path, &key);
            self.problem(
                &full,
                "unknown key; check its spelling against `warroom config default`",
            );
        }
        match decoded {
            Ok(value) => Some(value),
            Err(error) => {
                let full = join_path(path, &error.path().to_string());
                self.problem(&full, error.into_inner().to_string());
                None
            }
        }
    }

    pub(crate) fn section<T: DeserializeOwned + Default>(
        &mut self,
        name: &str,
        raw: Option<toml::Value>,
    ) -> T {
        match raw {
            None => T::default(),
            Some(value @ toml::Value::Table(_)) => {
                self.decode(&[name.to_owned()], value).unwrap_or_default()
            }
            Some(_) => {
                self.problem(
                    &[name.to_owned()],
                    format!("must be a table, written [{name}]"),
                );
                T::default()
            }
        }
    }

    /// The entries of a `[name.ENTRY]` table, in file order.
    pub(crate) fn entries(
        &mut self,
        name: &str,
        raw: Option<toml::Value>,
    ) -> Vec<(String, toml::Value)> {
        match raw {
            None => Vec::new(),
            Some(toml::Value::Table(table)) => table.into_iter().collect(),
            Some(_) => {
                self.problem(
                    &[name.to_owned()],
                    format!("must be a table of entries, written [{name}.NAME]"),
                );
                Vec::new()
            }
        }
    }

    /// Parses a duration at `path`, recording a problem (and returning zero) when malformed.
    pub(crate) fn duration(&mut self, path: &[String], text: &str, allow_zero: bool) -> Duration {
        match parse_duration(text) {
            Ok(duration) if duration.is_zero() && !allow_zero => {
                self.problem(path, "must be longer than zero");
                duration
            }
            Ok(duration) => duration,
            Err(message) => {
                self.problem(path, message);
                Duration::ZERO
            }
        }
    }

    /// The folder of the file being read, against which relative paths resolve.
    pub(crate) fn dir(&self) -> &Path {
        config_dir(&self.path)
    }

    /// The file being read.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Reads `table` from `text` and applies the environment's overrides to it.
    pub(crate) fn read(
        &mut self,
        text: &str,
        env: &Environment,
    ) -> Result<toml::Table, ConfigError> {
        let mut table = self.parse_table(text)?;
        self.apply_env_overrides(&mut table, env);
        Ok(table)
    }

    /// True once any problem was recorded.
    pub(crate) fn has_problems(&self) -> bool {
        !self.problems.is_empty()
    }

    /// The warnings recorded so far, taken out of the loader.
    pub(crate) fn take_warnings(&mut self) -> Vec<Problem> {
        std::mem::take(&mut self.warnings)
    }
}

/// A Discord id as written in the file: a string of digits (what "Copy ID" gives) or an
/// integer; `""` or `0` means not set.
#[derive(Deserialize, Default)]
#[serde(untagged)]
pub(crate) enum Snowflake {
    Text(String),
    Number(i64),
    #[default]
    Unset,
}

impl Snowflake {
    pub(crate) fn parse(&self) -> Result<Option<u64>, String> {
        match self {
            Snowflake::Unset => Ok(None),
            Snowflake::Number(0) => Ok(None),
            Snowflake::Number(number) => u64::try_from(*number)
                .map(Some)
                .map_err(|_| format!("{number} is not a Discord id")),
            Snowflake::Text(text) if text.trim().is_empty() => Ok(None),
            Snowflake::Text(text) => match text.trim().parse::<u64>() {
                Ok(id) if id > 0 => Ok(Some(id)),
                _ => Err(format!(
                    "`{text}` is not a Discord id; ids are digits, copied with Developer Mode on (right-click → Copy ID)"
                )),
            },
        }
    }
}

/// Parses `"90s"`, `"15m"`, `"4h"`, `"1h 30m"`, or `"0"`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let trimmed = text.trim();
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    humantime::parse_duration(trimmed).map_err(|_| {
        format!("`{text}` is not a duration; write it like \"90s\", \"15m\", \"4h\" or \"1h 30m\"")
    })
}

fn parse_env_value(text: &str) -> toml::Value {
    // A value that reads as TOML keeps its type (numbers, booleans, arrays); anything else is
    // a plain string, so URLs and durations need no quoting in the shell.
    toml::from_str::<toml::Table>(&format!("value = {text}"))
        .ok()
        .and_then(|mut table| table.remove("value"))
        .unwrap_or_else(|| toml::Value::String(text.to_owned()))
}

/// Sets `segments` in `table`, matching existing keys without regard to case (environment
/// variables are upper case, keys are not), and returns the key path actually set.
fn set_path(table: &mut toml::Table, segments: &[&str], value: toml::Value) -> Vec<String> {
    let (first, rest) = segments.split_first().expect("segments are never empty");
    let key = table
        .keys()
        .find(|key| key.eq_ignore_ascii_case(first))
        .cloned()
        .unwrap_or_else(|| first.to_ascii_lowercase());
    if rest.is_empty() {
        table.insert(key.clone(), value);
        return vec![key];
    }
    let entry = table
        .entry(key.clone())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    if !entry.is_table() {
        *entry = toml::Value::Table(toml::Table::new());
    }
    let inner = entry.as_table_mut().expect("just made a table");
    let mut path = vec![key];
    path.extend(set_path(inner, rest, value));
    path
}

pub(crate) fn join_path(prefix: &[String], dotted: &str) -> Vec<String> {
    let mut path = prefix.to_vec();
    path.extend(
        dotted
            .split('.')
            .filter(|part| !part.is_empty() && *part != "?")
            .map(str::to_owned),
    );
    path
}

/// A 1-based array position written as a path segment, as a 0-based index.
fn array_index(segment: &str) -> Option<usize> {
    segment.parse::<usize>().ok()?.checked_sub(1)
}

fn line_starts(text: &str) -> Vec<usize> {
    std::iter::once(0)
        .chain(text.match_indices('\n').map(|(index, _)| index + 1))
        .collect()
}

fn line_of(line_starts: &[usize], offset: usize) -> usize {
    line_starts.partition_point(|start| *start <= offset)
}

pub(crate) fn is_env_var_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|first| first.is_ascii_uppercase() || first == '_')
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn is_simple_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

pub(crate) fn is_entry_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_keep_their_toml_type_or_become_strings() {
        assert_eq!(parse_env_value("8"), toml::Value::Integer(8));
        assert_eq!(parse_env_value("true"), toml::Value::Boolean(true));
        assert_eq!(
            parse_env_value("postgres://x@y/z"),
            toml::Value::String("postgres://x@y/z".into())
        );
        assert_eq!(parse_env_value("15m"), toml::Value::String("15m".into()));
    }

    #[test]
    fn durations_accept_the_documented_forms_only() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
        assert_eq!(
            parse_duration("1h 30m").unwrap(),
            Duration::from_secs(5_400)
        );
        assert_eq!(parse_duration("0").unwrap(), Duration::ZERO);
        for bad in ["", "15", "fifteen minutes", "15 parsecs", "-5m"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn line_numbers_count_from_one() {
        let starts = line_starts("a\nb\nc");
        assert_eq!(line_of(&starts, 0), 1);
        assert_eq!(line_of(&starts, 2), 2);
        assert_eq!(line_of(&starts, 4), 3);
    }
}
