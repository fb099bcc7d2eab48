//! One SFTP session: packets in from the SSH channel, each request mapped
//! onto the account's [`FileService`], replies out. Requests are handled
//! in order, one at a time; replies are written out in batches, once no
//! further complete request is waiting, so a client that pipelines (as
//! OpenSSH's `sftp` does, 64 requests deep) is not answered packet by
//! packet. A READ's file bytes are read straight into the batch (from the
//! page cache without a thread hop), and the batch goes to the SSH layer
//! without another copy. A packet that cannot be framed (a length no
//! client may send) ends the session; one that frames but does not decode
//! gets a BAD_MESSAGE status and changes nothing.

use super::copy::Range;
use super::handles::{
    fstat, fstat_subject, DirHandle, Handle, HandleError, Handles, ReadHandle, WriteHandle,
};
use super::reply::{attrs, error, ok, status};
use crate::bandwidth::Bandwidth;
use crate::live::Registration;
use crate::service::FileService;
use crate::storage::Overwrite;
use crate::storage::StorageError;
use bytes::Bytes;
use ftp_proto::VirtualPath;
use russh::server::Msg;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf};
use sftp_proto::request::salvage_id;
use sftp_proto::wire::Writer;
use sftp_proto::{
    Attrs, DataReply, Extended, Framer, NameEntry, OpenFlags, Request, Response, Status, StatusCode,
};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::mpsc;

/// Replies are written out once this many bytes are waiting.
const OUT_BATCH: usize = 512 * 1024;

/// Requests read ahead of the one being answered. The channel is read
/// apart from the answering, so a reply waiting for the client's window
/// never stops the SSH connection from taking the client's next packets
/// (and its window adjustments); a client that sends this many requests
/// without reading its replies waits.
const READ_AHEAD: usize = 256;

/// A session that has had no request for this long lets go of the
/// buffers it kept for a download.
const RELEASE_AFTER: std::time::Duration = std::time::Duration::from_millis(250);

/// Serves SFTP on `channel` for the account `files` acts for, until the
/// client closes it.
pub async fn serve(
    channel: Channel<Msg>,
    files: FileService,
    bandwidth: Arc<Bandwidth>,
    live: Option<Arc<Registration>>,
) {
    let peer = files.identity().peer;
    let (rd, wr) = channel.split();
    let (tx, mut requests) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read_packets(rd, tx, peer));
    let mut session = SftpSession {
        files,
        bandwidth,
        live,
        handles: Handles::default(),
        initialized: false,
    };
    let mut replies = Replies::new(wr);
    let ended = 'session: loop {
        let Some(body) = next_request(&mut requests, &mut replies).await else {
            break "closed by the client";
        };
        session.handle(&body, &mut replies.out).await;
        // Answer every request already here before writing, up to a batch.
        while replies.out.len() < OUT_BATCH {
            match requests.try_recv() {
                Ok(body) => session.handle(&body, &mut replies.out).await,
                Err(_) => break,
            }
        }
        if replies.send().await.is_err() {
            break 'session "write failed";
        }
    };
    tracing::debug!(%peer, ended, "SFTP session over");
    reader.abort();
    session.handles.abandon(&session.files).await;
}

/// The next request. Buffers kept from a download are let go once no
/// request has come for [`RELEASE_AFTER`]: a session between files holds
/// none.
async fn next_request(
    requests: &mut mpsc::Receiver<Vec<u8>>,
    replies: &mut Replies,
) -> Option<Vec<u8>> {
    if replies.holds_buffers() {
        if let Ok(next) = tokio::time::timeout(RELEASE_AFTER, requests.recv()).await {
            return next;
        }
        replies.release();
    }
    requests.recv().await
}

/// The session's replies on their way to the client: each batch is handed
/// to russh whole, which frames it into SSH packets as the client's window
/// allows without copying it first; a batch's buffer comes back for a
/// later batch once russh is done with it, so a long download reuses a
/// few buffers instead of faulting in fresh pages for each batch.
struct Replies {
    channel: ChannelWriteHalf<Msg>,
    /// The batch being answered into.
    out: Vec<u8>,
    /// Large batches sent last, oldest first, at most [`Replies::KEPT`].
    sent: VecDeque<Bytes>,
}

