//! Directory handles and file locks: what lets an upload, a delete or a
//! rename act on the file it started with, never on whatever a path names
//! later.
//!
//! A [`DirHandle`] is an open directory; every name operation through it
//! (`openat`, `renameat`, `unlinkat`, `fstatat`) stays in that directory
//! even when another session renames it meanwhile. [`FileLock`] is an
//! exclusive `flock(2)` on an open file: in-place writers (APPE, a resume
//! at the end of a file) hold one for their whole upload, and anything
//! that removes or replaces a name takes one on the file it removes, so
//! the two never overlap — across sessions and across server processes
//! sharing a disk. A holder that dies releases its lock with its file.

use super::lock_line::Place;
use super::StorageError;
use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// How long a writer, delete or rename waits for a file another session is
/// writing before it is refused with 450.
pub const BUSY_WAIT: Duration = Duration::from_secs(2);
/// The longest pause between two tries of a busy lock.
const BUSY_POLL: Duration = Duration::from_millis(20);

/// Pauses between tries of a busy lock: 250 µs at first, doubling up to
/// [`BUSY_POLL`]. A lock held for an instant (a small APPE of another
/// session) changes hands within half a millisecond or so; one held for
/// long is tried 50 times a second. (With a fixed 20 ms, two sessions
/// taking turns appending 64 KiB waited up to 20 ms per turn; see
/// `bench/out/CHANGES.md`, session 11.)
struct Backoff(Duration);

impl Backoff {
    fn new() -> Self {
        Backoff(Duration::from_micros(250))
    }

    fn pause(&mut self) {
        std::thread::sleep(self.0);
        self.0 = (self.0 * 2).min(BUSY_POLL);
    }
}

/// Which file a name refers to, and what it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameStat {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub is_file: bool,
    pub is_dir: bool,
    pub is_link: bool,
}

impl NameStat {
    fn from_stat(st: &libc::stat) -> Self {
        let fmt = st.st_mode & libc::S_IFMT;
        NameStat {
            dev: st.st_dev,
            ino: st.st_ino,
            size: u64::try_from(st.st_size).unwrap_or(0),
            is_file: fmt == libc::S_IFREG,
            is_dir: fmt == libc::S_IFDIR,
            is_link: fmt == libc::S_IFLNK,
        }
    }

    /// The facts of an open file.
    pub fn of_file(file: &File) -> io::Result<Self> {
        let md = file.metadata()?;
        Ok(NameStat {
            dev: md.dev(),
            ino: md.ino(),
            size: md.len(),
            is_file: md.is_file(),
            is_dir: md.is_dir(),
            is_link: md.is_symlink(),
        })
    }

