//! Session and invite tokens, and the session cookie.
//!
//! A token is 32 random bytes, sent to the browser as 64 hex characters and
//! stored only as its SHA-256: a leaked database holds no usable session.

use sha2::{Digest, Sha256};

/// Name of the session cookie.
pub const COOKIE: &str = "ot_session";

/// How long a session lasts unless the deployment sets `SESSION_TTL_SECONDS`.
pub const DEFAULT_TTL_SECONDS: u64 = 14 * 24 * 3600;

/// Hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token as the browser holds it.
pub fn encode_token(raw: &[u8; 32]) -> String {
    hex(raw)
}

/// What is stored for a token: hex SHA-256 of its text. Tokens that are not
/// 64 hex characters are refused before they are looked up.
pub fn token_hash(token: &str) -> Option<String> {
    let well_formed = token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit());
    well_formed.then(|| hex(&Sha256::digest(token.as_bytes())))
}

/// The session token in a `Cookie` header, if any.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == COOKIE).then_some(value)
    })
}

/// Whether the request is to this machine, where browsers accept `Secure`
/// cookies only over HTTPS, which local development does not have.
pub fn is_local_host(host: &str) -> bool {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    matches!(name, "localhost" | "127.0.0.1" | "[::1]")
}

/// `Set-Cookie` value that stores `token` for `ttl_seconds`.
pub fn set_cookie(token: &str, ttl_seconds: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={ttl_seconds}{secure}")
}

/// `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_hashed_and_malformed_ones_refused() {
        let t = encode_token(&[0xab; 32]);
        assert_eq!(t.len(), 64);
        let h = token_hash(&t).unwrap();
        assert_eq!(h.len(), 64);
        assert_ne!(h, t);
        assert_eq!(token_hash("short"), None);
        assert_eq!(token_hash(&"z".repeat(64)), None);
        assert_eq!(token_hash(&format!("{}'--", &t[..61])), None);
    }

    #[test]
    fn cookie_header_parsing() {
        assert_eq!(from_cookie_header("a=1; ot_session=abc; b=2"), Some("abc"));
        assert_eq!(from_cookie_header("ot_sessionx=abc"), None);
        assert_eq!(from_cookie_header(""), None);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_off_localhost() {
        let c = set_cookie("t", 60, true);
        assert_eq!(
            c,
            "ot_session=t; Path=/; HttpOnly; SameSite=Lax; Max-Age=60; Secure"
        );
        assert!(!set_cookie("t", 60, false).contains("Secure"));
        assert!(clear_cookie(false).contains("Max-Age=0"));
        assert!(
            is_local_host("127.0.0.1:8787")
                && is_local_host("localhost")
                && is_local_host("[::1]:80")
        );
        assert!(!is_local_host("meet.example.net"));
    }
}