impl Replies {
    /// Batches kept for their buffers: russh may still hold the last one
    /// or two when the next is ready.
    const KEPT: usize = 3;

    /// Only batches this large (a download's) are kept.
    const KEPT_FROM: usize = 128 * 1024;

    fn new(channel: ChannelWriteHalf<Msg>) -> Self {
        Replies {
            channel,
            out: Vec::new(),
            sent: VecDeque::new(),
        }
    }

    fn holds_buffers(&self) -> bool {
        !self.sent.is_empty() || self.out.capacity() >= Self::KEPT_FROM
    }

    fn release(&mut self) {
        self.sent.clear();
        self.out = Vec::new();
    }

    /// Sends the batch and starts an empty one, in a buffer russh is done
    /// with if there is one.
    async fn send(&mut self) -> Result<(), russh::Error> {
        let free = self.sent.iter().position(Bytes::is_unique);
        let reused = free
            .and_then(|at| self.sent.remove(at))
            .and_then(|sent| sent.try_into_mut().ok())
            .map(|sent| {
                let mut buf = Vec::from(sent);
                buf.clear();
                buf
            });
        // A download's next batch is as large as this one: allocated whole,
        // not grown reply by reply.
        let next = reused.unwrap_or_else(|| match self.out.capacity() {
            large if large >= Self::KEPT_FROM => Vec::with_capacity(large),
            _ => Vec::new(),
        });
        let batch = Bytes::from(std::mem::replace(&mut self.out, next));
        if batch.len() >= Self::KEPT_FROM {
            if self.sent.len() == Self::KEPT {
                self.sent.pop_front();
            }
            self.sent.push_back(batch.clone());
        }
        self.channel.data_bytes(batch).await
    }
}

/// Reads the client's packets and queues their bodies; stops at the end
/// of the stream or at a packet no client may send.
async fn read_packets(
    mut channel: ChannelReadHalf,
    tx: mpsc::Sender<Vec<u8>>,
    peer: std::net::SocketAddr,
) {
    let mut framer = Framer::default();
    while let Some(msg) = channel.wait().await {
        let data = match msg {
            ChannelMsg::Data { data } => data,
            ChannelMsg::Eof | ChannelMsg::Close => return,
            _ => continue,
        };
        let mut rest = &data[..];
        loop {
            match framer.next(&mut rest) {
                Ok(Some(body)) => {
                    if tx.send(body).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::info!(%peer, error = %e, "SFTP: a packet no client may send; closing");
                    return;
                }
            }
        }
    }
}

struct SftpSession {
    files: FileService,
    /// The accounts' buckets, shared with FTP.
    bandwidth: Arc<Bandwidth>,
    /// The session's entry among the live sessions, where its open files
    /// show as transfers.
    live: Option<Arc<Registration>>,
    handles: Handles,
    initialized: bool,
}

impl SftpSession {
    /// Answers one packet into `out`.
    async fn handle(&mut self, body: &[u8], out: &mut Vec<u8>) {
        let request = match Request::decode(body) {
            Ok(request) => request,
            Err(e) => {
                let id = salvage_id(body).unwrap_or(0);
                let s = status(
                    id,
                    StatusCode::BadMessage,
                    format!("malformed request: {e}"),
                );
                Response::Status(s).encode_into(out);
                return;
            }
        };
        if let Request::Init { version } = request {
            tracing::debug!(client_version = version, "SFTP init");
            self.initialized = true;
            Response::Version {
                version: sftp_proto::VERSION,
                extensions: Extended::ADVERTISED,
            }
            .encode_into(out);
            return;
        }
        let id = request.id().unwrap_or(0);
        if !self.initialized {
            let s = status(id, StatusCode::BadMessage, "send INIT first");
            Response::Status(s).encode_into(out);
            return;
        }
        self.dispatch(id, request, out).await;
    }

