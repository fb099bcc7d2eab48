//! How the server signs what it sends to the operator's HTTP endpoints
//! (webhooks, pre-checks), so a receiver knows it came from this server
//! and can refuse replays: `X-Wharf-Timestamp` is the Unix time of the
//! request, and `X-Wharf-Signature` is `sha256=` and the lowercase hex
//! HMAC-SHA256, keyed with the shared secret, of
//! `TIMESTAMP + "." + BODY`. A receiver recomputes it, compares in
//! constant time, and refuses timestamps more than a few minutes away
//! from its clock.

use ring::hmac;

/// The header with the Unix time the signature covers.
pub const TIMESTAMP_HEADER: &str = "X-Wharf-Timestamp";
/// The header with the signature.
pub const SIGNATURE_HEADER: &str = "X-Wharf-Signature";
/// The shortest secret accepted, in bytes.
pub const MIN_SECRET: usize = 16;

/// A shared secret; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(/* redacted */)")
    }
}

/// Why a secret is refused.
#[derive(Debug, thiserror::Error)]
#[error("the secret has {0} bytes; use at least {MIN_SECRET} (e.g. `openssl rand -hex 32`)")]
pub struct WeakSecret(usize);

impl Secret {
    /// `text` without surrounding whitespace (a file's final newline).
    pub fn new(text: &str) -> Result<Secret, WeakSecret> {
        let bytes = text.trim().as_bytes().to_vec();
        if bytes.len() < MIN_SECRET {
            return Err(WeakSecret(bytes.len()));
        }
        Ok(Secret(bytes))
    }

    /// The `X-Wharf-Signature` value for `body` sent at `timestamp`.
    pub fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let mut mac = hmac::Context::with_key(&key);
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        let hex: String = mac
            .sign()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("sha256={hex}")
    }
}

/// The Unix time now, in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // As Python computes it:
        // hmac.new(b"0123456789abcdef", b"1700000000.{}", "sha256").hexdigest()
        let s = Secret::new("0123456789abcdef\n").unwrap();
        assert_eq!(
            s.sign(1_700_000_000, b"{}"),
            "sha256=e4f8e2ecae2295b2ddb2f0b5584c8275e226c0ebe9b3b819e70156bb67122e3e"
        );
    }

    #[test]
    fn short_secrets_are_refused_and_none_is_ever_printed() {
        assert!(Secret::new("short").is_err());
        let s = Secret::new("a-long-enough-secret").unwrap();
        assert!(!format!("{s:?}").contains("long"));
    }
}
