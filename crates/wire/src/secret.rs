//! [`Secret`]: a password (or any credential) that never shows itself.
//!
//! Its `Debug` prints `****`, so a URL, a login or an error that holds one
//! can be logged or `{:?}`-printed without leaking it; the text is reached
//! only through [`Secret::expose`], which is easy to search for.

/// A credential whose `Debug` never prints it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Secret {
        Secret(text.into())
    }

    /// The credential itself, to send to the server.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("****")
    }
}

impl From<String> for Secret {
    fn from(text: String) -> Secret {
        Secret(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_prints_the_secret() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "****");
        assert_eq!(format!("{:?}", Some(s.clone())), "Some(****)");
        assert_eq!(s.expose(), "hunter2");
    }
}
