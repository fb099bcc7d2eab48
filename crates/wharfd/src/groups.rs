//! `wharfd groups …` and `wharfd users groups`: named sets of permissions
//! and limits that accounts inherit (see `ftp_server::policy::layers`),
//! and which accounts belong to which.

use crate::cli::{GroupsCommand, Location, Named};
use crate::user_policy::{self, Kind};
use crate::users::{explain, open};
use anyhow::{bail, Result};
use ftp_server::accounts::group_admin::{self, GroupError};

pub async fn run(cmd: GroupsCommand) -> Result<()> {
    match cmd {
        GroupsCommand::Add(Named { name, location }) => {
            let (store, _) = open(&location).await?;
            group_admin::create(store.as_ref(), &name).await?;
            println!(
                "group {name} added; give it rules with: wharfd groups perms {name} ... / wharfd groups set {name} ...; add members with: wharfd users groups ACCOUNT {name}"
            );
        }
        GroupsCommand::List { location } => {
            let (store, _) = open(&location).await?;
            let groups = store.groups().await?;
            if groups.is_empty() {
                println!("no groups; add one with: wharfd groups add NAME");
            }
            for g in groups {
                let members = store.group_members(&g.name).await?;
                println!("{:<24} {} member(s)", g.name, members.len());
            }
        }
        GroupsCommand::Show(Named { name, location }) => {
            user_policy::show_group(&name, &location).await?
        }
        GroupsCommand::Perms(args) => user_policy::perms(args, Kind::Group).await?,
        GroupsCommand::Set(args) => user_policy::set(args, Kind::Group).await?,
        GroupsCommand::Mount(args) => user_policy::mount(args, Kind::Group).await?,
        GroupsCommand::Unmount(args) => user_policy::unmount(args, Kind::Group).await?,
        GroupsCommand::Remove {
            name,
            force,
            location,
        } => {
            let (store, _) = open(&location).await?;
            group_admin::remove(store.as_ref(), &name, force)
                .await
                .map_err(|e| match e {
                    GroupError::HasMembers { .. } => anyhow::anyhow!(
                        "{e}; nothing changed. Move them out with `wharfd users groups ACCOUNT ...`, or pass --force"
                    ),
                    e => e.into(),
                })?;
            println!("group {name} removed");
        }
    }
    Ok(())
}

/// `wharfd users groups NAME [LIST|none]`.
pub async fn membership(name: &str, groups: Option<&str>, location: &Location) -> Result<()> {
    let (store, _) = open(location).await?;
    let Some(list) = groups else {
        let groups = store.member_of(name).await.map_err(explain(name))?;
        crate::users::require(store.as_ref(), name).await?;
        if groups.is_empty() {
            println!("{name} belongs to no group");
        } else {
            let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
            println!("{name}: {}", names.join(","));
        }
        return Ok(());
    };
    let wanted: Vec<String> = match list.trim() {
        "none" => Vec::new(),
        list => list
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(String::from)
            .collect(),
    };
    if wanted.is_empty() && list.trim() != "none" {
        bail!("give a comma list of groups, or none");
    }
    store
        .set_member_of(name, &wanted)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; account {name:?} unchanged"))?;
    match wanted.as_slice() {
        [] => println!("{name} belongs to no group now"),
        _ => println!(
            "{name}: groups {}; see: wharfd users show {name}",
            wanted.join(",")
        ),
    }
    Ok(())
}
