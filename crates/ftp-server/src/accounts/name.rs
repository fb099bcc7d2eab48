//! The one rule for account names: 1 to 32 characters of `a-z`, `0-9`,
//! `.`, `_` and `-`, not starting with a dot or a dash, and not one of the
//! reserved names that mean something else to an FTP server or a system.

use std::fmt;

/// Longest account name.
pub const MAX_NAME: usize = 32;

/// Names nobody may take: the anonymous logins and system accounts.
pub const RESERVED: &[&str] = &[
    "anonymous",
    "ftp",
    "root",
    "admin",
    "administrator",
    "daemon",
    "bin",
    "sys",
    "nobody",
    "postmaster",
    "operator",
    "www-data",
    "wharf",
    "wharfd",
];

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    Empty,
    TooLong,
    BadCharacter,
    BadStart,
    Reserved,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NameError::Empty => "name is empty",
            NameError::TooLong => "name is longer than 32 characters",
            NameError::BadCharacter => "name may only contain a-z, 0-9, '.', '_' and '-'",
            NameError::BadStart => "name may not start with '.' or '-'",
            NameError::Reserved => "name is reserved",
        })
    }
}

impl std::error::Error for NameError {}

/// Checks `name` against the rule.
pub fn validate_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    if name.len() > MAX_NAME {
        return Err(NameError::TooLong);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(NameError::BadCharacter);
    }
    if name.starts_with('.') || name.starts_with('-') {
        return Err(NameError::BadStart);
    }
    if RESERVED.contains(&name) {
        return Err(NameError::Reserved);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule() {
        assert_eq!(validate_name("alice"), Ok(()));
        assert_eq!(validate_name("a.b_c-9"), Ok(()));
        assert_eq!(validate_name(""), Err(NameError::Empty));
        assert_eq!(validate_name(&"a".repeat(33)), Err(NameError::TooLong));
        assert_eq!(validate_name("Alice"), Err(NameError::BadCharacter));
        assert_eq!(validate_name("a/b"), Err(NameError::BadCharacter));
        assert_eq!(validate_name("../x"), Err(NameError::BadCharacter));
        assert_eq!(validate_name(".hidden"), Err(NameError::BadStart));
        assert_eq!(validate_name("root"), Err(NameError::Reserved));
        assert_eq!(validate_name("ftp"), Err(NameError::Reserved));
    }
}
