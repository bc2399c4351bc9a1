//! The Room Durable Object: one per room, the authority for that room.
//!
//! Layout:
//! - [`room`]: the room state machine. Sans-IO: the caller feeds inputs
//!   (`handle_*`) with the current time and drains outputs (`poll_output`).
//!   It never touches a socket, storage or the clock, so it is built and
//!   tested natively.
//! - [`board`]: the whiteboards, a pure state machine the room feeds.
//! - [`limit`]: the per-participant message rate limits.
//! - [`media_token`]: minting the media tokens media nodes trust (the worker
//!   re-exports it).
//! - [`placement`]: node health and choosing a media node for a room.
//! - `board_sql` (wasm32 only): the boards' SQLite tables.
//! - `chat_log` (wasm32 only): write-behind of new chat messages, batched
//!   into one SQLite transaction each 10 ms.
//! - `media_link` (wasm32 only): placing the room on a media node and
//!   calling its control API.
//! - `shell` (wasm32 only): the workerd adapter. It accepts hibernating
//!   WebSockets, reads and writes the object's SQLite storage, and carries out
//!   the core's outputs. It holds no room logic.
//!
//! Invariant: media never passes through here; the room stores only state.
#![deny(missing_docs)]

pub mod board;
pub mod limit;
pub mod media_token;
pub mod placement;
pub mod room;

#[cfg(target_arch = "wasm32")]
mod board_sql;
#[cfg(target_arch = "wasm32")]
mod chat_log;
#[cfg(target_arch = "wasm32")]
mod media_link;
#[cfg(target_arch = "wasm32")]
#[allow(missing_docs)] // `#[durable_object]` generates undocumented glue.
mod shell;

#[cfg(target_arch = "wasm32")]
pub use shell::Room;
