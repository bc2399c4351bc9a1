//! Password hashing: Argon2id, stored as a PHC string (parameters and salt
//! travel with the hash, so they can be raised later without a migration).

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};

/// Memory cost in KiB. With [`TIME_COST`] this is OWASP's minimum for
/// Argon2id (19 MiB, 2 passes, 1 lane); measured in workerd, see
/// ARCHITECTURE.md, it fits the Workers CPU budget of a login request.
pub const MEMORY_KIB: u32 = 19 * 1024;
/// Passes over memory.
pub const TIME_COST: u32 = 2;
/// Lanes; Workers run one thread.
pub const LANES: u32 = 1;

/// Shortest password accepted at sign-up (NIST SP 800-63B asks at least 8).
pub const MIN_PASSWORD_CHARS: usize = 10;
/// Longest password accepted; longer ones only cost hashing time.
pub const MAX_PASSWORD_CHARS: usize = 256;

fn hasher() -> Argon2<'static> {
    // The constants are valid parameters; `Params::new` only rejects
    // out-of-range values.
    let params = Params::new(MEMORY_KIB, TIME_COST, LANES, None).unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes `password` with a fresh 16-byte `salt` (from a CSPRNG).
pub fn hash(password: &str, salt: &[u8; 16]) -> Result<String, String> {
    hasher()
        .hash_password_with_salt(password.as_bytes(), salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing password: {e}"))
}

/// Whether `password` matches `stored` (constant time in the hash compare).
/// A malformed stored hash matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    hasher()
        .verify_password(password.as_bytes(), stored)
        .is_ok()
}

/// A valid hash of no one's password, verified against when the email is
/// unknown so that the answer takes as long as for a known one.
pub const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$lDAlQ5E1d6xhmu7FA7nvM4uSbiFoAuAv6e0Vg+DeqbE";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_carry_their_parameters() {
        let h = hash("correct horse battery", &[7; 16]).unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("correct horse battery", &h));
        assert!(!verify("correct horse batterY", &h));
        assert!(!verify("anything", "not a hash"));
    }

    #[test]
    fn the_dummy_hash_is_well_formed_and_matches_nothing_likely() {
        assert!(argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH).is_ok());
        assert!(!verify("", DUMMY_HASH));
        assert!(!verify("password123", DUMMY_HASH));
    }
}
