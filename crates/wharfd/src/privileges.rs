//! Dropping root. Started as root (to bind ports below 1024 and read a key
//! only root may read), `wharfd` binds and loads what it must, then, while
//! it is still a single thread (before its async runtime starts, so every
//! later thread inherits the result) and before it accepts any client,
//! becomes the configured `user`: one supplementary group, the real,
//! effective and saved gid and uid, an empty capability bounding set, no
//! capabilities at all and `no_new_privs`. It then checks that each step
//! holds and that root cannot be taken back.
//!
//! Started as the configured user it keeps its identity; started as any
//! other non-root user with `user` set it refuses to start. Either way a
//! non-root `wharfd` also gives up the capabilities it was handed (systemd's
//! `AmbientCapabilities=CAP_NET_BIND_SERVICE` is needed only to bind).
//! Every step is checked, and one that fails stops the start.

use anyhow::{bail, Context, Result};
use std::ffi::{CStr, CString};
use std::io;
use std::path::Path;

/// The unprivileged account `wharfd` runs as.
#[derive(Debug, Clone)]
pub struct Account {
    pub name: String,
    pub group: String,
    pub uid: libc::uid_t,
    pub gid: libc::gid_t,
}

/// What [`apply`] does, decided before binding.
#[derive(Debug)]
pub enum Plan {
    /// Running as root with `user` set: become that account.
    Drop(Account),
    /// Not root: keep the identity (the configured account's, if `user` is
    /// set) and drop any capabilities.
    Keep(Option<Account>),
    /// Running as root with no `user`: nothing to drop to.
    StayRoot,
}

impl Plan {
    /// The configured account, if any.
    pub fn account(&self) -> Option<&Account> {
        match self {
            Plan::Drop(a) | Plan::Keep(Some(a)) => Some(a),
            Plan::Keep(None) | Plan::StayRoot => None,
        }
    }
}

/// Decides what to do with `user` and `group` from the configuration.
pub fn plan(user: Option<&str>, group: Option<&str>) -> Result<Plan> {
    let (uids, gids) = (resuid()?, resgid()?);
    let Some(user) = user else {
        if group.is_some() {
            bail!("`group` is set but `user` is not: the group is the one wharfd drops root to, together with `user`");
        }
        return Ok(if uids.1 == 0 {
            Plan::StayRoot
        } else {
            Plan::Keep(None)
        });
    };
    let account = lookup(user, group)?;
    if account.uid == 0 {
        bail!("user = {user:?} is root: name an unprivileged user (e.g. one made with `useradd --system wharf`)");
    }
    if uids.1 == 0 {
        return Ok(Plan::Drop(account));
    }
    let same = |ids: (u32, u32, u32), id: u32| ids.0 == id && ids.1 == id && ids.2 == id;
    if !same(uids, account.uid) || !same(gids, account.gid) {
        bail!(
            "user = {user:?} (uid {}, gid {}) is set, but wharfd runs as uid {}, gid {} and is not root: \
             start it as root (it then drops to {user}) or as {user} itself, or remove `user`",
            account.uid,
            account.gid,
            uids.1,
            gids.1
        );
    }
    Ok(Plan::Keep(Some(account)))
}

/// Carries out `plan`; see the module documentation. Must run before any
/// other thread exists: the capability bounding set and `no_new_privs`
/// belong to the calling thread (and the threads it starts later).
pub fn apply(plan: &Plan) -> Result<()> {
    match plan {
        Plan::StayRoot => Ok(()),
        Plan::Keep(_) => {
            clear_capabilities().context("cannot drop the capabilities wharfd was started with")?;
            no_new_privs()?;
            verify_no_capabilities()
        }
        Plan::Drop(account) => {
            drop_root(account).with_context(|| format!("cannot drop root to user {}", account.name))
        }
    }
}

