//! An account's effective rules: its own [`Policy`] over the policies of
//! the groups it belongs to, over the server's [`Defaults`].
//!
//! Each setting comes from the first layer that sets it: the account's
//! own, then its groups in the order the account lists them (the first is
//! its primary group), then the server. Path rules of every layer compete
//! by length: the longest matching path wins, and on the same path the
//! account's rule beats its groups', and an earlier group beats a later
//! one. So a group can make `/archive` read-only for all its members and
//! one member can still be given its own rule for `/archive`.

use super::perms::PathRule;
use super::{Defaults, Limits, Mount, NetRules, PermSet, Policy};
use ftp_proto::VirtualPath;

/// A named set of permissions and limits that accounts inherit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: String,
    pub policy: Policy,
}

/// Where an effective value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A per-path rule of the account.
    Path(VirtualPath),
    /// The account's own setting.
    Account,
    /// A per-path rule of a group.
    GroupPath(String, VirtualPath),
    /// A group's setting.
    Group(String),
    /// The server's default.
    Server,
}

/// A layer's own rate or size: [`UNLIMITED`] lifts a limit a later layer
/// (a group, the server) would set.
fn bounded(value: u64) -> Option<u64> {
    (value != UNLIMITED).then_some(value)
}

/// A rate, size or session count that an account or group sets to "no
/// limit", overriding its groups' and the server's.
pub const UNLIMITED: u64 = u64::MAX;

/// An account's policy and its groups', first to last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Layers {
    pub own: Policy,
    pub groups: Vec<Group>,
}

impl Layers {
    /// An account that belongs to no group.
    pub fn alone(own: Policy) -> Self {
        Layers {
            own,
            groups: Vec::new(),
        }
    }

    /// The first layer that sets what `get` reads, with its source.
    fn first<T>(&self, get: impl Fn(&Policy) -> Option<T>) -> Option<(T, Source)> {
        get(&self.own).map(|v| (v, Source::Account)).or_else(|| {
            self.groups
                .iter()
                .find_map(|g| get(&g.policy).map(|v| (v, Source::Group(g.name.clone()))))
        })
    }

    /// A limit of the first layer that sets it, else the server's.
    fn limit<T>(&self, get: impl Fn(&Limits) -> Option<T>, default: T) -> (T, Source) {
        self.first(|p| get(&p.limits))
            .unwrap_or((default, Source::Server))
    }

    /// Every path rule with where it comes from, account's first.
    fn path_rules(&self) -> impl Iterator<Item = (&PathRule, Option<&str>)> {
        let own = self.own.paths.iter().map(|r| (r, None));
        let groups = self.groups.iter().flat_map(|g| {
            g.policy
                .paths
                .iter()
                .map(move |r| (r, Some(g.name.as_str())))
        });
        own.chain(groups)
    }

    /// The permissions at `path`, and where they come from.
    pub fn permissions_at(&self, d: &Defaults, path: &VirtualPath) -> (PermSet, Source) {
        let mut best: Option<(&PathRule, Option<&str>)> = None;
        for (rule, group) in self.path_rules().filter(|(r, _)| r.covers(path)) {
            // Strictly longer only: on a tie the earlier layer keeps it.
            if best.is_none_or(|(b, _)| rule.path.as_bytes().len() > b.path.as_bytes().len()) {
                best = Some((rule, group));
            }
        }
        match best {
            Some((rule, None)) => (rule.perms, Source::Path(rule.path.clone())),
            Some((rule, Some(g))) => (rule.perms, Source::GroupPath(g.into(), rule.path.clone())),
            None => self
                .base_permissions()
                .unwrap_or((d.permissions, Source::Server)),
        }
    }

    /// The permissions where no path rule applies, if a layer sets them.
    pub fn base_permissions(&self) -> Option<(PermSet, Source)> {
        self.first(|p| p.permissions)
    }

    /// Every layer's path rules with their sources, by path (on the same
    /// path, the one that applies first).
    pub fn rules(&self) -> Vec<(&PathRule, Source)> {
        let mut all: Vec<(&PathRule, Source)> = self
            .path_rules()
            .map(|(r, g)| {
                let source = match g {
                    None => Source::Path(r.path.clone()),
                    Some(g) => Source::GroupPath(g.into(), r.path.clone()),
                };
                (r, source)
            })
            .collect();
        all.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        all
    }

    /// The shared folders mounted into the tree, by path: every layer's,
    /// and at a path mounted by several, the one of the first layer.
    pub fn mounts(&self) -> Vec<&Mount> {
        let layers = std::iter::once(&self.own).chain(self.groups.iter().map(|g| &g.policy));
        let mut all: Vec<&Mount> = Vec::new();
        for m in layers.flat_map(|p| p.mounts.iter()) {
            if !all.iter().any(|seen| seen.at == m.at) {
                all.push(m);
            }
        }
        all.sort_by(|a, b| a.at.cmp(&b.at));
        all
    }

