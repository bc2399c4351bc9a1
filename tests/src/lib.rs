//! Runs the whole system locally, for the end-to-end tests in `tests/` and for
//! `cargo xtask dev`.
//!
//! Layout:
//! - [`api`]: a JSON client that keeps its session cookie.
//! - [`process`]: a child in its own process group, stopped on drop.
//! - [`room_client`]: a room WebSocket client with a session.
//! - [`paths`]: where the built artefacts and tools are.
//! - [`worker`]: `wrangler dev` (workerd with local D1 and Durable Objects) on
//!   the prebuilt bundle, and D1 migrations.
//! - [`media_node`]: the media-node binary.
//! - [`browser`]: Debian's Chromium under chromedriver, driven by fantoccini.
//! - [`call`]: joining a call through the pages and reading `getStats()`.
//! - [`relay`]: a UDP path between browsers and a media node that a test
//!   cuts and restores (with new addresses, like a NAT rebinding).
//!
//! Everything listens on 127.0.0.1 only. Every server started here is stopped
//! when its handle drops, also when a test panics.

pub mod api;
pub mod browser;
pub mod call;
pub mod media_node;
pub mod paths;
pub mod process;
pub mod relay;
pub mod room_client;
pub mod worker;

use std::net::TcpListener;
use std::time::{Duration, Instant};

/// A free TCP port on 127.0.0.1 (free when asked; the caller binds it soon).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// `GET {base}/healthz` of a worker or media node.
pub async fn health(http: &reqwest::Client, base: &str) -> anyhow::Result<protocol::api::Health> {
    let resp = http
        .get(format!("{base}/healthz"))
        .send()
        .await?
        .error_for_status()?;
    Ok(resp.json().await?)
}

/// A random hex secret of 32 bytes, from the kernel.
pub fn random_secret() -> anyhow::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Polls `check` until it yields `Some`, failing after `timeout`. For waiting
/// on an observable state of a real system, never as a fixed sleep.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if Instant::now() >= deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
