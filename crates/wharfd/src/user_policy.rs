//! `wharfd users|groups perms`, `set` and `show`: the permissions and
//! limits of an account or a group (see `ftp_server::policy`), changed in
//! the account store with a read, a change and a write, and shown with
//! where each effective value comes from.

use crate::cli::{Location, MountArgs, PermsArgs, SetArgs, UnmountArgs};
use crate::users::{explain, open};
use anyhow::{bail, Context, Result};
use ftp_server::accounts::AccountStore;
use ftp_server::folders;
use ftp_server::policy::text::{parse_networks, parse_path};
use ftp_server::policy::{
    parse_commands, Date, Defaults, Group, Layers, PermSet, Policy, Protocol, Source, UNLIMITED,
};
use ftp_server::proxy::Cidr;
use ftp_server::quota::size::{format_size, parse_size};

/// Whose policy a command changes.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    Account,
    Group,
}

/// An account or a group, by name.
#[derive(Debug, Clone, Copy)]
struct Holder<'a> {
    kind: Kind,
    name: &'a str,
}

impl Holder<'_> {
    /// The `wharfd` command family that manages it.
    fn family(&self) -> &'static str {
        match self.kind {
            Kind::Account => "users",
            Kind::Group => "groups",
        }
    }

    async fn load(&self, store: &dyn AccountStore) -> Result<Policy> {
        match self.kind {
            Kind::Account => {
                crate::users::require(store, self.name).await?;
                store.policy(self.name).await.map_err(explain(self.name))
            }
            Kind::Group => Ok(find_group(store, self.name).await?.policy),
        }
    }

    /// Writes the policy back, and the change to the audit log.
    async fn save(&self, store: &dyn AccountStore, policy: &Policy) -> Result<()> {
        let action = match self.kind {
            Kind::Account => {
                store.set_policy(self.name, policy).await?;
                "accounts.policy"
            }
            Kind::Group => {
                store.set_group_policy(self.name, policy).await?;
                "groups.policy"
            }
        };
        crate::admins::audit_cli(store, action, self.name).await;
        Ok(())
    }
}

/// The group named `name`, or an error that says how to list them.
pub(crate) async fn find_group(store: &dyn AccountStore, name: &str) -> Result<Group> {
    store
        .groups()
        .await?
        .into_iter()
        .find(|g| g.name == name)
        .with_context(|| format!("no group named {name:?} (see: wharfd groups list)"))
}

pub async fn perms(args: PermsArgs, kind: Kind) -> Result<()> {
    let (store, _) = open(&args.location).await?;
    let holder = Holder {
        kind,
        name: &args.name,
    };
    let mut policy = holder.load(store.as_ref()).await?;
    let set = match (args.read_only, args.upload_only, args.perms.as_deref()) {
        (true, _, _) => Some(PermSet::READ_ONLY),
        (_, true, _) => Some(PermSet::UPLOAD_ONLY),
        (_, _, Some("default")) => None,
        (_, _, Some(text)) => Some(PermSet::parse(text)?),
        (_, _, None) => bail!("give the permissions, --read-only or --upload-only"),
    };
    let said = set.map_or_else(|| "the default".to_string(), |s| s.to_string());
    match &args.path {
        Some(text) => {
            let path = parse_path(text)?;
            policy.set_path(path.clone(), set);
            holder.save(store.as_ref(), &policy).await?;
            match set {
                Some(_) => println!("{}: {said} at {path} and below", args.name),
                None => println!("{}: no rule for {path} any more", args.name),
            }
        }
        None => {
            policy.permissions = set;
            holder.save(store.as_ref(), &policy).await?;
            println!("{}: {said} wherever no path rule applies", args.name);
        }
    }
    Ok(())
}

/// `wharfd users|groups mount`: the folder at a path, with its rule there
/// when permissions are given.
pub async fn mount(args: MountArgs, kind: Kind) -> Result<()> {
    let (store, _) = open(&args.location).await?;
    let folder = folders::find(store.as_ref(), &args.folder).await?;
    let holder = Holder {
        kind,
        name: &args.name,
    };
    let at = parse_path(&args.at)?;
    let perms = match (args.read_only, args.upload_only, args.perms.as_deref()) {
        (true, _, _) => Some(PermSet::READ_ONLY),
        (_, true, _) => Some(PermSet::UPLOAD_ONLY),
        (_, _, Some(text)) => Some(PermSet::parse(text)?),
        _ => None,
    };
    let mut policy = holder.load(store.as_ref()).await?;
    policy.set_mount(at.clone(), Some(folder.name.clone()))?;
    if perms.is_some() {
        policy.set_path(at.clone(), perms);
    }
    holder.save(store.as_ref(), &policy).await?;
    let rule = perms.map_or_else(String::new, |p| format!(" ({p})"));
    println!(
        "{}: folder {} at {at}{rule}; new sessions see it",
        args.name, folder.name
    );
    Ok(())
}

