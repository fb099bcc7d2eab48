//! The TOTP step of an admin login: after the password, an admin with a
//! TOTP secret (`wharfd admins totp NAME`) must give a current code that
//! was not used before ([`ftp_server::accounts::totp`] does the checking,
//! for the API's `POST /api/login` and the console's form alike). A
//! missing or wrong code is a failed login like a wrong password: it
//! counts towards the lockout and gets the same answer.

use crate::error::ApiError;
use ftp_server::accounts::operators::{AdminRecord, AdminStore};
use ftp_server::accounts::totp;

/// What every failed login is told, whichever part was wrong.
pub const REFUSED: &str = "wrong admin name or password, or a missing or wrong code";

/// Whether the admin (already past the password) passes the second
/// factor with `code`; an unknown admin never does.
pub async fn passes(
    admins: &dyn AdminStore,
    record: Option<&AdminRecord>,
    code: Option<&str>,
) -> Result<bool, ApiError> {
    let Some(record) = record else {
        return Ok(false);
    };
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    Ok(totp::passes(admins, record, code).await?)
}
