//! Request guards that need no storage: the cross-site request check and the
//! login rate-limit policy.

use crate::error::ApiError;

/// Refuses a state-changing request that a browser sent from another site.
///
/// SameSite=Lax already keeps the session cookie off cross-site POSTs; this
/// is the second layer. Browsers send `Origin` on every cross-origin request
/// and on same-origin POSTs, and `Sec-Fetch-Site` on all requests; clients
/// that send neither (curl, media nodes) carry no ambient cookie to abuse.
pub fn same_origin(
    method_is_safe: bool,
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    own_origin: &str,
) -> Result<(), ApiError> {
    if method_is_safe {
        return Ok(());
    }
    if let Some(origin) = origin
        && origin != own_origin
    {
        return Err(ApiError::Forbidden("cross-site request refused".into()));
    }
    match sec_fetch_site {
        None | Some("same-origin") | Some("none") => Ok(()),
        Some(_) => Err(ApiError::Forbidden("cross-site request refused".into())),
    }
}

/// Failed logins allowed per account within [`WINDOW_MS`].
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failed logins allowed per client address within [`WINDOW_MS`].
pub const MAX_FAILURES_PER_ADDRESS: i64 = 20;
/// The rate-limit window.
pub const WINDOW_MS: i64 = 15 * 60 * 1000;

/// Whether `failures` counted since `window_start_ms` still allow an attempt
/// at `now_ms`; an expired window allows it (and is restarted on the next
/// failure).
pub fn attempt_allowed(failures: i64, window_start_ms: i64, now_ms: i64, max: i64) -> bool {
    now_ms - window_start_ms >= WINDOW_MS || failures < max
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "https://meet.example.net";

    #[test]
    fn cross_site_writes_are_refused() {
        assert!(same_origin(false, Some(ME), Some("same-origin"), ME).is_ok());
        assert!(
            same_origin(false, None, None, ME).is_ok(),
            "non-browser client"
        );
        assert!(same_origin(false, Some("https://evil.example"), None, ME).is_err());
        assert!(same_origin(false, None, Some("cross-site"), ME).is_err());
        assert!(same_origin(false, None, Some("same-site"), ME).is_err());
        assert!(same_origin(true, Some("https://evil.example"), Some("cross-site"), ME).is_ok());
    }

    #[test]
    fn rate_limit_window() {
        assert!(attempt_allowed(4, 0, 1000, 5));
        assert!(!attempt_allowed(5, 0, 1000, 5));
        assert!(attempt_allowed(5, 0, WINDOW_MS, 5), "window over");
    }
}
