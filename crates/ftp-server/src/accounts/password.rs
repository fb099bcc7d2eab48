//! Passwords: Argon2id hashes in PHC string form, with the argon2 crate's
//! default cost (19 MiB, 2 passes), which OWASP recommends for logins.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;

/// Longest password accepted, checked before any hashing work.
pub const MAX_PASSWORD: usize = 128;

/// Hashes `password` with a fresh random salt.
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash password: {e}"))
}

/// Whether `password` matches `hash`. A malformed hash never matches.
pub fn verify_password(hash: &str, password: &[u8]) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default().verify_password(password, &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_password(b"correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password(&h, b"correct horse"));
        assert!(!verify_password(&h, b"wrong"));
        assert!(!verify_password("garbage", b"correct horse"));
    }
}
