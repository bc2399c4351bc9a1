//! Joining our media node the way a Room Durable Object does: a media token
//! minted with the room's own code, then the control API's join call with
//! the peer's offer. Subscribers get their tracks later, in offers on the
//! data channel (see `peer.rs`).

use protocol::media::{JoinRequest, MediaAnswer, MediaClaims, Source, TrackSource};
use protocol::{ParticipantId, RoomId};
use str0m::media::Mid;

/// The node's control API, as a room uses it.
pub struct Otc {
    http: reqwest::Client,
    /// Base URL of the control API.
    control: String,
    /// The node secret rooms authenticate with.
    secret: String,
    /// The media-token seed (hex) whose public key the node was given.
    seed: String,
    room: RoomId,
}

/// The participant id of publisher or subscriber `i`.
pub fn participant(publisher: bool, i: usize) -> anyhow::Result<ParticipantId> {
    let prefix = if publisher { "pub" } else { "sub" };
    Ok(ParticipantId::parse(&format!("{prefix}-{i}"))?)
}

impl Otc {
    pub fn new(control: &str, secret: &str, seed: &str, room: &str) -> anyhow::Result<Self> {
        Ok(Otc {
            http: reqwest::Client::new(),
            control: control.trim_end_matches('/').to_owned(),
            secret: secret.to_owned(),
            seed: seed.to_owned(),
            room: RoomId::parse(room)?,
        })
    }

    /// Joins `who` with `offer` and returns the node's answer. Publishers
    /// send a microphone and a camera and receive nothing; subscribers
    /// publish nothing.
    pub async fn join(
        &self,
        who: ParticipantId,
        offer: String,
        mids: Option<(Mid, Mid)>,
    ) -> anyhow::Result<String> {
        let publish = mids.is_some();
        let claims = MediaClaims {
            room: self.room.clone(),
            participant: who,
            publish: if publish {
                vec![Source::Microphone, Source::Camera]
            } else {
                vec![]
            },
            subscribe: !publish,
            muted: vec![],
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_millis() as i64;
        let token = durable_objects::media_token::mint(&self.seed, claims, now_ms)?;
        let sources = mids
            .map(|(a, v)| {
                vec![
                    TrackSource {
                        mid: a.to_string(),
                        source: Source::Microphone,
                    },
                    TrackSource {
                        mid: v.to_string(),
                        source: Source::Camera,
                    },
                ]
            })
            .unwrap_or_default();
        let response = self
            .http
            .post(format!("{}/rooms/{}/participants", self.control, self.room))
            .bearer_auth(&self.secret)
            .json(&JoinRequest {
                token,
                offer,
                sources,
            })
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            anyhow::bail!("join refused: {status} {}", response.text().await?);
        }
        Ok(response.json::<MediaAnswer>().await?.answer)
    }
}
