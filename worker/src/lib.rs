//! The openTelecon Worker.
//!
//! Layout:
//! - [`error`]: the crate's one error type and its mapping to HTTP status.
//! - [`registry`]: media-node registry policy (health, limits), pure.
//! - [`password`]: Argon2id hashing; [`session`]: tokens and the cookie;
//!   [`guard`]: cross-site check and login rate-limit policy; [`input`]:
//!   validation of what users type. All pure, tested natively.
//! - `routes` (wasm32): the router and handlers; thin, they parse, call D1 or
//!   the Room Durable Object, and answer.
//! - `version`: the build version reported by `/healthz`.
//!
//! Static assets (the WASM client under `dist/`) are served by the Workers
//! assets layer before this code runs; only `/healthz`, `/api/*` and
//! `/rooms/*` reach it (see `run_worker_first` in `wrangler.toml`).
//!
//! The Room Durable Object class lives in the `durable-objects` crate and is
//! re-exported here so that workerd finds it in this bundle.
#![deny(missing_docs)]

pub mod error;
pub mod guard;
pub mod input;
pub use durable_objects::media_token;
pub mod password;
pub mod registry;
pub mod session;

/// Build version: crate version plus the git commit, when built by `xtask`.
pub fn version() -> String {
    match option_env!("OPENTELECON_GIT_SHA") {
        Some(sha) if !sha.is_empty() => format!("{}+{sha}", env!("CARGO_PKG_VERSION")),
        _ => env!("CARGO_PKG_VERSION").to_owned(),
    }
}

#[cfg(target_arch = "wasm32")]
mod routes;

#[cfg(target_arch = "wasm32")]
pub use durable_objects::Room;
