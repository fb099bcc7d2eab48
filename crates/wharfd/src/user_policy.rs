//! `wharfd users perms`, `users set` and `users show`: an account's
//! permissions and limits (see `ftp_server::policy`), changed in its
//! account store with a read, a change and a write, and shown with where
//! each effective value comes from.

use crate::cli::{Location, PermsArgs, SetArgs};
use crate::users::{explain, open};
use anyhow::{bail, Context, Result};
use ftp_server::accounts::AccountStore;
use ftp_server::policy::text::{parse_networks, parse_path};
use ftp_server::policy::{Date, Defaults, PermSet, Policy, Protocol, Source};
use ftp_server::quota::size::{format_size, parse_size};

async fn load(store: &dyn AccountStore, name: &str) -> Result<Policy> {
    store.policy(name).await.map_err(explain(name))
}

pub async fn perms(args: PermsArgs) -> Result<()> {
    let (store, _) = open(&args.location).await?;
    let mut policy = load(store.as_ref(), &args.name).await?;
    let set = match (args.read_only, args.upload_only, args.perms.as_deref()) {
        (true, _, _) => Some(PermSet::READ_ONLY),
        (_, true, _) => Some(PermSet::UPLOAD_ONLY),
        (_, _, Some("default")) => None,
        (_, _, Some(text)) => Some(PermSet::parse(text)?),
        (_, _, None) => bail!("give the permissions, --read-only or --upload-only"),
    };
    let said = set.map_or_else(|| "the server's default".to_string(), |s| s.to_string());
    match &args.path {
        Some(text) => {
            let path = parse_path(text)?;
            policy.set_path(path.clone(), set);
            store.set_policy(&args.name, &policy).await?;
            match set {
                Some(_) => println!("{}: {said} at {path} and below", args.name),
                None => println!("{}: no rule for {path} any more", args.name),
            }
        }
        None => {
            policy.permissions = set;
            store.set_policy(&args.name, &policy).await?;
            println!("{}: {said} wherever no path rule applies", args.name);
        }
    }
    crate::admins::audit_cli(store.as_ref(), "accounts.policy", &args.name).await;
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

/// A rate or size for an account; it replaces the server's, so it cannot
/// be `none`.
fn amount(what: &'static str) -> impl Fn(&str) -> Result<u64> {
    move |text| {
        parse_size(text)
            .map_err(anyhow::Error::msg)?
            .with_context(|| {
                format!("--{what}: give a size such as 500K, or default for the server's")
            })
    }
}

pub async fn set(args: SetArgs) -> Result<()> {
    let (store, _) = open(&args.location).await?;
    let mut policy = load(store.as_ref(), &args.name).await?;
    let given = [
        &args.max_sessions,
        &args.upload_rate,
        &args.download_rate,
        &args.max_file_size,
        &args.protocols,
        &args.expires,
        &args.allow_from,
        &args.deny_from,
    ];
    if given.iter().all(|a| a.is_none()) {
        bail!("nothing to set; see: wharfd users set --help");
    }
    let l = &mut policy.limits;
    if let Some(t) = &args.max_sessions {
        l.max_sessions = setting(t, |t| t.trim().parse().context("--max-sessions"))?;
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
    store.set_policy(&args.name, &policy).await?;
    crate::admins::audit_cli(store.as_ref(), "accounts.policy", &args.name).await;
    println!(
        "{}: limits changed; see: wharfd users show {}",
        args.name, args.name
    );
    Ok(())
}

fn networks(text: &str) -> Result<Vec<ftp_server::proxy::Cidr>> {
    match text.trim() {
        "none" | "default" => Ok(Vec::new()),
        list => Ok(parse_networks(list)?),
    }
}

fn origin(source: &Source) -> String {
    match source {
        Source::Path(p) => format!("account, rule for {p}"),
        Source::Account => "account".into(),
        Source::Server => "server default".into(),
    }
}

fn rate(v: Option<u64>) -> String {
    v.map_or_else(|| "unlimited".into(), |r| format!("{}/s", format_size(r)))
}

pub async fn show(name: &str, location: &Location) -> Result<()> {
    let (store, opts) = open(location).await?;
    let account = crate::users::require(store.as_ref(), name).await?;
    let policy = load(store.as_ref(), name).await?;
    let d: Defaults = opts.policy_defaults();
    println!("{name} ({})", account.status.as_str());
    println!("permissions (the longest matching path wins):");
    let (set, source) = policy
        .permissions
        .map_or((d.permissions, Source::Server), |p| (p, Source::Account));
    let label = if policy.paths.is_empty() {
        "everywhere"
    } else {
        "everywhere else"
    };
    println!(
        "  {label:<24} {:<40} ({})",
        set.to_string(),
        origin(&source)
    );
    for rule in &policy.paths {
        println!(
            "  {:<24} {:<40} (account, path rule)",
            rule.path.to_string(),
            rule.perms.to_string()
        );
    }
    println!("limits:");
    let row = |what: &str, value: String, source: &Source| {
        println!("  {what:<24} {value:<40} ({})", origin(source));
    };
    let (n, s) = policy.max_sessions(&d);
    row("sessions at once", n.to_string(), &s);
    let (r, s) = policy.upload_rate(&d);
    row("upload rate", rate(r), &s);
    let (r, s) = policy.download_rate(&d);
    row("download rate", rate(r), &s);
    let (m, s) = policy.max_file_size(&d);
    row(
        "max file size",
        m.map_or_else(|| "unlimited".into(), format_size),
        &s,
    );
    let l = &policy.limits;
    let (text, s) = match &l.protocols {
        Some(list) => (
            list.iter().map(|p| p.name()).collect::<Vec<_>>().join(","),
            Source::Account,
        ),
        None => ("ftp,ftps,sftp".to_string(), Source::Server),
    };
    row("protocols", text, &s);
    let (text, s) = match l.expires {
        Some(d) => (format!("{d} (last day, UTC)"), Source::Account),
        None => ("never".to_string(), Source::Server),
    };
    row("expires", text, &s);
    let list = |v: &[ftp_server::proxy::Cidr], empty: &str| {
        if v.is_empty() {
            empty.to_string()
        } else {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }
    };
    let nets = |v: &[ftp_server::proxy::Cidr], empty: &str| match v {
        [] => (empty.to_string(), Source::Server),
        _ => (list(v, empty), Source::Account),
    };
    let (text, s) = nets(&l.networks.allow, "anywhere");
    row("allow from", text, &s);
    let (text, s) = nets(&l.networks.deny, "nowhere");
    row("deny from", text, &s);
    if !opts.networks.is_empty() {
        println!(
            "  server-wide: allow {} deny {} (server, checked first at connect)",
            list(&opts.networks.allow, "anywhere"),
            list(&opts.networks.deny, "nowhere")
        );
    }
    let quota = account
        .quota_bytes
        .map_or_else(|| "none".into(), format_size);
    println!("quota {quota}, using {}", format_size(account.used_bytes));
    Ok(())
}
