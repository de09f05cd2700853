//! Where a run's output goes as it arrives: redacted first, then hashed, kept (head and tail,
//! capped), written whole to its file (up to its limit), and streamed as progress.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

use super::exec::{CapturedOutput, Progress};
use super::output::HeadTail;
use super::redact::StreamRedactor;

/// Where output goes: redaction, the kept head and tail, the hash, the file, progress.
pub(super) struct OutputSink {
    redactor: StreamRedactor,
    kept: HeadTail,
    hasher: Sha256,
    file: Option<OutputFile>,
}

impl OutputSink {
    pub(super) fn new(
        redactor: StreamRedactor,
        cap: usize,
        file: Option<OutputFile>,
    ) -> OutputSink {
        OutputSink {
            redactor,
            kept: HeadTail::new(cap),
            hasher: Sha256::new(),
            file,
        }
    }

    /// Handles one read from the pipe; returns whether the pipe is still open.
    pub(super) async fn take(
        &mut self,
        read: std::io::Result<usize>,
        buffer: &[u8],
        started: Instant,
        progress: &mut (dyn FnMut(Progress) + Send),
        notes: &mut Vec<String>,
    ) -> bool {
        match read {
            Ok(0) => false,
            Ok(count) => {
                let text = self.redactor.push(&buffer[..count]);
                self.emit(text, started, progress).await;
                true
            }
            Err(error) => {
                notes.push(format!("reading the output failed: {error}"));
                false
            }
        }
    }

    pub(super) async fn emit(
        &mut self,
        text: String,
        started: Instant,
        progress: &mut (dyn FnMut(Progress) + Send),
    ) {
        if text.is_empty() {
            return;
        }
        self.kept.push(&text);
        self.hasher.update(text.as_bytes());
        if let Some(file) = &mut self.file {
            file.write(&text).await;
        }
        progress(Progress::Output {
            text,
            elapsed: started.elapsed(),
            total_bytes: self.kept.total(),
        });
    }

    pub(super) async fn finish(
        &mut self,
        started: Instant,
        progress: &mut (dyn FnMut(Progress) + Send),
        notes: &mut Vec<String>,
    ) -> CapturedOutput {
        let rest = self.redactor.finish();
        self.emit(rest, started, progress).await;
        let total_bytes = self.kept.total();
        let (text, cut_bytes) = std::mem::replace(&mut self.kept, HeadTail::new(0)).finish();
        let (file, file_complete) = match self.file.take() {
            Some(file) => {
                let path = file.path.clone();
                let complete = file.finish(notes).await;
                (Some(path), complete)
            }
            None => (None, false),
        };
        CapturedOutput {
            text,
            total_bytes,
            cut_bytes,
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
            file,
            file_complete,
        }
    }
}

/// The full-output file of one run.
pub(super) struct OutputFile {
    path: PathBuf,
    writer: tokio::io::BufWriter<tokio::fs::File>,
    written: u64,
    max: u64,
    /// Set when the file stops growing: it reached `max` or writing failed.
    stopped: Option<String>,
}

impl OutputFile {
    pub(super) async fn create(path: &Path, max: u64) -> std::io::Result<OutputFile> {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            tokio::fs::create_dir_all(parent).await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            // Redacted output may still say more than everyone should read.
            .mode(0o600)
            .open(path)
            .await?;
        Ok(OutputFile {
            path: path.to_owned(),
            writer: tokio::io::BufWriter::new(file),
            written: 0,
            max,
            stopped: None,
        })
    }

    pub(super) async fn write(&mut self, text: &str) {
        if self.stopped.is_some() {
            return;
        }
        let room = self.max - self.written;
        if text.len() as u64 > room {
            // Keep whole lines up to the limit, then say the file ends there.
            // Bytes, not a str slice: the limit may fall inside a character.
            let fits = &text.as_bytes()[..room as usize];
            let cut = fits
                .iter()
                .rposition(|byte| *byte == b'\n')
                .map_or(0, |at| at + 1);
            let note = format!(
                "[… the output goes on; this file keeps at most {} bytes …]\n",
                self.max
            );
            let _ = self.writer.write_all(&text.as_bytes()[..cut]).await;
            let _ = self.writer.write_all(note.as_bytes()).await;
            self.stopped = Some(format!(
                "the output file {} stopped at its limit of {} bytes ([commands] output_file_max_bytes)",
                self.path.display(),
                self.max
            ));
            return;
        }
        match self.writer.write_all(text.as_bytes()).await {
            Ok(()) => self.written += text.len() as u64,
            Err(error) => {
                self.stopped = Some(format!(
                    "writing the output file {} failed: {error}",
                    self.path.display()
                ));
            }
        }
    }

    /// Flushes; returns whether the file holds the whole output.
    pub(super) async fn finish(mut self, notes: &mut Vec<String>) -> bool {
        if let Err(error) = self.writer.flush().await
            && self.stopped.is_none()
        {
            self.stopped = Some(format!(
                "writing the output file {} failed: {error}",
                self.path.display()
            ));
        }
        match self.stopped {
            Some(note) => {
                notes.push(note);
                false
            }
            None => true,
        }
    }
}
