//! The browser UI.
//!
//! Layout:
//! - [`chat`]: the room's message log as the client sees it; pure, tested
//!   natively.
//! - [`codec`]: the video codec one publishes in and what to offer for it;
//!   pure.
//! - [`sketch`]: whiteboard geometry (pan, zoom, hit tests); pure.
//! - [`whiteboard`]: the boards and the strokes on screen; pure.
//! - [`layout`]: moving panels, pinning and hiding tiles; pure.
//! - [`quality`]: connection quality of a received track from two stats
//!   samples; pure.
//! - [`slot`]: when a reused video section's frames are the new track's;
//!   pure.
//! - `api` (wasm32): the worker's JSON API over `fetch`.
//! - `call` (wasm32): the WebRTC connection to the room's media node.
//! - `ui` (wasm32): Leptos components, routes, and the room WebSocket.
//!
//! Everything a user typed is rendered as a text node, never as markup.
#![deny(missing_docs)]

pub mod chat;
pub mod codec;
pub mod layout;
pub mod quality;
pub mod sketch;
pub mod slot;
pub mod whiteboard;

#[cfg(target_arch = "wasm32")]
mod api;
#[cfg(target_arch = "wasm32")]
mod call;
#[cfg(target_arch = "wasm32")]
mod ui;

/// Normalises what a user typed into a room id: lower case, spaces to `-`.
pub fn room_id_from_input(input: &str) -> Result<protocol::RoomId, protocol::IdError> {
    let slug: String = input
        .trim()
        .to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("-");
    protocol::RoomId::parse(&slug)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_become_slugs() {
        assert_eq!(
            room_id_from_input("  Team Standup ").unwrap().as_str(),
            "team-standup"
        );
        assert!(room_id_from_input("a/b").is_err());
        assert!(room_id_from_input("   ").is_err());
    }
}
