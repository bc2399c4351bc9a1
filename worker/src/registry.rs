//! Media-node registry policy: what makes a node healthy, and input limits.
//! Pure; the D1 queries in `routes` apply it.

use protocol::node::Registration;

use crate::error::ApiError;

pub use durable_objects::placement::{
    DEFAULT_HEARTBEAT_MS, MISSED_HEARTBEATS, healthy_since, heartbeat_ms, stale_after_ms,
};

/// Largest registry request body.
pub const MAX_BODY_BYTES: usize = 4 * 1024;

/// Longest text field (URL, address, version) accepted in a registration.
const MAX_FIELD_CHARS: usize = 256;

/// Checks the free-text fields of a registration (ids are checked by serde).
pub fn validate(reg: &Registration) -> Result<(), ApiError> {
    let fields = [
        ("media_addr", &reg.media_addr),
        ("control_url", &reg.control_url),
        ("version", &reg.version),
    ];
    for (name, value) in fields {
        if value.is_empty() || value.chars().count() > MAX_FIELD_CHARS {
            return Err(ApiError::BadRequest(format!(
                "{name} must be 1 to {MAX_FIELD_CHARS} characters"
            )));
        }
    }
    if reg.media_addr.parse::<std::net::SocketAddr>().is_err() {
        return Err(ApiError::BadRequest("media_addr must be ip:port".into()));
    }
    if !(reg.control_url.starts_with("http://") || reg.control_url.starts_with("https://")) {
        return Err(ApiError::BadRequest(
            "control_url must be an http(s) URL".into(),
        ));
    }
    Ok(())
}

/// Compares two secrets in time independent of where they differ.
pub fn secrets_equal(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use protocol::node::NodeLoad;
    use protocol::{NodeId, Region};

    use super::*;

    fn reg(media_addr: &str, control_url: &str) -> Registration {
        Registration {
            id: NodeId::parse("n1").unwrap(),
            region: Region::parse("local").unwrap(),
            media_addr: media_addr.into(),
            control_url: control_url.into(),
            version: "0.1.0".into(),
            load: NodeLoad::default(),
        }
    }

    #[test]
    fn registration_fields_are_checked() {
        assert!(validate(&reg("127.0.0.1:3478", "http://127.0.0.1:7000")).is_ok());
        assert!(validate(&reg("[::1]:3478", "https://node.example")).is_ok());
        assert!(validate(&reg("not-an-addr", "http://x")).is_err());
        assert!(validate(&reg("127.0.0.1:1", "javascript:alert(1)")).is_err());
        assert!(validate(&reg("127.0.0.1:1", &"h".repeat(300))).is_err());
    }

    #[test]
    fn secret_comparison() {
        assert!(secrets_equal(b"abc", b"abc"));
        assert!(!secrets_equal(b"abc", b"abd"));
        assert!(!secrets_equal(b"abc", b"abcd"));
    }
}
