//! `wharfd admins …`: the operators of the admin console and API, their
//! API tokens and the audit log, in the account store. Every change made
//! here, and every account change of `wharfd users`, is audited with the
//! client `cli` ([`audit_cli`]).

use crate::cli::AdminsCommand;
use crate::users::{format_time, open, read_password};
use anyhow::{bail, Context, Result};
use ftp_server::accounts::operators::{self, Scope};
use ftp_server::accounts::totp;
use ftp_server::accounts::{AccountStore, AdminStore};

/// Who the audit log names for the command line: the login user.
fn cli_user() -> String {
    std::env::var("USER").unwrap_or_else(|_| "cli".to_string())
}

/// Writes an account change made by a `wharfd users` command to the audit
/// log, as the console's are. The change is made already: a log that
/// cannot be written is reported, not a reason to fail the command.
pub(crate) async fn audit_cli(store: &dyn AccountStore, action: &str, target: &str) {
    let Some(admins) = store.admins() else {
        return;
    };
    if let Err(e) = operators::audit(admins, &cli_user(), action, target, "cli").await {
        eprintln!("wharfd: the change was made but not written to the audit log: {e}");
    }
}

pub async fn run(cmd: AdminsCommand) -> Result<()> {
    let location = match &cmd {
        AdminsCommand::Add { location, .. }
        | AdminsCommand::List { location }
        | AdminsCommand::Remove { location, .. }
        | AdminsCommand::Token { location, .. }
        | AdminsCommand::Totp { location, .. }
        | AdminsCommand::Audit { location, .. } => location.clone(),
    };
    let (store, _) = open(&location).await?;
    let admins: &dyn AdminStore = store
        .admins()
        .context("this account store keeps no admin accounts")?;
    let audit = |action: &'static str, target: String| {
        let who = cli_user();
        async move { operators::audit(admins, &who, action, &target, "cli").await }
    };
    match cmd {
        AdminsCommand::Add {
            name,
            password_stdin,
            ..
        } => {
            if admins.admin_find(&name).await?.is_some() {
                bail!(
                    "admin {name:?} already exists (remove it first: wharfd admins remove {name})"
                );
            }
            let password = read_password(password_stdin)?;
            operators::add_admin(admins, &name, password.as_bytes())
                .await
                .with_context(|| format!("cannot add admin {name:?}"))?;
            audit("admins.add", name.clone()).await?;
            println!("added admin {name}; log in at /console/ of --admin-listen");
        }
        AdminsCommand::List { .. } => {
            let all = admins.admin_list().await?;
            if all.is_empty() {
                println!("no admins; add one with: wharfd admins add NAME");
            }
            for a in all {
                let totp = if a.totp_secret.is_some() {
                    "  TOTP on"
                } else {
                    ""
                };
                println!("{:<24} added {}{totp}", a.name, format_time(a.created_at));
            }
        }
        AdminsCommand::Remove { name, .. } => {
            admins.admin_remove(&name).await.with_context(|| {
                format!("cannot remove admin {name:?} (see: wharfd admins list)")
            })?;
            audit("admins.remove", name.clone()).await?;
            println!("removed admin {name} and its API tokens");
        }
        AdminsCommand::Token { name, scope, .. } => {
            let scope = Scope::parse(&scope)
                .with_context(|| format!("bad scope {scope:?}: use read or admin"))?;
            let token = operators::issue_token(admins, &name, scope)
                .await
                .with_context(|| {
                    format!("cannot make a token for {name:?} (see: wharfd admins list)")
                })?;
            audit("admins.token", format!("{name} ({})", scope.as_str())).await?;
            eprintln!(
                "token for {name} with scope {} (shown once; keep it secret):",
                scope.as_str()
            );
            println!("{}", token.expose());
        }
        AdminsCommand::Totp {
            name,
            disable: true,
            ..
        } => {
            totp::disable(admins, &name).await.with_context(|| {
                format!("cannot turn TOTP off for {name:?} (see: wharfd admins list)")
            })?;
            audit("admins.totp.disable", name.clone()).await?;
            println!("TOTP is off for {name}: logins need the password only");
        }
        AdminsCommand::Totp { name, .. } => {
            let new = totp::enrol(admins, &name).await.with_context(|| {
                format!("cannot turn TOTP on for {name:?} (see: wharfd admins list)")
            })?;
            audit("admins.totp", name.clone()).await?;
            eprintln!(
                "TOTP is on for {name}: add this secret (or URI) to an authenticator app; \
                 logins now need its 6-digit code (shown once; keep it secret):"
            );
            println!("secret: {}", new.secret);
            println!("uri: {}", new.uri);
        }
        AdminsCommand::Audit { limit, .. } => {
            println!(
                "{:<20} {:<16} {:<24} {:<24} TARGET",
                "WHEN (UTC)", "ADMIN", "ACTION", "FROM"
            );
            for e in admins.audit_list(0, limit).await? {
                println!(
                    "{:<20} {:<16} {:<24} {:<24} {}",
                    format_time(e.at),
                    e.admin,
                    e.action,
                    e.client,
                    e.target
                );
            }
        }
    }
    Ok(())
}