/// `wharfd users|groups unmount`.
pub async fn unmount(args: UnmountArgs, kind: Kind) -> Result<()> {
    let (store, _) = open(&args.location).await?;
    let holder = Holder {
        kind,
        name: &args.name,
    };
    let at = parse_path(&args.at)?;
    let mut policy = holder.load(store.as_ref()).await?;
    if !policy.mounts.iter().any(|m| m.at == at) {
        bail!(
            "{} has no folder mounted at {at}; see: wharfd {} show {}",
            args.name,
            holder.family(),
            args.name
        );
    }
    policy.set_mount(at.clone(), None)?;
    policy.set_path(at.clone(), None);
    holder.save(store.as_ref(), &policy).await?;
    println!("{}: nothing mounted at {at} any more", args.name);
    Ok(())
}

/// `default` (the server's setting again) as `None`, else the value.
fn setting<T>(text: &str, parse: impl FnOnce(&str) -> Result<T>) -> Result<Option<T>> {
    if text.trim() == "default" {
        Ok(None)
    } else {
        parse(text).map(Some)
    }
}

/// A rate or size for an account or group: `unlimited` lifts the limit
/// its groups or the server would set.
fn amount(what: &'static str) -> impl Fn(&str) -> Result<u64> {
    move |text| {
        if text.trim() == "unlimited" {
            return Ok(UNLIMITED);
        }
        parse_size(text)
            .map_err(anyhow::Error::msg)?
            .with_context(|| {
                format!("--{what}: give a size such as 500K, unlimited, or default to inherit")
            })
    }
}

pub async fn set(args: SetArgs, kind: Kind) -> Result<()> {
    let (store, _) = open(&args.location).await?;
    let holder = Holder {
        kind,
        name: &args.name,
    };
    let mut policy = holder.load(store.as_ref()).await?;
    let given = [
        &args.max_sessions,
        &args.upload_rate,
        &args.download_rate,
        &args.max_file_size,
        &args.protocols,
        &args.expires,
        &args.allow_from,
        &args.deny_from,
        &args.deny_commands,
    ];
    if given.iter().all(|a| a.is_none()) {
        bail!("nothing to set; see: wharfd {} set --help", holder.family());
    }
    let l = &mut policy.limits;
    if let Some(t) = &args.max_sessions {
        l.max_sessions = setting(t, |t| match t.trim() {
            "unlimited" => Ok(usize::MAX),
            n => n
                .parse()
                .context("--max-sessions: give a number, unlimited or default"),
        })?;
    }
    if let Some(t) = &args.upload_rate {
        l.upload_rate = setting(t, amount("upload-rate"))?;
    }
    if let Some(t) = &args.download_rate {
        l.download_rate = setting(t, amount("download-rate"))?;
    }
    if let Some(t) = &args.max_file_size {
        l.max_file_size = setting(t, amount("max-file-size"))?;
    }
    if let Some(t) = &args.protocols {
        l.protocols = setting(t, |t| Ok(Protocol::parse_list(t)?))?;
    }
    if let Some(t) = &args.expires {
        l.expires = match t.trim() {
            "never" | "default" => None,
            day => Some(Date::parse(day)?),
        };
    }
    if let Some(t) = &args.allow_from {
        l.networks.allow = networks(t)?;
    }
    if let Some(t) = &args.deny_from {
        l.networks.deny = networks(t)?;
    }
    if let Some(t) = &args.deny_commands {
        l.denied_commands = setting(t, |t| Ok(parse_commands(t)?))?;
    }
    holder.save(store.as_ref(), &policy).await?;
    println!(
        "{}: limits changed; see: wharfd {} show {}",
        args.name,
        holder.family(),
        args.name
    );
    Ok(())
}

fn networks(text: &str) -> Result<Vec<Cidr>> {
    match text.trim() {
        "none" | "default" => Ok(Vec::new()),
        list => Ok(parse_networks(list)?),
    }
}

/// Where a value comes from, for `show`; `own` names the holder's own
/// settings ("account" or "group").
fn origin(source: &Source, own: &str) -> String {
    match source {
        Source::Path(p) => format!("{own}, rule for {p}"),
        Source::Account => own.into(),
        Source::GroupPath(g, p) => format!("group {g}, rule for {p}"),
        Source::Group(g) => format!("group {g}"),
        Source::Server => "server default".into(),
    }
}

