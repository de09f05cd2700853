//! The catalog's rules as data and the judgements over them: which programs may never be a
//! command (shells, launchers), which options of interpreters and tools run code or another
//! command, and how a program is recognised (by name, by what a symlink resolves to, by device
//! and inode for a hard link).

use std::path::{Path, PathBuf};

use super::catalog::MAX_NAME_CHARS;
use super::template::{Piece, Template};

/// Shells: given any argument, they run it as a program. There is no shell, ever.
pub const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "fish",
    "ksh",
    "mksh",
    "pdksh",
    "oksh",
    "csh",
    "tcsh",
    "ash",
    "rbash",
    "yash",
    "busybox",
    "toybox",
    "elvish",
    "nu",
    "xonsh",
    "pwsh",
    "powershell",
    "cmd",
];

/// Programs whose job is to run another program named in their arguments, so an argument
/// would become a command (or would run as someone else).
pub const COMMAND_LAUNCHERS: &[&str] = &[
    "env",
    "sudo",
    "doas",
    "su",
    "runuser",
    "pkexec",
    "setpriv",
    "sg",
    "newgrp",
    "gosu",
    "su-exec",
    "chpst",
    "xargs",
    "parallel",
    "nohup",
    "timeout",
    "nice",
    "ionice",
    "chrt",
    "taskset",
    "setsid",
    "stdbuf",
    "unbuffer",
    "time",
    "watch",
    "flock",
    "chroot",
    "nsenter",
    "unshare",
    "firejail",
    "bwrap",
    "capsh",
    "systemd-run",
    "start-stop-daemon",
    "strace",
    "ltrace",
    "gdb",
    "valgrind",
    "script",
    "expect",
    "screen",
    "tmux",
    "ssh",
    "rsh",
    "at",
    "batch",
    "exec",
    "eval",
    "command",
    "builtin",
    "faketime",
    "torsocks",
    "proxychains",
];

/// Interpreters (by program name without version digits) and their options whose value is
/// code to run or to load (`-m` names a module to run): a placeholder there would let a value
/// become a program.
pub const INTERPRETER_CODE_OPTIONS: &[(&str, &[&str])] = &[
    ("python", &["-c", "-m"]),
    ("pypy", &["-c", "-m"]),
    ("perl", &["-e", "-E", "-M", "-m"]),
    ("ruby", &["-e", "-r"]),
    (
        "node",
        &[
            "-e",
            "--eval",
            "-p",
            "--print",
            "-r",
            "--require",
            "--import",
        ],
    ),
    (
        "nodejs",
        &[
            "-e",
            "--eval",
            "-p",
            "--print",
            "-r",
            "--require",
            "--import",
        ],
    ),
    ("deno", &["eval"]),
    ("php", &["-r"]),
    ("lua", &["-e", "-l"]),
    ("luajit", &["-e", "-l"]),
    ("julia", &["-e", "--eval", "-E", "--print"]),
    ("rscript", &["-e"]),
    ("osascript", &["-e"]),
    ("tclsh", &["-c"]),
    ("psql", &["-c", "--command", "-f", "--file"]),
    ("sqlite", &["-cmd", "-init"]),
    ("redis-cli", &["eval"]),
    // awk's program text or program files; gawk loads extensions with -l.
    (
        "awk",
        &[
            "-f",
            "--file",
            "-e",
            "--source",
            "-i",
            "--include",
            "-l",
            "--load",
            "-E",
            "--exec",
        ],
    ),
    (
        "gawk",
        &[
            "-f",
            "--file",
            "-e",
            "--source",
            "-i",
            "--include",
            "-l",
            "--load",
            "-E",
            "--exec",
        ],
    ),
    ("mawk", &["-f", "-e", "--source"]),
    ("nawk", &["-f", "-e"]),
    ("busybox-awk", &["-f", "-e"]),
    // sed scripts run commands (GNU sed's `e`) and write files (`w`).
    ("sed", &["-e", "--expression", "-f", "--file"]),
    // SQL, statements run at connect, plugins and option files that set them.
    (
        "mysql",
        &[
            "-e",
            "--execute",
            "--init-command",
            "--init-command-add",
            "--plugin-dir",
            "--default-auth",
            "--defaults-file",
            "--defaults-extra-file",
        ],
    ),
    (
        "mariadb",
        &[
            "-e",
            "--execute",
            "--init-command",
            "--init-command-add",
            "--plugin-dir",
            "--default-auth",
            "--defaults-file",
            "--defaults-extra-file",
        ],
    ),
    // git: a config value can name a command (core.pager, core.sshCommand, an alias with
    // !); upload-pack and receive-pack name programs; a chosen repository brings its own
    // config and hooks.
    (
        "git",
        &[
            "-c",
            "--config-env",
            "--upload-pack",
            "-u",
            "--receive-pack",
            "--exec",
            "--exec-path",
            "-C",
            "--git-dir",
            "--work-tree",
        ],
    ),
    // The remote shell and the remote rsync are commands; ssh options include ProxyCommand.
    ("rsync", &["-e", "--rsh", "--rsync-path"]),
    ("scp", &["-S", "-o", "-F"]),
    ("sftp", &["-S", "-o", "-F", "-D"]),
    // Editors run their -c commands; make runs makefiles and --eval.
    ("vim", &["-c", "--cmd", "-S", "-u"]),
    ("vi", &["-c", "--cmd", "-S", "-u"]),
    ("nvim", &["-c", "--cmd", "-S", "-u"]),
    (
        "make",
        &[
            "-f",
            "--file",
            "--makefile",
            "-C",
            "--directory",
            "--eval",
            "-I",
            "--include-dir",
        ],
    ),
];

