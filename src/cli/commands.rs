//! `warroom commands list|show`: the approved recovery commands of the catalog.

use std::io::Write;

use clap::Subcommand;

use crate::runner::{Catalog, CommandSpec, EnvValue, ParamKind, Template};

#[derive(Debug, Subcommand)]
pub enum CommandsCommand {
    /// List every approved command
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one command: what it runs, its parameters, who may run and approve it
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn execute(
    catalog: &Catalog,
    command: CommandsCommand,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        CommandsCommand::List { json } => {
            if json {
                let all: Vec<serde_json::Value> =
                    catalog.iter().map(|spec| spec.to_json()).collect();
                serde_json::to_writer_pretty(&mut *out, &all)?;
                writeln!(out)?;
                return Ok(());
            }
            if catalog.is_empty() {
                writeln!(out, "no approved commands in {}", catalog.dir().display())?;
                return Ok(());
            }
            writeln!(
                out,
                "{:<20} {:<12} {:<22} DESCRIPTION",
                "NAME", "RISK", "ROLES"
            )?;
            for spec in catalog.iter() {
                writeln!(
                    out,
                    "{:<20} {:<12} {:<22} {}",
                    spec.name(),
                    spec.risk().as_str(),
                    spec.allowed_roles().join(","),
                    spec.description()
                )?;
            }
        }
        CommandsCommand::Show { name, json } => {
            let Some(spec) = catalog.get(&name) else {
                anyhow::bail!(
                    "there is no approved command `{name}` in {}; `warroom commands list` shows those there are",
                    catalog.dir().display()
                );
            };
            if json {
                serde_json::to_writer_pretty(&mut *out, &spec.to_json())?;
                writeln!(out)?;
            } else {
                print_command(out, spec)?;
            }
        }
    }
    Ok(())
}

fn print_command(out: &mut impl Write, spec: &CommandSpec) -> std::io::Result<()> {
    let line = |templates: &[Template]| -> String {
        std::iter::once(spec.program().display().to_string())
            .chain(templates.iter().map(|template| {
                let text = template.source();
                if !text.is_empty() && !text.contains(char::is_whitespace) && !text.contains('"') {
                    text.to_owned()
                } else {
                    format!("{text:?}")
                }
            }))
            .collect::<Vec<_>>()
            .join(" ")
    };
    writeln!(out, "{}: {}", spec.name(), spec.description())?;
    writeln!(out, "  file           {}", spec.file().display())?;
    writeln!(out, "  risk           {}", spec.risk())?;
    writeln!(out, "  runs           {}", line(spec.args()))?;
    match spec.dry_run_args() {
        Some(args) => writeln!(out, "  dry run        {}", line(args))?,
        None => writeln!(out, "  dry run        none")?,
    }
    writeln!(out, "  usage          {}", spec.usage())?;
    writeln!(out, "  may run        {}", spec.allowed_roles().join(", "))?;
    match spec.approval() {
        Some(approval) => writeln!(
            out,
            "  approval       {} other person{} holding {}; an approval is valid for {}",
            approval.approvers,
            if approval.approvers == 1 { "" } else { "s" },
            approval.roles.join(" or "),
            crate::domain::format_duration(approval.expires)
        )?,
        None => writeln!(out, "  approval       not needed")?,
    }
    writeln!(
        out,
        "  timeout        {}",
        crate::domain::format_duration(spec.timeout())
    )?;
    if let Some(lock) = spec.lock() {
        writeln!(out, "  lock           {lock}")?;
    }
    writeln!(out, "  environment    {}", describe_env(spec))?;
    writeln!(out, "  workdir        {}", spec.workdir().display())?;
    writeln!(
        out,
        "  incident       {}",
        if spec.requires_incident() {
            "runs only inside an incident channel"
        } else {
            "not required"
        }
    )?;
    print_parameters(out, spec)
}

/// What the child's environment holds, secrets named by their source only.
fn describe_env(spec: &CommandSpec) -> String {
    let env: Vec<String> = spec
        .env()
        .iter()
        .map(|(name, value)| match value {
            EnvValue::Literal(text) => format!("{name}={text}"),
            EnvValue::FromEnv(var) => format!("{name} (secret, from ${var})"),
        })
        .collect();
    if env.is_empty() {
        "PATH only".to_owned()
    } else {
        format!("{} and PATH", env.join(", "))
    }
}

/// Each parameter with its kind and rules.
fn print_parameters(out: &mut impl Write, spec: &CommandSpec) -> std::io::Result<()> {
    if spec.params().is_empty() {
        return Ok(());
    }
    writeln!(out, "  parameters")?;
    for param in spec.params() {
        let mut rules = param.kind().describe();
        if let Some(default) = param.default() {
            rules.push_str(&format!("; default {default}"));
        }
        if param.allows_leading_dash() {
            rules.push_str("; may start with -");
        }
        let kind = match param.kind() {
            ParamKind::Enum { .. } => "enum",
            ParamKind::String { .. } => "string",
            ParamKind::Int { .. } => "int",
            ParamKind::Duration { .. } => "duration, in seconds",
        };
        writeln!(out, "    {:<12} {kind}: {rules}", param.name())?;
        if !param.description().is_empty() {
            writeln!(out, "    {:<12} {}", "", param.description())?;
        }
    }
    Ok(())
}
