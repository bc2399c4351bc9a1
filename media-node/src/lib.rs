//! The media node.
//!
//! Layout:
//! - [`config`]: settings from a TOML file and `MEDIA_NODE_*` environment.
//! - [`registrar`]: sans-IO registration and heartbeat schedule with the
//!   worker; it decides what to send and when, the caller does the HTTP.
//! - [`sfu`]: the sans-IO forwarding core (rooms, clients, tracks, layers).
//! - [`engine`]: the task that owns the core and the UDP socket.
//! - [`control`]: the HTTP control API for the rooms (join, restart,
//!   grants, remove, close, stats).
//! - [`token`]: verifying media tokens (EdDSA JWTs) from the worker side.
//! - [`rx_queue`]: the media socket's receive queue as the kernel reports
//!   it, for overload control.
//! - [`run`]: the tokio adapter that owns sockets, timers and shutdown.
//!
//! The node trusts only the worker's signed media tokens and commands; it
//! never sees chat, whiteboard or presence state.
#![deny(missing_docs)]

pub mod config;
pub mod control;
pub mod engine;
pub mod registrar;
pub mod run;
pub mod rx_queue;
pub mod sfu;
pub mod token;

/// Build version: crate version plus the git commit, when built by `xtask`.
pub fn version() -> String {
    match option_env!("OPENTELECON_GIT_SHA") {
        Some(sha) if !sha.is_empty() => format!("{}+{sha}", env!("CARGO_PKG_VERSION")),
        _ => env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// Compares secrets in time independent of where they differ.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
