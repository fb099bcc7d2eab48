//! The verbs: [`dispatch`] sends each parsed command to the module that
//! owns it. Each module starts with the RFC text it implements.
//!
//! # Layout
//! - [`login`]: USER, PASS, ACCT, QUIT.
//! - [`navigate`]: PWD, CWD, CDUP (and their X-variants).
//! - [`params`]: TYPE, MODE, STRU, REST, ALLO.
//! - [`data_setup`]: PORT, PASV, EPRT, EPSV.
//! - [`files`]: DELE, RMD, MKD, RNFR, RNTO, SIZE, MDTM, MFMT, MFCT.
//! - [`hash`]: HASH, RANG, OPTS HASH, XCRC, XMD5, XSHA1, XSHA256, XSHA512.
//! - [`transfers`]: RETR, STOR, STOU, APPE, LIST, NLST, MLSD.
//! - [`info`]: FEAT, OPTS, SYST, HELP, NOOP, STAT, MLST.
//! - [`security`]: AUTH TLS, PBSZ, PROT, CCC.
//! - [`site`]: SITE HELP, SITE REGISTER, SITE QUOTA.

pub mod data_setup;
pub mod files;
pub mod hash;
pub mod info;
pub mod login;
pub mod navigate;
pub mod params;
pub mod security;
pub mod site;
pub mod transfers;

use crate::service::FileService;
use crate::session::supervise::TransferJob;
use crate::session::Session;
use crate::storage::StorageError;
use ftp_proto::reply::code;
use ftp_proto::{Command, Reply, VirtualPath};

/// What a command asks of the session.
#[derive(Debug)]
pub enum Outcome {
    /// Send this reply and read the next command.
    Reply(Reply),
    /// Run this transfer; it sends its own replies.
    Transfer(TransferJob),
    /// Send this reply and close the session.
    Close(Reply),
    /// AUTH TLS: answer 234, then start TLS on the control connection.
    StartTls(security::TlsUpgrade),
    /// HASH and the X-verbs: a hash computed while the session keeps
    /// answering the control connection; the job makes the reply.
    Hash(Box<hash::HashJob>),
    /// STAT with a path: a listing sent over the control connection, in
    /// bounded chunks between the opening line and the closing reply.
    ControlListing {
        opening: Vec<u8>,
        chunks: crate::storage::ListChunks,
        closing: Reply,
    },
}

impl From<Reply> for Outcome {
    fn from(reply: Reply) -> Self {
        Outcome::Reply(reply)
    }
}

/// Carries out one command.
pub async fn dispatch(s: &mut Session, cmd: Command) -> Outcome {
    // RNTO must come right after RNFR (RFC 959 §4.1.3).
    if !matches!(cmd, Command::Rnto(_) | Command::Rnfr(_)) {
        s.state.rename_from = None;
    }
    // REST applies to the transfer right after it (RFC 959 §4.1.3), never
    // to a later one: any other command clears it, except those that set
    // up that same transfer's data connection and type, which clients send
    // between the two.
    if !matches!(
        cmd,
        Command::Rest(_)
            | Command::Retr(_)
            | Command::Stor(_)
            | Command::Type(_)
            | Command::Port(_)
            | Command::Pasv
            | Command::Eprt(_)
            | Command::Epsv(_)
    ) {
        s.state.restart = 0;
    }
    // RANG selects the bytes of the HASH right after it; any other command
    // drops it, and a transfer it would have limited is refused.
    if !matches!(cmd, Command::Rang(_) | Command::Hash(_))
        && s.state.hash_range.take().is_some()
        && matches!(
            cmd,
            Command::Retr(_) | Command::Stor(_) | Command::Appe(_) | Command::Stou(_)
        )
    {
        return Outcome::Reply(hash::range_not_for_transfers());
    }
    let result: Result<Outcome, Reply> = match cmd {
        Command::User(name) => Ok(login::user(s, name)),
        Command::Pass(password) => Ok(login::pass(s, password).await),
        Command::Acct(_) => Ok(Reply::new(code::SUPERFLUOUS, "ACCT not needed.").into()),
        Command::Quit => Ok(Outcome::Close(Reply::new(code::CLOSING, "Goodbye."))),
        Command::Rein => Ok(Reply::new(code::NOT_IMPLEMENTED, "REIN not implemented.").into()),
        Command::Pwd => Ok(navigate::pwd(s)),
        Command::Cwd(arg) => navigate::cwd(&s.state.files, &mut s.state.cwd, &arg).await,
        Command::Cdup => navigate::cwd(&s.state.files, &mut s.state.cwd, b"..").await,
        Command::Type(t) => Ok(params::transfer_type(s, t)),
        Command::Mode(m) => Ok(params::mode(m)),
        Command::Stru(st) => Ok(params::structure(st)),
        Command::Allo => Ok(Reply::new(code::SUPERFLUOUS, "ALLO not needed.").into()),
        Command::Rest(offset) => Ok(params::rest(s, offset)),
        Command::Port(addr) => Ok(data_setup::port(s, addr.into())),
        Command::Eprt(addr) => Ok(data_setup::eprt(s, addr)),
        Command::Pasv => Ok(data_setup::pasv(s).await),
        Command::Epsv(arg) => Ok(data_setup::epsv(s, arg).await),
        Command::List(arg) => for_transfer(s, |c| transfers::list(c, &arg)).await,
        Command::Nlst(arg) => for_transfer(s, |c| transfers::nlst(c, &arg)).await,
        Command::Mlsd(arg) => {
            let facts = s.state.facts;
            for_transfer(s, |c| transfers::mlsd(c, facts, &arg)).await
        }
        Command::Retr(arg) => {
            let offset = std::mem::take(&mut s.state.restart);
            for_transfer(s, |c| transfers::retr(c, offset, &arg)).await
        }
        Command::Stor(arg) => {
            let offset = std::mem::take(&mut s.state.restart);
            for_transfer(s, |c| transfers::stor(c, offset, &arg)).await
        }
        Command::Stou(arg) => for_transfer(s, |c| transfers::stou(c, &arg)).await,
        Command::Appe(arg) => for_transfer(s, |c| transfers::appe(c, &arg)).await,
        Command::Abor => Ok(Reply::new(code::TRANSFER_COMPLETE, "No transfer to abort.").into()),
        Command::Dele(arg) => in_place(s, |p| files::dele(p, &arg)).await,
        Command::Rmd(arg) => in_place(s, |p| files::rmd(p, &arg)).await,
        Command::Mkd(arg) => in_place(s, |p| files::mkd(p, &arg)).await,
        Command::Rnfr(arg) => match Place::of(&s.state.files, &s.state.cwd) {
            Ok(place) => files::rnfr(place, &mut s.state.rename_from, &arg).await,
            Err(reply) => Err(reply),
        },
        Command::Rnto(arg) => match Place::of(&s.state.files, &s.state.cwd) {
            Ok(place) => files::rnto(place, s.state.rename_from.take(), &arg).await,
            Err(reply) => Err(reply),
        },
        Command::Size(arg) => in_place(s, |p| files::size(p, &arg)).await,
        Command::Mdtm(arg) => in_place(s, |p| files::mdtm(p, &arg)).await,
        Command::Feat => Ok(info::feat(s)),
        Command::Opts(arg) => Ok(info::opts(s, &arg)),
        Command::Syst => Ok(Reply::new(code::SYSTEM_TYPE, "UNIX Type: L8").into()),
        Command::Stat(arg) => info::stat(s, &arg).await,
        Command::Mlst(arg) => info::mlst(s, &arg).await,
        Command::Help(arg) => Ok(info::help(&arg)),
        Command::Noop => Ok(Reply::new(code::OK, "NOOP ok.").into()),
        Command::Site(arg) => Ok(site::site(s, &arg).await),
        Command::Auth(arg) => Ok(security::auth(s, &arg)),
        Command::Pbsz(arg) => Ok(security::pbsz(s, &arg)),
        Command::Prot(arg) => Ok(security::prot(s, &arg)),
        Command::Ccc => Ok(security::ccc(s)),
        Command::Hash(arg) => {
            let (algorithm, range) = (s.state.hash_algorithm, s.state.hash_range.take());
            Place::of(&s.state.files, &s.state.cwd)
                .and_then(|p| hash::hash(p, algorithm, range, &arg))
        }
        Command::XHash {
            algorithm,
            path,
            range,
        } => Place::of(&s.state.files, &s.state.cwd)
            .and_then(|p| hash::x_hash(p, algorithm, range, &path)),
        Command::Rang(range) => Ok(hash::rang(&mut s.state.hash_range, range)),
        Command::Mfmt(time, arg) => in_place(s, |p| files::mfmt(p, time, &arg)).await,
        Command::Mfct(..) => Ok(files::mfct()),
    };
    result.unwrap_or_else(Outcome::Reply)
}

