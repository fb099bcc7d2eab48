//! [`Jail`]: a session's root directory and the one resolver that maps
//! virtual paths into it.
//!
//! Lexical normalisation already happened in [`VirtualPath`]: no `..`
//! survives it. What is left is the filesystem's own way out, symbolic
//! links. After joining the path to the root, the resolver canonicalises
//! it (or, for a name that does not exist yet, its parent) and refuses
//! anything whose real location is not under the canonical root. A
//! dangling link is refused too, so that nothing is ever created through
//! one. Clients cannot create links over FTP; only a local user with
//! shell access could race a link swap between check and use, and such a
//! user can reach the files anyway.

use super::handle::{with_name_settled, with_names_settled, DirHandle, Settled};
use super::{blocking, Meta, StorageError, PART_PREFIX};
use crate::storage::Overwrite;
use ftp_proto::VirtualPath;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A session's root directory.
#[derive(Debug, Clone)]
pub struct Jail {
    root: Arc<PathBuf>,
    writable: bool,
    durable: bool,
}

impl Jail {
    /// Opens the jail at `root`, which must exist. Uploads are durable
    /// (see [`Jail::with_durability`]).
    pub fn new(root: &Path, writable: bool) -> std::io::Result<Self> {
        Ok(Jail {
            root: Arc::new(fs::canonicalize(root)?),
            writable,
            durable: true,
        })
    }

    /// Whether a committed upload is `fsync`ed before it is published and
    /// its directory after (`durable_uploads`).
    pub fn with_durability(mut self, durable: bool) -> Self {
        self.durable = durable;
        self
    }

    pub fn durable(&self) -> bool {
        self.durable
    }

