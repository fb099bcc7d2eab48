//! `wharfd users keys add|list|remove`: an account's SSH public keys (see
//! `ftp_server::accounts::keys`), changed in its account store with a
//! read, a change and a write. Running servers see a change at the next
//! login.

use crate::cli::KeysCommand;
use crate::users::{explain, open, require};
use anyhow::{bail, Context, Result};
use ftp_server::accounts::keys::AuthorizedKeys;
use std::io::Read;

/// Keys read from standard input at most (a whole authorized_keys file).
const MAX_INPUT: u64 = 1 << 20;

pub async fn run(cmd: KeysCommand) -> Result<()> {
    match cmd {
        KeysCommand::Add { name, location } => {
            let (store, _) = open(&location).await?;
            require(store.as_ref(), &name).await?;
            let mut input = String::new();
            std::io::stdin()
                .take(MAX_INPUT)
                .read_to_string(&mut input)
                .context("cannot read the keys from standard input")?;
            let mut keys =
                AuthorizedKeys::from_text(&store.ssh_keys(&name).await.map_err(explain(&name))?);
            let mut added = Vec::new();
            for (n, line) in input.lines().enumerate() {
                let line = line.trim();
                if line.is_empty() || line.starts_with('#') {
                    continue;
                }
                // All or nothing: one bad line changes nothing.
                let fingerprint = keys
                    .add(line)
                    .with_context(|| format!("line {} of standard input", n + 1))?;
                added.push(fingerprint);
            }
            if added.is_empty() {
                bail!("no key on standard input: pipe a public key in, e.g. `wharfd users keys add {name} < ~/.ssh/id_ed25519.pub`");
            }
            store
                .set_ssh_keys(&name, &keys.to_text())
                .await
                .map_err(explain(&name))?;
            crate::admins::audit_cli(store.as_ref(), "accounts.keys", &name).await;
            for fingerprint in added {
                println!("added {fingerprint} to {name}");
            }
        }
        KeysCommand::List { name, location } => {
            let (store, _) = open(&location).await?;
            let keys =
                AuthorizedKeys::from_text(&store.ssh_keys(&name).await.map_err(explain(&name))?);
            if keys.is_empty() {
                println!("{name} has no SSH keys (add one with `wharfd users keys add {name} < KEY.pub`)");
            }
            for line in keys.describe() {
                println!("{line}");
            }
        }
        KeysCommand::Remove {
            name,
            key,
            location,
        } => {
            let (store, _) = open(&location).await?;
            let mut keys =
                AuthorizedKeys::from_text(&store.ssh_keys(&name).await.map_err(explain(&name))?);
            let removed = keys.remove(&key)?;
            store
                .set_ssh_keys(&name, &keys.to_text())
                .await
                .map_err(explain(&name))?;
            crate::admins::audit_cli(store.as_ref(), "accounts.keys", &name).await;
            println!("removed {removed} key(s) from {name}");
        }
    }
    Ok(())
}
