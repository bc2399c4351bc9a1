//! `media-node [--config FILE]`: runs one media node until SIGINT or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use media_node::config::Config;
use tracing_subscriber::EnvFilter;

/// musl's allocator hands freed memory back to the kernel and faults it in
/// again at every turn of the forwarding loop; mimalloc keeps it (about a
/// tenth of the CPU per forwarded packet at 30x30).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let mut file: Option<PathBuf> = std::env::var_os("MEDIA_NODE_CONFIG").map(PathBuf::from);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" => file = Some(args.next().context("--config needs a file")?.into()),
            "--version" => {
                println!("{}", media_node::version());
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}; usage: media-node [--config FILE]"),
        }
    }
    let config = Config::load(file.as_deref(), |k| std::env::var(k).ok())?;
    media_node::run::run(config, shutdown_signal()).await?;
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers, run until killed.
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
