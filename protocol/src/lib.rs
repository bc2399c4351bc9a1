//! Wire types: the only crate that defines what crosses a process boundary.
//!
//! Layout:
//! - [`id`]: validated identifiers (`RoomId`, `NodeId`).
//! - [`room`]: messages between a browser and its Room Durable Object.
//! - [`layout`]: preset and custom layouts, saved on accounts, pushed by hosts.
//! - [`media`]: media grants, the claims of media tokens.
//! - [`board`]: whiteboards, strokes, their operations and changes.
//! - [`channel`]: framing of large messages on the media data channel.
//! - [`node`]: media-node registration and heartbeats to the worker.
//! - [`access`]: roles and permissions as data, and the one check.
//! - [`account`]: bodies of the accounts, rooms, invites and admin API.
//! - [`api`]: JSON bodies of the worker's HTTP API (health, errors).
//!
//! Everything here is plain data with serde; it builds for native and wasm32 and
//! never performs I/O. Tagged unions use `#[serde(tag = "type")]` so that the
//! TypeScript-free browser client, the Durable Object and tests agree on one
//! shape, matched exhaustively on both sides.
#![deny(missing_docs)]

pub mod access;
pub mod account;
pub mod api;
pub mod board;
pub mod channel;
pub mod id;
pub mod layout;
pub mod media;
pub mod node;
pub mod room;

pub use id::{IdError, InviteId, NodeId, ParticipantId, Region, RoomId, UserId};