    /// The directory that holds `vpath`, opened, and its name there; the
    /// name itself need not exist. The root has no such place. One walk
    /// of the parent's real path; the name is looked at in the opened
    /// directory, and only a link there is followed to see where it leads.
    pub fn locate(&self, vpath: &VirtualPath) -> Result<(DirHandle, Vec<u8>), StorageError> {
        let name = vpath.file_name().ok_or(StorageError::PermissionDenied)?;
        let real = self.join(vpath)?;
        let parent = real.parent().ok_or(StorageError::NotFound)?;
        let canon = match fs::canonicalize(parent) {
            Ok(canon) if canon.starts_with(&*self.root) => canon,
            Ok(_) => return Err(StorageError::NotFound),
            Err(e) => return Err(e.into()),
        };
        let dir = DirHandle::open(&canon)?;
        if dir.stat_at(name)?.is_some_and(|st| st.is_link) {
            // A link must lead somewhere inside the jail: a dangling one
            // is refused rather than have its target created.
            match fs::canonicalize(canon.join(OsStr::from_bytes(name))) {
                Ok(target) if target.starts_with(&*self.root) => {}
                _ => return Err(StorageError::NotFound),
            }
        }
        Ok((dir, name.to_vec()))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn writable(&self) -> bool {
        self.writable
    }

    /// Fails with 550 on a read-only jail.
    pub fn require_writable(&self) -> Result<(), StorageError> {
        if self.writable {
            Ok(())
        } else {
            Err(StorageError::PermissionDenied)
        }
    }

    /// `vpath` joined to the root, unchecked; names of uploads in progress
    /// are not there to be found.
    fn join(&self, vpath: &VirtualPath) -> Result<PathBuf, StorageError> {
        let mut real = PathBuf::from(&*self.root);
        for part in vpath.components() {
            if part.starts_with(PART_PREFIX) {
                return Err(StorageError::NotFound);
            }
            real.push(OsStr::from_bytes(part));
        }
        Ok(real)
    }

    /// The real path of `vpath`, checked to lie inside the root.
    ///
    /// The target itself need not exist, but its parent must.
    pub fn resolve(&self, vpath: &VirtualPath) -> Result<PathBuf, StorageError> {
        let real = self.join(vpath)?;
        match fs::canonicalize(&real) {
            Ok(canon) if canon.starts_with(&*self.root) => Ok(real),
            Ok(_) => Err(StorageError::NotFound),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if fs::symlink_metadata(&real).is_ok_and(|md| md.file_type().is_symlink()) {
                    // A dangling link: refuse rather than create its target.
                    return Err(StorageError::NotFound);
                }
                // Nothing there, or a file another session created just now
                // (not a link): its parent decides.
                let parent = real.parent().ok_or(StorageError::NotFound)?;
                match fs::canonicalize(parent) {
                    Ok(canon) if canon.starts_with(&*self.root) => Ok(real),
                    _ => Err(StorageError::NotFound),
                }
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `lstat` of a path (a link inside the jail is reported as a link,
    /// except the root itself).
    pub async fn stat(&self, vpath: &VirtualPath) -> Result<Meta, StorageError> {
        let jail = self.clone();
        let vpath = vpath.clone();
        blocking(move || {
            let real = jail.resolve(&vpath)?;
            Ok(Meta::from(&fs::symlink_metadata(real)?))
        })
        .await
    }

    /// `stat` following links, for commands that act on the target (CWD,
    /// SIZE, RETR).
    pub async fn stat_target(&self, vpath: &VirtualPath) -> Result<Meta, StorageError> {
        let jail = self.clone();
        let vpath = vpath.clone();
        blocking(move || {
            let real = jail.resolve(&vpath)?;
            Ok(Meta::from(&fs::metadata(real)?))
        })
        .await
    }

    /// Opens a regular file for reading.
    pub async fn open_read(&self, vpath: &VirtualPath) -> Result<(fs::File, Meta), StorageError> {
        let jail = self.clone();
        let vpath = vpath.clone();
        blocking(move || {
            let real = jail.resolve(&vpath)?;
            let file = fs::File::open(real)?;
            let meta = Meta::from(&file.metadata()?);
            if !meta.is_file() {
                return Err(StorageError::NotAFile);
            }
            Ok((file, meta))
        })
        .await
    }

    pub async fn mkdir(&self, vpath: &VirtualPath) -> Result<(), StorageError> {
        self.require_writable()?;
        self.write_op(vpath, |real| Ok(fs::create_dir(real)?)).await
    }

    pub async fn rmdir(&self, vpath: &VirtualPath) -> Result<(), StorageError> {
        self.require_writable()?;
        if vpath.is_root() {
            return Err(StorageError::PermissionDenied);
        }
        self.write_op(vpath, |real| Ok(fs::remove_dir(real)?)).await
    }

    /// Removes a file and returns the bytes it held (for quota
    /// accounting), measured under its lock: a file another session is
    /// appending to is waited for, then refused with 450.
    pub async fn remove_file(&self, vpath: &VirtualPath) -> Result<u64, StorageError> {
        self.require_writable()?;
        let jail = self.clone();
        let vpath = vpath.clone();
        blocking(move || {
            let (dir, name) = jail.locate(&vpath)?;
            with_name_settled(&dir, &name, |victim| {
                let victim = victim.ok_or(StorageError::NotFound)?;
                if victim.is_dir {
                    return Err(StorageError::NotAFile);
                }
                dir.unlink(&name)?;
                // A link holds no bytes of the account's.
                Ok(Settled::Done(if victim.is_file { victim.size } else { 0 }))
            })
        })
        .await
    }

    /// Renames `from` to `to` and returns the bytes of the file it
    /// replaced, if it replaced one. Moving a directory into itself, and
    /// the root, are refused; files being appended to are waited for.
    pub async fn rename(
        &self,
        from: &VirtualPath,
        to: &VirtualPath,
        overwrite: Overwrite,
    ) -> Result<u64, StorageError> {
        self.require_writable()?;
        if from.is_root()
            || to.is_root()
            || to.as_bytes().starts_with(&[from.as_bytes(), b"/"].concat())
        {
            return Err(StorageError::PermissionDenied);
        }
        let jail = self.clone();
        let (from, to) = (from.clone(), to.clone());
        blocking(move || {
            let (src_dir, src) = jail.locate(&from)?;
            let (dst_dir, dst) = jail.locate(&to)?;
            let names = [(&src_dir, &src[..]), (&dst_dir, &dst[..])];
            with_names_settled(&names, |stats| {
                let source = stats[0].ok_or(StorageError::NotFound)?;
                if overwrite == Overwrite::Never && stats[1].is_some() {
                    return Err(StorageError::AlreadyExists);
                }
                let replaced = match stats[1] {
                    // Renaming a file onto itself (or a hard link of it)
                    // replaces nothing.
                    Some(victim) if victim.same_file(&source) => 0,
                    Some(victim) if victim.is_file => victim.size,
                    _ => 0,
                };
                match src_dir.rename_measured(&src, &dst_dir, &dst, stats[1].is_some()) {
                    Ok(()) => Ok(Settled::Done(replaced)),
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Settled::Taken),
                    Err(e) => Err(e.into()),
                }
            })
        })
        .await
    }

    /// Sets the modification time of a file or directory (following a
    /// link inside the jail), leaving its access time alone.
    pub async fn set_modified(
        &self,
        vpath: &VirtualPath,
        unix_secs: i64,
    ) -> Result<(), StorageError> {
        self.require_writable()?;
        let magnitude = std::time::Duration::from_secs(unix_secs.unsigned_abs());
        let time = if unix_secs >= 0 {
            std::time::UNIX_EPOCH.checked_add(magnitude)
        } else {
            std::time::UNIX_EPOCH.checked_sub(magnitude)
        }
        .ok_or_else(|| StorageError::Io(std::io::ErrorKind::InvalidInput.into()))?;
        self.write_op(vpath, move |real| {
            Ok(fs::File::open(real)?.set_modified(time)?)
        })
        .await
    }

    async fn write_op<T, F>(&self, vpath: &VirtualPath, op: F) -> Result<T, StorageError>
    where
        F: FnOnce(PathBuf) -> Result<T, StorageError> + Send + 'static,
        T: Send + 'static,
    {
        let jail = self.clone();
        let vpath = vpath.clone();
        blocking(move || op(jail.resolve(&vpath)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn vp(p: &[u8]) -> VirtualPath {
        VirtualPath::root().join(p).unwrap()
    }

    #[test]
    fn resolves_inside_and_refuses_escapes() {
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), b"s").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        fs::write(root.join("sub/f"), b"x").unwrap();
        symlink(outside.path(), root.join("out")).unwrap();
        symlink(outside.path().join("secret"), root.join("secret-link")).unwrap();
        symlink(root.join("sub"), root.join("in")).unwrap();
        symlink(outside.path().join("nothing"), root.join("dangling")).unwrap();
        let jail = Jail::new(&root, true).unwrap();

        assert!(jail.resolve(&vp(b"sub/f")).is_ok());
        assert!(jail.resolve(&vp(b"in/f")).is_ok());
        assert!(jail.resolve(&vp(b"new-file")).is_ok());
        // Where a name is stored, deleted or renamed: the same answers.
        for good in [&b"sub/f"[..], b"in/f", b"new-file", b"in", b"sub/new"] {
            let (_, name) = jail.locate(&vp(good)).unwrap();
            assert!(good.ends_with(&name));
        }
        for bad in [
            &b"out"[..],
            b"out/secret",
            b"secret-link",
            b"out/new",
            b"dangling",
            b"missing/x",
            b".wharf-part-1",
        ] {
            let shown = String::from_utf8_lossy(bad);
            assert!(jail.resolve(&vp(bad)).is_err(), "{shown}");
            assert!(jail.locate(&vp(bad)).is_err(), "{shown}");
        }
    }

    #[tokio::test]
    async fn read_only_jail_refuses_writes() {
        let dir = tempfile::tempdir().unwrap();
        let jail = Jail::new(dir.path(), false).unwrap();
        assert!(matches!(
            jail.mkdir(&vp(b"d")).await,
            Err(StorageError::PermissionDenied)
        ));
        assert!(!dir.path().join("d").exists());
    }

    #[tokio::test]
    async fn set_modified_sets_files_and_directories() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("d")).unwrap();
        fs::write(dir.path().join("f"), b"x").unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        for (name, secs) in [(&b"f"[..], 1_000_000_000i64), (b"d", -86_400)] {
            jail.set_modified(&vp(name), secs).await.unwrap();
            assert_eq!(jail.stat(&vp(name)).await.unwrap().mtime, secs);
        }
        assert!(matches!(
            jail.set_modified(&vp(b"missing"), 0).await,
            Err(StorageError::NotFound)
        ));
        let read_only = Jail::new(dir.path(), false).unwrap();
        assert!(matches!(
            read_only.set_modified(&vp(b"f"), 0).await,
            Err(StorageError::PermissionDenied)
        ));
    }

    #[tokio::test]
    async fn a_rename_that_may_not_overwrite_leaves_both_files() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a"), b"aa").unwrap();
        fs::write(dir.path().join("b"), b"bbb").unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        assert!(matches!(
            jail.rename(&vp(b"a"), &vp(b"b"), Overwrite::Never).await,
            Err(StorageError::AlreadyExists)
        ));
        assert_eq!(fs::read(dir.path().join("a")).unwrap(), b"aa");
        assert_eq!(fs::read(dir.path().join("b")).unwrap(), b"bbb");
        jail.rename(&vp(b"a"), &vp(b"c"), Overwrite::Never)
            .await
            .unwrap();
        assert_eq!(
            jail.rename(&vp(b"c"), &vp(b"b"), Overwrite::Allowed)
                .await
                .unwrap(),
            3
        );
    }

    #[tokio::test]
    async fn rename_into_itself_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("a")).unwrap();
        let jail = Jail::new(dir.path(), true).unwrap();
        assert!(jail
            .rename(&vp(b"a"), &vp(b"a/b"), Overwrite::Allowed)
            .await
            .is_err());
        jail.rename(&vp(b"a"), &vp(b"c"), Overwrite::Allowed)
            .await
            .unwrap();
        assert!(dir.path().join("c").is_dir());
    }
}
