//! [`FileService`]: the one protocol-neutral layer between a front-end's
//! commands and storage. FTP verbs (and, later, HTTP and SFTP requests)
//! call it with virtual paths and translate its results into replies; the
//! rules that keep files and usage right live here and below, once:
//!
//! - the jail and the read-only check (storage does the resolving);
//! - the account's permissions at each path ([`crate::policy`]): a denied
//!   action fails with [`StorageError::NotPermitted`] before anything
//!   changes, and its maximum file size is metered like the quota;
//! - quota metering attached by construction: [`FileService::begin_upload`]
//!   is the only way to start an upload, and every upload it returns is
//!   metered against the account's quota;
//! - usage accounting: what a delete, an overwriting rename or a commit
//!   frees or adds is measured by storage when it happens, and recorded
//!   here;
//! - an account already at or over its quota makes nothing new (files,
//!   directories), even empty;
//! - the per-file write locks, which the local backend takes under every
//!   append, delete, rename and replacing commit (see
//!   [`crate::storage::handle`]);
//! - the transfer log: the log line, the metrics and the xferlog record of
//!   every transfer, whichever protocol moved it;
//! - the operator's pre-upload check, asked before an upload starts;
//! - file hashes, streamed under the server-wide cap (see
//!   [`crate::digest`]), and setting modification times.

use crate::accounts::transfers::TransferRecord;
use crate::digest::{digest_download, FileDigest, HashControl, HashError, HashLimit};
use crate::events::{Event, EventKind, Events};
use crate::history::History;
use crate::metrics::Metrics;
use crate::policy::live::Rules;
use crate::policy::perms::is_within;
use crate::policy::size_cap::SizeCap;
use crate::policy::{PermSet, Permission};
use crate::precheck::{CheckRequest, PreCheck, Verdict};
use crate::quota::{AccountUsage, QuotaReport};
use crate::storage::upload::SpaceMeter;
use crate::storage::{
    Download, ListChunks, ListFormat, Meta, Overwrite, Storage, StorageError, Upload, UploadMode,
};
use crate::xferlog::{XferLog, XferRecord};
use ftp_proto::hash::{ByteRange, HashAlgorithm};
use ftp_proto::VirtualPath;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// One session's view of its files; see the module documentation.
#[derive(Debug, Clone)]
pub struct FileService {
    /// The session's own tree.
    home: Area,
    /// Shared folders mounted into it, each at a virtual path.
    mounts: Arc<[Mounted]>,
    identity: Arc<Identity>,
    journal: Journal,
    rules: Rules,
    /// The operator's pre-upload check (see [`crate::precheck`]).
    upload_check: Option<Arc<PreCheck>>,
}

/// Files and the usage ledger they count to: a home, or a shared folder.
#[derive(Debug, Clone)]
pub struct Area {
    pub storage: Arc<dyn Storage>,
    /// Who pays for the bytes; `None` for anonymous sessions.
    pub usage: Option<AccountUsage>,
}

/// A shared folder seen at `at` (see [`crate::folders`]).
#[derive(Debug, Clone)]
pub struct Mounted {
    pub at: VirtualPath,
    pub area: Area,
}

/// Who a file service acts for.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The account name (`anonymous` for anonymous sessions).
    pub user: String,
    pub anonymous: bool,
    /// The client's address (the real one behind a PROXY-protocol proxy).
    pub peer: SocketAddr,
    /// The front-end: `ftp`, `ftps`, later `sftp`, `http`.
    pub protocol: &'static str,
}

/// Where transfers are recorded: the server's metrics and its xferlog.
#[derive(Debug, Clone)]
pub struct Journal {
    pub metrics: Arc<Metrics>,
    pub xferlog: Option<Arc<XferLog>>,
    pub events: Events,
    /// The transfer history the admin console shows.
    pub history: Option<History>,
}

