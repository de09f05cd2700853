//! From chat text to an exact argv: `parse_args` reads `key=value` pairs (quotes group, nothing
//! else is special), `CommandSpec::bind` validates every value and fills the templates.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use sha2::{Digest, Sha256};

use crate::config::parse_duration;

use super::catalog::{CommandSpec, EnvValue, Param, ParamKind, Risk};
use super::template::is_param_name;

/// The longest value accepted, in bytes. Names, units, backup files and URLs fit many times
/// over; anything longer typed into chat is a mistake or an attack, and long argv elements
/// only make approval cards unreadable.
pub const MAX_VALUE_BYTES: usize = 1_024;

/// The longest `key=value ...` text read. Discord string options hold 6,000 characters; a
/// command's arguments never need more than a few values of `MAX_VALUE_BYTES`.
pub const MAX_ARGS_TEXT_BYTES: usize = 8_192;

/// How much of a refused value an error message repeats, in characters: enough to recognise
/// it, short enough that a 10,000-character attempt does not flood the reply.
const SHOWN_VALUE_CHARS: usize = 60;

/// Why arguments were refused. Nothing is run when binding fails.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// The `key=value` text could not be read.
    #[error("{0}")]
    Syntax(String),
    /// One or more values (or names) were refused; every problem is listed.
    #[error("{}", rejected_message(command, problems))]
    Rejected {
        command: String,
        problems: Vec<ArgProblem>,
    },
    #[error(
        "`{command}` has no dry run; leave dry run off to run it for real, or ask for dry_run_args in its catalog file"
    )]
    NoDryRun { command: String },
}

/// One refused parameter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgProblem {
    pub param: String,
    pub message: String,
}

impl fmt::Display for ArgProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.param, self.message)
    }
}

fn rejected_message(command: &str, problems: &[ArgProblem]) -> String {
    let mut message = format!("`{command}` cannot run with these arguments:");
    for problem in problems {
        message.push_str(&format!("\n- {problem}"));
    }
    message
}

/// Reads `key=value key2="two words" key3='it''s'`-style text into values.
///
/// Whitespace separates pairs. A value is either bare (up to the next whitespace) or wholly
/// quoted with `"..."`, `'...'`, `“...”` or `‘...’` (phones type the curly ones); inside
/// `"..."`, `\"` and `\\` stand for `"` and `\`. Nothing else is special: `$`, backticks,
/// `;`, `|`, `*` and backslashes outside double quotes are plain characters, because
/// nothing here is ever given to a shell. Duplicate keys are an error; unknown and missing
/// ones are found by [`CommandSpec::bind`].
pub fn parse_args(text: &str) -> Result<BTreeMap<String, String>, BindError> {
    if text.len() > MAX_ARGS_TEXT_BYTES {
        return Err(BindError::Syntax(format!(
            "the arguments are {} bytes long; at most {MAX_ARGS_TEXT_BYTES} are read",
            text.len()
        )));
    }
    let mut values = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            break;
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        if chars.next_if_eq(&'=').is_none() {
            return Err(BindError::Syntax(format!(
                "{} is not key=value; write arguments like unit=nginx reason=\"disk full\"",
                shown(&key)
            )));
        }
        if !is_param_name(&key) {
            return Err(BindError::Syntax(format!(
                "{} is not a parameter name; names are lowercase letters, digits and _, as in unit=nginx",
                shown(&key)
            )));
        }
        let value = match chars.peek().copied() {
            Some(open @ ('"' | '\'' | '“' | '‘')) => {
                chars.next();
                let close = match open {
                    '“' => '”',
                    '‘' => '’',
                    other => other,
                };
                let mut value = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    if c == close {
                        closed = true;
                        break;
                    }
                    if open == '"' && c == '\\' && matches!(chars.peek(), Some('"' | '\\')) {
                        value.push(chars.next().expect("peeked"));
                        continue;
                    }
                    value.push(c);
                }
                if !closed {
                    return Err(BindError::Syntax(format!(
                        "the quote opened for {key} is never closed; close it with {close}"
                    )));
                }
                if chars.peek().is_some_and(|c| !c.is_whitespace()) {
                    return Err(BindError::Syntax(format!(
                        "the value of {key} goes on after its closing quote; put a space between arguments, or quote the whole value"
                    )));
                }
                value
            }
            _ => {
                let mut value = String::new();
                while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                    if matches!(c, '"' | '\'' | '“' | '”' | '‘' | '’') {
                        return Err(BindError::Syntax(format!(
                            "the value of {key} has a quote inside; quote the whole value instead, e.g. {key}=\"two words\""
                        )));
                    }
                    value.push(c);
                }
                value
            }
        };
        if values.insert(key.clone(), value).is_some() {
            return Err(BindError::Syntax(format!(
                "{key} is given twice; give each argument once"
            )));
        }
    }
    Ok(values)
}

