//! A TOTP second factor for admin accounts (RFC 6238 over RFC 4226 HOTP:
//! HMAC-SHA-1, 6 digits, 30-second steps, one step of clock skew either
//! way) — what every authenticator app speaks. This module owns the code
//! arithmetic, the secret's base32 form and `otpauth://` URI, and the one
//! path that enrols, disables and checks a code for `wharfd admins totp`
//! and the admin HTTP server alike.
//!
//! The HMAC is `ring`'s (already the TLS and webhook crypto), so no new
//! crate is needed; base32 (RFC 4648, no padding) is a few lines here.
//! The secret is kept in the admin table (it must be: the server computes
//! the same codes); a code is accepted once: the store records the last
//! step used and refuses that step and any earlier one, atomically, so a
//! code seen on the wire cannot be replayed, on this instance or another.

use super::operators::{unix_now, AdminRecord, AdminStore, OperatorError};
use super::AccountError;
use rand::RngCore;
use ring::hmac;
use std::fmt;

/// Digits in a code.
pub const DIGITS: usize = 6;
/// Seconds in one time step.
pub const STEP_SECS: u64 = 30;
/// Steps of clock skew accepted either side of now.
pub const SKEW: u64 = 1;
/// Bytes of a new secret (160 bits, RFC 4226's recommendation).
const SECRET_BYTES: usize = 20;
/// The issuer an authenticator app shows.
const ISSUER: &str = "Wharf";
/// The schema step that adds the admin table's TOTP columns (the same
/// SQL for SQLite and PostgreSQL).
pub(super) const TOTP_STEP: &str = "ALTER TABLE admins ADD COLUMN totp_secret TEXT;
    ALTER TABLE admins ADD COLUMN totp_last_step BIGINT;";

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// `bytes` in RFC 4648 base32, without padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((acc >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((acc << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The bytes of base32 `text` (case, spaces and padding ignored); `None`
/// if it has any other character.
pub fn unbase32(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !matches!(c, b' ' | b'=')) {
        let v = BASE32.iter().position(|&x| x == c.to_ascii_uppercase())?;
        acc = ((acc << 5) | v as u32) & 0xffff;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// The HOTP code (RFC 4226 §5.3) of `secret` at counter `step`.
pub fn code_at(secret: &[u8], step: u64) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let word = u32::from_be_bytes([
        mac[offset] & 0x7f,
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]);
    word % 10u32.pow(DIGITS as u32)
}

/// The step of Unix time `unix` seconds.
pub fn step_of(unix: u64) -> u64 {
    unix / STEP_SECS
}

/// The step within [`SKEW`] of `now` (Unix seconds) whose code is `code`,
/// the earliest if several; `None` for a wrong or malformed code. Every
/// candidate is computed and compared in full, whatever matches.
pub fn matching_step(secret: &[u8], code: &str, now: u64) -> Option<u64> {
    let code = code.trim();
    if code.len() != DIGITS || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let given: u32 = code.parse().ok()?;
    let now = step_of(now);
    let mut found = None;
    for step in now.saturating_sub(SKEW)..=now + SKEW {
        let hit = code_at(secret, step) == given;
        if hit && found.is_none() {
            found = Some(step);
        }
    }
    found
}

/// A new secret, as an admin's authenticator app takes it; its `Debug`
/// hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Enrolment {
    /// The secret in base32.
    pub secret: String,
    /// The `otpauth://totp/…` URI (for a QR code).
    pub uri: String,
}

impl fmt::Debug for Enrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Enrolment(/* redacted */)")
    }
}

/// The `otpauth://` URI of `secret` (base32) for admin `name`.
pub fn otpauth_uri(name: &str, secret: &str) -> String {
    let label: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!(
        "otpauth://totp/{ISSUER}:{label}?secret={secret}&issuer={ISSUER}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}"
    )
}

