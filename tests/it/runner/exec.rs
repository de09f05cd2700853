//! The runner with real processes: literal argv, timeouts that kill grandchildren, leftovers,
//! output cap and file, redaction, a cleared environment, closed stdin, exit codes and
//! signals, locks, cancel, and streaming while the process runs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use sha2::Digest;
use warroom::config::Environment;
use warroom::runner::{
    EnvValue, Exit, Invocation, Progress, RunError, RunOptions, Runner, RunnerSettings, SAFE_PATH,
    StopReason, cancel_pair,
};

use super::{
    PYTHON, catalog_dir, gone_eventually, is_alive, load, print_argv_script, run_collecting,
    runner, settings, values,
};

const SH: &str = "/bin/sh";

/// A test program: `sh -c SCRIPT`, bypassing the catalog (which would never allow it).
fn sh(script: &str, timeout: Duration) -> Invocation {
    Invocation::unchecked("test", SH, ["-c", script], timeout)
}

const LONG: Duration = Duration::from_secs(60);

#[tokio::test]
async fn each_value_arrives_as_one_literal_argv_element() {
    let script = print_argv_script();
    let text = format!(
        r#"name = "echo-args"
description = "Print the arguments"
program = "{PYTHON}"
args = ["-I", "{script}", "{{first}}", "--label={{second}}", "two literal words", "{{third}}.dump"]
allowed_roles = ["responder"]
risk = "read_only"
timeout = "30s"

[params.first]
kind = "string"
pattern = '^.{{1,200}}$'

[params.second]
kind = "string"
pattern = '^.{{1,200}}$'

[params.third]
kind = "enum"
values = ["app"]
"#,
        script = script.display()
    );
    let dir = catalog_dir(&[("echo-args.toml", &text)]);
    let catalog = load(dir.path()).unwrap();
    let spec = catalog.get("echo-args").unwrap();
    let given = values(&[
        ("first", "a b  c; rm -rf / $(id) `id` | cat > x"),
        ("second", "'quoted' \"double\" \\ * ?"),
        ("third", "app"),
    ]);
    let invocation = spec.bind(&given, false).unwrap();
    let (outcome, _) = run_collecting(&runner(), &invocation, RunOptions::default()).await;
    let outcome = outcome.unwrap();
    assert!(outcome.succeeded(), "{outcome:?}");
    let printed: Vec<String> = serde_json::from_str(outcome.output.text.trim()).unwrap();
    assert_eq!(
        printed,
        [
            "a b  c; rm -rf / $(id) `id` | cat > x",
            "--label='quoted' \"double\" \\ * ?",
            "two literal words",
            "app.dump",
        ]
    );
    assert_eq!(&invocation.args()[2..], printed.as_slice());
}

#[tokio::test]
async fn a_timeout_kills_the_child_and_its_grandchildren() {
    let timeout = Duration::from_millis(500);
    let invocation = sh("sleep 600 & echo $!; wait", timeout);
    let (outcome, events) = run_collecting(&runner(), &invocation, RunOptions::default()).await;
    let outcome = outcome.unwrap();
    assert!(outcome.timed_out && !outcome.succeeded());
    assert_eq!(
        outcome.exit,
        Exit::Signal {
            number: 15,
            name: "SIGTERM".into()
        }
    );
    let grandchild: i32 = outcome.output.text.trim().parse().unwrap();
    gone_eventually(grandchild).await;
    // The stop: for the timeout, by SIGTERM, sent once the timeout had passed and before the
    // process was gone.
    let Some((reason, signal, elapsed)) = events.iter().find_map(|event| match event {
        Progress::Stopping {
            reason,
            signal,
            elapsed,
        } => Some((*reason, *signal, *elapsed)),
        _ => None,
    }) else {
        panic!("no Stopping event in {events:?}");
    };
    assert_eq!((reason, signal), (StopReason::TimedOut, "SIGTERM"));
    assert!(
        elapsed >= timeout && elapsed <= outcome.duration,
        "stopped at {elapsed:?}: the timeout is {timeout:?}, the run lasted {:?}",
        outcome.duration
    );
    assert!(
        outcome.summary().starts_with("timed out after"),
        "{}",
        outcome.summary()
    );
}