/// One finished transfer, as a front-end reports it.
#[derive(Debug)]
pub struct TransferReport<'a> {
    pub path: &'a VirtualPath,
    pub bytes: u64,
    pub elapsed: Duration,
    /// ASCII type (line endings converted).
    pub ascii: bool,
    /// An upload (else a download or listing).
    pub incoming: bool,
    /// Why it did not complete; `None` if it did.
    pub failure: Option<&'a dyn std::error::Error>,
}

/// STOU tries this many names derived from its argument.
const UNIQUE_NAMES: u32 = 1000;

impl FileService {
    pub fn new(
        storage: Arc<dyn Storage>,
        usage: Option<AccountUsage>,
        identity: Identity,
        journal: Journal,
        rules: Rules,
    ) -> Self {
        FileService {
            home: Area { storage, usage },
            mounts: Arc::from(Vec::new()),
            identity: Arc::new(identity),
            journal,
            rules,
            upload_check: None,
        }
    }

    /// Asks `check` before every upload starts.
    pub fn with_upload_check(mut self, check: Option<Arc<PreCheck>>) -> Self {
        self.upload_check = check;
        self
    }

    /// What the pre-upload check says of `path`.
    async fn check_upload(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let Some(check) = &self.upload_check else {
            return Ok(());
        };
        let who = &*self.identity;
        let request = CheckRequest::upload(&who.user, who.peer.ip(), who.protocol, path.as_bytes());
        match check.ask(&request).await {
            Verdict::Allow => Ok(()),
            Verdict::Deny(reason) => Err(StorageError::Refused(reason)),
        }
    }

    /// The same service with `mounts` seen in its tree.
    pub fn with_mounts(mut self, mounts: Vec<Mounted>) -> Self {
        self.mounts = Arc::from(mounts);
        self
    }

    /// The area that holds `path`, and the path inside it: the shared
    /// folder with the longest mount path at or above it, else the home.
    fn area(&self, path: &VirtualPath) -> Result<(&Area, VirtualPath), StorageError> {
        let mount = self
            .mounts
            .iter()
            .filter(|m| is_within(path, &m.at))
            .max_by_key(|m| m.at.as_bytes().len());
        match mount {
            None => Ok((&self.home, path.clone())),
            Some(m) => {
                let rest = &path.as_bytes()[m.at.as_bytes().len()..];
                let inner = VirtualPath::root().join(rest)?;
                Ok((&m.area, inner))
            }
        }
    }

    /// Refuses `what` on a mount point or a directory holding one: the
    /// folder is the operator's to place, not the session's to move.
    fn not_a_mount(&self, path: &VirtualPath, what: Permission) -> Result<(), StorageError> {
        if self.mounts.iter().any(|m| is_within(&m.at, path)) {
            return self.permit(PermSet::NONE, what, path);
        }
        Ok(())
    }

