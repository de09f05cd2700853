//! The checks that turn one decoded catalog file into a `CommandSpec` or into problems with
//! file and line; the rules they apply (which programs and options may never be a command)
//! are `rules.rs`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{Loader, Location, Problem, is_env_var_name};

use super::bind::check_value;
use super::catalog::{
    Approval, CommandSpec, EnvValue, MAX_APPROVAL_EXPIRY, MAX_APPROVERS, MAX_DESCRIPTION_CHARS,
    MAX_NAME_CHARS, MAX_TIMEOUT, Param, ParamKind, Pattern, Risk,
};
use super::rules::*;
use super::template::{Piece, Template, is_param_name};

#[derive(Deserialize)]
struct RawCommand {
    name: Option<String>,
    description: Option<String>,
    program: Option<String>,
    #[serde(default)]
    args: Vec<String>,
    dry_run_args: Option<Vec<String>>,
    allowed_roles: Option<Vec<String>>,
    risk: Option<String>,
    approval: Option<RawApproval>,
    timeout: Option<String>,
    lock: Option<String>,
    #[serde(default)]
    env: toml::Table,
    #[serde(default)]
    requires_incident: bool,
    workdir: Option<String>,
    #[serde(default)]
    params: toml::Table,
}

#[derive(Deserialize)]
struct RawApproval {
    #[serde(default = "one")]
    approvers: u32,
    #[serde(default)]
    roles: Vec<String>,
    expires: Option<String>,
}

fn one() -> u32 {
    1
}

#[derive(Deserialize)]
struct RawParam {
    kind: Option<String>,
    #[serde(default)]
    description: String,
    values: Option<Vec<String>>,
    pattern: Option<String>,
    min: Option<toml::Value>,
    max: Option<toml::Value>,
    default: Option<toml::Value>,
    #[serde(default)]
    allow_leading_dash: bool,
}

fn key(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|part| (*part).to_owned()).collect()
}

/// Loads and validates one command file, or returns all its problems.
pub(crate) fn load_file(
    file: &Path,
    known_roles: &BTreeSet<String>,
) -> Result<CommandSpec, Vec<Problem>> {
    let text = std::fs::read_to_string(file).map_err(|error| {
        vec![Problem {
            location: Location::File(file.to_owned()),
            key: String::new(),
            message: format!("cannot be read: {error}"),
        }]
    })?;
    let mut loader = Loader::new(file, &text).map_err(|error| error.problems)?;
    let table = loader.parse_table(&text).map_err(|error| error.problems)?;
    let Some(raw) = loader.decode::<RawCommand>(&[], toml::Value::Table(table)) else {
        return Err(loader.into_problems());
    };
    let stem = file
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut check = Checker {
        loader,
        known_roles,
    };
    let spec = check.command(raw, &stem, file, text);
    let problems = check.loader.into_problems();
    if problems.is_empty() {
        Ok(spec)
    } else {
        Err(problems)
    }
}

/// Applies the catalog rules to one decoded file, recording problems in the loader.
struct Checker<'a> {
    loader: Loader,
    known_roles: &'a BTreeSet<String>,
}

