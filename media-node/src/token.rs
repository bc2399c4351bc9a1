//! Verifying media tokens: the node admits a participant only with a token
//! signed by the worker side's key, unexpired, for this room.

use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Ed25519, VerifyingKey};
use jwt_compact::{AlgorithmExt, TimeOptions, Token, UntrustedToken};
use protocol::RoomId;
use protocol::media::MediaClaims;

/// Clock skew tolerated between the worker and the node.
pub const LEEWAY_SECONDS: i64 = 5;

/// Why a token is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT at all.
    #[error("malformed media token")]
    Malformed,
    /// Not signed by the worker side's key (or not EdDSA).
    #[error("media token signature is invalid")]
    Forged,
    /// Past its expiry, or without one.
    #[error("media token has expired")]
    Expired,
    /// Signed for another room.
    #[error("media token is for another room")]
    OtherRoom,
}

/// The public key media tokens are checked against.
#[derive(Clone)]
pub struct TokenKey(ed25519_compact::PublicKey);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

impl TokenKey {
    /// From 64 hex characters (the worker side's `public_key_hex`).
    pub fn from_hex(hex: &str) -> Option<Self> {
        let hex = hex.trim();
        if hex.len() != 64 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..32)
            .map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
            .collect();
        let key =
            <ed25519_compact::PublicKey as VerifyingKey<Ed25519>>::from_slice(&bytes?).ok()?;
        Some(TokenKey(key))
    }
}

/// Checks `token` for `room` at `now_ms` and returns its grants.
pub fn verify(
    token: &str,
    key: &TokenKey,
    room: &RoomId,
    now_ms: i64,
) -> Result<MediaClaims, TokenError> {
    let untrusted = UntrustedToken::new(token).map_err(|_| TokenError::Malformed)?;
    let token: Token<MediaClaims> = Ed25519
        .validator(&key.0)
        .validate(&untrusted)
        .map_err(|_| TokenError::Forged)?;
    let now: DateTime<Utc> = DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let time = TimeOptions::new(Duration::seconds(LEEWAY_SECONDS), move || now);
    token
        .claims()
        .validate_expiration(&time)
        .map_err(|_| TokenError::Expired)?;
    let claims = token.into_parts().1.custom;
    if &claims.room != room {
        return Err(TokenError::OtherRoom);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use durable_objects::media_token::{self, TTL_SECONDS};
    use protocol::ParticipantId;
    use protocol::media::Source;

    use super::*;

    const SEED: &str = "4f1c2a7d9e8b3c6a5f0e1d2c3b4a59687766554433221100ffeeddccbbaa9988";
    const OTHER_SEED: &str = "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20";
    const NOW: i64 = 1_795_000_000_000;

    fn room(s: &str) -> RoomId {
        RoomId::parse(s).unwrap()
    }

    fn claims() -> MediaClaims {
        MediaClaims {
            room: room("r1"),
            participant: ParticipantId::parse("u-ada").unwrap(),
            publish: vec![Source::Camera, Source::Microphone],
            muted: vec![],
            subscribe: true,
        }
    }

    fn key(seed: &str) -> TokenKey {
        TokenKey::from_hex(&media_token::public_key_hex(seed).unwrap()).unwrap()
    }

    fn check(token: &str, at: i64, in_room: &str) -> Result<MediaClaims, TokenError> {
        verify(token, &key(SEED), &room(in_room), at)
    }

    #[test]
    fn a_token_minted_by_the_worker_side_carries_its_grants() {
        let token = media_token::mint(SEED, claims(), NOW).unwrap();
        let got = check(&token, NOW + 1000, "r1").unwrap();
        assert_eq!(got, claims());
        assert!(got.may_publish(Source::Camera) && !got.may_publish(Source::Screen));
    }

    #[test]
    fn expired_forged_tampered_malformed_and_other_room_tokens_are_refused() {
        let token = media_token::mint(SEED, claims(), NOW).unwrap();
        let after_expiry = NOW + (TTL_SECONDS + LEEWAY_SECONDS + 1) * 1000;
        assert_eq!(check(&token, after_expiry, "r1"), Err(TokenError::Expired));
        assert_eq!(check(&token, NOW, "r2"), Err(TokenError::OtherRoom));

        let forged = media_token::mint(OTHER_SEED, claims(), NOW).unwrap();
        assert_eq!(check(&forged, NOW, "r1"), Err(TokenError::Forged));

        // Swap in claims granting more, keeping the original signature.
        let mut greedy = claims();
        greedy.publish.push(Source::Screen);
        let other = media_token::mint(OTHER_SEED, greedy, NOW).unwrap();
        let (head, rest) = token.split_once('.').unwrap();
        let signature = rest.rsplit_once('.').unwrap().1;
        let payload = other.split('.').nth(1).unwrap();
        let tampered = format!("{head}.{payload}.{signature}");
        assert_eq!(check(&tampered, NOW, "r1"), Err(TokenError::Forged));

        for junk in ["", "a.b", "not a token", "a.b.c.d", "\u{0}"] {
            assert!(check(junk, NOW, "r1").is_err(), "{junk:?}");
        }
        assert!(TokenKey::from_hex("zz").is_none());
        assert!(TokenKey::from_hex(&"x".repeat(64)).is_none());
    }
}