#[tokio::test]
async fn processes_that_ignore_sigterm_get_sigkill_after_the_grace() {
    let invocation = sh(
        "trap '' TERM; sleep 600 & echo $!; wait; wait; wait",
        Duration::from_millis(300),
    );
    let (outcome, events) = run_collecting(&runner(), &invocation, RunOptions::default()).await;
    let outcome = outcome.unwrap();
    assert!(outcome.timed_out);
    assert_eq!(
        outcome.exit,
        Exit::Signal {
            number: 9,
            name: "SIGKILL".into()
        }
    );
    let grandchild: i32 = outcome.output.text.trim().parse().unwrap();
    gone_eventually(grandchild).await;
    let signals: Vec<&str> = events
        .iter()
        .filter_map(|event| match event {
            Progress::Stopping { signal, .. } => Some(*signal),
            _ => None,
        })
        .collect();
    assert_eq!(signals, ["SIGTERM", "SIGKILL"]);
}

#[tokio::test]
async fn nothing_a_run_started_outlives_it() {
    let invocation = sh("sleep 600 & echo $!", LONG);
    let (outcome, events) = run_collecting(&runner(), &invocation, RunOptions::default()).await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.exit, Exit::Code(0));
    assert!(!outcome.timed_out);
    let leftover: i32 = outcome.output.text.trim().parse().unwrap();
    gone_eventually(leftover).await;
    assert_eq!(
        outcome.notes,
        ["processes it started were still running after it exited; they were stopped"]
    );
    assert!(events.iter().any(|event| matches!(
        event,
        Progress::Stopping {
            reason: StopReason::Leftovers,
            ..
        }
    )));
}

/// Reads the pid an escapee wrote to `file` once it has left the run (bounded wait).
async fn pid_written_to(file: &Path) -> i32 {
    for _ in 0..500 {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{} was never written", file.display());
}

#[tokio::test]
async fn a_process_that_left_the_group_is_stopped_with_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("escaped");
    // The escapee writes its pid only after setsid has moved it to a session (and group) of
    // its own, keeping the output pipe; the command waits for that, prints it and exits.
    let script = format!(
        "/usr/bin/setsid -f /bin/sh -c 'echo $$ > {file}; exec sleep 600'; \
         while [ ! -s {file} ]; do sleep 0.02; done; cat {file}",
        file = pid_file.display()
    );
    let (outcome, _) = run_collecting(&runner(), &sh(&script, LONG), RunOptions::default()).await;
    let outcome = outcome.unwrap();
    let escaped: i32 = outcome.output.text.trim().parse().unwrap();
    assert_eq!(outcome.exit, Exit::Code(0));
    assert_eq!(
        outcome.notes,
        ["processes it started were still running after it exited; they were stopped"]
    );
    // Times out (and fails) if the escapee outlived its run.
    gone_eventually(escaped).await;
}

/// Fails on main: a process that calls setsid and whose parent exits is adopted by PID 1
/// there, out of the group the timeout kills.
#[tokio::test]
async fn a_grandchild_that_calls_setsid_does_not_survive_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("escaped");
    // It also lets go of the output pipe, so only warroom adopting it can find it.
    let script = format!(
        "/usr/bin/setsid -f /bin/sh -c 'echo $$ > {file}; exec sleep 600' </dev/null >/dev/null 2>&1; \
         sleep 600",
        file = pid_file.display()
    );
    let runner = runner();
    let invocation = sh(&script, Duration::from_secs(2));
    let run = run_collecting(&runner, &invocation, RunOptions::default());
    let (escaped, (outcome, _)) = tokio::join!(pid_written_to(&pid_file), run);
    let outcome = outcome.unwrap();
    assert!(outcome.timed_out, "{outcome:?}");
    // Times out (and fails) if the setsid grandchild survived the timeout.
    gone_eventually(escaped).await;
}

/// Fails on main: a double fork into a group of its own leaves the run's group, and the
/// orphan is out of the runner's reach.
#[tokio::test]
async fn a_double_forked_orphan_in_a_group_of_its_own_is_stopped_too() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("orphan");
    let program = format!(
        "import os, sys, time\n\
         if os.fork() == 0:\n    \
             os.setpgid(0, 0)\n    \
             if os.fork() == 0:\n        \
                 open('{file}', 'w').write(str(os.getpid()))\n        \
                 time.sleep(600)\n    \
             os._exit(0)\n\
         time.sleep(600)\n",
        file = pid_file.display()
    );
    let invocation =
        Invocation::unchecked("test", PYTHON, ["-c", &program], Duration::from_secs(2));
    let runner = runner();
    let run = run_collecting(&runner, &invocation, RunOptions::default());
    let (orphan, (outcome, _)) = tokio::join!(pid_written_to(&pid_file), run);
    assert!(outcome.unwrap().timed_out);
    // Times out (and fails) if the orphan survived the timeout.
    gone_eventually(orphan).await;
}