fn rate(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".into(), |r| format!("{}/s", format_size(r)))
}

fn cidr_list(v: &[Cidr], empty: &str) -> String {
    if v.is_empty() {
        empty.to_string()
    } else {
        v.iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Prints the effective permissions and limits of `layers`, each with
/// where it comes from.
fn print_effective(layers: &Layers, d: &Defaults, own: &str) {
    println!("permissions (the longest matching path wins):");
    let (set, source) = layers
        .base_permissions()
        .unwrap_or((d.permissions, Source::Server));
    let rules = layers.rules();
    let label = if rules.is_empty() {
        "everywhere"
    } else {
        "everywhere else"
    };
    println!(
        "  {label:<24} {:<40} ({})",
        set.to_string(),
        origin(&source, own)
    );
    for (rule, source) in &rules {
        println!(
            "  {:<24} {:<40} ({})",
            rule.path.to_string(),
            rule.perms.to_string(),
            origin(source, own)
        );
    }
    let mounts = layers.mounts();
    if !mounts.is_empty() {
        println!("shared folders:");
        for m in mounts {
            println!("  {:<24} folder {}", m.at.to_string(), m.folder);
        }
    }
    println!("limits:");
    let row = |what: &str, value: String, source: &Source| {
        println!("  {what:<24} {value:<40} ({})", origin(source, own));
    };
    let (n, s) = layers.max_sessions(d);
    let n = if n == usize::MAX {
        "unlimited".to_string()
    } else {
        n.to_string()
    };
    row("sessions at once", n, &s);
    let (r, s) = layers.upload_rate(d);
    row("upload rate", rate(r), &s);
    let (r, s) = layers.download_rate(d);
    row("download rate", rate(r), &s);
    let (m, s) = layers.max_file_size(d);
    row(
        "max file size",
        m.map_or_else(|| "unlimited".into(), format_size),
        &s,
    );
    let (list, s) = layers.protocols();
    let text = list.map_or_else(
        || "ftp,ftps,sftp".to_string(),
        |l| l.iter().map(|p| p.name()).collect::<Vec<_>>().join(","),
    );
    row("protocols", text, &s);
    let (day, s) = layers.expires();
    let text = day.map_or_else(|| "never".to_string(), |d| format!("{d} (last day, UTC)"));
    row("expires", text, &s);
    let (nets, s) = layers.networks();
    row("allow from", cidr_list(&nets.allow, "anywhere"), &s);
    row("deny from", cidr_list(&nets.deny, "nowhere"), &s);
    let (verbs, s) = layers.denied_commands();
    let text = if verbs.is_empty() {
        "none".to_string()
    } else {
        verbs.join(",")
    };
    row("denied commands", text, &s);
}

/// `wharfd users show NAME`.
pub async fn show(name: &str, location: &Location) -> Result<()> {
    let (store, opts) = open(location).await?;
    let account = crate::users::require(store.as_ref(), name).await?;
    let layers = store.layers(name).await.map_err(explain(name))?;
    println!("{name} ({})", account.status.as_str());
    if !layers.groups.is_empty() {
        let names: Vec<&str> = layers.groups.iter().map(|g| g.name.as_str()).collect();
        println!("groups: {} (the first listed wins)", names.join(", "));
    }
    print_effective(&layers, &opts.policy_defaults(), "account");
    if !opts.networks.is_empty() {
        println!(
            "  server-wide: allow {} deny {} (server, checked first at connect)",
            cidr_list(&opts.networks.allow, "anywhere"),
            cidr_list(&opts.networks.deny, "nowhere")
        );
    }
    let quota = account
        .quota_bytes
        .map_or_else(|| "none".into(), format_size);
    println!("quota {quota}, using {}", format_size(account.used_bytes));
    Ok(())
}

/// `wharfd groups show NAME`: what the group gives its members that set
/// nothing of their own.
pub async fn show_group(name: &str, location: &Location) -> Result<()> {
    let (store, opts) = open(location).await?;
    let group = find_group(store.as_ref(), name).await?;
    let members = store.group_members(name).await?;
    println!(
        "group {name}: {} member{}{}",
        members.len(),
        if members.len() == 1 { "" } else { "s" },
        if members.is_empty() {
            String::new()
        } else {
            format!(" ({})", members.join(", "))
        }
    );
    print_effective(
        &Layers::alone(group.policy),
        &opts.policy_defaults(),
        "group",
    );
    Ok(())
}