    /// The FTP commands the account may not use (usually none; front-ends
    /// without commands never ask).
    pub async fn denied_commands(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.rules.policy().await?.denied_commands().0)
    }

    /// The bandwidth limits, down and up, in bytes per second.
    pub async fn rates(&self) -> Result<(Option<u64>, Option<u64>), StorageError> {
        let (policy, defaults) = (self.rules.policy().await?, self.rules.defaults());
        Ok((
            policy.download_rate(defaults).0,
            policy.upload_rate(defaults).0,
        ))
    }

    /// `Ok` if `set` holds `what`; a refusal is logged.
    fn permit(
        &self,
        set: PermSet,
        what: Permission,
        path: &VirtualPath,
    ) -> Result<(), StorageError> {
        if set.contains(what) {
            return Ok(());
        }
        let Identity {
            user,
            peer,
            protocol,
            ..
        } = &*self.identity;
        tracing::info!(%peer, user, protocol, %path, permission = what.name(), "not permitted");
        Err(StorageError::NotPermitted(what))
    }

    /// Fails unless `what` is permitted at `path`.
    async fn require(&self, path: &VirtualPath, what: Permission) -> Result<(), StorageError> {
        self.permit(self.rules.at(path).await?, what, path)
    }

    /// The facts of a path; a file's facts need `list` or `download` (a
    /// drop box tells nothing about what it holds), a directory's are
    /// free, so clients can move into one.
    async fn facts(&self, path: &VirtualPath, meta: Meta) -> Result<Meta, StorageError> {
        if meta.is_dir() {
            return Ok(meta);
        }
        let perms = self.rules.at(path).await?;
        if perms.contains(Permission::Download) {
            return Ok(meta);
        }
        self.permit(perms, Permission::List, path).map(|()| meta)
    }

    /// The size of the file at `path`, or `None` if there is no file.
    async fn existing_size(&self, path: &VirtualPath) -> Result<Option<u64>, StorageError> {
        let (area, inner) = self.area(path)?;
        match area.storage.stat(&inner).await {
            Ok(meta) if meta.is_dir() => Err(StorageError::NotAFile),
            Ok(meta) => Ok(Some(meta.size)),
            Err(StorageError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// Records a finished transfer: a log line, the metrics, the event,
    /// the xferlog and the transfer history.
    pub fn record_transfer(&self, t: &TransferReport<'_>) {
        let Identity {
            user,
            peer,
            protocol,
            ..
        } = &*self.identity;
        self.journal
            .metrics
            .transfer(t.incoming, t.failure.is_none(), t.bytes);
        let secs = t.elapsed.as_secs_f64().max(1e-6);
        let direction = if t.incoming { "in" } else { "out" };
        match t.failure {
            None => tracing::info!(
                %peer, user, protocol, path = %t.path, bytes = t.bytes,
                secs = format!("{secs:.3}"), mb_per_s = format!("{:.1}", t.bytes as f64 / secs / 1e6),
                direction, "transfer complete"
            ),
            Some(e) => tracing::info!(
                %peer, user, protocol, path = %t.path, bytes = t.bytes, error = %e,
                direction, "transfer failed"
            ),
        }
        let kind = match (t.incoming, t.failure) {
            (true, None) => Some(EventKind::UploadDone),
            (true, Some(_)) => Some(EventKind::UploadFailed),
            (false, None) => Some(EventKind::DownloadDone),
            (false, Some(_)) => None,
        };
        if let Some(kind) = kind {
            let mut event = self
                .event(kind)
                .path(t.path.as_bytes())
                .size(t.bytes)
                .duration(t.elapsed);
            if let Some(e) = t.failure {
                event = event.failed(e);
            }
            self.journal.events.emit(event);
        }
        if let Some(log) = &self.journal.xferlog {
            log.record(&XferRecord {
                duration: t.elapsed,
                remote: peer.ip(),
                bytes: t.bytes,
                path: t.path.as_bytes(),
                ascii: t.ascii,
                incoming: t.incoming,
                anonymous: self.identity.anonymous,
                user,
                complete: t.failure.is_none(),
            });
        }
        if let Some(history) = &self.journal.history {
            history.record(TransferRecord {
                at: crate::accounts::operators::unix_now(),
                instance: history.instance().to_string(),
                account: user.clone(),
                protocol: protocol.to_string(),
                client: peer.ip().to_string(),
                path: t.path.to_string(),
                upload: t.incoming,
                bytes: t.bytes,
                millis: u64::try_from(t.elapsed.as_millis()).unwrap_or(u64::MAX),
                error: t.failure.map(|e| e.to_string()),
            });
        }
    }

    /// An event of `kind` by this session's account, from its client.
    fn event(&self, kind: EventKind) -> Event {
        let Identity {
            user,
            peer,
            protocol,
            ..
        } = &*self.identity;
        Event::new(kind)
            .account(user)
            .client(peer.ip())
            .protocol(protocol)
    }

    /// Emits `kind` for `path` once an operation on it succeeded.
    fn changed(&self, kind: EventKind, path: &VirtualPath) {
        self.journal
            .events
            .emit(self.event(kind).path(path.as_bytes()));
    }

    /// Whether this session may change anything anywhere (a read-only
    /// tree may still hold a writable shared folder).
    pub fn writable(&self) -> bool {
        self.home.storage.writable() || self.mounts.iter().any(|m| m.area.storage.writable())
    }

    /// Whether anything at `path` may change (for the facts listings show).
    pub fn writable_at(&self, path: &VirtualPath) -> bool {
        self.area(path)
            .is_ok_and(|(area, _)| area.storage.writable())
    }

    /// The backend's name (`local`, `s3`), for replies and logs.
    pub fn backend(&self) -> &'static str {
        self.home.storage.kind()
    }

    pub async fn stat(&self, path: &VirtualPath) -> Result<Meta, StorageError> {
        let (area, inner) = self.area(path)?;
        let meta = area.storage.stat(&inner).await?;
        self.facts(path, meta).await
    }

    pub async fn stat_target(&self, path: &VirtualPath) -> Result<Meta, StorageError> {
        let (area, inner) = self.area(path)?;
        let meta = area.storage.stat_target(&inner).await?;
        self.facts(path, meta).await
    }

    pub async fn open_read(
        &self,
        path: &VirtualPath,
        offset: u64,
    ) -> Result<(Download, Meta), StorageError> {
        self.require(path, Permission::Download).await?;
        let (area, inner) = self.area(path)?;
        area.storage.open_read(&inner, offset).await
    }

    pub async fn list(
        &self,
        path: &VirtualPath,
        format: ListFormat,
        now_unix: i64,
    ) -> Result<ListChunks, StorageError> {
        self.require(path, Permission::List).await?;
        let (area, inner) = self.area(path)?;
        area.storage.list(&inner, format, now_unix).await
    }

    /// Starts an upload into `path`, metered against the account's quota
    /// and its maximum file size. A new file needs `upload`, replacing one
    /// `overwrite`, extending one (APPE, REST+STOR) `append`.
    pub async fn begin_upload(
        &self,
        path: &VirtualPath,
        mode: UploadMode,
    ) -> Result<Upload, StorageError> {
        let (area, inner) = self.area(path)?;
        area.storage.require_writable()?;
        let perms = self.rules.at(path).await?;
        let max_size = self
            .rules
            .policy()
            .await?
            .max_file_size(self.rules.defaults())
            .0;
        // Whether the file exists decides which permission applies; an
        // account granted both (the usual case) costs no extra look (an S3
        // HEAD).
        let either = [false, true].map(|exists| perms.contains(upload_permission(mode, exists)));
        let existing = if either == [true, true] {
            None
        } else {
            self.existing_size(path).await?
        };
        self.permit(perms, upload_permission(mode, existing.is_some()), path)?;
        let mode = never_replacing(mode, perms);
        self.check_upload(path).await?;
        let (over_quota, upload) = if mode == UploadMode::Append {
            // An append keeps every byte the file has, so an account at its
            // limit is refused before the upload starts (on object storage,
            // starting one copies the whole file).
            if self.over_quota(area).await? {
                return Err(StorageError::QuotaExceeded);
            }
            (Ok(false), area.storage.begin_upload(&inner, mode).await)
        } else {
            // The quota is read from the store while the storage makes the
            // upload's file: two waits on other threads, overlapped.
            tokio::join!(
                self.over_quota(area),
                area.storage.begin_upload(&inner, mode)
            )
        };
        let mut upload = upload?;
        let over_quota = match over_quota {
            Ok(over) => over,
            Err(e) => {
                upload.abort().await;
                return Err(e);
            }
        };
        let mut meter: Option<Box<dyn SpaceMeter>> = None;
        if let Some(usage) = &area.usage {
            // Nothing new is made by an account at its limit; replacing a
            // file it already has may still fit.
            if over_quota && upload.replaced_bytes() == 0 {
                upload.abort().await;
                return Err(StorageError::QuotaExceeded);
            }
            meter = Some(Box::new(usage.meter(upload.replaced_bytes())));
        }
        if let Some(max) = max_size {
            // The file's size starts at what the upload keeps of it, as the
            // backend found it (another session may have appended since it
            // was looked at above).
            meter = Some(Box::new(SizeCap::new(meter, upload.kept_bytes(), max)));
        }
        if let Some(meter) = meter {
            upload.set_meter(meter);
        }
        Ok(upload)
    }

    /// Starts an upload under a name that does not exist yet: `path`, or
    /// `path.1`, `path.2`, … Returns the upload and the name it starts
    /// with; if another session takes that name before the upload
    /// commits, the commit takes the next free one (see
    /// [`crate::storage::Committed::name`]), never replacing a file.
    pub async fn begin_unique_upload(
        &self,
        path: &VirtualPath,
    ) -> Result<(Upload, VirtualPath), StorageError> {
        self.area(path)?.0.storage.require_writable()?;
        let parent = path.parent();
        let base = path.file_name().ok_or(StorageError::NotAFile)?;
        for n in 0..UNIQUE_NAMES {
            let mut name = base.to_vec();
            if n > 0 {
                name.extend_from_slice(format!(".{n}").as_bytes());
            }
            let candidate = parent.join(&name)?;
            let (area, inner) = self.area(&candidate)?;
            match area.storage.stat(&inner).await {
                Err(StorageError::NotFound) => {}
                Ok(_) => continue,
                Err(e) => return Err(e),
            }
            let upload = self.begin_upload(&candidate, UploadMode::Unique).await?;
            return Ok((upload, candidate));
        }
        Err(StorageError::AlreadyExists)
    }

    pub async fn mkdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (area, inner) = self.area(path)?;
        area.storage.require_writable()?;
        self.require(path, Permission::Mkdir).await?;
        if self.over_quota(area).await? {
            return Err(StorageError::QuotaExceeded);
        }
        area.storage.mkdir(&inner).await?;
        self.changed(EventKind::Mkdir, path);
        Ok(())
    }

    pub async fn rmdir(&self, path: &VirtualPath) -> Result<(), StorageError> {
        self.require(path, Permission::Rmdir).await?;
        self.not_a_mount(path, Permission::Rmdir)?;
        let (area, inner) = self.area(path)?;
        area.storage.rmdir(&inner).await?;
        self.changed(EventKind::Rmdir, path);
        Ok(())
    }

    /// Removes a file; the bytes it really held come off the usage.
    pub async fn remove(&self, path: &VirtualPath) -> Result<(), StorageError> {
        self.require(path, Permission::Delete).await?;
        let (area, inner) = self.area(path)?;
        let freed = area.storage.remove_file(&inner).await?;
        if let Some(usage) = &area.usage {
            usage.freed(freed).await;
        }
        self.journal.events.emit(
            self.event(EventKind::Delete)
                .path(path.as_bytes())
                .size(freed),
        );
        Ok(())
    }

    /// Whether `from` may be renamed, and what it is (RNFR asks before
    /// RNTO names the target).
    pub async fn rename_source(&self, from: &VirtualPath) -> Result<Meta, StorageError> {
        self.may_rename(from).await?;
        let (area, inner) = self.area(from)?;
        area.storage.stat(&inner).await
    }

    /// `rename` at `from` (never the root); and a directory holding a path with a rule of
    /// its own may not move, or its files would leave their rule behind.
    async fn may_rename(&self, from: &VirtualPath) -> Result<(), StorageError> {
        if from.is_root() {
            // The root is the session's whole tree, never a name in it.
            return Err(StorageError::PermissionDenied);
        }
        self.require(from, Permission::Rename).await?;
        self.not_a_mount(from, Permission::Rename)?;
        if self.rules.policy().await?.has_rules_below(from) {
            // As if not granted: the folder carries rules of its own.
            return self.permit(PermSet::NONE, Permission::Rename, from);
        }
        Ok(())
    }

    /// Renames `from` to `to`; a file it replaces comes off the usage.
    /// Needs `rename` at `from`, and at `to` `upload` (a new name) or
    /// `overwrite` (replacing a file).
    pub async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        overwrite: Overwrite,
    ) -> Result<(), StorageError> {
        self.may_rename(from).await?;
        let (area, inner_from) = self.area(from)?;
        let (to_area, inner_to) = self.area(to)?;
        if !std::ptr::eq(area, to_area) {
            return Err(StorageError::CrossFolder);
        }
        let perms = self.rules.at(to).await?;
        // Only a grant of one but not the other needs to know what `to` is.
        if !(perms.contains(Permission::Upload) && perms.contains(Permission::Overwrite)) {
            let replacing = match area.storage.stat(&inner_to).await {
                Ok(meta) => !meta.is_dir(),
                Err(StorageError::NotFound) => false,
                Err(e) => return Err(e),
            };
            self.permit(
                perms,
                if replacing {
                    Permission::Overwrite
                } else {
                    Permission::Upload
                },
                to,
            )?;
        }
        let replaced = area
            .storage
            .rename(&inner_from, &inner_to, overwrite)
            .await?;
        if let Some(usage) = &area.usage {
            usage.freed(replaced).await;
        }
        self.journal.events.emit(
            self.event(EventKind::Rename)
                .path(from.as_bytes())
                .target(to.as_bytes()),
        );
        Ok(())
    }

    /// The digest of a regular file, or of `range` of its bytes, once a
    /// slot of `limit` is free.
    pub async fn hash(
        &self,
        path: &VirtualPath,
        algorithm: HashAlgorithm,
        range: Option<ByteRange>,
        limit: &HashLimit,
        ctl: &HashControl,
    ) -> Result<FileDigest, HashError> {
        let _slot = limit.slot(ctl).await?;
        let start = range.map_or(0, |r| r.start);
        let (area, inner) = self.area(path)?;
        let (download, meta) = match area.storage.open_read(&inner, start).await {
            Err(StorageError::InvalidRestart) => {
                let size = area.storage.stat_target(&inner).await?.size;
                let end = range.map_or(size, |r| r.end);
                return Err(HashError::OutOfRange { start, end, size });
            }
            other => other?,
        };
        let range = range.unwrap_or(ByteRange {
            start: 0,
            end: meta.size,
        });
        if range.end > meta.size {
            let (start, end, size) = (range.start, range.end, meta.size);
            return Err(HashError::OutOfRange { start, end, size });
        }
        let hex = digest_download(download, range.len(), algorithm, ctl).await?;
        Ok(FileDigest {
            algorithm,
            range,
            hex,
        })
    }

    /// Sets the modification time of a file or directory.
    pub async fn set_modified(
        &self,
        path: &VirtualPath,
        unix_secs: i64,
    ) -> Result<(), StorageError> {
        let (area, inner) = self.area(path)?;
        area.storage.require_writable()?;
        self.require(path, Permission::Chmod).await?;
        area.storage.set_modified(&inner, unix_secs).await
    }

    /// Whether [`FileService::set_modified`] would be allowed at `path`,
    /// without setting anything: for a time asked for a file still being
    /// written (SFTP's FSETSTAT before CLOSE), so that a refusal comes
    /// with the request, not after the file is in place.
    pub async fn may_set_modified(&self, path: &VirtualPath) -> Result<(), StorageError> {
        let (area, _) = self.area(path)?;
        area.storage.require_writable()?;
        self.require(path, Permission::Chmod).await?;
        if !area.storage.sets_times() {
            return Err(StorageError::cannot_set_times(area.storage.kind()));
        }
        Ok(())
    }

    /// The account's usage and limit; `None` for anonymous sessions.
    pub async fn quota(&self) -> Option<Result<QuotaReport, crate::accounts::AccountError>> {
        match &self.home.usage {
            Some(usage) => Some(usage.report().await),
            None => None,
        }
    }

    /// Whether the files and running uploads `area` counts already reach
    /// its limit, with the limit as the store has it now (so an operator's
    /// change applies to running sessions).
    async fn over_quota(&self, area: &Area) -> Result<bool, StorageError> {
        let Some(usage) = &area.usage else {
            return Ok(false);
        };
        let report = usage.report().await.map_err(|e| {
            tracing::error!(error = %e, "cannot read quota");
            StorageError::Backend("cannot check the quota right now; try again later".into())
        })?;
        Ok(report
            .limit
            .is_some_and(|limit| report.used + report.in_flight >= limit))
    }
}