    /// Whether any layer has a rule strictly below `dir` (renaming `dir`
    /// would carry those files out from under their rule).
    pub fn has_rules_below(&self, dir: &VirtualPath) -> bool {
        self.path_rules()
            .any(|(r, _)| r.path != *dir && super::perms::is_within(&r.path, dir))
    }

    pub fn max_sessions(&self, d: &Defaults) -> (usize, Source) {
        self.limit(|l| l.max_sessions, d.max_sessions)
    }

    pub fn upload_rate(&self, d: &Defaults) -> (Option<u64>, Source) {
        self.limit(|l| l.upload_rate.map(bounded), d.upload_rate)
    }

    pub fn download_rate(&self, d: &Defaults) -> (Option<u64>, Source) {
        self.limit(|l| l.download_rate.map(bounded), d.download_rate)
    }

    pub fn max_file_size(&self, d: &Defaults) -> (Option<u64>, Source) {
        self.limit(|l| l.max_file_size.map(bounded), d.max_file_size)
    }

    /// The protocols it may use (`None`: any).
    pub fn protocols(&self) -> (Option<Vec<crate::policy::Protocol>>, Source) {
        self.limit(|l| l.protocols.clone().map(Some), None)
    }

    /// The last day it may log in (`None`: never expires).
    pub fn expires(&self) -> (Option<super::Date>, Source) {
        self.limit(|l| l.expires.map(Some), None)
    }

    /// Where it may log in from: the first layer with any network rule
    /// (its allow and deny lists go together).
    pub fn networks(&self) -> (NetRules, Source) {
        self.limit(
            |l| Some(l.networks.clone()).filter(|n| !n.is_empty()),
            NetRules::default(),
        )
    }

    /// The FTP commands it may not use.
    pub fn denied_commands(&self) -> (Vec<String>, Source) {
        self.limit(|l| l.denied_commands.clone(), Vec::new())
    }

