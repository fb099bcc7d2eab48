//! Passwords: Argon2id hashes in PHC string form, with the argon2 crate's
//! default cost (19 MiB, 2 passes), which OWASP recommends for logins.
//!
//! Each computation runs in a [`WorkMemory`] the caller gives (a verifier
//! thread keeps one; see [`super::verifier`]), or in one of its own that
//! goes back to the system when it returns.

use super::workmem::WorkMemory;
use argon2::password_hash::{rand_core::OsRng, Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

/// Longest password accepted, checked before any hashing work.
pub const MAX_PASSWORD: usize = 128;

/// Hashes `password` with a fresh random salt.
pub fn hash_password(password: &[u8]) -> Result<String, String> {
    hash_password_in(password, &mut WorkMemory::default())
}

/// [`hash_password`] in `memory`.
pub fn hash_password_in(password: &[u8], memory: &mut WorkMemory) -> Result<String, String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot hash password: {e}");
    let salt = SaltString::generate(&mut OsRng);
    let params = Params::default();
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let blocks = memory.blocks(params.block_count()).map_err(|e| fail(&e))?;
    let output = Output::init_with(Params::DEFAULT_OUTPUT_LEN, |out| {
        Ok(argon.hash_password_into_with_memory(password, raw_salt, out, &mut *blocks)?)
    })
    .map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(output),
    };
    Ok(hash.to_string())
}

/// Whether `password` matches `hash`. A malformed hash never matches.
pub fn verify_password(hash: &str, password: &[u8]) -> bool {
    verify_password_in(hash, password, &mut WorkMemory::default())
}

/// [`verify_password`] in `memory`, which keeps its blocks afterwards.
pub fn verify_password_in(hash: &str, password: &[u8], memory: &mut WorkMemory) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let mut salt_bytes = [0u8; 64];
    let Ok(raw_salt) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let Ok(blocks) = memory.blocks(params.block_count()) else {
        return false;
    };
    let argon = Argon2::new(algorithm, version, params);
    let computed = Output::init_with(expected.len(), |out| {
        Ok(argon.hash_password_into_with_memory(password, raw_salt, out, &mut *blocks)?)
    });
    // `Output`'s equality is constant-time.
    computed.is_ok_and(|c| c == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    #[test]
    fn hash_and_verify() {
        let h = hash_password(b"correct horse").unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, b"correct horse"));
        assert!(!verify_password(&h, b"wrong"));
        assert!(!verify_password("garbage", b"correct horse"));
        assert!(!verify_password(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ",
            b"x"
        ));
    }

    /// The same answers as the argon2 crate's own hasher and verifier, with
    /// other costs and algorithms too, in one reused memory.
    #[test]
    fn agrees_with_the_argon2_crate() {
        let mut memory = WorkMemory::default();
        let ours = hash_password_in(b"pw", &mut memory).unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        assert!(Argon2::default().verify_password(b"pw", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"pv", &parsed).is_err());
        let salt = SaltString::generate(&mut OsRng);
        for (alg, m, t, p) in [
            (Algorithm::Argon2id, 8192, 1, 1),
            (Algorithm::Argon2i, 4096, 3, 2),
            (Algorithm::Argon2d, 32768, 1, 4),
        ] {
            let params = Params::new(m, t, p, None).unwrap();
            let theirs = Argon2::new(alg, Version::V0x13, params)
                .hash_password(b"secret", &salt)
                .unwrap()
                .to_string();
            assert!(
                verify_password_in(&theirs, b"secret", &mut memory),
                "{theirs}"
            );
            assert!(!verify_password_in(&theirs, b"secreT", &mut memory));
        }
        // The memory grew to the largest cost asked and was kept.
        assert_eq!(memory.held(), 32768);
    }
}
