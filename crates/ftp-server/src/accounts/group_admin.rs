//! Changing groups and their members: the one path `wharfd groups`, the
//! admin API (`/api/groups`) and the web console take. A group's policy
//! is given in its text form ([`crate::policy::text`]); members are added
//! last (after the account's other groups) and removed without touching
//! the order of the rest.

use super::admin::{self, AdminError};
use super::{validate_name, AccountError, AccountStore, NameError};
use crate::policy::Policy;

/// Why a group change was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum GroupError {
    #[error("bad group name {name:?}: {source}")]
    BadName { name: String, source: NameError },
    #[error("bad policy: {0}")]
    BadPolicy(String),
    #[error("group {group} still has {} member(s): {}", members.len(), members.join(", "))]
    HasMembers { group: String, members: Vec<String> },
    #[error("{account} is not a member of group {group}")]
    NotMember { group: String, account: String },
    #[error(transparent)]
    Account(#[from] AdminError),
    #[error(transparent)]
    Store(#[from] AccountError),
}

/// Adds the empty group `name` ([`AccountError::GroupExists`] if taken).
pub async fn create(store: &dyn AccountStore, name: &str) -> Result<(), GroupError> {
    validate_name(name).map_err(|source| GroupError::BadName {
        name: name.to_string(),
        source,
    })?;
    Ok(store.create_group(name).await?)
}

/// Makes group `name` if it is missing and, if `policy` (its text form)
/// is given, replaces its policy with it — as `PUT /api/groups/NAME` and
/// the console's forms do. A bad name or policy changes nothing. Returns
/// whether the group was made.
pub async fn put(
    store: &dyn AccountStore,
    name: &str,
    policy: Option<&str>,
) -> Result<bool, GroupError> {
    validate_name(name).map_err(|source| GroupError::BadName {
        name: name.to_string(),
        source,
    })?;
    let policy = policy
        .map(Policy::from_text)
        .transpose()
        .map_err(|e| GroupError::BadPolicy(e.to_string()))?;
    let made = match store.create_group(name).await {
        Ok(()) => true,
        Err(AccountError::GroupExists(_)) => false,
        Err(e) => return Err(e.into()),
    };
    if let Some(policy) = &policy {
        store.set_group_policy(name, policy).await?;
    }
    Ok(made)
}

/// Removes group `name`; one that still has members only if `force`
/// (they then simply leave it). Returns the members it had.
pub async fn remove(
    store: &dyn AccountStore,
    name: &str,
    force: bool,
) -> Result<Vec<String>, GroupError> {
    let members = store.group_members(name).await?;
    if !members.is_empty() && !force {
        return Err(GroupError::HasMembers {
            group: name.to_string(),
            members,
        });
    }
    store.remove_group(name).await?;
    Ok(members)
}

/// Makes `account` a member of `group` (its last group); `false` if it
/// was one already.
pub async fn add_member(
    store: &dyn AccountStore,
    group: &str,
    account: &str,
) -> Result<bool, GroupError> {
    admin::account(store, account).await?;
    let mut groups = names(store, account).await?;
    if groups.iter().any(|g| g == group) {
        return Ok(false);
    }
    groups.push(group.to_string());
    store.set_member_of(account, &groups).await?;
    Ok(true)
}

/// Takes `account` out of `group`.
pub async fn remove_member(
    store: &dyn AccountStore,
    group: &str,
    account: &str,
) -> Result<(), GroupError> {
    admin::account(store, account).await?;
    let mut groups = names(store, account).await?;
    let before = groups.len();
    groups.retain(|g| g != group);
    if groups.len() == before {
        return Err(GroupError::NotMember {
            group: group.to_string(),
            account: account.to_string(),
        });
    }
    store.set_member_of(account, &groups).await?;
    Ok(())
}

async fn names(store: &dyn AccountStore, account: &str) -> Result<Vec<String>, AccountError> {
    Ok(store
        .member_of(account)
        .await?
        .into_iter()
        .map(|g| g.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{Account, AccountStatus, SqliteStore};

    #[tokio::test]
    async fn members_come_and_go_and_removal_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("w.db")).await.unwrap();
        let bob = Account {
            name: "bob".into(),
            password_hash: "h".into(),
            home: None,
            status: AccountStatus::Active,
            created_at: 1,
            registered_from: None,
            contact: None,
            quota_bytes: None,
            used_bytes: 0,
        };
        store.create(&bob).await.unwrap();
        create(&store, "staff").await.unwrap();
        create(&store, "ops").await.unwrap();
        assert!(matches!(
            create(&store, "Bad Name").await,
            Err(GroupError::BadName { .. })
        ));
        assert!(matches!(
            create(&store, "staff").await,
            Err(GroupError::Store(AccountError::GroupExists(_)))
        ));
        assert!(!put(&store, "staff", Some("permissions list,download"))
            .await
            .unwrap());
        assert!(matches!(
            put(&store, "new", Some("colour blue")).await,
            Err(GroupError::BadPolicy(_))
        ));
        assert!(put(&store, "new", None).await.unwrap());
        assert!(add_member(&store, "ops", "bob").await.unwrap());
        assert!(add_member(&store, "staff", "bob").await.unwrap());
        assert!(!add_member(&store, "staff", "bob").await.unwrap());
        assert_eq!(names(&store, "bob").await.unwrap(), ["ops", "staff"]);
        assert!(matches!(
            add_member(&store, "staff", "ghost").await,
            Err(GroupError::Account(AdminError::NotFound(_)))
        ));
        assert!(matches!(
            remove(&store, "staff", false).await,
            Err(GroupError::HasMembers { .. })
        ));
        remove_member(&store, "ops", "bob").await.unwrap();
        assert!(matches!(
            remove_member(&store, "ops", "bob").await,
            Err(GroupError::NotMember { .. })
        ));
        assert_eq!(remove(&store, "staff", true).await.unwrap(), ["bob"]);
        assert!(names(&store, "bob").await.unwrap().is_empty());
    }
}