    /// The limits a login is checked against, each from its layer.
    pub fn login_limits(&self) -> Limits {
        Limits {
            protocols: self.protocols().0,
            expires: self.expires().0,
            networks: self.networks().0,
            ..Limits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(text: &str) -> VirtualPath {
        VirtualPath::root().join(text.as_bytes()).unwrap()
    }

    fn defaults() -> Defaults {
        Defaults {
            permissions: PermSet::ALL,
            max_sessions: 10,
            upload_rate: Some(1000),
            download_rate: None,
            max_file_size: None,
        }
    }

    fn with_rules(rules: &[(&str, PermSet)]) -> Policy {
        let mut p = Policy::default();
        for (at, set) in rules {
            p.set_path(path(at), Some(*set));
        }
        p
    }

    fn group(name: &str, policy: Policy) -> Group {
        Group {
            name: name.into(),
            policy,
        }
    }

    #[test]
    fn unset_limits_fall_back_to_the_server_and_say_so() {
        let d = defaults();
        let mut p = Policy::default();
        let at = |p: &Policy| Layers::alone(p.clone());
        assert_eq!(at(&p).max_sessions(&d), (10, Source::Server));
        assert_eq!(at(&p).upload_rate(&d), (Some(1000), Source::Server));
        assert_eq!(
            at(&p).permissions_at(&d, &path("/x")),
            (PermSet::ALL, Source::Server)
        );
        p.limits.max_sessions = Some(1);
        p.limits.upload_rate = Some(50);
        p.limits.max_file_size = Some(7);
        assert_eq!(at(&p).max_sessions(&d), (1, Source::Account));
        assert_eq!(at(&p).upload_rate(&d), (Some(50), Source::Account));
        assert_eq!(at(&p).max_file_size(&d), (Some(7), Source::Account));
        assert_eq!(at(&p).download_rate(&d), (None, Source::Server));
    }

    #[test]
    fn longest_prefix_wins_then_account_then_server() {
        let mut own = with_rules(&[
            ("/in", PermSet::UPLOAD_ONLY),
            ("/in/sorted", PermSet::READ_ONLY),
            ("/archive", PermSet::READ_ONLY),
        ]);
        own.permissions = Some(PermSet::ALL);
        let mut d = defaults();
        d.permissions = PermSet::NONE;
        let layers = Layers::alone(own);
        let at = |p: &str| layers.permissions_at(&d, &path(p));
        assert_eq!(at("/in"), (PermSet::UPLOAD_ONLY, Source::Path(path("/in"))));
        assert_eq!(at("/in/a.txt").0, PermSet::UPLOAD_ONLY);
        assert_eq!(
            at("/in/sorted/x/y"),
            (PermSet::READ_ONLY, Source::Path(path("/in/sorted")))
        );
        // A shared prefix of bytes is not a parent directory.
        assert_eq!(at("/inbox"), (PermSet::ALL, Source::Account));
        assert_eq!(at("/"), (PermSet::ALL, Source::Account));
        d.permissions = PermSet::READ_ONLY;
        let bare = Layers::default();
        assert_eq!(
            bare.permissions_at(&d, &path("/x")),
            (PermSet::READ_ONLY, Source::Server)
        );
    }

    #[test]
    fn a_rule_on_the_root_covers_everything() {
        let layers = Layers::alone(with_rules(&[
            ("/", PermSet::READ_ONLY),
            ("/up", PermSet::ALL),
        ]));
        let d = defaults();
        assert_eq!(
            layers.permissions_at(&d, &path("/a/b")).0,
            PermSet::READ_ONLY
        );
        assert_eq!(layers.permissions_at(&d, &path("/up/b")).0, PermSet::ALL);
        assert!(layers.has_rules_below(&VirtualPath::root()));
        assert!(!layers.has_rules_below(&path("/up")));
    }

    #[test]
    fn groups_fill_in_what_the_account_leaves_unset() {
        let d = defaults();
        let mut staff = Policy {
            permissions: Some(PermSet::READ_ONLY),
            ..Policy::default()
        };
        staff.limits.max_sessions = Some(3);
        staff.limits.upload_rate = Some(10);
        let mut extra = Policy::default();
        extra.limits.max_sessions = Some(99);
        extra.limits.download_rate = Some(20);
        let mut own = Policy::default();
        own.limits.upload_rate = Some(5);
        let layers = Layers {
            own,
            groups: vec![group("staff", staff), group("extra", extra)],
        };
        let g = |n: &str| Source::Group(n.into());
        // The account's own value wins; then the first group that sets it.
        assert_eq!(layers.upload_rate(&d), (Some(5), Source::Account));
        assert_eq!(layers.max_sessions(&d), (3, g("staff")));
        assert_eq!(layers.download_rate(&d), (Some(20), g("extra")));
        assert_eq!(layers.max_file_size(&d), (None, Source::Server));
        // an account's "unlimited" lifts the server's rate
        let mut free = Policy::default();
        free.limits.upload_rate = Some(UNLIMITED);
        assert_eq!(Layers::alone(free).upload_rate(&d), (None, Source::Account));
        assert_eq!(
            layers.permissions_at(&d, &path("/x")),
            (PermSet::READ_ONLY, g("staff"))
        );
    }

    #[test]
    fn path_rules_of_all_layers_compete_by_length_and_the_account_wins_ties() {
        let d = defaults();
        let staff = with_rules(&[
            ("/archive", PermSet::READ_ONLY),
            ("/drop", PermSet::UPLOAD_ONLY),
        ]);
        let other = with_rules(&[("/archive", PermSet::NONE), ("/archive/old", PermSet::NONE)]);
        let own = with_rules(&[("/drop", PermSet::ALL)]);
        let layers = Layers {
            own,
            groups: vec![group("staff", staff), group("other", other)],
        };
        let at = |p: &str| layers.permissions_at(&d, &path(p));
        assert_eq!(
            at("/archive/x"),
            (
                PermSet::READ_ONLY,
                Source::GroupPath("staff".into(), path("/archive"))
            )
        );
        assert_eq!(
            at("/archive/old/x"),
            (
                PermSet::NONE,
                Source::GroupPath("other".into(), path("/archive/old"))
            )
        );
        assert_eq!(at("/drop/f"), (PermSet::ALL, Source::Path(path("/drop"))));
        assert_eq!(at("/elsewhere"), (PermSet::ALL, Source::Server));
        assert!(layers.has_rules_below(&path("/archive")));
    }

    #[test]
    fn mounts_of_every_layer_and_the_first_at_each_path() {
        let mut own = Policy::default();
        own.set_mount(path("/team"), Some("mine".into())).unwrap();
        let mut g = Policy::default();
        g.set_mount(path("/team"), Some("theirs".into())).unwrap();
        g.set_mount(path("/media"), Some("media".into())).unwrap();
        let layers = Layers {
            own,
            groups: vec![group("g", g)],
        };
        let seen: Vec<(&str, String)> = layers
            .mounts()
            .iter()
            .map(|m| (m.folder.as_str(), m.at.to_string()))
            .collect();
        assert_eq!(
            seen,
            [
                ("media", "/media".to_string()),
                ("mine", "/team".to_string())
            ]
        );
        assert!(Policy::default()
            .set_mount(VirtualPath::root(), Some("x".into()))
            .is_err());
    }

    #[test]
    fn login_limits_take_each_setting_from_its_first_layer() {
        let mut group_policy = Policy::default();
        group_policy.limits.protocols = Some(vec![crate::policy::Protocol::Ftps]);
        group_policy.limits.networks.deny = vec!["127.0.0.2/32".parse().unwrap()];
        group_policy.limits.expires = Some(super::super::Date::parse("2020-01-01").unwrap());
        let mut own = Policy::default();
        own.limits.expires = Some(super::super::Date::parse("2099-01-01").unwrap());
        let layers = Layers {
            own,
            groups: vec![group("g", group_policy)],
        };
        let limits = layers.login_limits();
        assert_eq!(limits.protocols, Some(vec![crate::policy::Protocol::Ftps]));
        assert_eq!(limits.networks.deny.len(), 1);
        assert_eq!(
            limits.expires.map(|d| d.to_string()).as_deref(),
            Some("2099-01-01")
        );
        assert_eq!(layers.networks().1, Source::Group("g".into()));
    }
}
