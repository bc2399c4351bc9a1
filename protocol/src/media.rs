//! Media grants: what the claims of a media token allow on a media node.
//!
//! The worker side (which knows the room's permissions) mints a short-lived
//! EdDSA-signed JWT carrying [`MediaClaims`]; the media node verifies it with
//! the matching public key and enforces exactly these grants. The node trusts
//! nothing else a browser says.

use serde::{Deserialize, Serialize};

use crate::{ParticipantId, RoomId};

/// A kind of track a participant may publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// Camera video.
    Camera,
    /// Microphone audio.
    Microphone,
    /// Screen share (video, and its audio if any).
    Screen,
}

/// The custom claims of a media token (the JWT adds `exp` and `iat`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaClaims {
    /// The only room this token is good for.
    pub room: RoomId,
    /// Who holds it.
    pub participant: ParticipantId,
    /// What it may publish.
    pub publish: Vec<Source>,
    /// Whether it may receive others' tracks.
    pub subscribe: bool,
}

impl MediaClaims {
    /// Whether `source` may be published.
    pub fn may_publish(&self, source: Source) -> bool {
        self.publish.contains(&source)
    }
}