/// Fails unless the running process can write the data directory `dir`
/// and what exists of `dir/home` and the SQLite account store `store`
/// (with its `-wal` and `-shm` files): say, when `wharfd users add` ran as
/// root before the server was told to drop to `account`.
pub fn require_writable(account: &Account, dir: &Path, store: Option<&Path>) -> Result<()> {
    let fix = |what: &Path| {
        format!(
            "{} is not writable by user {} (uid {}): wharfd runs as that user, so it must own it: \
             `chown -R {}:{} {}`, or choose another data directory",
            what.display(),
            account.name,
            account.uid,
            account.name,
            account.group,
            dir.display()
        )
    };
    let dirs = [dir.to_path_buf(), dir.join("home")];
    let files = store.into_iter().flat_map(|db| {
        ["", "-wal", "-shm"].map(|suffix| {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            std::path::PathBuf::from(name)
        })
    });
    let wanted = dirs
        .into_iter()
        .map(|d| (d, libc::W_OK | libc::X_OK))
        .chain(files.map(|f| (f, libc::R_OK | libc::W_OK)));
    for (path, mode) in wanted {
        match access(&path, mode) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => bail!(fix(&path)),
            _ => {}
        }
    }
    Ok(())
}

fn drop_root(account: &Account) -> Result<()> {
    drop_bounding_set().context("cannot empty the capability bounding set")?;
    cvt(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) })
        .context("prctl(PR_SET_KEEPCAPS, 0)")?;
    let groups = [account.gid];
    cvt(unsafe { libc::setgroups(1, groups.as_ptr()) }).context("setgroups")?;
    cvt(unsafe { libc::setresgid(account.gid, account.gid, account.gid) }).context("setresgid")?;
    cvt(unsafe { libc::setresuid(account.uid, account.uid, account.uid) }).context("setresuid")?;
    clear_capabilities().context("capset")?;
    no_new_privs()?;

    // Check what the kernel now holds, and that root is gone for good.
    let want = (account.uid, account.uid, account.uid);
    if resuid()? != want {
        bail!("the uids are {:?} after setresuid, not {want:?}", resuid()?);
    }
    let want = (account.gid, account.gid, account.gid);
    if resgid()? != want {
        bail!("the gids are {:?} after setresgid, not {want:?}", resgid()?);
    }
    if supplementary_groups()? != [account.gid] {
        bail!("supplementary groups remain after setgroups");
    }
    if unsafe { libc::setuid(0) } == 0 {
        bail!("root could be taken back after dropping it");
    }
    verify_no_capabilities()
}

/// Empties the capability bounding set (needs CAP_SETPCAP, so as root).
fn drop_bounding_set() -> io::Result<()> {
    for cap in 0..=63 {
        // EINVAL past the kernel's last capability.
        if unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) } < 0 {
            break;
        }
        cvt(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) })?;
    }
    Ok(())
}

fn no_new_privs() -> Result<()> {
    cvt(unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) })
        .context("prctl(PR_SET_NO_NEW_PRIVS)")?;
    Ok(())
}

/// `capset(2)`'s header and data, version 3 (two 32-bit words per set).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Empties the effective, permitted, inheritable and ambient sets.
fn clear_capabilities() -> io::Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    cvt_long(unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) })?;
    // Empty permitted and inheritable sets leave no ambient capability;
    // clear them explicitly too (EINVAL: a kernel without ambient sets).
    let clear = unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    match cvt(clear) {
        Err(e) if e.raw_os_error() != Some(libc::EINVAL) => Err(e),
        _ => Ok(()),
    }
}

fn verify_no_capabilities() -> Result<()> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    cvt_long(unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) })
        .context("capget")?;
    if data != [CapData::default(); 2] {
        bail!("capabilities remain after dropping them");
    }
    Ok(())
}

fn resuid() -> Result<(libc::uid_t, libc::uid_t, libc::uid_t)> {
    let (mut r, mut e, mut s) = (0, 0, 0);
    cvt(unsafe { libc::getresuid(&mut r, &mut e, &mut s) }).context("getresuid")?;
    Ok((r, e, s))
}

fn resgid() -> Result<(libc::gid_t, libc::gid_t, libc::gid_t)> {
    let (mut r, mut e, mut s) = (0, 0, 0);
    cvt(unsafe { libc::getresgid(&mut r, &mut e, &mut s) }).context("getresgid")?;
    Ok((r, e, s))
}

fn supplementary_groups() -> Result<Vec<libc::gid_t>> {
    let n = cvt(unsafe { libc::getgroups(0, std::ptr::null_mut()) }).context("getgroups")?;
    let mut groups = vec![0; usize::try_from(n).unwrap_or(0)];
    let n = cvt(unsafe { libc::getgroups(n, groups.as_mut_ptr()) }).context("getgroups")?;
    groups.truncate(usize::try_from(n).unwrap_or(0));
    Ok(groups)
}