/// A value as an error message repeats it: quoted and escaped (so control and invisible
/// characters show as `\u{202e}`), and shortened.
pub(crate) fn shown(value: &str) -> String {
    let count = value.chars().count();
    if count > SHOWN_VALUE_CHARS {
        let head: String = value.chars().take(SHOWN_VALUE_CHARS).collect();
        format!("{head:?}… ({count} characters)")
    } else {
        format!("{value:?}")
    }
}

/// Classes of characters that change how text reads without being seen, by Unicode
/// property rather than by a list of code points, so the next zero-width trick is in its
/// class already: bidirectional overrides and zero-width joiners (format, `Cf`), the
/// combining grapheme joiner and other default-ignorable code points, variation selectors,
/// Hangul fillers and the braille blank (letters and symbols that draw nothing), spaces
/// that are not the plain space, line and paragraph separators, private-use and unassigned
/// code points (which draw as whatever a font decides). In the order they are named.
const INVISIBLE_CLASSES: &[(&str, &str)] = &[
    (r"\p{Variation_Selector}", "a variation selector"),
    (r"[\x{115F}\x{1160}\x{3164}\x{FFA0}]", "a Hangul filler"),
    (r"\x{2800}", "the braille blank"),
    (r"\p{Cf}", "a format character"),
    (
        r"\p{Default_Ignorable_Code_Point}",
        "a default-ignorable character",
    ),
    (r"[\p{Zs}--\x{20}]", "a space that is not the plain space"),
    (r"[\p{Zl}\p{Zp}]", "a line or paragraph separator"),
    (r"\p{Co}", "a private-use character"),
    (r"\p{Cn}", "an unassigned code point"),
];

/// The class of an invisible character `c` (see [`INVISIBLE_CLASSES`]), if it is one.
pub(crate) fn invisible_class(c: char) -> Option<&'static str> {
    static CLASSES: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    let classes = CLASSES.get_or_init(|| {
        INVISIBLE_CLASSES
            .iter()
            .map(|(pattern, name)| {
                let whole = format!(r"\A{pattern}\z");
                (Regex::new(&whole).expect("a valid class"), *name)
            })
            .collect()
    });
    if c.is_ascii() {
        return None;
    }
    let mut buffer = [0u8; 4];
    let text = c.encode_utf8(&mut buffer);
    classes
        .iter()
        .find(|(class, _)| class.is_match(text))
        .map(|(_, name)| *name)
}

/// A value as checked: how it is stored with a run (checking it again gives the same), and
/// how it goes into argv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Checked {
    pub(crate) stored: String,
    pub(crate) arg: String,
}

impl Checked {
    fn same(value: String) -> Checked {
        Checked {
            stored: value.clone(),
            arg: value,
        }
    }
}

