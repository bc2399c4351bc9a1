//! Messages on the room WebSocket (`/rooms/{id}/ws`), browser <-> Room Durable Object.
//!
//! Text frames carrying JSON tagged unions, described for people in
//! `docs/protocol.md`. The worker admits a socket only for a signed-in member
//! of the room or a guest holding a valid invite, and tells the room who it
//! is; nothing a client sends can change its identity.

use serde::{Deserialize, Serialize};

use crate::ParticipantId;

use crate::access::RoomRole;

/// Version of the room protocol; bumped on any incompatible change.
pub const PROTOCOL_VERSION: u32 = 4;

/// Largest frame a client may send, in bytes: room for an SDP offer of
/// [`crate::media::MAX_SDP_BYTES`]. A larger one closes the socket with
/// [`close_code::MESSAGE_TOO_BIG`]; nothing of it is applied.
pub const MAX_FRAME_BYTES: usize = 40 * 1024;

/// Longest chat text, in characters (Unicode scalar values).
pub const MAX_TEXT_CHARS: usize = 4000;

/// How many of the latest messages a newly connected socket receives, and
/// the size of an older page.
pub const HISTORY_PAGE: usize = 50;

/// Most messages replayed to a socket that resumes after a gap; beyond it the
/// client pages back with [`ClientMessage::History`].
pub const MAX_REPLAY: usize = 500;

/// WebSocket close codes the room uses (RFC 6455 section 7.4; 4000-4999 are
/// the application's).
pub mod close_code {
    /// Normal closure.
    pub const NORMAL: u16 = 1000;
    /// Flooding: far over the message rate limit.
    pub const POLICY: u16 = 1008;
    /// The frame was larger than [`super::MAX_FRAME_BYTES`].
    pub const MESSAGE_TOO_BIG: u16 = 1009;
    /// The room failed internally; the client may reconnect.
    pub const INTERNAL_ERROR: u16 = 1011;
    /// A host removed this participant; they cannot rejoin until allowed.
    pub const REMOVED: u16 = 4003;
    /// The meeting has ended.
    pub const ENDED: u16 = 4004;
    /// The room is locked to newcomers.
    pub const LOCKED: u16 = 4005;
    /// The room is full.
    pub const FULL: u16 = 4006;
    /// A host denied entry from the lobby.
    pub const DENIED: u16 = 4007;
}

/// Which of a participant's tracks a host mutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Track {
    /// The microphone.
    Microphone,
    /// The camera.
    Camera,
}

/// What a browser sends to its room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    /// A whiteboard operation: `{"type":"board","op":...}`.
    Board(crate::board::BoardOp),
    /// Show everyone this layout (hosts); `null` gives everyone their own back.
    PushLayout {
        /// The layout and whether participants must keep it.
        pushed: Option<crate::layout::PushedLayout>,
    },
    /// Post a chat message: to the room, or to one participant (`to`).
    Say {
        /// The text, shown as text (never markup) by every client.
        text: String,
        /// The recipient of a direct message; `None` for the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<ParticipantId>,
    },
    /// Change one's own message.
    Edit {
        /// The message.
        seq: u64,
        /// Its new text.
        text: String,
    },
    /// Delete a message: one's own, or anyone's with `moderate_chat`.
    Delete {
        /// The message.
        seq: u64,
    },
    /// Ask for messages older than `before`.
    History {
        /// Exclusive upper bound.
        before: u64,
    },
    /// Raise one's hand.
    RaiseHand,
    /// Lower a hand: one's own (`who` absent) or someone's with `lower_hands`.
    LowerHand {
        /// Whose hand; oneself when absent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        who: Option<ParticipantId>,
    },
    /// Mute someone's track (`mute_others`).
    Mute {
        /// Whom.
        who: ParticipantId,
        /// Which track.
        track: Track,
    },
    /// Remove someone from the room (`remove_others`); they cannot rejoin
    /// until allowed.
    Remove {
        /// Whom.
        who: ParticipantId,
    },
    /// Let a removed participant rejoin (`remove_others`).
    Allow {
        /// Whom.
        who: ParticipantId,
    },
    /// Change someone's role (`change_roles`); guests cannot become hosts.
    SetRole {
        /// Whom.
        who: ParticipantId,
        /// The new role.
        role: RoomRole,
    },
    /// Lock or unlock the room to newcomers (`lock_room`).
    Lock {
        /// Locked or not.
        locked: bool,
    },
    /// Let someone in from the lobby (`admit_from_lobby`).
    Admit {
        /// Whom.
        who: ParticipantId,
    },
    /// Turn someone away from the lobby (`admit_from_lobby`).
    Deny {
        /// Whom.
        who: ParticipantId,
    },
    /// Lift a host mute (`mute_others`); a participant cannot lift a host's
    /// mute of themselves.
    Unmute {
        /// Whom.
        who: ParticipantId,
        /// Which track.
        track: Track,
    },
    /// End the meeting for everyone (`end_meeting`).
    End,
    /// Join the room's media with an SDP offer; the room places the room on
    /// a media node and answers with [`ServerMessage::MediaAnswer`]. Later
    /// renegotiation runs on the `sfu` data channel, node to browser.
    MediaOffer {
        /// The browser's SDP offer.
        sdp: String,
        /// What each sending section of the offer carries.
        sources: Vec<crate::media::TrackSource>,
    },
    /// An ICE restart (after a network change): a new offer for the same
    /// connection.
    MediaRestart {
        /// The browser's SDP offer with new ICE credentials.
        sdp: String,
    },
}