/// `access(2)` with the real ids, which after the drop are the account's.
fn access(path: &Path, mode: libc::c_int) -> io::Result<()> {
    let c = cstring(path.as_os_str().as_encoded_bytes())?;
    cvt(unsafe { libc::access(c.as_ptr(), mode) }).map(drop)
}

/// The account `user` names, in `group` or its own primary group.
fn lookup(user: &str, group: Option<&str>) -> Result<Account> {
    let name = cstring(user.as_bytes()).with_context(|| format!("bad user name {user:?}"))?;
    let (uid, primary) = lookup_r(
        |pwd: &mut libc::passwd, buf, out| unsafe {
            libc::getpwnam_r(name.as_ptr(), pwd, buf.as_mut_ptr(), buf.len(), out)
        },
        |pwd| (pwd.pw_uid, pwd.pw_gid),
    )
    .with_context(|| format!("cannot look up user {user:?}"))?
    .with_context(|| {
        format!("no user {user:?} on this system (create it: `useradd --system --user-group --no-create-home --shell /usr/sbin/nologin {user}`)")
    })?;
    let (gid, group) = match group {
        Some(g) => {
            let cname = cstring(g.as_bytes()).with_context(|| format!("bad group name {g:?}"))?;
            let gid = lookup_r(
                |grp: &mut libc::group, buf, out| unsafe {
                    libc::getgrnam_r(cname.as_ptr(), grp, buf.as_mut_ptr(), buf.len(), out)
                },
                |grp| grp.gr_gid,
            )
            .with_context(|| format!("cannot look up group {g:?}"))?
            .with_context(|| format!("no group {g:?} on this system"))?;
            (gid, g.to_string())
        }
        None => {
            let name = lookup_r(
                |grp: &mut libc::group, buf, out| unsafe {
                    libc::getgrgid_r(primary, grp, buf.as_mut_ptr(), buf.len(), out)
                },
                // SAFETY: gr_name points into the buffer, alive during this call.
                |grp| {
                    unsafe { CStr::from_ptr(grp.gr_name) }
                        .to_string_lossy()
                        .into_owned()
                },
            )
            .with_context(|| format!("cannot look up group {primary}"))?;
            (primary, name.unwrap_or_else(|| primary.to_string()))
        }
    };
    if gid == 0 {
        bail!("the group of user {user:?} is root's (gid 0): give an unprivileged `group`");
    }
    Ok(Account {
        name: user.to_string(),
        group,
        uid,
        gid,
    })
}

/// Calls a reentrant `get*_r` lookup with a buffer that grows as needed
/// and reads what is wanted from the record while its buffer is alive;
/// `None` when the name or id does not exist.
fn lookup_r<T, R>(
    mut call: impl FnMut(&mut T, &mut Vec<libc::c_char>, *mut *mut T) -> libc::c_int,
    read: impl FnOnce(&T) -> R,
) -> io::Result<Option<R>> {
    let mut buf: Vec<libc::c_char> = vec![0; 1024];
    loop {
        // SAFETY: passwd and group are plain C structs; all-zero is valid.
        let mut record: T = unsafe { std::mem::zeroed() };
        let mut out: *mut T = std::ptr::null_mut();
        match call(&mut record, &mut buf, &mut out) {
            0 if out.is_null() => return Ok(None),
            0 => return Ok(Some(read(&record))),
            libc::ERANGE if buf.len() < 1 << 20 => buf.resize(buf.len() * 2, 0),
            err => return Err(io::Error::from_raw_os_error(err)),
        }
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL byte"))
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn cvt_long(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_users_and_root_are_refused() {
        let err = plan(Some("no-such-user-wharf-18"), None).unwrap_err();
        assert!(format!("{err:#}").contains("useradd --system"), "{err:#}");
        let err = plan(Some("root"), None).unwrap_err();
        assert!(format!("{err:#}").contains("is root"), "{err:#}");
        let err = plan(None, Some("nogroup")).unwrap_err();
        assert!(format!("{err:#}").contains("`user` is not"), "{err:#}");
    }

    #[test]
    fn no_user_keeps_the_identity() {
        let root = unsafe { libc::geteuid() } == 0;
        match plan(None, None).unwrap() {
            Plan::StayRoot => assert!(root),
            Plan::Keep(None) => assert!(!root),
            other => panic!("{other:?}"),
        }
    }
}