/// Validates one value for `param` and returns it as it is stored and as it goes into argv
/// (normalized for `int`; a `duration` is stored as `900s` and passed as `900`). The error is
/// the reason, without the parameter's name.
///
/// No kind accepts control characters (newlines, tabs, NUL ...) or invisible characters
/// (see [`INVISIBLE_CLASSES`]): a value typed in chat never needs them, and they are how
/// commands and approval cards are made to say something other than what runs.
pub(crate) fn check_value(param: &Param, value: &str) -> Result<Checked, String> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "is {} bytes long; at most {MAX_VALUE_BYTES} are accepted",
            value.len()
        ));
    }
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(format!(
            "contains the control character U+{:04X}; a value is one line of plain text",
            u32::from(c)
        ));
    }
    if let Some((c, class)) = value
        .chars()
        .find_map(|c| invisible_class(c).map(|class| (c, class)))
    {
        return Err(format!(
            "contains the invisible character U+{:04X} ({class}), which can make text read differently than it is; type the value plainly",
            u32::from(c)
        ));
    }
    if value.is_empty() {
        return Err(format!("is empty; give {}", param.kind.describe()));
    }
    if value.starts_with('-') && !param.allow_leading_dash {
        return Err(format!(
            "{} starts with `-`, which the program could read as an option; values of this parameter may not start with `-`",
            shown(value)
        ));
    }
    match &param.kind {
        ParamKind::Enum { values } => {
            if values.iter().any(|allowed| allowed == value) {
                Ok(Checked::same(value.to_owned()))
            } else {
                Err(format!(
                    "{} is not one of {}",
                    shown(value),
                    values.join(", ")
                ))
            }
        }
        ParamKind::String { pattern } => {
            if pattern.matches(value) {
                Ok(Checked::same(value.to_owned()))
            } else {
                Err(format!(
                    "{} does not match {}",
                    shown(value),
                    pattern.as_str()
                ))
            }
        }
        ParamKind::Int { min, max } => {
            let number: i64 = value
                .parse()
                .map_err(|_| format!("{} is not a whole number", shown(value)))?;
            if number < *min || number > *max {
                return Err(format!("{number} is not from {min} to {max}"));
            }
            // A negative number was written with its `-`, so the check above has run.
            Ok(Checked::same(number.to_string()))
        }
        ParamKind::Duration { min, max } => {
            let duration = parse_duration(value).map_err(|_| {
                format!(
                    "{} is not a duration; write it like 90s, 15m or 1h",
                    shown(value)
                )
            })?;
            if duration.subsec_nanos() != 0 {
                return Err(format!("{} must be whole seconds", shown(value)));
            }
            if duration < *min || duration > *max {
                return Err(format!(
                    "{} is not from {} to {}",
                    value,
                    humantime::format_duration(*min),
                    humantime::format_duration(*max)
                ));
            }
            // Stored with its unit, so that checking it again (when the run starts) reads
            // the same duration; templates get the bare seconds and add the unit the
            // program wants.
            Ok(Checked {
                stored: format!("{}s", duration.as_secs()),
                arg: duration.as_secs().to_string(),
            })
        }
    }
}

impl CommandSpec {
    /// Validates `values` (as from [`parse_args`]) and builds the exact invocation: every
    /// placeholder becomes part of exactly one argv element, never more, and a value can
    /// neither add nor split nor merge arguments. Unknown names, missing values and invalid
    /// values are all reported at once. With `dry_run`, `dry_run_args` are used, only the
    /// parameters they use are required, and no lock is taken (a dry run only looks).
    pub fn bind(
        &self,
        values: &BTreeMap<String, String>,
        dry_run: bool,
    ) -> Result<Invocation, BindError> {
        let templates = if dry_run {
            self.dry_run_args().ok_or_else(|| BindError::NoDryRun {
                command: self.name().to_owned(),
            })?
        } else {
            self.args()
        };
        let lock = if dry_run { None } else { self.lock() };
        let mut problems = Vec::new();
        for name in values.keys() {
            if self.param(name).is_none() {
                let known: Vec<&str> = self.params().iter().map(Param::name).collect();
                problems.push(ArgProblem {
                    param: name.clone(),
                    message: if known.is_empty() {
                        format!("`{}` takes no arguments", self.name())
                    } else {
                        format!(
                            "is not an argument of `{}`; it takes {}",
                            self.name(),
                            known.join(", ")
                        )
                    },
                });
            }
        }
        // As they go into argv, and as they are stored with the run.
        let mut bound = BTreeMap::new();
        let mut stored = BTreeMap::new();
        for param in self.params() {
            let needed = templates
                .iter()
                .chain(lock)
                .any(|template| template.placeholders().any(|name| name == param.name()));
            // A default was checked when the catalog loaded, so it checks again.
            match values
                .get(param.name())
                .map(String::as_str)
                .or(param.default())
            {
                Some(value) => match check_value(param, value) {
                    Ok(checked) => {
                        bound.insert(param.name().to_owned(), checked.arg);
                        stored.insert(param.name().to_owned(), checked.stored);
                    }
                    Err(reason) => problems.push(ArgProblem {
                        param: param.name().to_owned(),
                        message: reason,
                    }),
                },
                None if needed => problems.push(ArgProblem {
                    param: param.name().to_owned(),
                    message: format!(
                        "is missing; give {}=… ({})",
                        param.name(),
                        param.kind().describe()
                    ),
                }),
                None => {}
            }
        }
        if !problems.is_empty() {
            return Err(BindError::Rejected {
                command: self.name().to_owned(),
                problems,
            });
        }
        let args = templates
            .iter()
            .map(|template| {
                template
                    .render(&bound)
                    .expect("every placeholder of the chosen templates is bound")
            })
            .collect();
        Ok(Invocation {
            command: self.name().to_owned(),
            program: self.program().to_owned(),
            args,
            env: self.env().to_vec(),
            workdir: self.workdir().to_owned(),
            lock: lock.map(|template| {
                template
                    .render(&bound)
                    .expect("every placeholder of the lock is bound")
            }),
            timeout: self.timeout(),
            dry_run,
            risk: self.risk(),
            values: stored,
        })
    }
}

