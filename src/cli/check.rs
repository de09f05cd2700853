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
    match catalog {
        Ok(catalog) => {
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
    match catalog_error {
        Some(error) => Err(error.into()),
        None => Ok(()),
    }
}