/// Someone in the room, as everyone sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Participant {
    /// Stable id.
    pub id: ParticipantId,
    /// Display name, shown as text.
    pub name: String,
    /// Role in the room.
    pub role: RoomRole,
    /// Whether they joined as a guest.
    pub guest: bool,
    /// Hand raised.
    pub hand_raised: bool,
    /// Microphone muted by a host.
    pub mic_muted: bool,
    /// Camera muted by a host.
    pub camera_muted: bool,
}

/// Someone waiting in the lobby or removed, as hosts see them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    /// Stable id.
    pub id: ParticipantId,
    /// Display name.
    pub name: String,
}

/// The room's own state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomState {
    /// Newcomers are refused.
    pub locked: bool,
    /// Newcomers wait until a host admits them.
    pub lobby: bool,
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Position in the room's total order; increasing, with gaps where the
    /// reader was not a party to a direct message.
    pub seq: u64,
    /// The author.
    pub from: ParticipantId,
    /// The author's name when sent.
    pub from_name: String,
    /// The recipient of a direct message; `None` for the room.
    pub to: Option<ParticipantId>,
    /// The text as the author typed it; empty once deleted.
    pub text: String,
    /// When the room accepted it, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// When last edited, if edited.
    pub edited_ms: Option<i64>,
    /// Deleted by its author or a host.
    pub deleted: bool,
    /// The room-wide revision of this message's current state: it rises with
    /// every new, edited or deleted message. A client resumes with the
    /// highest revision it has seen (`?after=`), so it gets new messages and
    /// changes to old ones alike.
    pub rev: u64,
}

/// What a room sends to a browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// First message once in the room (after the lobby, if any).
    Welcome {
        /// The server's [`PROTOCOL_VERSION`].
        protocol: u32,
        /// This participant.
        you: Participant,
        /// Everyone present, this participant included.
        participants: Vec<Participant>,
        /// Messages visible to this participant: the latest page, or those
        /// after the `after` the socket asked for.
        history: Vec<ChatMessage>,
        /// Room state.
        room: RoomState,
        /// The whiteboards (names, presented board, who may draw); a board's
        /// strokes come with `board_state` when the browser opens it.
        #[serde(default)]
        boards: crate::board::BoardsState,
        /// The layout a host pushed, if any.
        #[serde(default)]
        layout: Option<crate::layout::PushedLayout>,
    },
    /// A host pushed a layout, or withdrew it (`null`).
    Layout {
        /// The layout, if one holds now.
        pushed: Option<crate::layout::PushedLayout>,
    },
    /// This socket waits in the lobby until a host admits or denies it.
    Waiting,
    /// Someone arrived.
    Joined {
        /// Who.
        participant: Participant,
    },
    /// Someone left (or the grace period after their last socket ran out).
    Left {
        /// Who.
        id: ParticipantId,
    },
    /// Someone's role, hand or mutes changed.
    Updated {
        /// Their new state.
        participant: Participant,
    },
    /// A chat message, to every socket it is meant for, in `seq` order.
    Chat {
        /// The message.
        message: ChatMessage,
    },
    /// A message was edited or deleted.
    Changed {
        /// The message as it is now.
        message: ChatMessage,
    },
    /// An older page of messages, answering [`ClientMessage::History`].
    History {
        /// Oldest first.
        messages: Vec<ChatMessage>,
        /// Whether older ones remain.
        more: bool,
    },
    /// The room's state changed.
    Room {
        /// The new state.
        room: RoomState,
    },
    /// Hosts only: who waits in the lobby and who was removed.
    HostView {
        /// Waiting in the lobby, oldest first.
        waiting: Vec<Person>,
        /// Removed and not yet allowed back.
        removed: Vec<Person>,
    },
    /// This socket is about to close; `code` says why (see [`close_code`]).
    Closing {
        /// The close code.
        code: u16,
        /// Why, for people.
        reason: String,
    },
    /// The media node's answer to [`ClientMessage::MediaOffer`] or
    /// [`ClientMessage::MediaRestart`].
    MediaAnswer {
        /// The SDP answer.
        sdp: String,
    },
    /// A whiteboard change, to everyone present, in the room's order.
    Board {
        /// Position in the room's order of board changes (no gaps).
        seq: u64,
        /// Who caused it.
        by: ParticipantId,
        /// What changed.
        change: crate::board::BoardChange,
    },
    /// A board's strokes as of change `seq`, for the socket that opened it;
    /// later changes arrive as `board`.
    BoardState {
        /// Which board.
        board: crate::board::BoardId,
        /// The last change it reflects.
        seq: u64,
        /// Every stroke, in drawing order.
        strokes: Vec<crate::board::Stroke>,
    },
    /// The last client message was refused; nothing of it was applied and
    /// the connection stays open.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable explanation.
        message: String,
    },
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
    /// The sender's role does not allow it.
    Forbidden,
    /// No such participant or message.
    NotFound,
    /// Too many messages; slow down.
    RateLimited,
    /// Not possible in the current state (a guest as host, the last host).
    Conflict,
    /// No media node could take the call, or it failed; try again later.
    Unavailable,
    /// The offer was not valid SDP, or declared its sources wrongly.
    BadOffer,
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
        // Serialising plain data without maps keyed by non-strings cannot fail.
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

