//! Checks and normalisation of what users type: emails, names, passwords.
//! Names are stored as typed (after trimming) and rendered as text by the
//! client; control characters and over-long values are refused here.

use crate::error::ApiError;
use crate::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};

/// Longest email accepted (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
/// Longest display name.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest room name.
pub const MAX_ROOM_NAME_CHARS: usize = 100;

/// A lower-cased, trimmed email with one `@` and a dot in its domain.
pub fn email(raw: &str) -> Result<String, ApiError> {
    let e = raw.trim().to_lowercase();
    let bad = || ApiError::BadRequest("email is not a valid address".into());
    if e.chars().count() > MAX_EMAIL_CHARS || e.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(bad());
    }
    let (local, domain) = e.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
    {
        return Err(bad());
    }
    Ok(e)
}

/// A trimmed display text of 1 to `max` characters without control characters.
pub fn text(field: &str, raw: &str, max: usize) -> Result<String, ApiError> {
    let t = raw.trim();
    if t.is_empty() || t.chars().count() > max {
        return Err(ApiError::BadRequest(format!(
            "{field} must be 1 to {max} characters"
        )));
    }
    if t.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(format!(
            "{field} may not contain control characters"
        )));
    }
    Ok(t.to_owned())
}

/// A new password of acceptable length.
pub fn new_password(raw: &str) -> Result<(), ApiError> {
    let n = raw.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Err(ApiError::BadRequest(format!(
            "password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert_eq!(email("  Ada@Example.ORG ").unwrap(), "ada@example.org");
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "a@b",
            "a b@c.d",
            "a@b@c.d",
            "a@.c",
            "a@c.",
            "a\u{0}@b.c",
        ] {
            assert!(email(bad).is_err(), "{bad:?}");
        }
        assert!(email(&format!("{}@e.org", "a".repeat(250))).is_err());
    }

    #[test]
    fn names_and_passwords() {
        assert_eq!(text("name", "  Ada  ", 64).unwrap(), "Ada");
        assert_eq!(
            text("name", "<b>Ada</b>", 64).unwrap(),
            "<b>Ada</b>",
            "stored as typed, shown as text"
        );
        assert!(text("name", "   ", 64).is_err());
        assert!(text("name", "a\u{7}b", 64).is_err());
        assert!(text("name", &"é".repeat(65), 64).is_err());
        assert!(new_password("short").is_err());
        assert!(new_password("long enough pw").is_ok());
        assert!(new_password(&"x".repeat(257)).is_err());
    }
}