/// Fails on main: a descriptor warroom holds without close-on-exec is passed to the child.
#[tokio::test]
async fn descriptors_warroom_inherited_do_not_reach_a_command() {
    use nix::fcntl::{FcntlArg, fcntl};
    let runner = runner();
    let dir = tempfile::tempdir().unwrap();
    let file = std::fs::File::create(dir.path().join("held")).unwrap();
    // A copy without close-on-exec, as a parent process or a careless library leaves one
    // (made after the runner started, so the check before each spawn is what catches it).
    let inherited = fcntl(&file, FcntlArg::F_DUPFD(200)).unwrap();
    assert!(
        std::fs::read_link(format!("/proc/self/fd/{inherited}")).is_ok(),
        "warroom holds it"
    );
    let invocation = Invocation::unchecked(
        "test",
        "/usr/bin/readlink",
        [format!("/proc/self/fd/{inherited}")],
        LONG,
    );
    let outcome = runner
        .run(&invocation, RunOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(outcome.exit, Exit::Code(1), "{outcome:?}");
    assert!(outcome.output.text.is_empty(), "{}", outcome.output.text);
    let listing = Invocation::unchecked("test", "/bin/ls", ["/proc/self/fd"], LONG);
    let outcome = runner
        .run(&listing, RunOptions::default(), &mut |_| {})
        .await
        .unwrap();
    let mut fds: Vec<&str> = outcome.output.text.lines().collect();
    fds.sort_unstable();
    // 0-2, and the one ls opened to list the folder.
    assert_eq!(fds, ["0", "1", "2", "3"]);
}

#[tokio::test]
async fn dropping_a_run_kills_its_process_group() {
    let (pid_tx, pid_rx) = tokio::sync::oneshot::channel::<i32>();
    let task = tokio::spawn(async move {
        let runner = runner();
        let invocation = sh("sleep 600 & echo $!; wait", LONG);
        let mut pid_tx = Some(pid_tx);
        let _ = runner
            .run(&invocation, RunOptions::default(), &mut |event| {
                if let Progress::Output { text, .. } = event
                    && let Some(tx) = pid_tx.take()
                {
                    let _ = tx.send(text.trim().parse().unwrap());
                }
            })
            .await;
    });
    let grandchild = pid_rx.await.unwrap();
    assert!(is_alive(grandchild));
    task.abort();
    let _ = task.await;
    gone_eventually(grandchild).await;
}

#[tokio::test]
async fn long_output_is_capped_to_head_and_tail_and_kept_whole_in_the_file() {
    let runner = Runner::new(
        RunnerSettings {
            output_cap_bytes: 1_024,
            ..settings()
        },
        Environment::default(),
    );
    let invocation = Invocation::unchecked(
        "test",
        PYTHON,
        ["-c", "for i in range(5000): print(f'line {i:04}')"],
        LONG,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("runs/1.log");
    let options = RunOptions {
        output_file: Some(file.clone()),
        cancel: None,
    };
    let (outcome, events) = run_collecting(&runner, &invocation, options).await;
    let outcome = outcome.unwrap();
    let full: String = (0..5000).map(|i| format!("line {i:04}\n")).collect();
    let output = &outcome.output;
    assert_eq!(output.total_bytes, full.len() as u64);
    assert_eq!(output.cut_bytes, full.len() as u64 - 1_024);
    assert!(
        output.text.starts_with("line 0000\nline 0001\n"),
        "{}",
        output.text
    );
    assert!(
        output.text.ends_with("line 4998\nline 4999\n"),
        "{}",
        output.text
    );
    assert!(
        output.text.contains(&format!(
            "[… {} bytes cut here, {} in all …]",
            full.len() - 1_024,
            full.len()
        )),
        "{}",
        output.text
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), full);
    assert_eq!(output.file.as_deref(), Some(file.as_path()));
    assert!(output.file_complete);
    assert_eq!(
        output.sha256,
        hex::encode(sha2::Sha256::digest(full.as_bytes()))
    );
    let streamed: String = events
        .iter()
        .filter_map(|event| match event {
            Progress::Output { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, full, "progress streams every line once, in order");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn the_output_file_stops_at_its_limit_and_says_so() {
    let runner = Runner::new(
        RunnerSettings {
            output_cap_bytes: 1_024,
            output_file_max_bytes: 2_000,
            ..settings()
        },
        Environment::default(),
    );
    let invocation = Invocation::unchecked(
        "test",
        PYTHON,
        ["-c", "for i in range(1000): print(f'line {i:04}')"],
        LONG,
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("1.log");
    let options = RunOptions {
        output_file: Some(file.clone()),
        cancel: None,
    };
    let outcome = runner.run(&invocation, options, &mut |_| {}).await.unwrap();
    assert!(!outcome.output.file_complete);
    let written = std::fs::read_to_string(&file).unwrap();
    assert!(written.starts_with("line 0000\n"));
    assert!(
        written.ends_with("[… the output goes on; this file keeps at most 2000 bytes …]\n"),
        "{written}"
    );
    assert_eq!(
        outcome.notes,
        [format!(
            "the output file {} stopped at its limit of 2000 bytes ([commands] output_file_max_bytes)",
            file.display()
        )]
    );
    assert_eq!(
        outcome.output.total_bytes, 10_000,
        "the hash and count still cover all of it"
    );
}

#[tokio::test]
async fn secrets_are_redacted_before_anything_leaves_the_runner() {
    let patterns = warroom::config::DEFAULT_REDACT_PATTERNS
        .iter()
        .map(|pattern| regex::Regex::new(pattern).unwrap())
        .collect();
    let runner = Runner::new(
        RunnerSettings {
            redact: patterns,
            ..settings()
        },
        Environment::from_pairs([("WARROOM_TEST_DB_PASSWORD", "correct-horse-battery")]),
    );
    let program = "import os\n\
                   print('connecting with password=hunter2 to db')\n\
                   print('Authorization: Bearer abcdefghijklmnop')\n\
                   print('the env secret is', os.environ['DB_PASSWORD'], 'in the middle')\n\
                   print('split', os.environ['DB_PASSWORD'][:7], flush=True)\n\
                   print('everything else stays')";
    let invocation = Invocation::unchecked("test", PYTHON, ["-c", program], LONG).with_env(
        "DB_PASSWORD",
        EnvValue::FromEnv("WARROOM_TEST_DB_PASSWORD".into()),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.log");
    let options = RunOptions {
        output_file: Some(file.clone()),
        cancel: None,
    };
    let (outcome, events) = run_collecting(&runner, &invocation, options).await;
    let outcome = outcome.unwrap();
    let expected = "connecting with password=[redacted] to db\n\
                    Authorization: Bearer [redacted]\n\
                    the env secret is [redacted] in the middle\n\
                    split correct\n\
                    everything else stays\n";
    assert_eq!(outcome.output.text, expected);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), expected);
    let streamed: String = events
        .iter()
        .filter_map(|event| match event {
            Progress::Output { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(streamed, expected);
    for leaked in ["hunter2", "abcdefghijklmnop", "correct-horse-battery"] {
        assert!(
            !format!("{outcome:?}{events:?}").contains(leaked),
            "{leaked}"
        );
    }
}

/// Fails on main: there each 16 KiB piece of a line without whitespace was redacted on its
/// own, so a secret across a cut (an AWS key, a password in minified JSON, the command's
/// own secret variable) came out in clear.
#[tokio::test]
async fn a_secret_across_a_cut_of_a_long_line_is_redacted_everywhere() {
    let patterns = warroom::config::DEFAULT_REDACT_PATTERNS
        .iter()
        .map(|pattern| regex::Regex::new(pattern).unwrap())
        .collect();
    let runner = Runner::new(
        RunnerSettings {
            redact: patterns,
            ..settings()
        },
        Environment::from_pairs([("WARROOM_TEST_DB_PASSWORD", "correct-horse-battery")]),
    );
    // One line of minified JSON, with each secret straddling a multiple of 16 KiB.
    let program = "import os, sys\n\
                   out = '{\"rows\":\"'\n\
                   def fill(to):\n    \
                       global out\n    \
                       out += 'x' * (to - len(out))\n\
                   fill(16384 - 19)\n\
                   out += '\",\"key\":\"AKIAIOSFODNN7EXAMPLE\",\"more\":\"'\n\
                   fill(32768 - 5 - 14)\n\
                   out += '\",\"password\":\"hunter2-hunter2-hunter2\",\"rest\":\"'\n\
                   fill(49152 - 6)\n\
                   out += os.environ['DB_PASSWORD'] + '\"}\\n'\n\
                   sys.stdout.write(out)\n";
    let invocation = Invocation::unchecked("test", PYTHON, ["-c", program], LONG).with_env(
        "DB_PASSWORD",
        EnvValue::FromEnv("WARROOM_TEST_DB_PASSWORD".into()),
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.log");
    let options = RunOptions {
        output_file: Some(file.clone()),
        cancel: None,
    };
    let (outcome, events) = run_collecting(&runner, &invocation, options).await;
    let outcome = outcome.unwrap();
    assert!(outcome.succeeded(), "{outcome:?}");
    let streamed: String = events
        .iter()
        .filter_map(|event| match event {
            Progress::Output { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(streamed, written);
    assert_eq!(streamed, outcome.output.text);
    assert!(streamed.len() > 49_000, "{}", streamed.len());
    for leaked in [
        "AKIAIOSFOD",
        "NN7EXAMPLE",
        "hunter2",
        "correct-horse",
        "horse-battery",
    ] {
        assert!(!streamed.contains(leaked), "{leaked} leaked");
    }
    assert_eq!(
        streamed.matches("[redacted]").count(),
        3,
        "each secret once"
    );
    assert!(streamed.contains(r#""key":"[redacted]""#));
    assert!(streamed.contains(r#""password":"[redacted]""#));
}

#[tokio::test]
async fn the_child_sees_only_the_allowlist_and_the_fixed_path() {
    let runner = Runner::new(
        settings(),
        Environment::from_pairs([("WARROOM_TEST_TOKEN", "t0ken-value")]),
    );
    let invocation = Invocation::unchecked("test", "/usr/bin/printenv", Vec::<String>::new(), LONG)
        .with_env("PGHOST", EnvValue::Literal("127.0.0.1".into()))
        .with_env("TOKEN", EnvValue::FromEnv("WARROOM_TEST_TOKEN".into()));
    let outcome = runner
        .run(&invocation, RunOptions::default(), &mut |_| {})
        .await
        .unwrap();
    let mut seen: Vec<&str> = outcome.output.text.lines().collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        [
            "PATH=".to_owned() + SAFE_PATH,
            "PGHOST=127.0.0.1".to_owned(),
            "TOKEN=[redacted]".to_owned()
        ]
    );
}

#[tokio::test]
async fn stdin_is_closed_and_the_working_directory_is_set() {
    let invocation = Invocation::unchecked(
        "test",
        "/usr/bin/readlink",
        ["/proc/self/fd/0", "/proc/self/cwd"],
        LONG,
    )
    .with_workdir("/tmp");
    let outcome = runner()
        .run(&invocation, RunOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert_eq!(outcome.output.text, "/dev/null\n/tmp\n");
    let cat = Invocation::unchecked("test", "/bin/cat", Vec::<String>::new(), LONG);
    let outcome = runner()
        .run(&cat, RunOptions::default(), &mut |_| {})
        .await
        .unwrap();
    assert!(
        outcome.succeeded() && outcome.output.text.is_empty(),
        "cat reads end-of-file at once: {outcome:?}"
    );
}

#[tokio::test]
async fn exit_codes_and_signals_are_reported() {
    let cases = [
        ("exit 0", Exit::Code(0), "exit 0 after"),
        (
            "echo out; echo err >&2; exit 3",
            Exit::Code(3),
            "exit 3 after",
        ),
        (
            "kill -TERM $$",
            Exit::Signal {
                number: 15,
                name: "SIGTERM".into(),
            },
            "ended by SIGTERM after",
        ),
        (
            "kill -KILL $$",
            Exit::Signal {
                number: 9,
                name: "SIGKILL".into(),
            },
            "ended by SIGKILL after",
        ),
    ];
    for (script, exit, summary) in cases {
        let outcome = runner()
            .run(&sh(script, LONG), RunOptions::default(), &mut |_| {})
            .await
            .unwrap();
        assert_eq!(outcome.exit, exit, "{script}");
        assert_eq!(outcome.succeeded(), exit == Exit::Code(0), "{script}");
        assert!(
            outcome.summary().starts_with(summary),
            "{}",
            outcome.summary()
        );
        if script.starts_with("echo") {
            assert_eq!(
                outcome.output.text, "out\nerr\n",
                "stdout and stderr in order"
            );
        }
    }
}

#[tokio::test]
async fn a_program_that_cannot_start_is_an_error_not_an_outcome() {
    let invocation = Invocation::unchecked("test", "/nonexistent/tool", ["x"], LONG);
    let error = runner()
        .run(&invocation, RunOptions::default(), &mut |_| {})
        .await
        .unwrap_err();
    assert!(matches!(error, RunError::Spawn { .. }));
    assert_eq!(
        error.to_string(),
        "cannot start /nonexistent/tool: No such file or directory (os error 2); check that the program is installed there and that warroom's user may run it"
    );
}

#[tokio::test]
async fn a_missing_secret_stops_the_run_before_it_starts() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let invocation = Invocation::unchecked(
        "restore",
        "/usr/bin/touch",
        [marker.to_str().unwrap()],
        LONG,
    )
    .with_env(
        "PGPASSWORD",
        EnvValue::FromEnv("WARROOM_PG_PASSWORD".into()),
    );
    let error = runner()
        .run(&invocation, RunOptions::default(), &mut |_| {})
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "`restore` needs the secret WARROOM_PG_PASSWORD (for its PGPASSWORD), which is not set in warroom's environment; set it where warroom is started and restart warroom"
    );
    assert!(!marker.exists(), "nothing ran");
}

/// Start and end times (ns) each run appended to `log`.
fn intervals(log: &Path) -> BTreeMap<String, (u128, u128)> {
    let mut found: BTreeMap<String, (u128, u128)> = BTreeMap::new();
    for line in std::fs::read_to_string(log).unwrap().lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let at: u128 = parts[2].parse().unwrap();
        let entry = found.entry(parts[1].to_owned()).or_default();
        match parts[0] {
            "start" => entry.0 = at,
            _ => entry.1 = at,
        }
    }
    found
}

#[tokio::test]
async fn runs_with_one_lock_key_never_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = |name: &str| {
        format!(
            "echo start {name} $(date +%s%N) >> {log}; sleep 0.3; echo end {name} $(date +%s%N) >> {log}",
            log = log.display()
        )
    };
    let runner = runner();
    let first = sh(&script("a"), LONG).with_lock("db:app");
    let second = sh(&script("b"), LONG).with_lock("db:app");
    let third = sh(&script("c"), LONG).with_lock("db:app");
    let (a, b, c) = tokio::join!(
        run_collecting(&runner, &first, RunOptions::default()),
        run_collecting(&runner, &second, RunOptions::default()),
        run_collecting(&runner, &third, RunOptions::default()),
    );
    let waited = [&a, &b, &c]
        .iter()
        .filter(|(_, events)| {
            events.contains(&Progress::WaitingForLock {
                key: "db:app".into(),
            })
        })
        .count();
    assert_eq!(waited, 2, "two of three runs had to wait, and said so");
    for (outcome, _) in [a, b, c] {
        assert!(outcome.unwrap().succeeded());
    }
    let mut spans: Vec<(u128, u128)> = intervals(&log).into_values().collect();
    assert_eq!(spans.len(), 3);
    spans.sort_unstable();
    for pair in spans.windows(2) {
        assert!(pair[0].1 <= pair[1].0, "runs overlapped: {spans:?}");
    }
    assert!(
        !runner.is_locked("db:app"),
        "the lock is released after the runs"
    );
}

#[tokio::test]
async fn runs_with_different_lock_keys_run_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    // Each run waits (boundedly) for the other's marker: both succeed only if they overlap.
    let script = |mine: &str, theirs: &str| {
        format!(
            "touch {mine}; i=0; while [ ! -e {theirs} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ -e {theirs} ]",
            mine = dir.path().join(mine).display(),
            theirs = dir.path().join(theirs).display()
        )
    };
    let runner = runner();
    let app = sh(&script("a", "b"), LONG).with_lock("db:app");
    let analytics = sh(&script("b", "a"), LONG).with_lock("db:analytics");
    let ((a, _), (b, _)) = tokio::join!(
        run_collecting(&runner, &app, RunOptions::default()),
        run_collecting(&runner, &analytics, RunOptions::default()),
    );
    assert!(a.unwrap().succeeded() && b.unwrap().succeeded());
}

#[tokio::test]
async fn waiting_for_a_lock_is_bounded_by_the_timeout_and_a_cancel_stops_a_run() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("second-ran");
    let runner = runner();
    let (canceller, cancel) = cancel_pair();
    let holder = sh("echo holding; sleep 600", LONG).with_lock("unit:nginx");
    let waiter = Invocation::unchecked(
        "service-restart",
        "/usr/bin/touch",
        [marker.to_str().unwrap()],
        Duration::from_millis(300),
    )
    .with_lock("unit:nginx");
    let (started_tx, started_rx) = tokio::sync::oneshot::channel();
    let holding = async {
        let mut started_tx = Some(started_tx);
        runner
            .run(
                &holder,
                RunOptions {
                    output_file: None,
                    cancel: Some(cancel),
                },
                &mut |event| {
                    if matches!(event, Progress::Output { .. })
                        && let Some(tx) = started_tx.take()
                    {
                        let _ = tx.send(());
                    }
                },
            )
            .await
    };
    let waiting = async {
        started_rx.await.unwrap();
        let result = run_collecting(&runner, &waiter, RunOptions::default()).await;
        canceller.cancel();
        result
    };
    let (held, (waited, events)) = tokio::join!(holding, waiting);
    let error = waited.unwrap_err();
    assert!(matches!(error, RunError::LockTimeout { .. }), "{error}");
    assert!(
        error.to_string().starts_with("`service-restart` waited 3"),
        "{error}"
    );
    assert!(error.to_string().ends_with(
        "for `unit:nginx`, held by another run, and gave up; try again when that run has finished"
    ));
    assert_eq!(
        events,
        [Progress::WaitingForLock {
            key: "unit:nginx".into()
        }]
    );
    assert!(!marker.exists(), "the waiting run never started");
    let held = held.unwrap();
    assert!(held.cancelled && !held.timed_out && !held.succeeded());
    assert_eq!(
        held.exit,
        Exit::Signal {
            number: 15,
            name: "SIGTERM".into()
        }
    );
    assert!(
        held.summary().starts_with("cancelled after"),
        "{}",
        held.summary()
    );
}

#[tokio::test]
async fn a_cancel_while_waiting_for_the_lock_runs_nothing() {
    let runner = runner();
    let holder = sh("sleep 600", LONG).with_lock("db:app");
    let (stop_holder, holder_cancel) = cancel_pair();
    let (stop_waiter, waiter_cancel) = cancel_pair();
    let waiter = sh("echo should not run", LONG).with_lock("db:app");
    let holding = run_collecting(
        &runner,
        &holder,
        RunOptions {
            output_file: None,
            cancel: Some(holder_cancel),
        },
    );
    let waiting = async {
        let mut events = Vec::new();
        let result = runner
            .run(
                &waiter,
                RunOptions {
                    output_file: None,
                    cancel: Some(waiter_cancel),
                },
                &mut |event| {
                    if matches!(event, Progress::WaitingForLock { .. }) {
                        stop_waiter.cancel();
                    }
                    events.push(event);
                },
            )
            .await;
        stop_holder.cancel();
        (result, events)
    };
    let ((held, _), (waited, events)) = tokio::join!(holding, waiting);
    assert!(held.unwrap().cancelled);
    assert_eq!(
        waited.unwrap_err().to_string(),
        "`test` was cancelled while it waited for `db:app`; nothing ran"
    );
    assert_eq!(events.len(), 1, "{events:?}");
}

#[tokio::test]
async fn output_is_streamed_while_the_process_runs() {
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    // The program prints, then waits for a file that the test creates only when the first
    // line has reached it: it finishes in time only if output streams before the exit.
    let script = format!(
        "echo ready; i=0; while [ ! -e {go} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; [ -e {go} ] && echo done",
        go = go.display()
    );
    let mut seen = Vec::new();
    let outcome = runner()
        .run(&sh(&script, LONG), RunOptions::default(), &mut |event| {
            if let Progress::Output {
                text, total_bytes, ..
            } = &event
            {
                if text == "ready\n" {
                    std::fs::write(&go, "").unwrap();
                }
                seen.push((text.clone(), *total_bytes));
            }
        })
        .await
        .unwrap();
    assert!(outcome.succeeded(), "{outcome:?}");
    assert_eq!(seen, [("ready\n".to_owned(), 6), ("done\n".to_owned(), 11)]);
}
