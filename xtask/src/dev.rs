//! `cargo xtask dev`: install, build, migrate, run wrangler dev and a media
//! node, print the URL, and stop everything on Ctrl-C.

use std::time::Instant;

use e2e::media_node::{self, NodeOptions};
use e2e::paths::Paths;
use e2e::worker::{self, Worker, WorkerOptions};

use crate::tools::Tools;

/// Runs the system until Ctrl-C (SIGINT) or SIGTERM.
pub fn run(port: u16) -> anyhow::Result<()> {
    let started = Instant::now();
    let paths = Paths::default();
    let tools = Tools::ensure(&paths.root)?;
    crate::build::all(&tools)?;

    // Project-local, git-ignored: survives restarts of `cargo xtask dev`.
    let data = paths.root.join(".opentelecon/dev");
    let state_dir = data.join("state");
    std::fs::create_dir_all(&state_dir)?;
    let node_secret = kept_secret(&data.join("node-secret"))?;
    let media_token_seed = kept_secret(&data.join("media-token-seed"))?;
    let token_public_key = worker_app::media_token::public_key_hex(&media_token_seed)?;
    worker::migrate(&paths, &state_dir)?;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let worker = Worker::start(
            &paths,
            &WorkerOptions {
                port,
                state_dir,
                node_secret: node_secret.clone(),
                media_token_seed,
                vars: vec![],
                log: None,
            },
        )
        .await?;
        let node = media_node::start(
            &paths,
            &NodeOptions {
                id: "local-1".into(),
                region: "local".into(),
                worker_url: worker.url().to_owned(),
                node_secret,
                token_public_key,
                udp_bind: "127.0.0.1:0".into(),
                public_addr: None,
                log: None,
            },
        )?;
        eprintln!(
            "\nopenTelecon is running ({:.0?} to start). Open {}/ in your browser.\nData persists in {}. Press Ctrl-C to stop.\n",
            started.elapsed(),
            worker.url(),
            data.display()
        );
        wait_for_stop().await;
        eprintln!("stopping...");
        drop(node); // the node says goodbye to the worker before the worker stops
        worker.stop();
        anyhow::Ok(())
    })
}

/// A random secret kept in `file`, made on first use.
fn kept_secret(file: &std::path::Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(file) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        _ => {
            let s = e2e::random_secret()?;
            std::fs::write(file, &s)?;
            Ok(s)
        }
    }
}

async fn wait_for_stop() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
