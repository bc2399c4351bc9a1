//! Minting media tokens: short-lived EdDSA JWTs naming the room, the
//! participant and their media grants (`protocol::media::MediaClaims`).
//!
//! The signing key is a 32-byte Ed25519 seed (the deployment secret
//! `MEDIA_TOKEN_SEED`, hex); media nodes are configured with its public key
//! ([`public_key_hex`]). Pure: the caller passes the time.

use chrono::{DateTime, Duration, Utc};
use jwt_compact::alg::{Ed25519, SigningKey};
use jwt_compact::{AlgorithmExt, Claims, Header, TimeOptions};
use protocol::media::MediaClaims;

/// How long a media token is valid: long enough to connect, short enough
/// that a leaked one is soon useless. Renegotiation mints a new one.
pub const TTL_SECONDS: i64 = 120;

/// Why a token could not be minted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MintError {
    /// The seed is not 64 hex characters.
    #[error("MEDIA_TOKEN_SEED must be 64 hex characters")]
    BadSeed,
    /// Signing failed.
    #[error("signing the media token: {0}")]
    Sign(String),
}

fn parse_seed(hex: &str) -> Result<[u8; 32], MintError> {
    let hex = hex.trim();
    if hex.len() != 64 {
        return Err(MintError::BadSeed);
    }
    let mut seed = [0u8; 32];
    for (i, byte) in seed.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| MintError::BadSeed)?;
    }
    Ok(seed)
}

fn key_pair(seed_hex: &str) -> Result<ed25519_compact::KeyPair, MintError> {
    // `try_from_seed` refuses an all-zero seed rather than panicking.
    ed25519_compact::KeyPair::try_from_seed(ed25519_compact::Seed::new(parse_seed(seed_hex)?))
        .map_err(|_| MintError::BadSeed)
}

/// The public key media nodes verify with, as hex.
pub fn public_key_hex(seed_hex: &str) -> Result<String, MintError> {
    Ok(key_pair(seed_hex)?
        .pk
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// A token for `claims`, issued at `now_ms`, valid for [`TTL_SECONDS`].
pub fn mint(seed_hex: &str, claims: MediaClaims, now_ms: i64) -> Result<String, MintError> {
    let now: DateTime<Utc> = DateTime::from_timestamp_millis(now_ms).unwrap_or_default();
    let time = TimeOptions::new(Duration::seconds(0), move || now);
    let claims =
        Claims::new(claims).set_duration_and_issuance(&time, Duration::seconds(TTL_SECONDS));
    let key = <ed25519_compact::SecretKey as SigningKey<Ed25519>>::from_slice(
        key_pair(seed_hex)?.sk.as_ref(),
    )
    .map_err(|e| MintError::Sign(e.to_string()))?;
    Ed25519
        .token(&Header::empty(), &claims, &key)
        .map_err(|e| MintError::Sign(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_are_checked() {
        assert_eq!(parse_seed("zz").unwrap_err(), MintError::BadSeed);
        assert_eq!(parse_seed(&"g".repeat(64)).unwrap_err(), MintError::BadSeed);
        assert_eq!(
            public_key_hex(&"00".repeat(32)).unwrap_err(),
            MintError::BadSeed
        );
        assert_eq!(public_key_hex(&"01".repeat(32)).unwrap().len(), 64);
    }
}