/// Gives admin `name` a new TOTP secret (replacing any old one): from now
/// on their logins need a code (`wharfd admins totp NAME`).
pub async fn enrol(store: &dyn AdminStore, name: &str) -> Result<Enrolment, OperatorError> {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = base32(&bytes);
    set(store, name, Some(&secret)).await?;
    Ok(Enrolment {
        uri: otpauth_uri(name, &secret),
        secret,
    })
}

/// Removes admin `name`'s TOTP secret: their logins need no code again
/// (`wharfd admins totp NAME --disable`).
pub async fn disable(store: &dyn AdminStore, name: &str) -> Result<(), OperatorError> {
    set(store, name, None).await
}

async fn set(
    store: &dyn AdminStore,
    name: &str,
    secret: Option<&str>,
) -> Result<(), OperatorError> {
    match store.admin_set_totp(name, secret).await {
        Err(AccountError::NotFound(_)) => Err(OperatorError::NoAdmin(name.to_string())),
        other => Ok(other?),
    }
}

/// Whether `admin` may pass the second factor with `code`: always, if they
/// have no TOTP secret; otherwise only with a code of a step within the
/// skew that was not used before (using it, so it is refused next time).
/// A stored secret that is not base32 fails closed.
pub async fn passes(
    store: &dyn AdminStore,
    admin: &AdminRecord,
    code: Option<&str>,
) -> Result<bool, AccountError> {
    let Some(secret) = &admin.totp_secret else {
        return Ok(true);
    };
    let Some(secret) = unbase32(secret).filter(|s| !s.is_empty()) else {
        tracing::error!(admin = %admin.name, "the stored TOTP secret is not base32; refusing the login");
        return Ok(false);
    };
    let now = u64::try_from(unix_now()).unwrap_or(0);
    let Some(step) = code.and_then(|c| matching_step(&secret, c, now)) else {
        return Ok(false);
    };
    let step = i64::try_from(step).unwrap_or(i64::MAX);
    store.admin_totp_use(&admin.name, step).await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B's SHA-1 seed.
    const SEED: &[u8] = b"12345678901234567890";

    #[test]
    fn rfc_6238_sha1_vectors_in_six_digits() {
        // (time, the 8-digit code of Appendix B)
        for (t, eight) in [
            (59u64, 94_287_082u32),
            (1_111_111_109, 7_081_804),
            (1_111_111_111, 14_050_471),
            (1_234_567_890, 89_005_924),
            (2_000_000_000, 69_279_037),
            (20_000_000_000, 65_353_130),
        ] {
            assert_eq!(code_at(SEED, step_of(t)), eight % 1_000_000, "t={t}");
        }
    }

    #[test]
    fn rfc_4226_hotp_vectors() {
        let want = [755_224, 287_082, 359_152, 969_429, 338_314];
        for (count, code) in want.iter().enumerate() {
            assert_eq!(code_at(SEED, count as u64), *code);
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(unbase32("mzxw6ytboi======").unwrap(), b"foobar");
        assert_eq!(unbase32("MZXW 6YTB OI").unwrap(), b"foobar");
        assert_eq!(unbase32("MZ1"), None);
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unbase32(&base32(&bytes)).unwrap(), bytes);
    }

    #[test]
    fn a_code_matches_within_one_step_either_way() {
        let now = 1_234_567_890;
        let step = step_of(now);
        for s in [step - 1, step, step + 1] {
            let code = format!("{:06}", code_at(SEED, s));
            assert_eq!(matching_step(SEED, &code, now), Some(s));
        }
        let far = format!("{:06}", code_at(SEED, step + 2));
        assert_eq!(matching_step(SEED, &far, now), None);
        assert_eq!(matching_step(SEED, "12345", now), None);
        assert_eq!(matching_step(SEED, "abcdef", now), None);
        assert_eq!(matching_step(SEED, "", now), None);
    }

    #[test]
    fn the_uri_names_the_issuer_and_parameters() {
        assert_eq!(
            otpauth_uri("opal", "ABC"),
            "otpauth://totp/Wharf:opal?secret=ABC&issuer=Wharf&algorithm=SHA1&digits=6&period=30"
        );
    }
}