    fn path(&self, raw: &[u8]) -> Result<VirtualPath, StorageError> {
        // Every path is taken from the session's root, its home: a
        // relative path means the same as an absolute one.
        Ok(VirtualPath::root().join(raw)?)
    }

    async fn dispatch(&mut self, id: u32, request: Request<'_>, out: &mut Vec<u8>) {
        let files = self.files.clone();
        let done = |s: Status, out: &mut Vec<u8>| Response::Status(s).encode_into(out);
        let result: Result<(), HandleError> = async {
            match request {
                Request::Open {
                    path, flags, ..
                } => {
                    let path = self.path(path)?;
                    // The account's rates as they are now, for this file.
                    let rates = files.rates().await?;
                    let buckets = self.bandwidth.for_account(&files.identity().user, rates);
                    let shown = |upload: bool, path: &VirtualPath| {
                        self.live
                            .as_ref()
                            .map(|r| r.transfer(path.to_string(), upload, Arc::default()))
                    };
                    let handle = if flags.has(OpenFlags::WRITE) || flags.has(OpenFlags::APPEND) {
                        let up = buckets.filter(|b| b.up.is_some());
                        let shown = shown(true, &path);
                        let mut w = WriteHandle::open(&files, path, flags, up).await?;
                        if let Some(s) = shown {
                            w.show(s);
                        }
                        Handle::Write(w)
                    } else {
                        let down = buckets.filter(|b| b.down.is_some());
                        let shown = shown(false, &path);
                        let mut r = ReadHandle::open(&files, path, down).await?;
                        if let Some(s) = shown {
                            r.show(s);
                        }
                        Handle::Read(r)
                    };
                    let name = self.handles.insert(handle)?;
                    Response::Handle { id, handle: &name }.encode_into(out);
                }
                Request::Extended { request: Extended::Fsync { handle }, .. } => {
                    // fsync@openssh.com: the bytes so far reach the upload;
                    // the commit at CLOSE makes them durable and visible.
                    if let Handle::Write(w) = self.handles.get(handle)? {
                        w.flush(&files).await?;
                    }
                    done(ok(id), out);
                }
                Request::Close { handle, .. } => {
                    match self.handles.remove(handle)? {
                        Handle::Write(w) => w.close(&files).await?,
                        Handle::Read(r) => r.finish(&files, None),
                        Handle::Dir(_) => {}
                    }
                    done(ok(id), out);
                }
                Request::Read { handle, offset, len, .. } => {
                    let Handle::Read(r) = self.handles.get(handle)? else {
                        return Err(HandleError::Refused("not a handle opened for reading".into()));
                    };
                    // The file's bytes go straight into the reply.
                    let reply = DataReply::begin(id, out);
                    match r.read_into(&files, offset, len, out).await {
                        Ok(0) => {
                            reply.withdraw(out);
                            done(status(id, StatusCode::Eof, "End of file"), out);
                        }
                        Ok(_) => reply.finish(out),
                        Err(e) => {
                            reply.withdraw(out);
                            return Err(e.into());
                        }
                    }
                }
                Request::Write { handle, offset, data, .. } => {
                    let Handle::Write(w) = self.handles.get(handle)? else {
                        return Err(HandleError::Refused("not a handle opened for writing".into()));
                    };
                    w.write(&files, offset, data).await?;
                    done(ok(id), out);
                }
                Request::Stat { path, .. } | Request::Lstat { path, .. } => {
                    let follow = matches!(request, Request::Stat { .. });
                    let path = self.path(path)?;
                    let meta = if follow {
                        files.stat_target(&path).await?
                    } else {
                        files.stat(&path).await?
                    };
                    Response::Attrs { id, attrs: attrs(&meta) }.encode_into(out);
                }
                Request::Fstat { handle, .. } => {
                    let (path, writing) = fstat_subject(self.handles.get(handle)?)?;
                    let meta = fstat(&files, &path, writing).await?;
                    Response::Attrs { id, attrs: attrs(&meta) }.encode_into(out);
                }
                Request::SetStat { path, attrs, .. } => {
                    let path = self.path(path)?;
                    set_attrs(&files, &path, &attrs).await?;
                    done(ok(id), out);
                }
                Request::FSetStat { handle, attrs, .. } => {
                    match self.handles.get(handle)? {
                        Handle::Write(w) => {
                            if let Some(size) = attrs.size {
                                if size != w.size() {
                                    return Err(HandleError::Unsupported(
                                        "changing the size of a file being written is not supported",
                                    ));
                                }
                            }
                            if let Some((_, mtime)) = attrs.times {
                                // Set once the file is in place; whether it
                                // may be is answered now, not after CLOSE.
                                files.may_set_modified(w.path()).await?;
                                w.set_mtime(i64::from(mtime));
                            }
                        }
                        Handle::Read(r) => {
                            let path = r.path().clone();
                            set_attrs(&files, &path, &attrs).await?;
                        }
                        Handle::Dir(_) => {}
                    }
                    done(ok(id), out);
                }
                Request::OpenDir { path, .. } => {
                    let path = self.path(path)?;
                    if !files.stat_target(&path).await?.is_dir() {
                        return Err(StorageError::NotADirectory.into());
                    }
                    let dir = DirHandle::open(&files, &path).await?;
                    let name = self.handles.insert(Handle::Dir(dir))?;
                    Response::Handle { id, handle: &name }.encode_into(out);
                }
                Request::ReadDir { handle, .. } => {
                    let Handle::Dir(d) = self.handles.get(handle)? else {
                        return Err(HandleError::Refused("not a directory handle".into()));
                    };
                    let entries = d.next().await?;
                    if entries.is_empty() {
                        done(status(id, StatusCode::Eof, "End of directory"), out);
                    } else {
                        Response::Name { id, entries: &entries }.encode_into(out);
                    }
                }
                Request::Remove { path, .. } => {
                    files.remove(&self.path(path)?).await?;
                    done(ok(id), out);
                }
                Request::MkDir { path, .. } => {
                    files.mkdir(&self.path(path)?).await?;
                    done(ok(id), out);
                }
                Request::RmDir { path, .. } => {
                    files.rmdir(&self.path(path)?).await?;
                    done(ok(id), out);
                }
                Request::RealPath { path, .. }
                | Request::Extended { request: Extended::ExpandPath { path }, .. } => {
                    let path = self.path(path)?;
                    single_name(id, path.as_bytes(), out);
                }
                Request::Rename { from, to, .. } => {
                    // SFTP v3's RENAME does not replace an existing target:
                    // the storage checks that under the names' locks.
                    let (from, to) = (self.path(from)?, self.path(to)?);
                    files.rename_source(&from).await?;
                    files.rename(&from, &to, Overwrite::Never).await?;
                    done(ok(id), out);
                }
                Request::Extended { request: Extended::PosixRename { from, to }, .. } => {
                    let (from, to) = (self.path(from)?, self.path(to)?);
                    files.rename_source(&from).await?;
                    files.rename(&from, &to, Overwrite::Allowed).await?;
                    done(ok(id), out);
                }
                Request::ReadLink { .. } => {
                    return Err(HandleError::Unsupported("symbolic links are not shown here"));
                }
                Request::Symlink { .. } => {
                    done(status(id, StatusCode::PermissionDenied, "symbolic links cannot be made here"), out);
                }
                Request::Extended { request: Extended::Hardlink { .. }, .. } => {
                    return Err(HandleError::Unsupported("hard links cannot be made here"));
                }
                Request::Extended { request: Extended::Statvfs { .. } | Extended::Fstatvfs { .. }, .. } => {
                    statvfs(id, &files, out).await?;
                }
                Request::Extended {
                    request: Extended::CopyData { read_handle, read_offset, length, write_handle, write_offset },
                    ..
                } => {
                    let range = Range { read_offset, length, write_offset };
                    let copied = self.handles.copy_data(&files, read_handle, write_handle, range).await?;
                    if copied.short {
                        let text = format!("end of file after {} of the {length} bytes asked for", copied.bytes);
                        done(status(id, StatusCode::Eof, text), out);
                    } else {
                        done(ok(id), out);
                    }
                }
                Request::Extended { request: Extended::Limits, .. } => {
                    let mut w = Writer::default();
                    w.u64(u64::from(sftp_proto::MAX_PACKET))
                        .u64(u64::from(sftp_proto::MAX_DATA))
                        .u64(u64::from(sftp_proto::MAX_DATA))
                        .u64(super::handles::MAX_HANDLES as u64);
                    Response::ExtendedReply { id, data: &w.bytes }.encode_into(out);
                }
                Request::Extended { request: Extended::Other { name }, .. } => {
                    let name = String::from_utf8_lossy(name);
                    done(status(id, StatusCode::OpUnsupported, format!("extension {name} is not supported")), out);
                }
                Request::Unknown { kind, .. } => {
                    done(status(id, StatusCode::OpUnsupported, format!("request type {kind} is not supported")), out);
                }
                Request::Init { .. } => {}
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            let s = match &e {
                HandleError::Storage(err) => error(id, err),
                HandleError::Unknown => status(id, StatusCode::Failure, e.to_string()),
                HandleError::TooMany | HandleError::Refused(_) => {
                    status(id, StatusCode::Failure, e.to_string())
                }
                HandleError::Unsupported(_) => status(id, StatusCode::OpUnsupported, e.to_string()),
            };
            done(s, out);
        }
    }
}

/// SETSTAT: modification times are set (with the `chmod` permission, as
/// MFMT); permissions and owners are the server's to manage and are
/// ignored; a size change is refused.
async fn set_attrs(
    files: &FileService,
    path: &VirtualPath,
    attrs: &Attrs,
) -> Result<(), HandleError> {
    if let Some(size) = attrs.size {
        if files.stat(path).await?.size != size {
            return Err(HandleError::Unsupported(
                "truncating a file in place is not supported",
            ));
        }
    }
    if let Some((_, mtime)) = attrs.times {
        files.set_modified(path, i64::from(mtime)).await?;
    }
    Ok(())
}

/// One NAME entry for REALPATH.
fn single_name(id: u32, path: &[u8], out: &mut Vec<u8>) {
    let entries = [NameEntry {
        filename: path.to_vec(),
        longname: path.to_vec(),
        attrs: Attrs::default(),
    }];
    Response::Name {
        id,
        entries: &entries,
    }
    .encode_into(out);
}

/// `statvfs@openssh.com`: the account's quota as a file system (what
/// `df` in `sftp` shows); an account without a quota has no size to show.
async fn statvfs(id: u32, files: &FileService, out: &mut Vec<u8>) -> Result<(), HandleError> {
    const BLOCK: u64 = 4096;
    let report = match files.quota().await {
        Some(Ok(report)) => report,
        Some(Err(e)) => return Err(StorageError::Backend(e.to_string()).into()),
        None => {
            return Err(HandleError::Unsupported(
                "no quota: the disk's size is not disclosed",
            ))
        }
    };
    let Some(limit) = report.limit else {
        return Err(HandleError::Unsupported(
            "no quota: the disk's size is not disclosed",
        ));
    };
    let free = limit.saturating_sub(report.used + report.in_flight) / BLOCK;
    let mut w = Writer::default();
    w.u64(BLOCK) // f_bsize
        .u64(BLOCK) // f_frsize
        .u64(limit / BLOCK) // f_blocks
        .u64(free) // f_bfree
        .u64(free) // f_bavail
        .u64(0) // f_files
        .u64(0) // f_ffree
        .u64(0) // f_favail
        .u64(0) // f_fsid
        .u64(0) // f_flag
        .u64(255); // f_namemax
    Response::ExtendedReply { id, data: &w.bytes }.encode_into(out);
    Ok(())
}
