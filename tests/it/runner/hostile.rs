//! The hostile-input suite: well over a hundred values meant to break out of an argument,
//! each given to realistic parameters. Every one is either refused with a clear message (and
//! nothing runs) or arrives at the program as exactly one literal argv element.

use std::collections::BTreeMap;

use warroom::runner::{BindError, MAX_VALUE_BYTES, RunOptions, parse_args};

use super::{PYTHON, catalog_dir, load, print_argv_script, runner, values};

/// Values that try to be more than one argument, a command, an option, another file, or to
/// read differently than they are.
pub(crate) fn hostile_values() -> Vec<String> {
    let mut found: Vec<String> = [
        // shell metacharacters and command substitution
        ";",
        "a;b",
        "nginx.service; rm -rf /",
        "a|b",
        "| cat /etc/passwd",
        "a&b",
        "a && id",
        "a || id",
        "&",
        "$HOME",
        "${HOME}",
        "$(id)",
        "$(rm -rf /)",
        "`id`",
        "a`id`b",
        "a>b",
        "> /etc/passwd",
        "a<b",
        "< /etc/shadow",
        "a>>b",
        "2>&1",
        "*",
        "a*",
        "?",
        "[a-z]",
        "{a,b}",
        "~",
        "~root",
        "!",
        "!!",
        "#comment",
        "a#b",
        "'",
        "\"",
        "'quoted'",
        "\"double\"",
        "\\",
        "a\\b",
        "\\n",
        "%s%s%s%n",
        "a b",
        " leading",
        "trailing ",
        "  ",
        "${IFS}",
        "IFS=x",
        "$((1+1))",
        "<(id)",
        ">(id)",
        "$'\\x41'",
        "\\$(id)",
        // newlines, carriage returns, tabs, NUL and other control characters
        "\n",
        "a\nb",
        "a\r\nb",
        "\r",
        "nginx.service\nrm -rf /",
        "\t",
        "a\tb",
        "\0",
        "a\0b",
        "nginx.service\0--force",
        "\u{7}",
        "\u{1b}[31mred",
        "\u{7f}",
        "\u{85}",
        // option injection
        "-",
        "--",
        "-rf",
        "--help",
        "--output=/etc/passwd",
        "-o/etc/passwd",
        "--dbname=postgres",
        "-c",
        "--exec=id",
        "-e",
        "-1",
        "--",
        "—help",
        "−1",
        // path traversal and other files
        "../../etc/passwd",
        "..",
        "../",
        "/etc/passwd",
        "./x",
        "..%2f..%2fetc%2fpasswd",
        "....//....//etc/passwd",
        "app.dump/../../etc/passwd",
        "..\\..\\windows",
        "/dev/sda",
        "~/.ssh/id_rsa",
        "/etc/*",
        "app.dump\0.txt",
        // Unicode look-alikes, invisible and direction-changing characters
        "；id",
        "ｎｇｉｎｘ.service",
        "nginх.service",
        "nginx.serviсe",
        "раураl",
        "nginx.service\u{202e}ecivres",
        "\u{202e}",
        "\u{200b}",
        "nginx\u{200d}.service",
        "\u{feff}nginx.service",
        "\u{2028}",
        "\u{2066}x\u{2069}",
        "ǹginx",
        "１２",
        "٣",
        "e\u{301}",
        "😀",
        "\u{fffd}",
        "\u{e0041}",
        // invisible by class: default-ignorable, variation selectors, fillers, blanks,
        // spaces that are not the plain space, private use, unassigned
        "nginx\u{34f}.service",
        "nginx.service\u{fe0f}",
        "\u{115f}",
        "nginx\u{1160}.service",
        "\u{2800}",
        "a\u{2800}b",
        "\u{3164}",
        "\u{ffa0}x",
        "x\u{180b}",
        "x\u{17b4}",
        "\u{61c}1",
        "a\u{2061}b",
        "nginx.service\u{e0100}",
        "a\u{a0}b",
        "a\u{2003}b",
        "a\u{3000}b",
        "\u{2029}",
        "\u{f8ff}",
        "\u{378}",
        "❤\u{fe0f}",
        // numbers that are not quite
        "0",
        "1",
        "500",
        "501",
        "+5",
        "007",
        "1e3",
        "0x10",
        "1_000",
        "9223372036854775808",
        "1.5",
        " 5",
        "5 ",
        // SQL, templates, encodings
        "'; DROP TABLE users; --",
        "1 OR 1=1",
        "{unit}",
        "{{unit}}",
        "%00",
        "%0a",
        "&#59;",
        // plausible values
        "nginx.service",
        "postgresql.service",
        "app-2026-11-22.dump",
        ".dump",
        "a.dump",
        "x.dump;id",
        "",
    ]
    .iter()
    .map(|value| (*value).to_owned())
    .collect();
    found.push("a".repeat(10_000));
    found.push("a".repeat(MAX_VALUE_BYTES + 1));
    found.push("é".repeat(600));
    found.push("nginx.service".repeat(100));
    found.push(format!("{}\n", "x".repeat(50)));
    found
}