/// What an upload in `mode` needs, given whether the file exists.
fn upload_permission(mode: UploadMode, exists: bool) -> Permission {
    match (mode, exists) {
        (UploadMode::Resume(offset), _) if offset > 0 => Permission::Append,
        (UploadMode::Append, true) => Permission::Append,
        (UploadMode::Replace | UploadMode::Resume(_), true) => Permission::Overwrite,
        _ => Permission::Upload,
    }
}

/// The mode an upload permitted in `mode` runs in under `perms`: one that
/// was let through only because its file did not exist (an account that
/// may upload but not overwrite, or not append) publishes a new file or
/// nothing, so two sessions racing to create one name cannot make the
/// later one replace or extend the earlier one's file.
fn never_replacing(mode: UploadMode, perms: PermSet) -> UploadMode {
    let may = |p| perms.contains(p);
    match mode {
        UploadMode::Replace | UploadMode::Resume(0) if !may(Permission::Overwrite) => {
            UploadMode::New
        }
        UploadMode::Append if !may(Permission::Append) => UploadMode::New,
        mode => mode,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_each_upload_needs() {
        use Permission::*;
        let cases = [
            (UploadMode::Replace, false, Upload),
            (UploadMode::Replace, true, Overwrite),
            (UploadMode::Unique, false, Upload),
            (UploadMode::Append, false, Upload),
            (UploadMode::Append, true, Append),
            (UploadMode::Resume(0), true, Overwrite),
            (UploadMode::Resume(0), false, Upload),
            (UploadMode::Resume(5), true, Append),
        ];
        for (mode, exists, want) in cases {
            assert_eq!(
                upload_permission(mode, exists),
                want,
                "{mode:?} exists={exists}"
            );
        }
    }

    #[test]
    fn uploads_allowed_only_as_new_files_never_replace() {
        let drop_box = PermSet::UPLOAD_ONLY;
        assert_eq!(
            never_replacing(UploadMode::Replace, drop_box),
            UploadMode::New
        );
        assert_eq!(
            never_replacing(UploadMode::Resume(0), drop_box),
            UploadMode::New
        );
        assert_eq!(
            never_replacing(UploadMode::Append, drop_box),
            UploadMode::New
        );
        assert_eq!(
            never_replacing(UploadMode::Unique, drop_box),
            UploadMode::Unique
        );
        let all = PermSet::ALL;
        for mode in [
            UploadMode::Replace,
            UploadMode::Append,
            UploadMode::Resume(0),
        ] {
            assert_eq!(never_replacing(mode, all), mode);
        }
        let no_append = PermSet::parse("upload,overwrite").unwrap();
        assert_eq!(
            never_replacing(UploadMode::Append, no_append),
            UploadMode::New
        );
        assert_eq!(
            never_replacing(UploadMode::Replace, no_append),
            UploadMode::Replace
        );
    }
}
