//! Messages on the room WebSocket (`/rooms/{id}/ws`), browser <-> Room Durable Object.
//!
//! Text frames carrying JSON tagged unions. The server greets every socket with
//! [`ServerMessage::Welcome`], which names the [`PROTOCOL_VERSION`] so that a
//! stale client can tell it must reload.

use serde::{Deserialize, Serialize};

/// Version of the room protocol; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest frame a client may send, in bytes. A larger one closes the socket
/// with [`close_code::MESSAGE_TOO_BIG`]; nothing of it is applied.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;

/// Longest chat text, in characters (Unicode scalar values).
pub const MAX_TEXT_CHARS: usize = 4000;

/// How many of the latest messages a newly connected socket receives.
pub const HISTORY_ON_JOIN: usize = 50;

/// WebSocket close codes the room uses (RFC 6455 section 7.4).
pub mod close_code {
    /// The frame was larger than [`super::MAX_FRAME_BYTES`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The room failed internally; the client may reconnect.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
}

/// What a browser sends to its room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// Post a chat message to everyone in the room.
    Say {
        /// The message text, shown as text (never markup) by every client.
        text: String,
    },
}

/// What a room sends to a browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message on every socket.
    Welcome {
        /// The server's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// The latest messages of the room, oldest first.
        history: Vec<Said>,
    },
    /// A chat message, delivered to every socket of the room in `seq` order.
    Said(Said),
    /// The last client message was refused; the connection stays open.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
}

/// A stored chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Said {
    /// Position in the room's total order, from 1, without gaps.
    pub seq: u64,
    /// The text as the author typed it.
    pub text: String,
    /// When the room accepted it, in milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// Why a client message was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, or not a known message.
    Malformed,
    /// The text was empty or only whitespace.
    Empty,
    /// The text was longer than [`MAX_TEXT_CHARS`].
    TooLong,
}

/// A frame that could not be read as a [`ClientMessage`].
#[derive(Debug, thiserror::Error)]
#[error("malformed message: {0}")]
pub struct DecodeError(#[from] serde_json::Error);

impl ClientMessage {
    /// Parses one text frame.
    pub fn decode(frame: &str) -> Result<Self, DecodeError> {
        Ok(serde_json::from_str(frame)?)
    }

    /// Serialises to one text frame.
    pub fn encode(&self) -> String {
        // Serialising a plain enum of strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

impl ServerMessage {
    /// Parses one text frame.
    pub fn decode(frame: &str) -> Result<Self, DecodeError> {
        Ok(serde_json::from_str(frame)?)
    }

    /// Serialises to one text frame.
    pub fn encode(&self) -> String {
        // Serialising plain data without maps keyed by non-strings cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_a_tagged_union() {
        let m = ClientMessage::Say { text: "hi".into() };
        assert_eq!(m.encode(), r#"{"type":"say","text":"hi"}"#);
        let s = ServerMessage::Said(Said {
            seq: 3,
            text: "x".into(),
            at_ms: 7,
        });
        assert_eq!(
            s.encode(),
            r#"{"type":"said","seq":3,"text":"x","at_ms":7}"#
        );
        assert_eq!(ServerMessage::decode(&s.encode()).unwrap(), s);
    }

    #[test]
    fn unknown_and_malformed_frames_are_errors() {
        assert!(ClientMessage::decode(r#"{"type":"launch_missiles"}"#).is_err());
        assert!(ClientMessage::decode("not json").is_err());
        assert!(ClientMessage::decode(r#"{"type":"say"}"#).is_err());
    }
}