/// One command per kind of parameter, each routing its value to the argv printer.
fn catalog_files(log: &std::path::Path) -> Vec<(String, String)> {
    let script = print_argv_script();
    let params = [
        (
            "pick",
            "kind = \"enum\"\nvalues = [\"nginx.service\", \"postgresql.service\"]",
        ),
        (
            "strict",
            "kind = \"string\"\npattern = '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}\\.dump$'",
        ),
        ("count", "kind = \"int\"\nmin = 1\nmax = 500"),
        ("note", "kind = \"string\"\npattern = '^.{1,1000}$'"),
        (
            "flag",
            "kind = \"string\"\npattern = '^.{1,1000}$'\nallow_leading_dash = true",
        ),
    ];
    params
        .iter()
        .map(|(name, rules)| {
            let text = format!(
                "name = \"{name}\"\n\
                 description = \"Print a {name} value\"\n\
                 program = \"{PYTHON}\"\n\
                 args = [\"-I\", \"{script}\", \"{{value}}\"]\n\
                 allowed_roles = [\"responder\"]\n\
                 risk = \"read_only\"\n\
                 timeout = \"30s\"\n\
                 env = {{ ARGV_LOG = \"{log}\" }}\n\n\
                 [params.value]\n{rules}\n",
                script = script.display(),
                log = log.display()
            );
            (format!("{name}.toml"), text)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_values_are_refused_clearly_or_arrive_as_one_literal_element() {
    let values_to_try = hostile_values();
    assert!(values_to_try.len() >= 100, "{}", values_to_try.len());
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("argv.log");
    let files = catalog_files(&log);
    let file_refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(name, text)| (name.as_str(), text.as_str()))
        .collect();
    let dir = catalog_dir(&file_refs);
    let catalog = load(dir.path()).unwrap();
    let runner = runner();

    let mut accepted: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut refused: BTreeMap<(&str, String), String> = BTreeMap::new();
    let mut runs = 0;
    for name in ["pick", "strict", "count", "note", "flag"] {
        let spec = catalog.get(name).unwrap();
        for value in &values_to_try {
            // The chat path: quoted, read back by the tokenizer, exactly.
            let quoted = format!(
                "value=\"{}\"",
                value.replace('\\', "\\\\").replace('"', "\\\"")
            );
            match parse_args(&quoted) {
                Ok(parsed) => assert_eq!(parsed, values(&[("value", value)]), "{value:?}"),
                Err(BindError::Syntax(message)) => {
                    assert!(
                        quoted.len() > warroom::runner::MAX_ARGS_TEXT_BYTES,
                        "{message}"
                    );
                }
                Err(other) => panic!("{other}"),
            }
            match spec.bind(&values(&[("value", value)]), false) {
                Ok(invocation) => {
                    let expected = match name {
                        "count" => value.parse::<i64>().unwrap().to_string(),
                        _ => value.clone(),
                    };
                    assert_eq!(invocation.args().last(), Some(&expected));
                    let outcome = runner
                        .run(&invocation, RunOptions::default(), &mut |_| {})
                        .await
                        .unwrap();
                    assert!(outcome.succeeded(), "{value:?}: {outcome:?}");
                    runs += 1;
                    let logged = std::fs::read_to_string(&log).unwrap();
                    let last = logged.lines().last().unwrap();
                    let argv: Vec<String> = serde_json::from_str(last).unwrap();
                    assert_eq!(argv, std::slice::from_ref(&expected), "{name} {value:?}");
                    accepted.entry(name).or_default().push(expected);
                }
                Err(error) => {
                    let message = error.to_string();
                    assert!(
                        message.starts_with(&format!(
                            "`{name}` cannot run with these arguments:\n- value: "
                        )),
                        "{message}"
                    );
                    assert!(!message.ends_with('.'), "{message}");
                    assert_eq!(
                        message.lines().count(),
                        2,
                        "one line per problem: {message}"
                    );
                    assert!(
                        !message.chars().any(|c| (c.is_control() && c != '\n')
                            || ('\u{202a}'..='\u{202e}').contains(&c)
                            || c == '\u{200b}'),
                        "the message repeats no raw control or invisible character: {message:?}"
                    );
                    assert!(message.chars().count() < 400, "{message}");
                    refused.insert((name, value.clone()), message);
                }
            }
        }
    }

    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(
        logged.lines().count(),
        runs,
        "a process ran for every accepted value and for no refused one"
    );
    assert_eq!(accepted["pick"], ["nginx.service", "postgresql.service"]);
    assert_eq!(accepted["strict"], ["app-2026-11-22.dump", "a.dump"]);
    assert_eq!(
        accepted["count"],
        ["1", "500", "5", "7"],
        "+5 and 007 pass normalized"
    );
    let note = &accepted["note"];
    for literal in [
        "$(id)",
        "a;b",
        "`id`",
        "../../etc/passwd",
        "；id",
        "nginх.service",
        "'; DROP TABLE users; --",
        " leading",
    ] {
        assert!(
            note.contains(&literal.to_owned()),
            "{literal} should pass as text"
        );
    }
    assert!(accepted["flag"].contains(&"--output=/etc/passwd".to_owned()));

    let reason = |name: &str, value: &str| refused[&(name, value.to_owned())].clone();
    assert!(
        reason("note", "a\nb")
            .ends_with("contains the control character U+000A; a value is one line of plain text")
    );
    assert!(
        reason("note", "a\0b")
            .ends_with("contains the control character U+0000; a value is one line of plain text")
    );
    assert!(reason("note", "--help").ends_with("\"--help\" starts with `-`, which the program could read as an option; values of this parameter may not start with `-`"));
    assert!(
        reason("note", &"a".repeat(10_000))
            .ends_with("is 10000 bytes long; at most 1024 are accepted")
    );
    assert!(reason("note", "").ends_with("is empty; give text matching ^.{1,1000}$"));
    assert!(reason("note", "nginx.service\u{202e}ecivres").ends_with("contains the invisible character U+202E (a format character), which can make text read differently than it is; type the value plainly"));
    assert!(
        reason("pick", "nginх.service")
            .ends_with("\"nginх.service\" is not one of nginx.service, postgresql.service")
    );
    assert!(reason("strict", "../../etc/passwd").ends_with(
        "\"../../etc/passwd\" does not match ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,120}\\.dump$"
    ));
    assert!(reason("count", "１２").ends_with("\"１２\" is not a whole number"));
    assert!(reason("count", "501").ends_with("501 is not from 1 to 500"));
    assert!(reason("count", "-1").contains("starts with `-`"));
    for (value, class) in [
        (
            "nginx\u{34f}.service",
            "U+034F (a default-ignorable character)",
        ),
        ("nginx.service\u{fe0f}", "U+FE0F (a variation selector)"),
        ("\u{115f}", "U+115F (a Hangul filler)"),
        ("\u{2800}", "U+2800 (the braille blank)"),
        ("a\u{a0}b", "U+00A0 (a space that is not the plain space)"),
        ("\u{2029}", "U+2029 (a line or paragraph separator)"),
        ("\u{f8ff}", "U+F8FF (a private-use character)"),
        ("\u{378}", "U+0378 (an unassigned code point)"),
        ("\u{61c}1", "U+061C (a format character)"),
    ] {
        assert!(
            reason("note", value).ends_with(&format!(
                "contains the invisible character {class}, which can make text read differently than it is; type the value plainly"
            )),
            "{value:?}: {}",
            reason("note", value)
        );
    }
}

/// Quotes `value` for the chat tokenizer: `"..."` with `\` and `"` escaped.
fn quoted(value: &str) -> String {
    format!(
        "value=\"{}\"",
        value.replace('\\', "\\\\").replace('"', "\\\"")
    )
}

mod properties {
    use proptest::prelude::*;
    use warroom::runner::{BindError, Catalog, MAX_ARGS_TEXT_BYTES, parse_args};

    use super::{catalog_files, quoted};
    use crate::runner::{catalog_dir, load, values};

    /// The hostile suite's catalog, loaded once for all cases (binding reads no files).
    fn catalog() -> &'static Catalog {
        static CATALOG: std::sync::OnceLock<Catalog> = std::sync::OnceLock::new();
        CATALOG.get_or_init(|| {
            let work = tempfile::tempdir().unwrap();
            let files = catalog_files(&work.path().join("argv.log"));
            let refs: Vec<(&str, &str)> = files
                .iter()
                .map(|(name, text)| (name.as_str(), text.as_str()))
                .collect();
            let dir = catalog_dir(&refs);
            load(dir.path()).unwrap()
        })
    }

    /// Strings of any characters, with the ones that break out of arguments (quotes,
    /// backslashes, spaces, newlines, controls, invisibles) far more likely than chance.
    fn hostile_string() -> impl Strategy<Value = String> {
        let nasty = prop::sample::select(vec![
            '"', '\'', '\\', ' ', '\n', '\r', '\t', '\0', '$', '`', ';', '|', '&', '-', '=', '{',
            '}', '*', '\u{202e}', '\u{200b}', '\u{fe0f}', '\u{34f}', '\u{a0}', '\u{2800}', '“',
            '”', '‘', '’', 'é', '😀',
        ]);
        let char = prop_oneof![3 => any::<char>(), 2 => nasty, 3 => prop::char::range('a', 'z')];
        prop::collection::vec(char, 0..80).prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// For any string, quoted as the chat path quotes it: the tokenizer reads it back
        /// exactly, and binding either refuses it or puts it in argv as exactly one
        /// element, equal to it, with every other element as the catalog wrote it.
        #[test]
        fn a_value_is_refused_or_becomes_exactly_one_argv_element(value in hostile_string()) {
            let catalog = catalog();
            let text = quoted(&value);
            match parse_args(&text) {
                Ok(parsed) => prop_assert_eq!(parsed, values(&[("value", &value)])),
                Err(BindError::Syntax(message)) => {
                    prop_assert!(text.len() > MAX_ARGS_TEXT_BYTES, "{}", message);
                    return Ok(());
                }
                Err(other) => prop_assert!(false, "{}", other),
            }
            for name in ["pick", "strict", "note", "flag"] {
                let spec = catalog.get(name).unwrap();
                match spec.bind(&values(&[("value", &value)]), false) {
                    Ok(invocation) => {
                        let args = invocation.args();
                        prop_assert_eq!(args.len(), 3, "{} {:?}", name, args);
                        prop_assert_eq!(&args[0], "-I");
                        prop_assert!(args[1].ends_with("print_argv.py"));
                        prop_assert_eq!(&args[2], &value);
                        // What is stored binds again to the same.
                        let again = spec.bind(invocation.values(), false).unwrap();
                        prop_assert_eq!(again.fingerprint(), invocation.fingerprint());
                    }
                    Err(BindError::Rejected { problems, .. }) => {
                        prop_assert_eq!(problems.len(), 1);
                        prop_assert_eq!(&problems[0].param, "value");
                    }
                    Err(other) => prop_assert!(false, "{}", other),
                }
            }
        }

        /// Arbitrary `key=value …` text never binds to more or fewer argv elements than
        /// the command's templates, whatever it holds.
        #[test]
        fn arbitrary_argument_text_never_changes_the_number_of_arguments(text in hostile_string()) {
            let catalog = catalog();
            let spec = catalog.get("note").unwrap();
            let Ok(parsed) = parse_args(&format!("value={text}")) else {
                return Ok(());
            };
            if let Ok(invocation) = spec.bind(&parsed, false) {
                prop_assert_eq!(invocation.args().len(), 3);
                prop_assert_eq!(&invocation.args()[2], &parsed["value"]);
            }
        }
    }
}
