//! Identifiers that arrive from the network, validated once at the edge.
//!
//! An id is a short ASCII slug: it is safe to embed in a URL path, a storage
//! key or a log line without escaping, which is why raw strings never cross
//! into the cores.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Longest id accepted, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The string was empty.
    #[error("id is empty")]
    Empty,
    /// The string was longer than [`MAX_ID_LEN`].
    #[error("id is longer than {MAX_ID_LEN} bytes")]
    TooLong,
    /// The string held a character other than `a-z`, `0-9`, `-` or `_`.
    #[error("id may contain only a-z, 0-9, '-' and '_'")]
    BadCharacter,
}

fn validate(s: &str) -> Result<(), IdError> {
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    if s.len() > MAX_ID_LEN {
        return Err(IdError::TooLong);
    }
    let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_';
    if !s.chars().all(ok) {
        return Err(IdError::BadCharacter);
    }
    Ok(())
}

macro_rules! slug_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates `s` as an id.
            pub fn parse(s: &str) -> Result<Self, IdError> {
                validate(s)?;
                Ok(Self(s.to_owned()))
            }

            /// The id as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                validate(&s)?;
                Ok(Self(s))
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

slug_id!(
    /// A room, as named in `/rooms/{id}/ws`. One Room Durable Object per id.
    RoomId
);
slug_id!(
    /// A media node, chosen by its operator and stable across restarts.
    NodeId
);
slug_id!(
    /// An account, generated at sign-up; never the email, which can change.
    UserId
);
slug_id!(
    /// An invite, as listed and revoked by hosts (not its secret token).
    InviteId
);
slug_id!(
    /// A participant of a room: `u-<user id>` for an account, `g-<guest id>`
    /// for a guest. Stable across reconnects.
    ParticipantId
);
slug_id!(
    /// A deployment region of media nodes (`eu-west`, `us-east`, `local`).
    Region
);

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: Result<(), IdError>) {
        assert_eq!(RoomId::parse(input).map(|_| ()), expect, "input {input:?}");
    }

    #[test]
    fn accepts_slugs() {
        check("standup", Ok(()));
        check("team-42_b", Ok(()));
        check(&"a".repeat(MAX_ID_LEN), Ok(()));
    }

    #[test]
    fn refuses_everything_else() {
        check("", Err(IdError::Empty));
        check(&"a".repeat(MAX_ID_LEN + 1), Err(IdError::TooLong));
        check("Upper", Err(IdError::BadCharacter));
        check("../etc", Err(IdError::BadCharacter));
        check("a b", Err(IdError::BadCharacter));
        check("é", Err(IdError::BadCharacter));
    }

    #[test]
    fn deserialising_validates() {
        let bad: Result<RoomId, _> = serde_json::from_str("\"<script>\"");
        assert!(bad.is_err());
        let good: RoomId = serde_json::from_str("\"ok-1\"").unwrap();
        assert_eq!(good.as_str(), "ok-1");
    }
}