    /// Whether both name the same file.
    pub fn same_file(&self, other: &NameStat) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// An open directory; see the module documentation.
#[derive(Debug)]
pub struct DirHandle {
    fd: OwnedFd,
}

fn c_name(name: &[u8]) -> io::Result<CString> {
    if name.is_empty() || name.contains(&b'/') {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

impl DirHandle {
    /// Opens the directory at `path` (its last component must not be a
    /// link).
    pub fn open(path: &Path) -> io::Result<Self> {
        use std::os::unix::ffi::OsStrExt;
        let c = CString::new(path.as_os_str().as_bytes())
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: `c` is a valid NUL-terminated string; the returned fd is
        // owned by the OwnedFd below.
        let fd = cvt(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: `fd` was just opened and is not owned elsewhere.
        Ok(DirHandle {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn open_at(&self, name: &[u8], flags: libc::c_int) -> io::Result<File> {
        let c = c_name(name)?;
        // SAFETY: valid dirfd and NUL-terminated name; the fd is owned by
        // the File below.
        let fd = cvt(unsafe {
            libc::openat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                flags | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                0o644 as libc::c_uint,
            )
        })?;
        // SAFETY: `fd` was just opened and is not owned elsewhere.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    /// Creates `name`, which must not exist, for writing.
    pub fn create_new(&self, name: &[u8]) -> io::Result<File> {
        self.open_at(name, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL)
    }

    /// Opens the existing regular file `name` for writing.
    pub fn open_write(&self, name: &[u8]) -> io::Result<File> {
        self.open_at(name, libc::O_WRONLY)
    }

    /// Opens `name` for reading (not following a final link).
    pub fn open_read(&self, name: &[u8]) -> io::Result<File> {
        self.open_at(name, libc::O_RDONLY | libc::O_NONBLOCK)
    }

    /// The directory itself, as `(st_dev, st_ino)`.
    pub fn identity(&self) -> io::Result<(u64, u64)> {
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd and out pointer.
        cvt(unsafe { libc::fstat(self.fd.as_raw_fd(), &mut st) })?;
        Ok((st.st_dev, st.st_ino))
    }

    /// `lstat` of `name`; `None` if it does not exist.
    pub fn stat_at(&self, name: &[u8]) -> io::Result<Option<NameStat>> {
        let c = c_name(name)?;
        // SAFETY: an all-zero `stat` is a valid value to be overwritten.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid dirfd, name and out pointer.
        let ret = unsafe {
            libc::fstatat(
                self.fd.as_raw_fd(),
                c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        match cvt(ret) {
            Ok(_) => Ok(Some(NameStat::from_stat(&st))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Renames `from` to `to` inside this directory, replacing `to`.
    pub fn rename(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        self.rename_into(from, self, to)
    }

    /// Renames `from` here to `to` in `dest`, replacing `to`.
    pub fn rename_into(&self, from: &[u8], dest: &DirHandle, to: &[u8]) -> io::Result<()> {
        let (f, t) = (c_name(from)?, c_name(to)?);
        // SAFETY: valid dirfds and NUL-terminated names.
        cvt(unsafe {
            libc::renameat(
                self.fd.as_raw_fd(),
                f.as_ptr(),
                dest.fd.as_raw_fd(),
                t.as_ptr(),
            )
        })
        .map(drop)
    }

    /// Renames `from` here to `to` in `dest` as it was measured: over the
    /// file `to` named (`replacing`), or only if `to` is still free, so a
    /// file another session or process published there since it was
    /// measured is never replaced unseen (`AlreadyExists`: measure again).
    /// Filesystems without `RENAME_NOREPLACE` get a plain rename.
    pub fn rename_measured(
        &self,
        from: &[u8],
        dest: &DirHandle,
        to: &[u8],
        replacing: bool,
    ) -> io::Result<()> {
        if replacing {
            return self.rename_into(from, dest, to);
        }
        let (f, t) = (c_name(from)?, c_name(to)?);
        // SAFETY: valid dirfds and NUL-terminated names.
        let ret = unsafe {
            libc::renameat2(
                self.fd.as_raw_fd(),
                f.as_ptr(),
                dest.fd.as_raw_fd(),
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        match cvt(ret) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                self.rename_into(from, dest, to)
            }
            Err(e) => Err(e),
        }
    }

    /// Renames `from` to `to` inside this directory only if `to` does not
    /// exist (`AlreadyExists` otherwise). Filesystems without
    /// `RENAME_NOREPLACE` get a hard link and an unlink, which is just as
    /// exclusive.
    pub fn rename_no_replace(&self, from: &[u8], to: &[u8]) -> io::Result<()> {
        let (f, t) = (c_name(from)?, c_name(to)?);
        let dir = self.fd.as_raw_fd();
        // SAFETY: valid dirfd and NUL-terminated names.
        let ret =
            unsafe { libc::renameat2(dir, f.as_ptr(), dir, t.as_ptr(), libc::RENAME_NOREPLACE) };
        match cvt(ret) {
            Ok(_) => Ok(()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) => {
                // SAFETY: as above.
                cvt(unsafe { libc::linkat(dir, f.as_ptr(), dir, t.as_ptr(), 0) })?;
                self.unlink(from)
            }
            Err(e) => Err(e),
        }
    }

    /// Removes the file `name`.
    pub fn unlink(&self, name: &[u8]) -> io::Result<()> {
        let c = c_name(name)?;
        // SAFETY: valid dirfd and NUL-terminated name.
        cvt(unsafe { libc::unlinkat(self.fd.as_raw_fd(), c.as_ptr(), 0) }).map(drop)
    }

    /// Makes the directory's entries durable.
    pub fn sync(&self) -> io::Result<()> {
        // SAFETY: valid fd.
        cvt(unsafe { libc::fsync(self.fd.as_raw_fd()) }).map(drop)
    }
}

/// An exclusive `flock` on an open file, released when dropped (with the
/// file it owns).
#[derive(Debug)]
pub struct FileLock {
    file: File,
}

impl FileLock {
    /// Locks `file`, waiting up to `wait` for another holder; `Busy` if it
    /// is still held then. This process's waiters take turns in the order
    /// they came ([`super::lock_line`]), so a session that keeps appending
    /// cannot starve another one waiting for the same file.
    pub fn acquire(file: File, wait: Duration) -> Result<Self, StorageError> {
        let deadline = Instant::now() + wait;
        let st = NameStat::of_file(&file)?;
        let place = Place::join((st.dev, st.ino));
        let mut backoff = Backoff::new();
        let mut turn = false;
        loop {
            if place.first() {
                if !turn {
                    // Its turn has come: try often again.
                    turn = true;
                    backoff = Backoff::new();
                }
                if let Some(lock) = Self::try_acquire(file.try_clone()?)? {
                    return Ok(lock);
                }
            }
            if Instant::now() >= deadline {
                return Err(StorageError::Busy);
            }
            backoff.pause();
        }
    }

    /// Locks `file` if no one else holds it.
    pub fn try_acquire(file: File) -> io::Result<Option<Self>> {
        // SAFETY: valid fd.
        let ret = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        match cvt(ret) {
            Ok(_) => Ok(Some(FileLock { file })),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn into_file(self) -> File {
        self.file
    }
}

/// What an operation on settled names did.
#[derive(Debug)]
pub enum Settled<T> {
    Done(T),
    /// A name it found free was taken before it could use it (see
    /// [`DirHandle::rename_measured`]): the names are measured again.
    Taken,
}

/// Runs `op` on the regular file `name` in `dir` while holding its lock,
/// so no in-place writer is mid-upload in it; waits up to [`BUSY_WAIT`]
/// for one to finish. `op` gets the file's facts as they are under the
/// lock and the name locks ([`super::namespace`]). A name that is not a
/// regular file (a directory, a link, nothing) is passed through without
/// a lock.
pub fn with_name_settled<T>(
    dir: &DirHandle,
    name: &[u8],
    mut op: impl FnMut(Option<NameStat>) -> Result<Settled<T>, StorageError>,
) -> Result<T, StorageError> {
    with_names_settled(&[(dir, name)], |stats| op(stats[0]))
}

/// [`with_name_settled`] for several names at once (a rename's source and
/// target). One name waits its turn in its file's line, behind sessions
/// already waiting to write it; two names only try their files' locks,
/// never waiting for one while another is held, so two callers can never
/// deadlock (waiting in one file's line while the other file is busy
/// would hold up everyone queued for the free one). The same file under
/// two names is locked once.
pub fn with_names_settled<T>(
    names: &[(&DirHandle, &[u8])],
    mut op: impl FnMut(&[Option<NameStat>]) -> Result<Settled<T>, StorageError>,
) -> Result<T, StorageError> {
    let deadline = Instant::now() + BUSY_WAIT;
    let mut backoff = Backoff::new();
    let mut place: Option<Place> = None;
    let mut turn = false;
    'retry: loop {
        // Names that keep changing under us give up in the end as well.
        if Instant::now() > deadline + BUSY_WAIT {
            return Err(StorageError::Busy);
        }
        let line = match names {
            [(dir, name)] => dir
                .stat_at(name)?
                .filter(|st| st.is_file)
                .map(|st| (st.dev, st.ino)),
            _ => None,
        };
        if place.as_ref().map(Place::key) != line {
            // First, or the name leads to another file now: the old place
            // is given up before the new one is taken.
            drop(place.take());
            place = line.map(Place::join);
        }
        if !place.as_ref().is_none_or(Place::first) {
            if Instant::now() >= deadline {
                return Err(StorageError::Busy);
            }
            backoff.pause();
            continue 'retry;
        }
        if !turn {
            // Its turn has come: try often again.
            turn = true;
            backoff = Backoff::new();
        }
        let mut locks: Vec<(NameStat, FileLock)> = Vec::new();
        for (dir, name) in names {
            let Some(st) = dir.stat_at(name)?.filter(|st| st.is_file) else {
                continue;
            };
            if locks.iter().any(|(held, _)| held.same_file(&st)) {
                continue;
            }
            let file = match dir.open_read(name) {
                Ok(file) => file,
                // It went away or changed kind meanwhile: look again.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue 'retry,
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => continue 'retry,
                Err(e) => return Err(e.into()),
            };
            let held = NameStat::of_file(&file)?;
            match FileLock::try_acquire(file)? {
                Some(lock) => locks.push((held, lock)),
                None if Instant::now() >= deadline => return Err(StorageError::Busy),
                None => {
                    drop(locks);
                    backoff.pause();
                    continue 'retry;
                }
            }
        }
        let _names = super::namespace::lock(names)?;
        let mut stats = Vec::with_capacity(names.len());
        for (dir, name) in names {
            let now = dir.stat_at(name)?;
            // Every regular file named must be one we hold locked.
            if let Some(now) = now.filter(|n| n.is_file) {
                if !locks.iter().any(|(held, _)| held.same_file(&now)) {
                    continue 'retry;
                }
            }
            stats.push(now);
        }
        match op(&stats)? {
            Settled::Done(done) => return Ok(done),
            Settled::Taken => continue 'retry,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_replace_refuses_an_existing_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DirHandle::open(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("a"), b"a").unwrap();
        std::fs::write(tmp.path().join("b"), b"b").unwrap();
        let err = dir.rename_no_replace(b"a", b"b").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        dir.rename_no_replace(b"a", b"c").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("c")).unwrap(), b"a");
        assert!(dir.stat_at(b"a").unwrap().is_none());
    }

    #[test]
    fn a_measured_rename_never_replaces_a_name_taken_meanwhile() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DirHandle::open(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("new"), b"new").unwrap();
        // Measured free, then another session published `b` there.
        std::fs::write(tmp.path().join("b"), b"theirs").unwrap();
        let err = dir.rename_measured(b"new", &dir, b"b", false).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"theirs");
        // Measured as a file: replaced.
        dir.rename_measured(b"new", &dir, b"b", true).unwrap();
        assert_eq!(std::fs::read(tmp.path().join("b")).unwrap(), b"new");
    }

    #[test]
    fn names_with_slashes_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DirHandle::open(tmp.path()).unwrap();
        assert!(dir.create_new(b"../x").is_err());
        assert!(dir.create_new(b"").is_err());
    }

    #[test]
    fn a_handle_follows_its_directory_through_a_rename() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir(tmp.path().join("d")).unwrap();
        let dir = DirHandle::open(&tmp.path().join("d")).unwrap();
        std::fs::rename(tmp.path().join("d"), tmp.path().join("dx")).unwrap();
        drop(dir.create_new(b"f").unwrap());
        assert!(tmp.path().join("dx/f").exists());
    }

    /// A file `f` in a fresh directory, and a writer holding its lock.
    fn locked_file() -> (tempfile::TempDir, std::path::PathBuf, FileLock) {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"x").unwrap();
        let held = FileLock::acquire(open_write(&path), BUSY_WAIT).unwrap();
        (tmp, path, held)
    }

    fn open_write(path: &Path) -> File {
        File::options().write(true).open(path).unwrap()
    }

    /// Returns once someone waits in the line of `held`'s file.
    fn until_someone_waits(held: &FileLock) {
        let st = NameStat::of_file(held.file()).unwrap();
        let until = Instant::now() + BUSY_WAIT;
        while super::super::lock_line::waiting((st.dev, st.ino)) == 0 && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_waiting_session_gets_the_lock_before_its_holder_takes_it_again() {
        let (_tmp, path, held) = locked_file();
        let (got, got_rx) = std::sync::mpsc::channel();
        let waiter = {
            let file = open_write(&path);
            std::thread::spawn(move || {
                let lock = FileLock::acquire(file, BUSY_WAIT);
                got.send(lock.is_ok()).unwrap();
                std::thread::sleep(Duration::from_millis(5));
                drop(lock);
            })
        };
        until_someone_waits(&held);
        // The holder releases and asks again at once, as a client
        // appending in pieces does: it queues behind the waiter.
        drop(held);
        let again = FileLock::acquire(open_write(&path), BUSY_WAIT).unwrap();
        assert_eq!(got_rx.try_recv(), Ok(true), "the waiter had its turn first");
        drop(again);
        waiter.join().unwrap();
    }

    #[test]
    fn a_waiting_delete_gets_the_file_before_its_writer_takes_it_again() {
        let (tmp, path, held) = locked_file();
        let (ran, ran_rx) = std::sync::mpsc::channel();
        let delete = {
            let dir = DirHandle::open(tmp.path()).unwrap();
            std::thread::spawn(move || {
                with_name_settled(&dir, b"f", |_| {
                    dir.unlink(b"f")?;
                    ran.send(()).unwrap();
                    Ok(Settled::Done(()))
                })
            })
        };
        until_someone_waits(&held);
        // The writer lets go and asks again at once (the next APPE of a
        // client appending in pieces): it queues behind the delete.
        let again = open_write(&path);
        drop(held);
        let again = FileLock::acquire(again, BUSY_WAIT).unwrap();
        assert_eq!(ran_rx.try_recv(), Ok(()), "the delete had its turn first");
        drop(again);
        delete.join().unwrap().unwrap();
        assert!(!path.exists());
    }

    #[test]
    fn a_locked_file_cannot_be_settled() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = DirHandle::open(tmp.path()).unwrap();
        std::fs::write(tmp.path().join("f"), b"x").unwrap();
        let held = FileLock::try_acquire(dir.open_write(b"f").unwrap())
            .unwrap()
            .unwrap();
        assert!(FileLock::try_acquire(dir.open_read(b"f").unwrap())
            .unwrap()
            .is_none());
        let started = Instant::now();
        let r = with_name_settled(&dir, b"f", |_| Ok(Settled::Done(())));
        assert!(matches!(r, Err(StorageError::Busy)));
        assert!(started.elapsed() >= BUSY_WAIT);
        drop(held);
        let size =
            with_name_settled(&dir, b"f", |st| Ok(Settled::Done(st.map(|s| s.size)))).unwrap();
        assert_eq!(size, Some(1));
    }
}