/// Exactly what will run: the program, each argv element, the environment allowlist, the
/// lock key and the timeout. Approval cards show it as it is ([`Invocation::command_line`]);
/// [`super::Runner::run`] runs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invocation {
    command: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, EnvValue)>,
    workdir: PathBuf,
    lock: Option<String>,
    timeout: Duration,
    dry_run: bool,
    risk: Risk,
    /// The validated values by parameter name, as stored with a run: binding them again
    /// gives the same invocation.
    values: BTreeMap<String, String>,
}

impl Invocation {
    /// An invocation that skips the catalog and its checks: for tests of the runner and for
    /// warroom's own fixed commands, never for anything a person typed.
    pub fn unchecked(
        command: impl Into<String>,
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<String>>,
        timeout: Duration,
    ) -> Invocation {
        Invocation {
            command: command.into(),
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            workdir: PathBuf::from("/"),
            lock: None,
            timeout,
            dry_run: false,
            risk: Risk::ReadOnly,
            values: BTreeMap::new(),
        }
    }

    /// Adds a variable to the child's environment (see [`Invocation::unchecked`]).
    pub fn with_env(mut self, name: impl Into<String>, value: EnvValue) -> Invocation {
        self.env.push((name.into(), value));
        self
    }

    /// Sets the lock key (see [`Invocation::unchecked`]).
    pub fn with_lock(mut self, key: impl Into<String>) -> Invocation {
        self.lock = Some(key.into());
        self
    }

    /// Sets the working directory (see [`Invocation::unchecked`]).
    pub fn with_workdir(mut self, dir: impl Into<PathBuf>) -> Invocation {
        self.workdir = dir.into();
        self
    }

    /// The catalog command's name.
    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The arguments after the program, one element each, exactly as the child gets them.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// The program followed by its arguments.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.to_string_lossy().into_owned())
            .chain(self.args.iter().cloned())
            .collect()
    }

    /// The argv on one line for people to read (approval cards, the timeline): elements are
    /// separated by spaces, and any element that is not plain (`A-Z a-z 0-9 _ - . / : = @ % + ,`)
    /// is shown in double quotes with escapes, so where each element starts and ends, and
    /// any odd character in it, is visible. For display only: nothing ever parses it.
    pub fn command_line(&self) -> String {
        command_line(&self.argv())
    }

    /// The child's variables besides `PATH`; secrets are resolved when the run starts.
    pub fn env(&self) -> &[(String, EnvValue)] {
        &self.env
    }

    pub fn workdir(&self) -> &Path {
        &self.workdir
    }

    /// Runs with the same key never overlap (within this warroom process).
    pub fn lock(&self) -> Option<&str> {
        self.lock.as_deref()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    pub fn risk(&self) -> Risk {
        self.risk
    }

    /// The validated values by parameter name (defaults included), for the run record:
    /// binding them again gives this invocation again (a duration is `900s`, not `900`).
    pub fn values(&self) -> &BTreeMap<String, String> {
        &self.values
    }

    /// SHA-256 (hex) of everything that decides what runs: the command, program, each
    /// argument, the environment (literals, and the names secrets are read from), working
    /// directory, timeout, lock, risk and dry run. Equal fingerprints run the same thing; a
    /// request records it, and a run starts only if the catalog still gives the same one.
    pub fn fingerprint(&self) -> String {
        let env: Vec<serde_json::Value> = self
            .env
            .iter()
            .map(|(name, value)| match value {
                EnvValue::Literal(text) => serde_json::json!([name, "literal", text]),
                EnvValue::FromEnv(variable) => serde_json::json!([name, "from_env", variable]),
            })
            .collect();
        // An array, so the order of the parts is fixed whatever the JSON map type.
        let canonical = serde_json::json!([
            "warroom invocation v1",
            self.command,
            self.program.to_string_lossy(),
            self.args,
            env,
            self.workdir.to_string_lossy(),
            self.timeout.as_millis() as u64,
            self.lock,
            self.risk.as_str(),
            self.dry_run,
        ]);
        hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
    }

    /// The environment as people read it: `NAME=value` for literals, `NAME=<from_env VAR>`
    /// for secrets (whose values are never shown).
    pub fn env_lines(&self) -> Vec<String> {
        self.env
            .iter()
            .map(|(name, value)| match value {
                EnvValue::Literal(text) => format!("{name}={text}"),
                EnvValue::FromEnv(variable) => format!("{name}=<from_env {variable}>"),
            })
            .collect()
    }
}

