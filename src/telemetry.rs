//! Logging to stderr through `tracing`, filtered by `WARROOM_LOG` (then `RUST_LOG`).

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. `default` applies when no filter variable is set: `info`
/// for the long-running bot, `warn` for CLI commands so their output stays clean.
pub fn init(default: &str) {
    let filter = std::env::var("WARROOM_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|filter| EnvFilter::try_new(filter).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}