/// Who a socket belongs to, as the worker verified it and tells the room in
/// the upgrade request (header [`IDENTITY_HEADER`]). Never from the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The room.
    pub room: crate::RoomId,
    /// Stable participant id.
    pub id: ParticipantId,
    /// Display name.
    pub name: String,
    /// Role in the room, from D1.
    pub role: RoomRole,
    /// A guest (no account).
    pub guest: bool,
    /// The room's options in D1 at the time of joining.
    pub lobby: bool,
    /// See [`RoomState::locked`].
    pub locked: bool,
    /// Most participants present at once.
    pub max_participants: u32,
    /// Where the request came from (a continent code such as `eu`), to place
    /// the room's media on a node nearby.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub near: Option<String>,
}

/// The header carrying [`Identity`] from the worker to the room.
pub const IDENTITY_HEADER: &str = "X-Opentelecon-Identity";

/// What changed in the accounts database through the HTTP API while the
/// room may be live; the worker tells the room at once (header
/// [`SYNC_HEADER`] on an internal request).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSync {
    /// See [`RoomState::locked`].
    pub locked: bool,
    /// See [`RoomState::lobby`].
    pub lobby: bool,
    /// Most participants present at once.
    pub max_participants: u32,
    /// The meeting was ended.
    pub ended: bool,
    /// An account's role changed (`None`: no longer a member).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_change: Option<(ParticipantId, Option<RoomRole>)>,
}

/// The header carrying [`RoomSync`] from the worker to the room.
pub const SYNC_HEADER: &str = "X-Opentelecon-Sync";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_shape_is_a_tagged_union() {
        let m = ClientMessage::Say {
            text: "hi".into(),
            to: None,
        };
        assert_eq!(m.encode(), r#"{"type":"say","text":"hi"}"#);
        let dm: ClientMessage =
            serde_json::from_str(r#"{"type":"say","text":"x","to":"u-abc"}"#).unwrap();
        assert!(matches!(dm, ClientMessage::Say { to: Some(_), .. }));
        assert_eq!(
            ClientMessage::RaiseHand.encode(),
            r#"{"type":"raise_hand"}"#
        );
        let m = ClientMessage::Mute {
            who: ParticipantId::parse("g-x").unwrap(),
            track: Track::Camera,
        };
        assert_eq!(ClientMessage::decode(&m.encode()).unwrap(), m);
    }

    #[test]
    fn unknown_and_malformed_frames_are_errors() {
        assert!(ClientMessage::decode(r#"{"type":"launch_missiles"}"#).is_err());
        assert!(ClientMessage::decode("not json").is_err());
        assert!(ClientMessage::decode(r#"{"type":"say"}"#).is_err());
        assert!(ClientMessage::decode(r#"{"type":"say","text":"x","to":"Not An Id"}"#).is_err());
    }
}
