//! The catalog through the real binary: `check`, `commands list|show`, and reloading on
//! SIGHUP while `warroom run` serves.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::sync::mpsc;
use std::time::Duration;

use super::catalog_dir;
use crate::support::{TestDb, free_port, repo_root, run, stderr, succeed, warroom};

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

#[test]
fn check_passes_on_the_shipped_files_and_counts_the_commands() {
    let out = succeed(&repo_root().join("config/warroom.toml"), &["check"]);
    assert!(
        out.contains("the command catalog is valid (13 approved commands)"),
        "{out}"
    );
}

#[test]
fn check_fails_on_a_bad_catalog_and_names_file_and_line() {
    let dir = catalog_dir(&[("x.toml", &GOOD.replace("/usr/bin/systemctl", "/bin/sh"))]);
    let output = crate::support::warroom(&repo_root().join("config/warroom.toml"))
        .arg("check")
        .env("WARROOM__COMMANDS__DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let error = stderr(&output);
    assert_eq!(
        error,
        format!(
            "error: the command catalog {} has 1 problem:\n  {}:3: program: `/bin/sh` is a shell, and there is no shell, ever: name the program itself and give its arguments in args\n",
            dir.path().display(),
            dir.path().join("x.toml").display()
        )
    );
}

#[test]
fn commands_list_and_show_describe_the_catalog() {
    let config = repo_root().join("config/warroom.toml");
    let list = succeed(&config, &["commands", "list"]);
    assert!(list.starts_with("NAME "), "{list}");
    assert!(
        list.lines().any(|line| line.starts_with("pg-restore")
            && line.contains("destructive")
            && line.contains("dba")),
        "{list}"
    );
    let listed: serde_json::Value =
        serde_json::from_str(&succeed(&config, &["commands", "list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 13);

    let show = succeed(&config, &["commands", "show", "pg-restore"]);
    for expected in [
        "pg-restore: Restore a PostgreSQL database from a verified backup",
        "  runs           /usr/bin/pg_restore --clean --if-exists --single-transaction --exit-on-error --no-password --dbname {database} /var/backups/postgresql/{backup}",
        "  dry run        /usr/bin/pg_restore --list /var/backups/postgresql/{backup}",
        "  approval       1 other person holding incident_commander; an approval is valid for 10m 00s",
        "  lock           db:{database}",
        "  incident       runs only inside an incident channel",
    ] {
        assert!(show.contains(expected), "{expected}\n{show}");
    }
    let json: serde_json::Value = serde_json::from_str(&succeed(
        &config,
        &["commands", "show", "pg-restore", "--json"],
    ))
    .unwrap();
    assert_eq!(json["risk"], "destructive");
    assert_eq!(json["approval"]["roles"][0], "incident_commander");
    assert_eq!(json["params"][1]["name"], "backup");
    assert_eq!(
        json["params"][1]["pattern"],
        r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}\.dump$"
    );

    let missing = run(&config, &["commands", "show", "pg-restor"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).starts_with("error: there is no approved command `pg-restor` in "),
        "{}",
        stderr(&missing)
    );
}

/// The log line without the terminal colour codes tracing adds.
fn without_colors(line: &str) -> String {
    let mut plain = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Waits for a log line containing `needle`; the bound only keeps a broken build from
/// hanging the suite.
fn wait_for_line(lines: &mpsc::Receiver<String>, needle: &str) -> String {
    loop {
        match lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) if line.contains(needle) => return line,
            Ok(_) => {}
            Err(error) => panic!("no log line with {needle:?}: {error}"),
        }
    }
}

#[tokio::test]
async fn sighup_reloads_the_catalog_and_keeps_it_when_the_new_one_is_invalid() {
    let db = TestDb::sqlite();
    let config = db.write_config("");
    let dir = catalog_dir(&[("x.toml", GOOD)]);
    let port = free_port();
    let mut child = warroom(&config)
        .arg("run")
        .env("WARROOM__HTTP__LISTEN", format!("127.0.0.1:{port}"))
        .env("WARROOM__COMMANDS__DIR", dir.path())
        .env("WARROOM_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(without_colors(&line)).is_err() {
                break;
            }
        }
    });
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let hangup = || nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();

    let loaded = wait_for_line(&lines, "command catalog loaded");
    assert!(loaded.contains("commands=1"), "{loaded}");
    // The HTTP server answers only after the SIGHUP listener is in place.
    wait_for_line(&lines, "listening");

    std::fs::write(
        dir.path().join("y.toml"),
        GOOD.replace(r#"name = "x""#, r#"name = "y""#),
    )
    .unwrap();
    hangup();
    wait_for_line(
        &lines,
        "SIGHUP: reloaded the command catalog: 2 commands; added y",
    );

    std::fs::write(
        dir.path().join("y.toml"),
        GOOD.replace(r#"name = "x""#, r#"name = "y""#)
            .replace("/usr/bin/systemctl", "/usr/bin/sudo"),
    )
    .unwrap();
    hangup();
    let refused = wait_for_line(&lines, "SIGHUP: the command catalog was not reloaded");
    assert!(
        refused.contains("the previous one (2 commands) stays in use: the command catalog"),
        "{refused}"
    );
    let problem = wait_for_line(&lines, "y.toml:3: program:");
    assert!(problem.contains("is a command launcher"), "{problem}");

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

#[test]
fn run_refuses_to_start_with_an_invalid_catalog_and_says_why() {
    let db = TestDb::sqlite();
    let config = db.write_config("");
    let dir = catalog_dir(&[(
        "x.toml",
        &GOOD.replace(r#"risk = "read_only""#, r#"risk = "destructive""#),
    )]);
    let output = warroom(&config)
        .arg("run")
        .env(
            "WARROOM__HTTP__LISTEN",
            format!("127.0.0.1:{}", free_port()),
        )
        .env("WARROOM__COMMANDS__DIR", dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).ends_with(&format!(
            "error: the command catalog {} has 1 problem:\n  {}:6: risk: a destructive command must require approval: add approval = {{ approvers = 1, roles = [\"incident_commander\"], expires = \"10m\" }}\n",
            dir.path().display(),
            dir.path().join("x.toml").display()
        )),
        "{}",
        stderr(&output)
    );
}
