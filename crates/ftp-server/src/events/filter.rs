//! Which events a sink wants: some kinds, some accounts, members of some
//! groups, some paths (glob
//! patterns: `*` is any run of characters but `/`, `**` any run at all,
//! `?` one character). An empty list wants everything.

use super::{Event, EventKind};

#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub kinds: Vec<EventKind>,
    pub accounts: Vec<String>,
    /// Events of accounts in any of these groups.
    pub groups: Vec<String>,
    pub paths: Vec<String>,
}

impl EventFilter {
    pub fn matches(&self, event: &Event) -> bool {
        let kind_ok = self.kinds.is_empty() || self.kinds.iter().any(|k| k.name() == event.kind);
        let account_ok = self.accounts.is_empty()
            || event
                .account
                .as_ref()
                .is_some_and(|a| self.accounts.iter().any(|want| want == a));
        let group_ok =
            self.groups.is_empty() || event.groups.iter().any(|g| self.groups.contains(g));
        let path_ok = self.paths.is_empty()
            || event
                .path
                .as_ref()
                .is_some_and(|p| self.paths.iter().any(|g| glob(g.as_bytes(), p.as_bytes())));
        kind_ok && account_ok && group_ok && path_ok
    }
}

/// Whether `text` matches `pattern` (see the module documentation). Runs
/// in time proportional to the product of the lengths, never worse.
pub fn glob(pattern: &[u8], text: &[u8]) -> bool {
    // matched[j]: pattern so far matches text[..j]
    let mut matched = vec![false; text.len() + 1];
    matched[0] = true;
    let mut p = 0;
    while p < pattern.len() {
        let mut next = vec![false; text.len() + 1];
        match pattern[p] {
            b'*' if pattern.get(p + 1) == Some(&b'*') => {
                let mut any = false;
                for j in 0..=text.len() {
                    any |= matched[j];
                    next[j] = any;
                }
                p += 2;
            }
            b'*' => {
                let mut run = false;
                for j in 0..=text.len() {
                    run = matched[j] || (run && j > 0 && text[j - 1] != b'/');
                    next[j] = run;
                }
                p += 1;
            }
            c => {
                for j in 1..=text.len() {
                    next[j] =
                        matched[j - 1] && (c == b'?' && text[j - 1] != b'/' || c == text[j - 1]);
                }
                p += 1;
            }
        }
        matched = next;
    }
    matched[text.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn globs_match_as_documented() {
        assert!(glob(b"/incoming/*", b"/incoming/a.txt"));
        assert!(!glob(b"/incoming/*", b"/incoming/sub/a.txt"));
        assert!(glob(b"/incoming/**", b"/incoming/sub/a.txt"));
        assert!(glob(b"**.pdf", b"/x/y/z.pdf"));
        assert!(glob(b"/a?c", b"/abc"));
        assert!(!glob(b"/a?c", b"/a/c"));
        assert!(!glob(b"/a", b"/ab"));
        assert!(glob(b"", b""));
    }

    #[test]
    fn a_group_filter_wants_members_only() {
        let f = EventFilter {
            groups: vec!["staff".into()],
            ..EventFilter::default()
        };
        let mut e = Event::new(EventKind::LoginOk).account("alice");
        assert!(!f.matches(&e));
        e.groups = vec!["other".into(), "staff".into()];
        assert!(f.matches(&e));
    }

    #[test]
    fn filters_want_what_they_name() {
        let f = EventFilter {
            kinds: vec![EventKind::UploadDone],
            accounts: vec!["alice".into()],
            groups: Vec::new(),
            paths: vec!["/in/**".into()],
        };
        let e = Event::new(EventKind::UploadDone)
            .account("alice")
            .path(b"/in/x/y");
        assert!(f.matches(&e));
        assert!(!f.matches(&e.clone().account("bob")));
        assert!(!f.matches(
            &Event::new(EventKind::Delete)
                .account("alice")
                .path(b"/in/x")
        ));
        assert!(!f.matches(
            &Event::new(EventKind::UploadDone)
                .account("alice")
                .path(b"/out")
        ));
        assert!(EventFilter::default().matches(&Event::new(EventKind::ServerStart)));
    }

    proptest! {
        #[test]
        fn a_literal_pattern_matches_only_itself(a in "[a-z/]{0,12}", b in "[a-z/]{0,12}") {
            prop_assert_eq!(glob(a.as_bytes(), b.as_bytes()), a == b);
        }

        #[test]
        fn double_star_matches_everything(t in "[ -~]{0,40}") {
            prop_assert!(glob(b"**", t.as_bytes()));
        }
    }
}
