//! `warroom export ID --format ... [-o FILE]`: the post-mortem, written beside the target and
//! renamed so a failed export never leaves half a file.

use std::path::Path;

use anyhow::Context;
use clap::ValueEnum;

use crate::domain::IncidentId;
use crate::export::Format;
use crate::ops::{Ops, Principal};

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum ExportFormat {
    Markdown,
    Json,
    Html,
}

impl From<ExportFormat> for Format {
    fn from(format: ExportFormat) -> Format {
        match format {
            ExportFormat::Markdown => Format::Markdown,
            ExportFormat::Json => Format::Json,
            ExportFormat::Html => Format::Html,
        }
    }
}

pub(super) async fn execute(
    ops: &Ops,
    who: &Principal,
    id: IncidentId,
    format: Format,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    match output {
        None => {
            let mut stdout = std::io::BufWriter::new(std::io::stdout());
            ops.export(who, id, format, &mut stdout).await?;
        }
        Some(path) => {
            // Write beside the target and rename, so a failed export never leaves half a file
            // where a finished one is expected.
            let partial = path.with_extension(format!("{}.partial", format.file_extension()));
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("cannot create {}", partial.display()))?;
            let mut writer = std::io::BufWriter::new(file);
            let result = ops.export(who, id, format, &mut writer).await;
            drop(writer);
            if let Err(error) = result {
                let _ = std::fs::remove_file(&partial);
                return Err(error.into());
            }
            std::fs::rename(&partial, path)
                .with_context(|| format!("cannot move the export into {}", path.display()))?;
            eprintln!(
                "wrote the {} post-mortem of {id} to {}",
                format.as_str(),
                path.display()
            );
        }
    }
    Ok(())
}
