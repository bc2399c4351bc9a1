//! The media-node binary, configured through its environment.

use std::path::PathBuf;
use std::process::Command;

use crate::paths::Paths;
use crate::process::Group;

/// How to start a media node.
#[derive(Debug, Clone)]
pub struct NodeOptions {
    /// Registry id.
    pub id: String,
    /// Region.
    pub region: String,
    /// The worker's base URL.
    pub worker_url: String,
    /// The worker's node secret.
    pub node_secret: String,
    /// The public key of the worker's media-token seed, hex.
    pub token_public_key: String,
    /// Media UDP bind (`127.0.0.1:0` picks a port).
    pub udp_bind: String,
    /// The media address to advertise instead of the bound one (a relay's).
    pub public_addr: Option<String>,
    /// Where its log goes; `None` for this process's terminal.
    pub log: Option<PathBuf>,
}

/// Starts the media node; it registers with the worker by itself.
pub fn start(paths: &Paths, opts: &NodeOptions) -> anyhow::Result<Group> {
    let mut cmd = Command::new(paths.media_node());
    cmd.env("MEDIA_NODE_NODE_ID", &opts.id)
        .env("MEDIA_NODE_REGION", &opts.region)
        .env("MEDIA_NODE_WORKER_URL", &opts.worker_url)
        .env("MEDIA_NODE_NODE_SECRET", &opts.node_secret)
        .env("MEDIA_NODE_UDP_BIND", &opts.udp_bind)
        .env("MEDIA_NODE_TOKEN_PUBLIC_KEY", &opts.token_public_key)
        .env("MEDIA_NODE_HTTP_BIND", "127.0.0.1:0")
        .envs(
            opts.public_addr
                .iter()
                .map(|a| ("MEDIA_NODE_PUBLIC_ADDR", a)),
        )
        .env("NO_COLOR", "1")
        .env(
            "RUST_LOG",
            std::env::var("OPENTELECON_NODE_LOG").unwrap_or_else(|_| "info".into()),
        );
    Group::spawn(
        &format!("media node {}", opts.id),
        &mut cmd,
        opts.log.as_deref(),
    )
}