/// Options that make a program run another command (most through `sh -c`): refused in any
/// form, literal or with a value, since they make the program a command launcher. A command
/// that must run another program is a catalog entry of its own.
pub const COMMAND_RUNNING_OPTIONS: &[(&str, &[&str])] = &[
    ("find", &["-exec", "-execdir", "-ok", "-okdir"]),
    (
        "tar",
        &[
            "--to-command",
            "--use-compress-program",
            "-I",
            "--checkpoint-action",
            "--info-script",
            "--new-volume-script",
            "-F",
            "--rsh-command",
            "--rmt-command",
        ],
    ),
    ("mysql", &["--pager"]),
    ("mariadb", &["--pager"]),
    ("sort", &["--compress-program"]),
    ("zip", &["-TT", "--unzip-command"]),
];

/// Programs whose first operand is their program text, unless an option gives it (the
/// second list): a placeholder before or as that operand would let a value become code.
pub const SCRIPT_OPERAND_PROGRAMS: &[(&str, &[&str])] = &[
    ("awk", &["-f", "--file", "-e", "--source", "-E", "--exec"]),
    ("gawk", &["-f", "--file", "-e", "--source", "-E", "--exec"]),
    ("mawk", &["-f", "-e", "--source"]),
    ("nawk", &["-f", "-e"]),
    ("sed", &["-e", "--expression", "-f", "--file"]),
];

/// Options of those programs whose value is data (a variable, a separator), skipped when
/// looking for the program text: `awk -v name={value} '{print name}'` is how a value
/// reaches an awk program safely.
pub(super) const DATA_OPTIONS: &[(&str, &[&str])] = &[
    ("awk", &["-v", "--assign", "-F", "--field-separator"]),
    ("gawk", &["-v", "--assign", "-F", "--field-separator"]),
    ("mawk", &["-v", "-F"]),
    ("nawk", &["-v", "-F"]),
    ("sed", &["-l", "--line-length"]),
];

/// Folders where the shells, launchers and interpreters of a host live, to recognise one by
/// its inode when a catalog names it through a hard link or a copy's path.
pub(super) const SYSTEM_PROGRAM_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
    "/usr/local/bin",
    "/usr/local/sbin",
];

/// Interpreters whose first argument that is not an option names the program file to run:
/// a placeholder before that file would let a value choose the code.
pub const SCRIPT_INTERPRETERS: &[&str] = &[
    "python",
    "pypy",
    "perl",
    "ruby",
    "node",
    "nodejs",
    "php",
    "lua",
    "luajit",
    "julia",
    "rscript",
    "tclsh",
    "osascript",
];

/// Variables that make the dynamic loader run other code in the child.
pub(super) const LOADER_VARIABLE_PREFIXES: &[&str] = &["LD_", "DYLD_"];

pub(super) fn is_command_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.len() <= MAX_NAME_CHARS
}

/// The program's name without directory, case or version digits: `/usr/bin/python3.11`
/// gives `python`, `/bin/bash5` gives `bash`.
pub(super) fn program_family(program: &Path) -> String {
    let base = program
        .file_name()
        .map(|name| name.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.' || c == '-')
        .to_owned()
}

/// Why `program` may not be a catalog program, if it may not.
pub(super) fn forbidden_program(program: &Path) -> Option<String> {
    let family = program_family(program);
    let shown = program.display();
    if SHELLS.contains(&family.as_str()) {
        Some(format!(
            "`{shown}` is a shell, and there is no shell, ever: name the program itself and give its arguments in args"
        ))
    } else if COMMAND_LAUNCHERS.contains(&family.as_str()) {
        Some(format!(
            "`{shown}` is a command launcher: it runs whatever its arguments name; name the program itself and give its arguments in args"
        ))
    } else {
        None
    }
}

/// The interpreter's name and its code-taking options, when `family` is one.
pub(super) fn interpreter_code_options(family: &str) -> Option<(String, &'static [&'static str])> {
    INTERPRETER_CODE_OPTIONS
        .iter()
        .find(|(name, _)| *name == family)
        .map(|(_, options)| (family.to_owned(), *options))
}

