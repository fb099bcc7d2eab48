//! The console's pages and forms. Each form posts to its own route, which
//! checks the CSRF field, runs the action and redirects back (303) with a
//! notice, so a reload never repeats it; a refusal is shown on a page
//! with the API's status code and message.

pub mod accounts;
pub mod common;
pub mod dashboard;
pub mod folder_forms;
pub mod group_forms;
pub mod groups;
pub mod login;
pub mod pending;
pub mod sessions;
pub mod transfers;

pub use accounts::{account, accounts, create, update};
pub use dashboard::{audit, dashboard};
pub use groups::{group, groups};
pub use login::{login, login_form, logout};
pub use pending::{approve, pending, reject};
pub use sessions::{disconnect, sessions};
pub use transfers::transfers;
