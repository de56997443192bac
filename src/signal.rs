//! Process signals: `SIGHUP` reloads the config, `SIGTERM`/`SIGINT` start a graceful shutdown.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::metrics::CONFIG_RELOADS;
use crate::state::State;

/// Resolves on the first `SIGTERM` or `SIGINT`.
pub async fn shutdown() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM received"),
        _ = int.recv() => tracing::info!("SIGINT received"),
    }
}

/// Reloads `path` into `state` on every `SIGHUP`; an invalid file is refused and logged, and
/// the running config stays.
pub fn reload_on_hangup(state: Arc<State>, path: PathBuf) -> std::io::Result<()> {
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        while hup.recv().await.is_some() {
            reload(&state, &path);
        }
    });
    Ok(())
}

/// Loads and swaps in a config file, counting the outcome.
pub fn reload(state: &State, path: &std::path::Path) -> bool {
    match Config::load(path) {
        Ok(config) => {
            state.reload(config);
            metrics::counter!(CONFIG_RELOADS, "result" => "ok").increment(1);
            tracing::info!(config = %path.display(), "config reloaded");
            true
        }
        Err(e) => {
            metrics::counter!(CONFIG_RELOADS, "result" => "error").increment(1);
            tracing::error!(config = %path.display(), "config reload refused, keeping the running config: {e}");
            false
        }
    }
}