pub(super) fn listed(
    table: &'static [(&'static str, &'static [&'static str])],
    family: &str,
) -> Option<&'static [&'static str]> {
    table
        .iter()
        .find(|(name, _)| *name == family)
        .map(|(_, options)| *options)
}

/// Every option of `family` that runs code or a command, if it has any.
pub(super) fn code_running_options(family: &str) -> Option<Vec<&'static str>> {
    let mut options: Vec<&str> = Vec::new();
    for table in [INTERPRETER_CODE_OPTIONS, COMMAND_RUNNING_OPTIONS] {
        options.extend(listed(table, family).into_iter().flatten());
    }
    options.dedup();
    (!options.is_empty()).then_some(options)
}

/// Whether `family` is one the catalog rules know by name.
pub(super) fn is_known_family(family: &str) -> bool {
    SHELLS.contains(&family)
        || COMMAND_LAUNCHERS.contains(&family)
        || SCRIPT_INTERPRETERS.contains(&family)
        || [
            INTERPRETER_CODE_OPTIONS,
            COMMAND_RUNNING_OPTIONS,
            SCRIPT_OPERAND_PROGRAMS,
        ]
        .iter()
        .any(|table| listed(table, family).is_some())
}

/// What `program` really is, by family: its own name when that is a known one, else the
/// name of the file it resolves to (a symlink), else the name of the system program with
/// the same device and inode (a hard link), else its own name.
pub(super) fn identity(program: &Path) -> String {
    let own = program_family(program);
    if is_known_family(&own) {
        return own;
    }
    if let Ok(resolved) = program.canonicalize() {
        let family = program_family(&resolved);
        if is_known_family(&family) {
            return family;
        }
    }
    if let Some(known) = same_file_as_known(program) {
        return program_family(&known);
    }
    own
}

/// The system program (shell, launcher, interpreter ...) that `program` is the same file
/// as, by device and inode, when it is one under another name (a hard link).
pub(super) fn same_file_as_known(program: &Path) -> Option<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let target = std::fs::metadata(program).ok()?;
    known_programs()
        .iter()
        .find(|(dev, ino, _)| *dev == target.dev() && *ino == target.ino())
        .map(|(_, _, path)| path.clone())
}

/// Device, inode and path of every shell, launcher and interpreter in the system folders,
/// read once per process (they are installed with the system, not while warroom runs).
/// Symlinks are skipped: what they point to is found under its own name (and a multi-call
/// wrapper such as Debian's pg_wrapper, behind both psql and pg_dump, is neither).
pub(super) fn known_programs() -> &'static [(u64, u64, PathBuf)] {
    use std::os::unix::fs::MetadataExt;
    static KNOWN: std::sync::OnceLock<Vec<(u64, u64, PathBuf)>> = std::sync::OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known = Vec::new();
        for dir in SYSTEM_PROGRAM_DIRS {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if !is_known_family(&program_family(&path)) {
                    continue;
                }
                if let Ok(meta) = std::fs::symlink_metadata(&path)
                    && meta.file_type().is_file()
                {
                    known.push((meta.dev(), meta.ino(), path));
                }
            }
        }
        known
    })
}

/// For awk and sed: the index of a placeholder that comes before (or is) the program
/// text, when no literal option names the program instead.
pub(super) fn placeholder_as_program_text(family: &str, templates: &[Template]) -> Option<usize> {
    let script_options = listed(SCRIPT_OPERAND_PROGRAMS, family)?;
    let data_options = listed(DATA_OPTIONS, family).unwrap_or(&[]);
    let names_program = templates.iter().any(|template| {
        !template.has_placeholders()
            && (takes_code(template, script_options)
                || script_options.iter().any(|option| {
                    option.starts_with("--") && template.source().starts_with(&format!("{option}="))
                }))
    });
    if names_program {
        return None;
    }
    let mut skip_value = false;
    let mut after_dashes = false;
    for (index, template) in templates.iter().enumerate() {
        if skip_value {
            skip_value = false;
            continue;
        }
        if template.has_placeholders() {
            return Some(index);
        }
        let text = template.source();
        if after_dashes || !text.starts_with('-') || text == "-" {
            return None;
        }
        if text == "--" {
            after_dashes = true;
        } else if data_options.contains(&text) {
            skip_value = true;
        }
    }
    None
}