/// Runs a file command that needs only the session's [`Place`].
async fn in_place<'a, F, Fut>(s: &'a Session, command: F) -> Result<Outcome, Reply>
where
    F: FnOnce(Place<'a>) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, Reply>>,
{
    command(Place::of(&s.state.files, &s.state.cwd)?).await
}

/// Runs a transfer command with only its [`transfers::TransferCtx`].
async fn for_transfer<'a, F, Fut>(s: &'a Session, command: F) -> Result<Outcome, Reply>
where
    F: FnOnce(transfers::TransferCtx<'a>) -> Fut,
    Fut: std::future::Future<Output = Result<Outcome, Reply>>,
{
    command(transfers::TransferCtx::of(s)?).await
}

/// The reply for a storage error.
pub fn storage_reply(err: StorageError) -> Reply {
    if let StorageError::Io(e) = &err {
        tracing::warn!(error = %e, "storage error");
    }
    Reply::new(err.reply_code(), format!("{err}."))
}

/// What a file command needs of its session, and nothing more: its files
/// and its working directory.
#[derive(Debug, Clone, Copy)]
pub struct Place<'a> {
    pub files: &'a FileService,
    pub cwd: &'a VirtualPath,
}

impl<'a> Place<'a> {
    /// The place of a logged-in session (530 before login).
    pub fn of(files: &'a Option<FileService>, cwd: &'a VirtualPath) -> Result<Self, Reply> {
        let files = files
            .as_ref()
            .ok_or_else(|| Reply::new(code::NOT_LOGGED_IN, "Please login with USER and PASS."))?;
        Ok(Place { files, cwd })
    }

    /// `arg` resolved against the working directory.
    pub fn path(&self, arg: &[u8]) -> Result<VirtualPath, Reply> {
        self.cwd
            .join(arg)
            .map_err(|e| Reply::new(code::NAME_NOT_ALLOWED, format!("{e}.")))
    }
}

/// The session's files and `arg` resolved against its working directory.
pub(crate) fn target(s: &Session, arg: &[u8]) -> Result<(FileService, VirtualPath), Reply> {
    let place = Place::of(&s.state.files, &s.state.cwd)?;
    Ok((place.files.clone(), place.path(arg)?))
}

/// Fails with 550 unless the session may write.
pub(crate) fn writable(files: &FileService) -> Result<(), Reply> {
    if files.writable() {
        Ok(())
    } else {
        Err(Reply::new(
            code::FILE_UNAVAILABLE,
            "Permission denied: this session is read-only.",
        ))
    }
}