impl Checker<'_> {
    fn problem(&mut self, path: &[&str], message: impl Into<String>) {
        self.loader.problem(&key(path), message);
    }

    fn command(&mut self, raw: RawCommand, stem: &str, file: &Path, source: String) -> CommandSpec {
        let name = self.name(raw.name, stem);
        let description = self.description(raw.description);
        let program = self.program(raw.program);
        let (params, declared_names) = self.params(raw.params);
        // Declared even when the declaration itself has a problem, so a placeholder naming it
        // is not reported a second time.
        let declared: BTreeSet<&str> = declared_names.iter().map(String::as_str).collect();
        let args = self.templates("args", &raw.args, &declared, &program);
        let dry_run_args = raw
            .dry_run_args
            .as_ref()
            .map(|list| self.templates("dry_run_args", list, &declared, &program));
        let allowed_roles = self.roles(&["allowed_roles"], raw.allowed_roles, "may run it");
        let risk = self.risk(raw.risk);
        let approval = self.approval(raw.approval, risk);
        let risk = risk.unwrap_or(Risk::Destructive);
        let timeout = match raw.timeout {
            None => {
                self.problem(
                    &[],
                    "missing `timeout`: add e.g. timeout = \"5m\", how long a run may take before it is killed",
                );
                Duration::ZERO
            }
            Some(text) => self.bounded_duration(&["timeout"], &text, MAX_TIMEOUT),
        };
        let lock = raw.lock.and_then(|text| self.lock(&text, &declared));
        let env = self.env(raw.env);
        let workdir = self.workdir(raw.workdir);
        let all_templates: Vec<&Template> =
            args.iter().chain(dry_run_args.iter().flatten()).collect();
        self.leading_dash_options(&program, &params, &all_templates);
        let used: BTreeSet<&str> = args
            .iter()
            .chain(dry_run_args.iter().flatten())
            .flat_map(Template::placeholders)
            .collect();
        for param in &params {
            if !used.contains(param.name.as_str()) {
                self.problem(
                    &["params", &param.name],
                    format!(
                        "is used nowhere: put {{{}}} in args or dry_run_args, or remove the parameter",
                        param.name
                    ),
                );
            }
        }
        CommandSpec {
            file: file.to_owned(),
            source,
            name,
            description,
            program,
            args,
            dry_run_args,
            allowed_roles,
            risk,
            approval,
            timeout,
            lock,
            env,
            requires_incident: raw.requires_incident,
            workdir,
            params,
        }
    }

    fn name(&mut self, name: Option<String>, stem: &str) -> String {
        let Some(name) = name else {
            self.problem(
                &[],
                format!("missing `name`: add name = \"{stem}\" (it must equal the file name)"),
            );
            return stem.to_owned();
        };
        if name != stem {
            self.problem(
                &["name"],
                format!(
                    "`{name}` differs from the file name `{stem}.toml`; rename the file or the command so they match"
                ),
            );
        } else if !is_command_name(&name) {
            self.problem(
                &["name"],
                format!(
                    "`{name}` is not a command name: use lowercase letters, digits and `-`, starting with a letter, at most {MAX_NAME_CHARS} characters"
                ),
            );
        }
        name
    }

    fn description(&mut self, description: Option<String>) -> String {
        let description = description.unwrap_or_default();
        let length = description.chars().count();
        if description.trim().is_empty() {
            self.problem(
                &[],
                "missing `description`: say in one line what the command does, for the people choosing it",
            );
        } else if description.contains(['\n', '\r']) {
            self.problem(&["description"], "must be one line");
        } else if length > MAX_DESCRIPTION_CHARS {
            self.problem(
                &["description"],
                format!(
                    "is {length} characters; at most {MAX_DESCRIPTION_CHARS} fit in Discord's command list, so shorten it"
                ),
            );
        }
        description
    }

    fn program(&mut self, program: Option<String>) -> PathBuf {
        let Some(program) = program else {
            self.problem(
                &[],
                "missing `program`: add the absolute path of the program to run, e.g. program = \"/usr/bin/systemctl\"",
            );
            return PathBuf::new();
        };
        let path = PathBuf::from(&program);
        if program.contains(['{', '}']) {
            self.problem(
                &["program"],
                "cannot contain a placeholder: the program is fixed by the catalog, only arguments take values",
            );
        } else if !path.is_absolute() {
            let base = Path::new(&program)
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_else(|| program.clone());
            self.problem(
                &["program"],
                format!(
                    "`{program}` is relative; write the absolute path, e.g. /usr/bin/{base}: there is no shell and no PATH search"
                ),
            );
        } else if let Some(message) = forbidden_program(&path) {
            self.problem(&["program"], message);
        } else if let Ok(resolved) = path.canonicalize()
            && resolved != path
            && let Some(message) = forbidden_program(&resolved)
        {
            self.problem(
                &["program"],
                format!("`{program}` resolves to {}: {message}", resolved.display()),
            );
        } else if let Some(known) = same_file_as_known(&path)
            && let Some(message) = forbidden_program(&known)
        {
            self.problem(
                &["program"],
                format!(
                    "`{program}` is the same file as {} (a hard link): {message}",
                    known.display()
                ),
            );
        }
        path
    }

    fn templates(
        &mut self,
        field: &str,
        list: &[String],
        declared: &BTreeSet<&str>,
        program: &Path,
    ) -> Vec<Template> {
        let path = key(&[field]);
        let mut templates = Vec::new();
        // Where each parsed template stands in the file's array, to point at its line.
        let mut positions = Vec::new();
        for (index, text) in list.iter().enumerate() {
            let template = match Template::parse(text) {
                Ok(template) => template,
                Err(message) => {
                    self.loader.problem_at_item(&path, index, message);
                    continue;
                }
            };
            let names: Vec<&str> = template.placeholders().collect();
            if names.len() > 1 {
                self.loader.problem_at_item(
                    &path,
                    index,
                    format!(
                        "`{text}` has {} placeholders; each value fills one whole argv element (literal text around it is fine), so give each placeholder its own element",
                        names.len()
                    ),
                );
            }
            for name in names {
                if !declared.contains(name) {
                    self.loader.problem_at_item(
                        &path,
                        index,
                        format!(
                            "`{{{name}}}` has no parameter: declare it as [params.{name}] or fix the spelling"
                        ),
                    );
                }
            }
            templates.push(template);
            positions.push(index);
        }
        let family = identity(program);
        let mut as_code = BTreeSet::new();
        if let Some((interpreter, options)) = interpreter_code_options(&family) {
            for (index, template) in templates.iter().enumerate() {
                let line = positions[index];
                let placeholder_as_code = template.has_placeholders()
                    && (index > 0 && takes_code(&templates[index - 1], options)
                        || joined_code_option(template, options));
                if placeholder_as_code {
                    as_code.insert(index);
                    self.loader.problem_at_item(
                        &path,
                        line,
                        format!(
                            "`{}` puts a value where {interpreter} expects code to run (after {}); a value must never become code: pass it as a plain argument to a reviewed script instead",
                            template.source(),
                            options.join("/")
                        ),
                    );
                }
            }
        }
        if SCRIPT_INTERPRETERS.contains(&family.as_str())
            && let Some(index) = placeholder_before_script(&templates)
            && !as_code.contains(&index)
        {
            self.loader.problem_at_item(
                &path,
                positions[index],
                format!(
                    "`{}` comes before the script, where {family} takes an argument as the program file to run; a value must never choose the code: put the script's path first, as literal text",
                    templates[index].source()
                ),
            );
        }
        if let Some(index) = placeholder_as_program_text(&family, &templates)
            && !as_code.contains(&index)
        {
            self.loader.problem_at_item(
                &path,
                positions[index],
                format!(
                    "`{}` is where {family} reads its program text (no option names the program before it); a value must never become code: write the program literally, and pass values as data (awk -v name={{value}})",
                    templates[index].source()
                ),
            );
        }
        for (index, template) in templates.iter().enumerate() {
            if let Some(message) = runs_a_command(&family, index, template) {
                self.loader
                    .problem_at_item(&path, positions[index], message);
            }
        }
        templates
    }

    /// A value that may start with `-` at the start of an element could be any option of
    /// the program, including those that run code; refused for programs that have such.
    fn leading_dash_options(&mut self, program: &Path, params: &[Param], templates: &[&Template]) {
        let family = identity(program);
        // An interpreter stops reading options at its script (checked to come first);
        // what follows is the script's.
        if SCRIPT_INTERPRETERS.contains(&family.as_str()) {
            return;
        }
        let Some(options) = code_running_options(&family) else {
            return;
        };
        for param in params.iter().filter(|param| param.allow_leading_dash) {
            let starts_an_element = templates.iter().any(|template| {
                matches!(template.pieces().first(), Some(Piece::Placeholder(name)) if *name == param.name)
            });
            if starts_an_element {
                self.problem(
                    &["params", &param.name, "allow_leading_dash"],
                    format!(
                        "cannot be true here: {family} has options that run code or commands ({}), and a value starting with `-` that begins an argument could be one of them; give the value after a fixed option instead, e.g. --name={{{}}}",
                        options.join(", "),
                        param.name
                    ),
                );
            }
        }
    }

    fn roles(&mut self, path: &[&str], roles: Option<Vec<String>>, verb: &str) -> Vec<String> {
        let roles = roles.unwrap_or_default();
        if roles.is_empty() {
            self.problem(
                path,
                format!(
                    "is empty: list the bot roles whose holders {verb}, e.g. [\"responder\"]; nobody may otherwise"
                ),
            );
        }
        for role in &roles {
            if !self.known_roles.contains(role) {
                let known: Vec<&str> = self.known_roles.iter().map(String::as_str).collect();
                self.problem(
                    path,
                    format!(
                        "`{role}` is not a bot role; use one of {} (or add it to [roles] in the config)",
                        known.join(", ")
                    ),
                );
            }
        }
        roles
    }

    /// The risk, or `None` (with a problem recorded) when missing or unknown.
    fn risk(&mut self, risk: Option<String>) -> Option<Risk> {
        match risk.as_deref().map(|text| (text, Risk::parse(text))) {
            None => {
                self.problem(
                    &[],
                    "missing `risk`: say how much a run can change: read_only, mutating or destructive",
                );
                None
            }
            Some((_, Some(risk))) => Some(risk),
            Some((text, None)) => {
                self.problem(
                    &["risk"],
                    format!("`{text}` is not a risk; use read_only, mutating or destructive"),
                );
                None
            }
        }
    }

    fn approval(&mut self, raw: Option<RawApproval>, risk: Option<Risk>) -> Option<Approval> {
        let Some(raw) = raw else {
            if risk == Some(Risk::Destructive) {
                self.problem(
                    &["risk"],
                    "a destructive command must require approval: add approval = { approvers = 1, roles = [\"incident_commander\"], expires = \"10m\" }",
                );
            }
            return None;
        };
        if raw.approvers == 0 || raw.approvers > MAX_APPROVERS {
            self.problem(
                &["approval", "approvers"],
                format!(
                    "must be from 1 to {MAX_APPROVERS} (remove `approval` for a command that needs none)"
                ),
            );
        }
        let roles = self.roles(&["approval", "roles"], Some(raw.roles), "may approve");
        let expires = match raw.expires {
            None => {
                self.problem(
                    &["approval"],
                    "missing `expires`: say how long an approval stays valid, e.g. expires = \"10m\"",
                );
                Duration::ZERO
            }
            Some(text) => {
                self.bounded_duration(&["approval", "expires"], &text, MAX_APPROVAL_EXPIRY)
            }
        };
        Some(Approval {
            approvers: raw.approvers,
            roles,
            expires,
        })
    }

    fn bounded_duration(&mut self, path: &[&str], text: &str, max: Duration) -> Duration {
        let duration = self.loader.duration(&key(path), text, false);
        if duration > max {
            self.problem(
                path,
                format!(
                    "`{text}` is longer than the {} allowed",
                    humantime::format_duration(max)
                ),
            );
        }
        duration
    }

    fn lock(&mut self, text: &str, declared: &BTreeSet<&str>) -> Option<Template> {
        if text.trim().is_empty() {
            self.problem(
                &["lock"],
                "is empty; name what a run holds, e.g. lock = \"db:{database}\", or remove it",
            );
            return None;
        }
        match Template::parse(text) {
            Ok(template) => {
                for name in template.placeholders() {
                    if !declared.contains(name) {
                        self.problem(
                            &["lock"],
                            format!(
                                "`{{{name}}}` has no parameter: declare it as [params.{name}] or fix the spelling"
                            ),
                        );
                    }
                }
                Some(template)
            }
            Err(message) => {
                self.problem(&["lock"], message);
                None
            }
        }
    }

    fn env(&mut self, table: toml::Table) -> Vec<(String, EnvValue)> {
        let mut env = Vec::new();
        for (name, value) in table {
            let path = ["env", name.as_str()];
            if !is_env_var_name(&name) {
                self.problem(
                    &path,
                    "is not a variable name; use A-Z, 0-9 and _, starting with a letter or _",
                );
                continue;
            }
            if name == "PATH" {
                self.problem(
                    &path,
                    format!(
                        "cannot be set: every run gets PATH={} so no writable folder can shadow a program",
                        super::exec::SAFE_PATH
                    ),
                );
                continue;
            }
            if LOADER_VARIABLE_PREFIXES
                .iter()
                .any(|prefix| name.starts_with(prefix))
            {
                self.problem(
                    &path,
                    "cannot be set: it makes the dynamic loader run other code in the child",
                );
                continue;
            }
            let value = match value {
                toml::Value::String(text) => {
                    if text.contains('\0') {
                        self.problem(
                            &path,
                            "contains a NUL character, which a variable cannot hold",
                        );
                        continue;
                    }
                    EnvValue::Literal(text)
                }
                toml::Value::Table(mut inner) => {
                    match (inner.remove("from_env"), inner.is_empty()) {
                        (Some(toml::Value::String(var)), true) if is_env_var_name(&var) => {
                            EnvValue::FromEnv(var)
                        }
                        _ => {
                            self.problem(
                                &path,
                                "write a literal (\"value\") or a secret from warroom's environment ({ from_env = \"VARIABLE\" })",
                            );
                            continue;
                        }
                    }
                }
                _ => {
                    self.problem(
                        &path,
                        "write a literal (\"value\") or a secret from warroom's environment ({ from_env = \"VARIABLE\" })",
                    );
                    continue;
                }
            };
            env.push((name, value));
        }
        env
    }

    fn workdir(&mut self, workdir: Option<String>) -> PathBuf {
        match workdir {
            None => PathBuf::from("/"),
            Some(dir) if Path::new(&dir).is_absolute() && !dir.contains(['{', '}']) => {
                PathBuf::from(dir)
            }
            Some(dir) => {
                self.problem(
                    &["workdir"],
                    format!("`{dir}` must be an absolute path without placeholders"),
                );
                PathBuf::from("/")
            }
        }
    }

    /// The valid parameters, and the names of all declared ones.
    fn params(&mut self, table: toml::Table) -> (Vec<Param>, Vec<String>) {
        let mut params = Vec::new();
        let declared = table.keys().cloned().collect();
        for (name, value) in table {
            let path = key(&["params", &name]);
            if !is_param_name(&name) {
                self.loader.problem(
                    &path,
                    format!(
                        "`{name}` is not a parameter name: use lowercase letters, digits and _, starting with a letter, at most {} characters",
                        super::template::MAX_PARAM_NAME_CHARS
                    ),
                );
                continue;
            }
            let Some(raw) = self.loader.decode::<RawParam>(&path, value) else {
                continue;
            };
            if let Some(param) = self.param(name, raw) {
                params.push(param);
            }
        }
        (params, declared)
    }

    fn param(&mut self, name: String, raw: RawParam) -> Option<Param> {
        let at = |field: &str| -> Vec<String> {
            let mut path = key(&["params", &name]);
            if !field.is_empty() {
                path.push(field.to_owned());
            }
            path
        };
        let Some(kind_name) = raw.kind.as_deref() else {
            self.loader
                .problem(&at(""), "missing `kind`: use enum, string, int or duration");
            return None;
        };
        let not_for = |loader: &mut Loader, field: &str, present: bool| {
            if present {
                loader.problem(
                    &at(field),
                    format!("does not apply to a parameter of kind {kind_name}"),
                );
            }
        };
        let kind = match kind_name {
            "enum" => {
                not_for(&mut self.loader, "pattern", raw.pattern.is_some());
                not_for(&mut self.loader, "min", raw.min.is_some());
                not_for(&mut self.loader, "max", raw.max.is_some());
                let values = raw.values.unwrap_or_default();
                if values.is_empty() {
                    self.loader.problem(
                        &at(""),
                        "an enum needs values = [\"...\"]: the only values accepted",
                    );
                    return None;
                }
                ParamKind::Enum { values }
            }
            "string" => {
                not_for(&mut self.loader, "values", raw.values.is_some());
                not_for(&mut self.loader, "min", raw.min.is_some());
                not_for(&mut self.loader, "max", raw.max.is_some());
                let Some(pattern) = raw.pattern else {
                    self.loader.problem(
                        &at(""),
                        "a string needs pattern = '^...$', an anchored regular expression saying exactly what is accepted",
                    );
                    return None;
                };
                if !(pattern.starts_with('^')
                    && pattern.ends_with('$')
                    && !pattern.ends_with("\\$"))
                {
                    self.loader.problem(
                        &at("pattern"),
                        format!(
                            "`{pattern}` is not anchored: start it with ^ and end it with $ so it describes the whole value"
                        ),
                    );
                    return None;
                }
                match regex::Regex::new(&format!(r"\A(?:{pattern})\z")) {
                    Ok(whole) => ParamKind::String {
                        pattern: Pattern {
                            source: pattern,
                            whole,
                        },
                    },
                    Err(error) => {
                        self.loader.problem(
                            &at("pattern"),
                            format!(
                                "is not a valid regular expression: {}",
                                error.to_string().lines().last().unwrap_or_default().trim()
                            ),
                        );
                        return None;
                    }
                }
            }
            "int" => {
                not_for(&mut self.loader, "values", raw.values.is_some());
                not_for(&mut self.loader, "pattern", raw.pattern.is_some());
                let (Some(min), Some(max)) = (raw.min.as_ref(), raw.max.as_ref()) else {
                    self.loader.problem(
                        &at(""),
                        "an int needs both bounds, min and max, e.g. min = 1 and max = 500",
                    );
                    return None;
                };
                let (Some(min), Some(max)) = (min.as_integer(), max.as_integer()) else {
                    self.loader.problem(
                        &at(""),
                        "min and max of an int are whole numbers, written without quotes",
                    );
                    return None;
                };
                if min > max {
                    self.loader
                        .problem(&at("min"), format!("{min} is above max ({max})"));
                    return None;
                }
                if min < 0 && !raw.allow_leading_dash {
                    self.loader.problem(
                        &at("min"),
                        "is negative, so values would start with `-`, which a program can read as an option; raise min to 0, or set allow_leading_dash = true if the program expects negative numbers there",
                    );
                }
                ParamKind::Int { min, max }
            }
            "duration" => {
                not_for(&mut self.loader, "values", raw.values.is_some());
                not_for(&mut self.loader, "pattern", raw.pattern.is_some());
                let (Some(min), Some(max)) = (
                    raw.min.as_ref().and_then(toml::Value::as_str),
                    raw.max.as_ref().and_then(toml::Value::as_str),
                ) else {
                    self.loader.problem(
                        &at(""),
                        "a duration needs both bounds, min and max, written like min = \"1m\" and max = \"24h\"",
                    );
                    return None;
                };
                let min_duration = self.loader.duration(&at("min"), min, true);
                let max_duration = self.loader.duration(&at("max"), max, false);
                if min_duration > max_duration {
                    self.loader
                        .problem(&at("min"), format!("{min} is above max ({max})"));
                    return None;
                }
                ParamKind::Duration {
                    min: min_duration,
                    max: max_duration,
                }
            }
            other => {
                self.loader.problem(
                    &at("kind"),
                    format!("`{other}` is not a parameter kind; use enum, string, int or duration"),
                );
                return None;
            }
        };
        let mut param = Param {
            name: name.clone(),
            description: raw.description,
            kind,
            default: None,
            allow_leading_dash: raw.allow_leading_dash,
        };
        if let ParamKind::Enum { values } = &param.kind {
            let mut seen = BTreeSet::new();
            for value in values {
                if let Err(reason) = check_value(&param, value) {
                    self.loader.problem(
                        &at("values"),
                        format!("{reason}; a listed value must itself be acceptable"),
                    );
                }
                if !seen.insert(value) {
                    self.loader
                        .problem(&at("values"), format!("`{value}` is listed twice"));
                }
            }
        }
        if let Some(default) = raw.default {
            let text = match default {
                toml::Value::String(text) => Some(text),
                toml::Value::Integer(number) => Some(number.to_string()),
                _ => None,
            };
            match text.map(|text| check_value(&param, &text)) {
                Some(Ok(checked)) => param.default = Some(checked.stored),
                Some(Err(reason)) => self.loader.problem(
                    &at("default"),
                    format!("{reason}; a default must itself be acceptable"),
                ),
                None => self
                    .loader
                    .problem(&at("default"), "write the default as a string or a number"),
            }
        }
        Some(param)
    }
}