/// Why the element at `index` makes `family` run another command, if it does.
pub(super) fn runs_a_command(family: &str, index: usize, template: &Template) -> Option<String> {
    let options = listed(COMMAND_RUNNING_OPTIONS, family)?;
    let prefix = match template.pieces().first() {
        Some(Piece::Literal(text)) => text.as_str(),
        _ => "",
    };
    // tar reads a first argument without a dash as option letters (`tar xzf`).
    if family == "tar" && index == 0 && !prefix.starts_with('-') {
        if template.has_placeholders() {
            return Some(format!(
                "`{}` is tar's first argument, which tar reads as option letters, so a value there could become an option that runs a command; write the letters literally, e.g. -xzf",
                template.source()
            ));
        }
        let letters: Vec<char> = options
            .iter()
            .filter_map(|option| short_option(option))
            .collect();
        if let Some(letter) = prefix.chars().find(|c| letters.contains(c)) {
            return Some(launcher_option(template, family, &format!("-{letter}")));
        }
        return None;
    }
    let found = options.iter().find(|option| {
        if option.starts_with("--") {
            prefix == **option || prefix.starts_with(&format!("{option}="))
        } else if let Some(letter) = short_option(option) {
            prefix.starts_with('-')
                && !prefix.starts_with("--")
                && prefix[1..]
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .is_some_and(|cluster| cluster.contains(letter))
        } else {
            prefix == **option
        }
    })?;
    Some(launcher_option(template, family, found))
}

pub(super) fn launcher_option(template: &Template, family: &str, option: &str) -> String {
    format!(
        "`{}` makes {family} run another command ({option}), some through a shell, which makes {family} a command launcher; give that command its own catalog entry instead",
        template.source()
    )
}

/// The index of a placeholder that comes before the first literal non-option element (the
/// script an interpreter would run), if one does.
pub(super) fn placeholder_before_script(templates: &[Template]) -> Option<usize> {
    for (index, template) in templates.iter().enumerate() {
        if template.has_placeholders() {
            return Some(index);
        }
        if !template.source().starts_with('-') {
            return None;
        }
    }
    None
}

/// Whether a literal element ends with a code option, so the next element is code:
/// `-c`, `--command`, or a cluster of short options ending in one (`-Ic`, `-ne`).
pub(super) fn takes_code(template: &Template, options: &[&str]) -> bool {
    if template.has_placeholders() {
        return false;
    }
    let text = template.source();
    options.iter().any(|option| {
        text == *option
            || short_option(option).is_some_and(|letter| {
                text.starts_with('-')
                    && !text.starts_with("--")
                    && text.ends_with(letter)
                    && text[1..].chars().all(|c| c.is_ascii_alphabetic())
            })
    })
}

/// Whether an element with a placeholder joins it to a code option: `-c{code}`,
/// `-Ic{code}`, `--command={code}`.
pub(super) fn joined_code_option(template: &Template, options: &[&str]) -> bool {
    let Some(Piece::Literal(prefix)) = template.pieces().first() else {
        return false;
    };
    options.iter().any(|option| {
        if option.starts_with("--") {
            prefix.starts_with(&format!("{option}="))
        } else if let Some(letter) = short_option(option) {
            prefix.starts_with('-')
                && !prefix.starts_with("--")
                && prefix[1..]
                    .split(|c: char| !c.is_ascii_alphabetic())
                    .next()
                    .is_some_and(|cluster| cluster.contains(letter))
        } else {
            prefix == option
        }
    })
}

/// `c` for `-c`; `None` for long options and subcommands.
pub(super) fn short_option(option: &str) -> Option<char> {
    let mut chars = option.chars();
    match (chars.next(), chars.next(), chars.next()) {
        (Some('-'), Some(letter), None) if letter != '-' => Some(letter),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_digits_do_not_hide_a_shell_or_interpreter() {
        assert_eq!(program_family(Path::new("/usr/bin/python3.11")), "python");
        assert_eq!(program_family(Path::new("/bin/bash5")), "bash");
        assert_eq!(program_family(Path::new("/usr/bin/pg_dump")), "pg_dump");
        assert!(forbidden_program(Path::new("/usr/local/bin/zsh-5.9")).is_some());
        assert!(forbidden_program(Path::new("/usr/bin/systemctl")).is_none());
    }

    #[test]
    fn code_options_are_found_alone_clustered_and_joined() {
        let t = |text: &str| Template::parse(text).unwrap();
        let python = &["-c"][..];
        assert!(takes_code(&t("-c"), python));
        assert!(takes_code(&t("-Ic"), python));
        assert!(!takes_code(&t("-m"), python));
        assert!(!takes_code(&t("--c"), python));
        assert!(joined_code_option(&t("-c{x}"), python));
        assert!(joined_code_option(&t("-Ic{x}"), python));
        assert!(!joined_code_option(&t("--count={x}"), python));
        let psql = &["-c", "--command"][..];
        assert!(joined_code_option(&t("--command={sql}"), psql));
        assert!(!joined_code_option(&t("--dbname={db}"), psql));
    }
}
