//! The catalog: every shipped file loads, every rule refuses its bad file with the exact
//! problem and line, binding builds the exact argv, and a reload keeps the old catalog when
//! the new one is invalid.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use warroom::config::{Config, Environment};
use warroom::runner::{
    BindError, CatalogError, CatalogHandle, EnvValue, ParamKind, Risk, parse_args,
};

use super::{catalog_dir, known_roles, load, values};
use crate::support::repo_root;

#[test]
fn every_file_in_commands_loads_and_validates() {
    let config = Config::load(
        &repo_root().join("config/warroom.toml"),
        &Environment::default(),
    )
    .unwrap();
    assert_eq!(
        config.commands.dir.canonicalize().unwrap(),
        repo_root().join("commands").canonicalize().unwrap(),
        "the shipped config finds the shipped catalog"
    );
    let catalog =
        warroom::runner::Catalog::load(&repo_root().join("commands"), &config.bot_role_names())
            .unwrap_or_else(|error| panic!("{error}"));
    let files = std::fs::read_dir(repo_root().join("commands"))
        .unwrap()
        .filter(|entry| {
            entry
                .as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|ext| ext == "toml")
        })
        .count();
    assert_eq!(catalog.len(), files, "every file is a command");
    let names: Vec<&str> = catalog.iter().map(|spec| spec.name()).collect();
    for expected in [
        "backup-list",
        "backup-verify",
        "compose-ps",
        "compose-restart",
        "disk-usage",
        "http-check",
        "journal-tail",
        "memory",
        "pg-dump-emergency",
        "pg-isready",
        "pg-restore",
        "service-restart",
        "service-status",
    ] {
        assert!(
            names.contains(&expected),
            "{expected} missing from {names:?}"
        );
    }
    for spec in catalog.iter() {
        if spec.risk() == Risk::Destructive {
            assert!(spec.approval().is_some(), "{}", spec.name());
        }
    }
    assert!(
        repo_root().join("commands/README.md").exists(),
        "the catalog explains itself"
    );
}

#[test]
fn the_shipped_restore_binds_to_the_argv_an_approver_sees() {
    let catalog = load(&repo_root().join("commands")).unwrap();
    let restore = catalog.get("pg-restore").unwrap();
    let invocation = restore
        .bind(
            &parse_args("database=app backup=\"app-2026-11-22.dump\"").unwrap(),
            false,
        )
        .unwrap();
    assert_eq!(
        invocation.argv(),
        [
            "/usr/bin/pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
            "--dbname",
            "app",
            "/var/backups/postgresql/app-2026-11-22.dump"
        ]
    );
    assert_eq!(invocation.lock(), Some("db:app"));
    assert_eq!(invocation.timeout(), Duration::from_secs(30 * 60));
    assert!(restore.requires_incident());
    let approval = restore.approval().unwrap();
    assert_eq!(
        (
            approval.approvers,
            approval.roles.as_slice(),
            approval.expires
        ),
        (
            1,
            ["incident_commander".to_owned()].as_slice(),
            Duration::from_secs(600)
        )
    );
    assert!(restore.may_run(|role| role == "dba"));
    assert!(!restore.may_run(|role| role == "responder"));
    assert!(restore.may_approve(|role| role == "incident_commander"));

    let dry = restore
        .bind(&values(&[("backup", "app-2026-11-22.dump")]), true)
        .unwrap();
    assert_eq!(
        dry.args(),
        ["--list", "/var/backups/postgresql/app-2026-11-22.dump"],
        "a dry run needs only what its own arguments use"
    );
    assert_eq!(
        dry.lock(),
        None,
        "a dry run only looks, so it takes no lock"
    );

    let journal = catalog.get("journal-tail").unwrap();
    let defaulted = journal
        .bind(&values(&[("unit", "nginx.service")]), false)
        .unwrap();
    assert_eq!(
        defaulted.args(),
        [
            "--no-pager",
            "--output=short-iso",
            "--unit=nginx.service",
            "--lines=100"
        ]
    );
    assert_eq!(
        journal.bind(&values(&[("unit", "nginx.service")]), true),
        Err(BindError::NoDryRun {
            command: "journal-tail".into()
        })
    );
    let visible: Vec<&str> = catalog
        .visible_to(|role| role == "responder")
        .map(|spec| spec.name())
        .collect();
    assert!(visible.contains(&"service-restart") && !visible.contains(&"pg-restore"));
}

#[test]
fn binding_reports_unknown_missing_and_invalid_arguments_together() {
    let catalog = load(&repo_root().join("commands")).unwrap();
    let restore = catalog.get("pg-restore").unwrap();
    let error = restore
        .bind(
            &parse_args("databse=app backup=../../etc/passwd").unwrap(),
            false,
        )
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`pg-restore` cannot run with these arguments:\n\
         - databse: is not an argument of `pg-restore`; it takes database, backup\n\
         - database: is missing; give database=… (one of app, analytics)\n\
         - backup: \"../../etc/passwd\" does not match ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}\\.dump$"
    );
    let memory = catalog.get("memory").unwrap();
    assert_eq!(
        memory
            .bind(&values(&[("x", "1")]), false)
            .unwrap_err()
            .to_string(),
        "`memory` cannot run with these arguments:\n- x: `memory` takes no arguments"
    );
    let journal = catalog.get("journal-tail").unwrap();
    assert_eq!(
        journal
            .bind(
                &values(&[("unit", "nginx.service"), ("lines", "5000")]),
                false
            )
            .unwrap_err()
            .to_string(),
        "`journal-tail` cannot run with these arguments:\n- lines: 5000 is not from 1 to 1000"
    );
}

