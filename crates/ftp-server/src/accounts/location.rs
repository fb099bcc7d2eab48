//! [`StoreLocation`]: which account store one setting names — a SQLite
//! file path, or a `postgres://` URL — and opening it.

use super::{AccountError, AccountStore, PgStore, SqliteStore};
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the accounts are.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// The embedded SQLite database file.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (it may hold a password).
    Postgres(String),
}

impl StoreLocation {
    /// `postgres://…` or `postgresql://…` is PostgreSQL; anything else is a
    /// SQLite file path (`sqlite:` in front is allowed).
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the account store setting is empty; give a file path or postgres://USER:PASSWORD@HOST:PORT/DB".into());
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(text.to_string()));
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "account store scheme {scheme:?} is not supported; use a SQLite file path or postgres://USER:PASSWORD@HOST:PORT/DB"
            ));
        }
        let path = text.strip_prefix("sqlite:").unwrap_or(text);
        Ok(StoreLocation::Sqlite(PathBuf::from(path)))
    }

    pub fn is_shared(&self) -> bool {
        matches!(self, StoreLocation::Postgres(_))
    }

    /// Opens the store for admin commands (no instance lease).
    pub async fn open(&self) -> Result<Arc<dyn AccountStore>, AccountError> {
        Ok(match self {
            StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open(path).await?),
            StoreLocation::Postgres(url) => Arc::new(PgStore::open(url).await?),
        })
    }

    /// Opens the store for a serving instance: a SQLite file must pass an
    /// integrity check ([`SqliteStore::open_serving`]); with PostgreSQL, the
    /// instance takes a lease of `lease` (see [`PgStore::open_serving`]).
    pub async fn open_serving(
        &self,
        lease: Duration,
    ) -> Result<Arc<dyn AccountStore>, AccountError> {
        Ok(match self {
            StoreLocation::Sqlite(path) => Arc::new(SqliteStore::open_serving(path).await?),
            StoreLocation::Postgres(url) => Arc::new(PgStore::open_serving(url, lease).await?),
        })
    }
}

/// Shows the location with any password masked.
impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&super::postgres::mask_password(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            StoreLocation::parse("/srv/w.db").unwrap(),
            StoreLocation::Sqlite("/srv/w.db".into())
        );
        assert_eq!(
            StoreLocation::parse("sqlite:w.db").unwrap(),
            StoreLocation::Sqlite("w.db".into())
        );
        let pg = StoreLocation::parse("postgres://u:pw@127.0.0.1:5432/db").unwrap();
        assert!(pg.is_shared());
        assert_eq!(pg.to_string(), "postgres://u:***@127.0.0.1:5432/db");
        assert!(format!("{pg:?}").contains("***"));
        assert!(StoreLocation::parse("mysql://x/y").is_err());
        assert!(StoreLocation::parse(" ").is_err());
    }
}
