//! `warroom check`: the configuration, the command catalog and what the Discord setup still
//! lacks, every problem at once.

use std::io::Write;

use crate::config::Config;
use crate::runner::{Catalog, CatalogError};

pub(super) fn check(config: &Config, out: &mut impl Write) -> anyhow::Result<()> {
    writeln!(
        out,
        "{}: the configuration is valid ({} severities, {} services, {} schedules, {} policies, {} notifiers, database {})",
        config.path.display(),
        config.severities.len(),
        config.services.len(),
        config.schedules.len(),
        config.policies.len(),
        config.notifiers.len(),
        config.database.url.redacted()
    )?;
    for warning in &config.warnings {
        writeln!(out, "warning: {warning}")?;
    }
    let notifier_gaps = config.notifier_setup_gaps();
    if !notifier_gaps.is_empty() {
        writeln!(
            out,
            "Notifiers not ready yet (pages to them fail until then):"
        )?;
        for gap in notifier_gaps {
            writeln!(out, "  - {gap}")?;
        }
    }
    let catalog = Catalog::load(&config.commands.dir, &config.bot_role_names());
    let mut catalog_error = None;
    let mut schedule_problems = Vec::new();
    match catalog {
        Ok(catalog) => {
            schedule_problems = crate::config::schedule_problems(config, &catalog);
            writeln!(
                out,
                "{}: the command catalog is valid ({} approved commands)",
                catalog.dir().display(),
                catalog.len()
            )?;
            let missing = catalog.missing_programs();
            if !missing.is_empty() {
                writeln!(
                    out,
                    "Programs not installed on this host (fine if warroom runs elsewhere; these commands fail here):"
                )?;
                for spec in missing {
                    writeln!(out, "  - {}: {}", spec.name(), spec.program().display())?;
                }
            }
        }
        Err(error @ CatalogError::Missing { .. }) => {
            writeln!(out, "No approved commands: {error}")?;
            schedule_problems =
                crate::config::schedule_problems(config, &Catalog::empty(&config.commands.dir));
        }
        Err(error) => catalog_error = Some(error),
    }
    let gaps = config.discord_setup_gaps();
    if gaps.is_empty() {
        writeln!(out, "Discord: everything needed is configured")?;
    } else {
        writeln!(
            out,
            "Discord is not fully set up yet (warroom runs without it); still needed:"
        )?;
        for gap in gaps {
            writeln!(out, "  - {gap}")?;
        }
    }
    if let Some(error) = catalog_error {
        return Err(error.into());
    }
    if !schedule_problems.is_empty() {
        let count = schedule_problems.len();
        anyhow::bail!(
            "the scheduled checks and drills have {count} problem{} with the command catalog:\n  {}",
            if count == 1 { "" } else { "s" },
            schedule_problems.join("\n  ")
        );
    }
    if !config.checks.is_empty() || !config.drills.is_empty() {
        writeln!(
            out,
            "Schedules: {} checks and {} drills, each running an approved command as configured (`warroom checks next` lists their times)",
            config.checks.len(),
            config.drills.len()
        )?;
    }
    Ok(())
}