/// A valid command used as the base of the bad files below (line numbers matter).
const GOOD: &str = r#"name = "x"
description = "Show a unit"
program = "/usr/bin/systemctl"
args = ["status", "{unit}"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "30s"

[params.unit]
kind = "enum"
values = ["nginx.service"]
"#;

/// Each rule with a file that breaks it and the exact problems expected (`F` stands for the
/// file's path).
fn bad_files() -> Vec<(&'static str, String, Vec<&'static str>)> {
    let with = |from: &str, to: &str| {
        assert!(GOOD.contains(from), "{from}");
        GOOD.replace(from, to)
    };
    vec![
        (
            "name differs from the file name",
            with(r#"name = "x""#, r#"name = "restart""#),
            vec![
                "F:1: name: `restart` differs from the file name `x.toml`; rename the file or the command so they match",
            ],
        ),
        (
            "relative program",
            with("/usr/bin/systemctl", "systemctl"),
            vec![
                "F:3: program: `systemctl` is relative; write the absolute path, e.g. /usr/bin/systemctl: there is no shell and no PATH search",
            ],
        ),
        (
            "a shell: sh",
            with("/usr/bin/systemctl", "/bin/sh"),
            vec![
                "F:3: program: `/bin/sh` is a shell, and there is no shell, ever: name the program itself and give its arguments in args",
            ],
        ),
        (
            "a shell: bash",
            with("/usr/bin/systemctl", "/usr/bin/bash"),
            vec![
                "F:3: program: `/usr/bin/bash` is a shell, and there is no shell, ever: name the program itself and give its arguments in args",
            ],
        ),
        (
            "a shell: dash",
            with("/usr/bin/systemctl", "/usr/bin/dash"),
            vec![
                "F:3: program: `/usr/bin/dash` is a shell, and there is no shell, ever: name the program itself and give its arguments in args",
            ],
        ),
        (
            "a shell: zsh",
            with("/usr/bin/systemctl", "/usr/local/bin/zsh"),
            vec![
                "F:3: program: `/usr/local/bin/zsh` is a shell, and there is no shell, ever: name the program itself and give its arguments in args",
            ],
        ),
        (
            "a shell: fish",
            with("/usr/bin/systemctl", "/usr/bin/fish"),
            vec![
                "F:3: program: `/usr/bin/fish` is a shell, and there is no shell, ever: name the program itself and give its arguments in args",
            ],
        ),
        (
            "a shell: ksh",
            with("/usr/bin/systemctl", "/bin/ksh93"),
            vec![
                "F:3: program: `/bin/ksh93` is a shell, and there is no shell, ever: name the program itself and give its arguments in args",
            ],
        ),
        (
            "a shell: csh",
            with("/usr/bin/systemctl", "/bin/csh"),
            vec![
                "F:3: program: `/bin/csh` is a shell, and there is no shell, ever: name the program itself and give its arguments in args",
            ],
        ),
        (
            "a launcher: env",
            with("/usr/bin/systemctl", "/usr/bin/env"),
            vec![
                "F:3: program: `/usr/bin/env` is a command launcher: it runs whatever its arguments name; name the program itself and give its arguments in args",
            ],
        ),
        (
            "a launcher: sudo",
            with("/usr/bin/systemctl", "/usr/bin/sudo"),
            vec![
                "F:3: program: `/usr/bin/sudo` is a command launcher: it runs whatever its arguments name; name the program itself and give its arguments in args",
            ],
        ),
        (
            "a launcher: su",
            with("/usr/bin/systemctl", "/bin/su"),
            vec![
                "F:3: program: `/bin/su` is a command launcher: it runs whatever its arguments name; name the program itself and give its arguments in args",
            ],
        ),
        (
            "a launcher: xargs",
            with("/usr/bin/systemctl", "/usr/bin/xargs"),
            vec![
                "F:3: program: `/usr/bin/xargs` is a command launcher: it runs whatever its arguments name; name the program itself and give its arguments in args",
            ],
        ),
        (
            "a launcher: nohup",
            with("/usr/bin/systemctl", "/usr/bin/nohup"),
            vec![
                "F:3: program: `/usr/bin/nohup` is a command launcher: it runs whatever its arguments name; name the program itself and give its arguments in args",
            ],
        ),
        (
            "a launcher: timeout",
            with("/usr/bin/systemctl", "/usr/bin/timeout"),
            vec![
                "F:3: program: `/usr/bin/timeout` is a command launcher: it runs whatever its arguments name; name the program itself and give its arguments in args",
            ],
        ),
        (
            "a placeholder after -c of python",
            with(
                "/usr/bin/systemctl\"\nargs = [\"status\", \"{unit}\"]",
                "/usr/bin/python3\"\nargs = [\"-c\", \"{unit}\"]",
            ),
            vec![
                "F:4: args: `{unit}` puts a value where python expects code to run (after -c/-m); a value must never become code: pass it as a plain argument to a reviewed script instead",
            ],
        ),
        (
            "a placeholder after clustered -Ic of python",
            with(
                "/usr/bin/systemctl\"\nargs = [\"status\", \"{unit}\"]",
                "/usr/bin/python3.11\"\nargs = [\"-Ic\", \"x={unit}\"]",
            ),
            vec![
                "F:4: args: `x={unit}` puts a value where python expects code to run (after -c/-m); a value must never become code: pass it as a plain argument to a reviewed script instead",
            ],
        ),
        (
            "a placeholder naming python's module",
            with(
                "/usr/bin/systemctl\"\nargs = [\"status\", \"{unit}\"]",
                "/usr/bin/python3\"\nargs = [\"-m\", \"{unit}\"]",
            ),
            vec![
                "F:4: args: `{unit}` puts a value where python expects code to run (after -c/-m); a value must never become code: pass it as a plain argument to a reviewed script instead",
            ],
        ),
        (
            "a placeholder where python takes its script",
            with(
                "/usr/bin/systemctl\"\nargs = [\"status\", \"{unit}\"]",
                "/usr/bin/python3\"\nargs = [\"-I\", \"/opt/tools/{unit}.py\"]",
            ),
            vec![
                "F:4: args: `/opt/tools/{unit}.py` comes before the script, where python takes an argument as the program file to run; a value must never choose the code: put the script's path first, as literal text",
            ],
        ),
        (
            "a placeholder after -e of perl",
            with(
                "/usr/bin/systemctl\"\nargs = [\"status\", \"{unit}\"]",
                "/usr/bin/perl\"\nargs = [\"-e\", \"{unit}\"]",
            ),
            vec![
                "F:4: args: `{unit}` puts a value where perl expects code to run (after -e/-E/-M/-m); a value must never become code: pass it as a plain argument to a reviewed script instead",
            ],
        ),
        (
            "a placeholder joined to psql's --command",
            with(
                "/usr/bin/systemctl\"\nargs = [\"status\", \"{unit}\"]",
                "/usr/bin/psql\"\nargs = [\"--command={unit}\"]",
            ),
            vec![
                "F:4: args: `--command={unit}` puts a value where psql expects code to run (after -c/--command/-f/--file); a value must never become code: pass it as a plain argument to a reviewed script instead",
            ],
        ),
        (
            "a placeholder without a parameter",
            with(r#""{unit}"]"#, r#""{unit}", "{extra}"]"#),
            vec![
                "F:4: args: `{extra}` has no parameter: declare it as [params.extra] or fix the spelling",
            ],
        ),
        (
            "a placeholder in a long array points at its own line",
            with(
                r#"args = ["status", "{unit}"]"#,
                "args = [\n    \"status\",\n    \"--no-pager\",\n    \"{unti}\",\n    \"{unit}\",\n]",
            ),
            vec![
                "F:7: args: `{unti}` has no parameter: declare it as [params.unti] or fix the spelling",
            ],
        ),
        (
            "two placeholders in one element",
            with(r#""{unit}"]"#, r#""{unit}{unit}"]"#),
            vec![
                "F:4: args: `{unit}{unit}` has 2 placeholders; each value fills one whole argv element (literal text around it is fine), so give each placeholder its own element",
            ],
        ),
        (
            "a stray brace",
            with(r#""status","#, r#""status", "%{http-code}","#),
            vec![
                "F:4: args: `%{http-code}` has a `{` that does not start a placeholder; write a placeholder as {name} with a parameter name (lowercase letters, digits, _), and a literal brace as {{ or }}",
            ],
        ),
        (
            "a string parameter without a pattern",
            with(
                "kind = \"enum\"\nvalues = [\"nginx.service\"]",
                "kind = \"string\"",
            ),
            vec![
                "F:9: params.unit: a string needs pattern = '^...$', an anchored regular expression saying exactly what is accepted",
            ],
        ),
        (
            "a pattern that is not anchored",
            with(
                "kind = \"enum\"\nvalues = [\"nginx.service\"]",
                "kind = \"string\"\npattern = '[a-z]+\\.service'",
            ),
            vec![
                "F:11: params.unit.pattern: `[a-z]+\\.service` is not anchored: start it with ^ and end it with $ so it describes the whole value",
            ],
        ),
        (
            "a pattern that does not compile",
            with(
                "kind = \"enum\"\nvalues = [\"nginx.service\"]",
                "kind = \"string\"\npattern = '^[a-z+$'",
            ),
            vec![
                "F:11: params.unit.pattern: is not a valid regular expression: error: unclosed character class",
            ],
        ),
        (
            "an enum without values",
            with("values = [\"nginx.service\"]", "values = []"),
            vec!["F:9: params.unit: an enum needs values = [\"...\"]: the only values accepted"],
        ),
        (
            "an int without both bounds",
            with(
                "kind = \"enum\"\nvalues = [\"nginx.service\"]",
                "kind = \"int\"\nmin = 1",
            ),
            vec![
                "F:9: params.unit: an int needs both bounds, min and max, e.g. min = 1 and max = 500",
            ],
        ),
        (
            "a duration without bounds",
            with(
                "kind = \"enum\"\nvalues = [\"nginx.service\"]",
                "kind = \"duration\"",
            ),
            vec![
                "F:9: params.unit: a duration needs both bounds, min and max, written like min = \"1m\" and max = \"24h\"",
            ],
        ),
        (
            "an int that may go negative without saying so",
            with(
                "kind = \"enum\"\nvalues = [\"nginx.service\"]",
                "kind = \"int\"\nmin = -5\nmax = 5",
            ),
            vec![
                "F:11: params.unit.min: is negative, so values would start with `-`, which a program can read as an option; raise min to 0, or set allow_leading_dash = true if the program expects negative numbers there",
            ],
        ),
        (
            "an enum value that looks like an option",
            with(
                r#"values = ["nginx.service"]"#,
                r#"values = ["nginx.service", "--all"]"#,
            ),
            vec![
                "F:11: params.unit.values: \"--all\" starts with `-`, which the program could read as an option; values of this parameter may not start with `-`; a listed value must itself be acceptable",
            ],
        ),
        (
            "a default that is not accepted",
            with(
                r#"values = ["nginx.service"]"#,
                "values = [\"nginx.service\"]\ndefault = \"sshd.service\"",
            ),
            vec![
                "F:12: params.unit.default: \"sshd.service\" is not one of nginx.service; a default must itself be acceptable",
            ],
        ),
        (
            "a parameter used nowhere",
            format!("{GOOD}\n[params.spare]\nkind = \"int\"\nmin = 1\nmax = 2\n"),
            vec![
                "F:13: params.spare: is used nowhere: put {spare} in args or dry_run_args, or remove the parameter",
            ],
        ),
        (
            "empty allowed_roles",
            with(r#"allowed_roles = ["responder"]"#, "allowed_roles = []"),
            vec![
                "F:5: allowed_roles: is empty: list the bot roles whose holders may run it, e.g. [\"responder\"]; nobody may otherwise",
            ],
        ),
        (
            "missing allowed_roles",
            with("allowed_roles = [\"responder\"]\n", ""),
            vec![
                "F: allowed_roles: is empty: list the bot roles whose holders may run it, e.g. [\"responder\"]; nobody may otherwise",
            ],
        ),
        (
            "an unknown allowed role",
            with(
                r#"allowed_roles = ["responder"]"#,
                r#"allowed_roles = ["responders"]"#,
            ),
            vec![
                "F:5: allowed_roles: `responders` is not a bot role; use one of admin, dba, incident_commander, responder (or add it to [roles] in the config)",
            ],
        ),
        (
            "an unknown approver role",
            with(
                r#"risk = "read_only""#,
                "risk = \"mutating\"\napproval = { approvers = 1, roles = [\"commander\"], expires = \"10m\" }",
            ),
            vec![
                "F:7: approval.roles: `commander` is not a bot role; use one of admin, dba, incident_commander, responder (or add it to [roles] in the config)",
            ],
        ),
        (
            "a destructive command without approval",
            with(r#"risk = "read_only""#, r#"risk = "destructive""#),
            vec![
                "F:6: risk: a destructive command must require approval: add approval = { approvers = 1, roles = [\"incident_commander\"], expires = \"10m\" }",
            ],
        ),
        (
            "an approval that never expires",
            with(
                r#"risk = "read_only""#,
                "risk = \"destructive\"\napproval = { approvers = 0, roles = [\"admin\"] }",
            ),
            vec![
                "F:7: approval.approvers: must be from 1 to 5 (remove `approval` for a command that needs none)",
                "F:7: approval: missing `expires`: say how long an approval stays valid, e.g. expires = \"10m\"",
            ],
        ),
        (
            "an unknown risk",
            with(r#"risk = "read_only""#, r#"risk = "low""#),
            vec!["F:6: risk: `low` is not a risk; use read_only, mutating or destructive"],
        ),
        (
            "a timeout beyond the limit",
            with(r#"timeout = "30s""#, r#"timeout = "2d""#),
            vec!["F:7: timeout: `2d` is longer than the 6h allowed"],
        ),
        (
            "a lock naming an undeclared parameter",
            with(
                r#"timeout = "30s""#,
                "timeout = \"30s\"\nlock = \"unit:{service}\"",
            ),
            vec![
                "F:8: lock: `{service}` has no parameter: declare it as [params.service] or fix the spelling",
            ],
        ),
        (
            "PATH and loader variables in env",
            with(
                r#"timeout = "30s""#,
                "timeout = \"30s\"\nenv = { PATH = \"/tmp\", LD_PRELOAD = \"/tmp/x.so\", OK = { from_env = \"SECRET\" } }",
            ),
            vec![
                "F:8: env.PATH: cannot be set: every run gets PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin so no writable folder can shadow a program",
                "F:8: env.LD_PRELOAD: cannot be set: it makes the dynamic loader run other code in the child",
            ],
        ),
        (
            "a description too long for Discord",
            with(
                r#"description = "Show a unit""#,
                &format!("description = \"{}\"", "x".repeat(101)),
            ),
            vec![
                "F:2: description: is 101 characters; at most 100 fit in Discord's command list, so shorten it",
            ],
        ),
        (
            "a misspelt key and so a missing one",
            with(r#"timeout = "30s""#, r#"timout = "30s""#),
            vec![
                "F:7: timout: unknown key; check its spelling against `warroom config default`",
                "F: missing `timeout`: add e.g. timeout = \"5m\", how long a run may take before it is killed",
            ],
        ),
        (
            "not TOML at all",
            with(r#"risk = "read_only""#, "risk = read only"),
            vec!["F:6: not valid TOML: "],
        ),
    ]
}

#[test]
fn every_rule_refuses_its_bad_file_with_the_exact_problem_and_line() {
    let good = catalog_dir(&[("x.toml", GOOD)]);
    assert!(load(good.path()).is_ok());
    let mut failures = Vec::new();
    for (rule, text, expected) in bad_files() {
        let dir = catalog_dir(&[("x.toml", &text)]);
        let file = dir.path().join("x.toml").display().to_string();
        let found: Vec<String> = match load(dir.path()) {
            Ok(_) => vec!["(loaded without problems)".to_owned()],
            Err(error) => error.problems().iter().map(ToString::to_string).collect(),
        };
        let expected: Vec<String> = expected
            .iter()
            .map(|problem| problem.replacen('F', &file, 1))
            .collect();
        // "not valid TOML" messages come from the TOML parser; only their start is ours.
        let matches = found.len() == expected.len()
            && found.iter().zip(&expected).all(|(found, expected)| {
                found == expected || (expected.ends_with(": ") && found.starts_with(expected))
            });
        if !matches {
            failures.push(format!(
                "{rule}:\n  expected {expected:#?}\n  found {found:#?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_symlink_to_a_shell_is_a_shell() {
    let dir = catalog_dir(&[]);
    let link = dir.path().join("helper");
    std::os::unix::fs::symlink("/bin/bash", &link).unwrap();
    let text = GOOD.replace("/usr/bin/systemctl", &link.display().to_string());
    std::fs::write(dir.path().join("x.toml"), text).unwrap();
    let error = load(dir.path()).unwrap_err();
    let resolved = std::path::Path::new("/bin/bash").canonicalize().unwrap();
    assert_eq!(
        error.problems()[0].message,
        format!(
            "`{}` resolves to {}: `{}` is a shell, and there is no shell, ever: name the program itself and give its arguments in args",
            link.display(),
            resolved.display(),
            resolved.display()
        )
    );
}

/// A command file for `program` with `args` (TOML array items) and parameter `x` of
/// `param` (TOML lines), for the code-option rows.
fn command_with(program: &str, args: &str, param: &str) -> String {
    format!(
        "name = \"x\"\n\
         description = \"A row of the table\"\n\
         program = \"{program}\"\n\
         args = [{args}]\n\
         allowed_roles = [\"responder\"]\n\
         risk = \"read_only\"\n\
         timeout = \"30s\"\n\n\
         [params.x]\n{param}\n"
    )
}

const WORD: &str = "kind = \"string\"\npattern = '^[a-z.]{1,20}$'";
const DASHED: &str = "kind = \"string\"\npattern = '^.{1,20}$'\nallow_leading_dash = true";

/// One row per program option that runs a value as code or runs a command: the rule must
/// refuse it with a problem naming the option. Each fails on main, where these loaded.
#[test]
fn options_that_run_code_or_commands_are_refused_row_by_row() {
    let rows: &[(&str, &str, &str, &str, &str)] = &[
        // (row, program, args, param, what the problem says)
        (
            "awk program text",
            "/usr/bin/awk",
            r#""{x}", "/var/log/syslog""#,
            WORD,
            "is where awk reads its program text",
        ),
        (
            "awk program text after -F",
            "/usr/bin/awk",
            r#""-F", ":", "{x}""#,
            WORD,
            "is where awk reads its program text",
        ),
        (
            "awk -f",
            "/usr/bin/awk",
            r#""-f", "{x}""#,
            WORD,
            "where awk expects code to run",
        ),
        (
            "gawk --source=",
            "/usr/bin/gawk",
            r#""--source={x}""#,
            WORD,
            "where gawk expects code to run",
        ),
        (
            "gawk -l (extension)",
            "/usr/bin/gawk",
            r#""-l", "{x}", "BEGIN {{ }}""#,
            WORD,
            "where gawk expects code to run",
        ),
        (
            "mawk -e",
            "/usr/bin/mawk",
            r#""-e", "{x}""#,
            WORD,
            "where mawk expects code to run",
        ),
        (
            "sed script operand",
            "/usr/bin/sed",
            r#""-n", "{x}", "/etc/hosts""#,
            WORD,
            "is where sed reads its program text",
        ),
        (
            "sed -e",
            "/usr/bin/sed",
            r#""-e", "{x}", "/etc/hosts""#,
            WORD,
            "where sed expects code to run",
        ),
        (
            "sed --expression=",
            "/usr/bin/sed",
            r#""--expression={x}", "/etc/hosts""#,
            WORD,
            "where sed expects code to run",
        ),
        (
            "sed -f",
            "/usr/bin/sed",
            r#""-f", "{x}", "/etc/hosts""#,
            WORD,
            "where sed expects code to run",
        ),
        (
            "sed -ne clustered",
            "/usr/bin/sed",
            r#""-ne", "{x}""#,
            WORD,
            "where sed expects code to run",
        ),
        (
            "find -exec",
            "/usr/bin/find",
            r#""/var/log", "-name", "{x}", "-exec", "/usr/bin/gzip", "{{}}", ";""#,
            WORD,
            "makes find run another command (-exec)",
        ),
        (
            "find -execdir",
            "/usr/bin/find",
            r#""/var/log", "-name", "{x}", "-execdir", "/usr/bin/gzip", "{{}}", "+""#,
            WORD,
            "makes find run another command (-execdir)",
        ),
        (
            "find -ok",
            "/usr/bin/find",
            r#""/var/log", "-name", "{x}", "-ok", "/usr/bin/rm", "{{}}", ";""#,
            WORD,
            "makes find run another command (-ok)",
        ),
        (
            "find -okdir",
            "/usr/bin/find",
            r#""/var/log", "-name", "{x}", "-okdir", "/usr/bin/rm", "{{}}", ";""#,
            WORD,
            "makes find run another command (-okdir)",
        ),
        (
            "find with a dashed value first",
            "/usr/bin/find",
            r#""/var/log", "{x}""#,
            DASHED,
            "params.x.allow_leading_dash: cannot be true here: find has options that run code or commands",
        ),
        (
            "tar --to-command",
            "/usr/bin/tar",
            r#""-xf", "{x}", "--to-command=/usr/bin/cat""#,
            WORD,
            "makes tar run another command (--to-command)",
        ),
        (
            "tar --use-compress-program",
            "/usr/bin/tar",
            r#""--use-compress-program={x}", "-xf", "/var/backups/a.tar""#,
            WORD,
            "makes tar run another command (--use-compress-program)",
        ),
        (
            "tar -I clustered",
            "/usr/bin/tar",
            r#""-xIf", "zstd", "{x}""#,
            WORD,
            "makes tar run another command (-I)",
        ),
        (
            "tar --checkpoint-action",
            "/usr/bin/tar",
            r#""--checkpoint-action=exec=/usr/bin/id", "-xf", "{x}""#,
            WORD,
            "makes tar run another command (--checkpoint-action)",
        ),
        (
            "tar --info-script",
            "/usr/bin/tar",
            r#""--info-script=/usr/bin/id", "-xf", "{x}""#,
            WORD,
            "makes tar run another command (--info-script)",
        ),
        (
            "tar old-style letters with I",
            "/usr/bin/tar",
            r#""xIf", "zstd", "{x}""#,
            WORD,
            "makes tar run another command (-I)",
        ),
        (
            "tar first argument from a value",
            "/usr/bin/tar",
            r#""{x}", "/var/backups/a.tar""#,
            WORD,
            "is tar's first argument, which tar reads as option letters",
        ),
        (
            "tar with a dashed value first",
            "/usr/bin/tar",
            r#""-xf", "/var/backups/a.tar", "{x}""#,
            DASHED,
            "cannot be true here: tar has options that run code or commands",
        ),
        (
            "xargs",
            "/usr/bin/xargs",
            r#""{x}""#,
            WORD,
            "is a command launcher",
        ),
        (
            "env -S",
            "/usr/bin/env",
            r#""-S", "{x}""#,
            WORD,
            "is a command launcher",
        ),
        (
            "mysql --init-command",
            "/usr/bin/mysql",
            r#""--init-command={x}", "app""#,
            WORD,
            "where mysql expects code to run",
        ),
        (
            "mysql -e",
            "/usr/bin/mysql",
            r#""-e", "{x}""#,
            WORD,
            "where mysql expects code to run",
        ),
        (
            "mysql --defaults-file",
            "/usr/bin/mysql",
            r#""--defaults-file={x}""#,
            WORD,
            "where mysql expects code to run",
        ),
        (
            "mysql --pager",
            "/usr/bin/mysql",
            r#""--pager=/usr/bin/less", "{x}""#,
            WORD,
            "makes mysql run another command (--pager)",
        ),
        (
            "mariadb --init-command",
            "/usr/bin/mariadb",
            r#""--init-command", "{x}""#,
            WORD,
            "where mariadb expects code to run",
        ),
        (
            "git -c",
            "/usr/bin/git",
            r#""-c", "{x}", "status""#,
            WORD,
            "where git expects code to run",
        ),
        (
            "git --upload-pack",
            "/usr/bin/git",
            r#""clone", "--upload-pack={x}", "https://example.com/r.git""#,
            WORD,
            "where git expects code to run",
        ),
        (
            "git -C",
            "/usr/bin/git",
            r#""-C", "{x}", "status""#,
            WORD,
            "where git expects code to run",
        ),
        (
            "git --exec-path",
            "/usr/bin/git",
            r#""--exec-path={x}", "status""#,
            WORD,
            "where git expects code to run",
        ),
        (
            "git --config-env",
            "/usr/bin/git",
            r#""--config-env={x}", "status""#,
            WORD,
            "where git expects code to run",
        ),
        (
            "psql -f",
            "/usr/bin/psql",
            r#""-f", "{x}""#,
            WORD,
            "where psql expects code to run",
        ),
        (
            "rsync -e",
            "/usr/bin/rsync",
            r#""-e", "{x}", "/src", "/dst""#,
            WORD,
            "where rsync expects code to run",
        ),
        (
            "rsync --rsync-path",
            "/usr/bin/rsync",
            r#""--rsync-path={x}", "/src", "host:/dst""#,
            WORD,
            "where rsync expects code to run",
        ),
        (
            "scp -o",
            "/usr/bin/scp",
            r#""-o", "{x}", "/src", "host:/dst""#,
            WORD,
            "where scp expects code to run",
        ),
        (
            "sqlite -init",
            "/usr/bin/sqlite3",
            r#""-init", "{x}", "/var/lib/app.db""#,
            WORD,
            "where sqlite expects code to run",
        ),
        (
            "make -f",
            "/usr/bin/make",
            r#""-f", "{x}""#,
            WORD,
            "where make expects code to run",
        ),
        (
            "make --eval",
            "/usr/bin/make",
            r#""--eval={x}""#,
            WORD,
            "where make expects code to run",
        ),
        (
            "vim -c",
            "/usr/bin/vim",
            r#""-c", "{x}""#,
            WORD,
            "where vim expects code to run",
        ),
        (
            "sort --compress-program",
            "/usr/bin/sort",
            r#""--compress-program=/usr/bin/gzip", "{x}""#,
            WORD,
            "makes sort run another command (--compress-program)",
        ),
    ];
    let mut failures = Vec::new();
    for (row, program, args, param, says) in rows {
        let text = command_with(program, args, param);
        let dir = catalog_dir(&[("x.toml", &text)]);
        match load(dir.path()) {
            Ok(_) => failures.push(format!("{row}: loaded")),
            Err(error) => {
                let problems: Vec<String> =
                    error.problems().iter().map(ToString::to_string).collect();
                if !problems.iter().any(|problem| problem.contains(says)) {
                    failures.push(format!("{row}: {problems:#?}"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The safe ways to use those programs still load: values as data, the program literal.
#[test]
fn those_programs_still_take_values_as_data() {
    let rows: &[(&str, &str, &str, &str)] = &[
        (
            "awk -v",
            "/usr/bin/awk",
            r#""-v", "x={x}", "{{ print x }}", "/etc/hosts""#,
            WORD,
        ),
        (
            "awk literal program, value as file",
            "/usr/bin/awk",
            r#""{{ print $1 }}", "/var/log/{x}""#,
            WORD,
        ),
        (
            "sed -e literal, value as file",
            "/usr/bin/sed",
            r#""-n", "-e", "1p", "/var/log/{x}""#,
            WORD,
        ),
        (
            "find -name",
            "/usr/bin/find",
            r#""/var/log", "-name", "{x}", "-print""#,
            WORD,
        ),
        (
            "tar -C and -xzf",
            "/usr/bin/tar",
            r#""-C", "/restore", "-xzf", "/var/backups/{x}""#,
            WORD,
        ),
        (
            "git -C literal, value as count",
            "/usr/bin/git",
            r#""-C", "/srv/app", "log", "-n", "{x}""#,
            "kind = \"int\"\nmin = 1\nmax = 50",
        ),
        (
            "mysql literal SQL",
            "/usr/bin/mysql",
            r#""--execute=SHOW PROCESSLIST", "{x}""#,
            WORD,
        ),
        (
            "find with a dashed value after a fixed option",
            "/usr/bin/find",
            r#""/var/log", "-name", "--x={x}""#,
            DASHED,
        ),
    ];
    let mut failures = Vec::new();
    for (row, program, args, param) in rows {
        let text = command_with(program, args, param);
        let dir = catalog_dir(&[("x.toml", &text)]);
        if let Err(error) = load(dir.path()) {
            failures.push(format!("{row}: {error}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Fails on main: the interpreter check looked at the link's own name there.
#[test]
fn a_symlink_to_python_is_python_for_its_code_options() {
    let dir = catalog_dir(&[]);
    let link = dir.path().join("helper");
    std::os::unix::fs::symlink(crate::runner::PYTHON, &link).unwrap();
    let text = command_with(&link.display().to_string(), r#""-c", "{x}""#, WORD);
    std::fs::write(dir.path().join("x.toml"), text).unwrap();
    let error = load(dir.path()).unwrap_err();
    assert_eq!(
        error.problems()[0].message,
        "`{x}` puts a value where python expects code to run (after -c/-m); a value must never become code: pass it as a plain argument to a reviewed script instead"
    );
}

/// A hard link in the same file system as the system programs.
fn hard_link_to(program: &Path, dir: &Path) -> PathBuf {
    let target = program.canonicalize().unwrap();
    let link = dir.join("helper");
    std::fs::hard_link(&target, &link).unwrap_or_else(|error| {
        panic!(
            "cannot hard-link {} into {}: {error}; the test needs them on one file system",
            target.display(),
            dir.display()
        )
    });
    link
}

/// Fails on main: a hard link has its own name and resolves to itself, so it passed.
#[test]
fn a_hard_link_to_dash_is_a_shell() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let link = hard_link_to(Path::new("/bin/sh"), dir.path());
    std::fs::write(
        dir.path().join("x.toml"),
        GOOD.replace("/usr/bin/systemctl", &link.display().to_string()),
    )
    .unwrap();
    let error = load(dir.path()).unwrap_err();
    let message = &error.problems()[0].message;
    assert!(
        message.starts_with(&format!("`{}` is the same file as ", link.display()))
            && message.contains("(a hard link): `")
            && message.ends_with("is a shell, and there is no shell, ever: name the program itself and give its arguments in args"),
        "{message}"
    );
}

/// Fails on main, like the symlink: python under another name through a hard link.
#[test]
fn a_hard_link_to_python_is_python_for_its_code_options() {
    let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let link = hard_link_to(Path::new(crate::runner::PYTHON), dir.path());
    let text = command_with(&link.display().to_string(), r#""-c", "{x}""#, WORD);
    std::fs::write(dir.path().join("x.toml"), text).unwrap();
    let error = load(dir.path()).unwrap_err();
    assert!(
        error.problems()[0]
            .message
            .contains("where python expects code to run"),
        "{error}"
    );
}

#[test]
fn every_file_s_problems_are_reported_at_once() {
    let dir = catalog_dir(&[
        ("a.toml", &GOOD.replace(r#"name = "x""#, r#"name = "a""#)),
        ("b.toml", &GOOD.replace(r#"name = "x""#, r#"name = "c""#)),
        (
            "d.toml",
            &GOOD
                .replace("/usr/bin/systemctl", "/bin/sh")
                .replace(r#"name = "x""#, r#"name = "d""#),
        ),
        ("notes.txt", "not a command"),
        (".e.toml", "editor leftovers"),
    ]);
    let error = load(dir.path()).unwrap_err();
    let message = error.to_string();
    assert!(
        message.starts_with(&format!(
            "the command catalog {} has 2 problems:\n  {}:1: name: `c` differs",
            dir.path().display(),
            dir.path().join("b.toml").display()
        )),
        "{message}"
    );
    assert!(
        message.contains("d.toml:3: program: `/bin/sh` is a shell"),
        "{message}"
    );
}

#[test]
fn a_missing_folder_is_its_own_error() {
    let error = load(std::path::Path::new("/nowhere/commands")).unwrap_err();
    assert!(matches!(error, CatalogError::Missing { .. }));
    assert_eq!(
        error.to_string(),
        "the command catalog folder /nowhere/commands does not exist; create it (commands/README.md describes a command file) or point [commands] dir at it"
    );
}

#[test]
fn a_reload_swaps_in_a_valid_catalog_and_keeps_the_old_one_when_invalid() {
    let dir = catalog_dir(&[("x.toml", GOOD)]);
    let handle = CatalogHandle::load(dir.path(), known_roles()).unwrap();
    let before = handle.current();
    assert_eq!(before.len(), 1);

    let second = GOOD.replace(r#"name = "x""#, r#"name = "y""#);
    std::fs::write(dir.path().join("y.toml"), &second).unwrap();
    std::fs::write(
        dir.path().join("x.toml"),
        GOOD.replace("Show a unit", "Show one unit"),
    )
    .unwrap();
    let report = handle.reload().unwrap();
    assert_eq!(report.added, ["y"]);
    assert_eq!(report.changed, ["x"]);
    assert!(report.removed.is_empty());
    assert_eq!(
        report.to_string(),
        "reloaded the command catalog: 2 commands; added y; changed x"
    );
    assert_eq!(handle.current().len(), 2);
    assert_eq!(before.len(), 1, "whoever held the old catalog still has it");

    std::fs::write(
        dir.path().join("y.toml"),
        second.replace("/usr/bin/systemctl", "/bin/bash"),
    )
    .unwrap();
    let error = handle.reload().unwrap_err();
    assert!(error.to_string().contains("is a shell"), "{error}");
    let kept = handle.current();
    assert_eq!(kept.len(), 2, "the invalid catalog was refused");
    assert_eq!(
        kept.get("y").unwrap().program(),
        std::path::Path::new("/usr/bin/systemctl")
    );

    std::fs::remove_file(dir.path().join("y.toml")).unwrap();
    assert_eq!(
        handle.reload().unwrap().to_string(),
        "reloaded the command catalog: 1 command; removed y"
    );
}

#[test]
fn parameters_of_every_kind_normalize_what_they_accept() {
    let text = r#"name = "kinds"
description = "Every kind of parameter"
program = "/usr/bin/printf"
args = ["%s|", "{word}", "--count={count}", "{window}s", "{offset}"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "5s"
env = { LANG = "C.UTF-8", TOKEN = { from_env = "WARROOM_TOKEN" } }

[params.word]
kind = "string"
# Each branch is anchored at one end only: matching the whole value is what keeps
# "abc; id" out.
pattern = '^[a-z]{1,8}|x$'

[params.count]
kind = "int"
min = 0
max = 100

[params.window]
kind = "duration"
min = "1m"
max = "2h"

[params.offset]
kind = "int"
min = -10
max = 10
allow_leading_dash = true
"#;
    let dir = catalog_dir(&[("kinds.toml", text)]);
    let catalog = load(dir.path()).unwrap();
    let spec = catalog.get("kinds").unwrap();
    assert!(matches!(
        spec.param("window").unwrap().kind(),
        ParamKind::Duration { .. }
    ));
    assert_eq!(
        spec.env(),
        [
            ("LANG".to_owned(), EnvValue::Literal("C.UTF-8".into())),
            (
                "TOKEN".to_owned(),
                EnvValue::FromEnv("WARROOM_TOKEN".into())
            )
        ]
    );
    let invocation = spec
        .bind(
            &values(&[
                ("word", "abc"),
                ("count", "007"),
                ("window", "15m"),
                ("offset", "-3"),
            ]),
            false,
        )
        .unwrap();
    assert_eq!(invocation.args(), ["%s|", "abc", "--count=7", "900s", "-3"]);
    let refused: BTreeMap<&str, &str> = [
        ("word", "\"abc; id\" does not match ^[a-z]{1,8}|x$"),
        ("count", "\"ten\" is not a whole number"),
        ("window", "30s is not from 1m to 2h"),
    ]
    .into();
    let error = spec
        .bind(
            &values(&[
                ("word", "abc; id"),
                ("count", "ten"),
                ("window", "30s"),
                ("offset", "-3"),
            ]),
            false,
        )
        .unwrap_err();
    let BindError::Rejected { problems, .. } = error else {
        panic!("{error}")
    };
    assert_eq!(problems.len(), 3, "{problems:?}");
    for problem in &problems {
        assert_eq!(
            problem.message,
            refused[problem.param.as_str()],
            "{problem}"
        );
    }
}