/// `argv` on one line for people to read: elements separated by spaces, and any element that
/// is not plain (`A-Z a-z 0-9 _ - . / : = @ % + ,`) shown in double quotes with escapes, so
/// where each element starts and ends, and any odd character in it, is visible. For display
/// only: nothing ever parses it.
pub fn command_line(argv: &[String]) -> String {
    argv.iter()
        .map(|element| {
            let plain = !element.is_empty()
                && element.chars().all(|c| {
                    c.is_ascii_alphanumeric()
                        || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
                });
            if plain {
                element.clone()
            } else {
                format!("{element:?}")
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Vec<(String, String)> {
        parse_args(text).unwrap().into_iter().collect()
    }

    fn pair(key: &str, value: &str) -> (String, String) {
        (key.to_owned(), value.to_owned())
    }

    #[test]
    fn quotes_group_and_nothing_else_is_special() {
        assert_eq!(
            parsed(r#"unit=nginx  reason="disk full; rm -rf /" note='$(id) `x`'"#),
            [
                pair("note", "$(id) `x`"),
                pair("reason", "disk full; rm -rf /"),
                pair("unit", "nginx"),
            ]
        );
        assert_eq!(
            parsed(r#"a="say \"hi\" \\ \n" b=C:\dir\x c=“curly quotes” d=‘single’ e="""#),
            [
                pair("a", r#"say "hi" \ \n"#),
                pair("b", r"C:\dir\x"),
                pair("c", "curly quotes"),
                pair("d", "single"),
                pair("e", ""),
            ]
        );
        assert_eq!(parsed(""), []);
        assert_eq!(
            parsed("  x=1\t\ny=$HOME "),
            [pair("x", "1"), pair("y", "$HOME")]
        );
    }

    #[test]
    fn malformed_text_says_what_to_write() {
        let cases = [
            (
                "nginx",
                "\"nginx\" is not key=value; write arguments like unit=nginx reason=\"disk full\"",
            ),
            (
                "Unit=x",
                "\"Unit\" is not a parameter name; names are lowercase letters, digits and _, as in unit=nginx",
            ),
            (
                "=x",
                "\"\" is not a parameter name; names are lowercase letters, digits and _, as in unit=nginx",
            ),
            (
                "a=\"open",
                "the quote opened for a is never closed; close it with \"",
            ),
            (
                "a=“open\"",
                "the quote opened for a is never closed; close it with ”",
            ),
            (
                "a=\"x\"y",
                "the value of a goes on after its closing quote; put a space between arguments, or quote the whole value",
            ),
            (
                "a=x\"y\"",
                "the value of a has a quote inside; quote the whole value instead, e.g. a=\"two words\"",
            ),
            ("a=1 a=2", "a is given twice; give each argument once"),
        ];
        for (text, expected) in cases {
            assert_eq!(
                parse_args(text).unwrap_err(),
                BindError::Syntax(expected.to_owned()),
                "{text}"
            );
        }
        let long = format!("a={}", "x".repeat(MAX_ARGS_TEXT_BYTES));
        assert!(parse_args(&long).is_err());
    }

    #[test]
    fn refused_values_are_shown_escaped_and_short() {
        assert_eq!(shown("a\u{202e}b\n"), r#""a\u{202e}b\n""#);
        let long = "x".repeat(100);
        assert_eq!(
            shown(&long),
            format!("\"{}\"… (100 characters)", "x".repeat(SHOWN_VALUE_CHARS))
        );
    }

    #[test]
    fn the_command_line_shows_element_bounds() {
        let invocation = Invocation::unchecked(
            "t",
            "/usr/bin/printf",
            ["%s\\n", "two words", "", "plain-1.0", "a\"b"],
            Duration::from_secs(1),
        );
        assert_eq!(
            invocation.command_line(),
            r#"/usr/bin/printf "%s\\n" "two words" "" plain-1.0 "a\"b""#
        );
    }
}
