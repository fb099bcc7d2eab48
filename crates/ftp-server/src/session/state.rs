//! [`SessionState`]: what a session remembers between commands — who is
//! logged in, where, and the parameters of the next transfer.

use crate::datachan::DataSetup;
use crate::service::FileService;
use ftp_proto::command::TransferType;
use ftp_proto::hash::{ByteRange, HashAlgorithm};
use ftp_proto::listing::FactSet;
use ftp_proto::VirtualPath;

/// Where a session is in the login exchange.
#[derive(Debug, Default)]
pub enum Login {
    #[default]
    None,
    /// USER was given; PASS comes next.
    NeedPassword(Vec<u8>),
    LoggedIn(Principal),
}

/// Who a logged-in session acts for.
#[derive(Debug, Clone)]
pub enum Principal {
    Anonymous,
    User(String),
}

impl Principal {
    pub fn name(&self) -> &str {
        match self {
            Principal::Anonymous => "anonymous",
            Principal::User(name) => name,
        }
    }
}

/// A session's state between commands.
#[derive(Debug)]
pub struct SessionState {
    pub login: Login,
    pub failed_logins: u32,
    /// The session's files (its root, jail and quota); set at login.
    pub files: Option<FileService>,
    pub cwd: VirtualPath,
    pub transfer_type: TransferType,
    /// REST offset for the next RETR/STOR.
    pub restart: u64,
    /// RNFR source, for the RNTO that must follow.
    pub rename_from: Option<VirtualPath>,
    pub data: DataSetup,
    /// After `EPSV ALL` only EPSV may set up data connections.
    pub epsv_all: bool,
    pub facts: FactSet,
    /// The algorithm HASH uses (OPTS HASH).
    pub hash_algorithm: HashAlgorithm,
    /// The range RANG set for the next HASH.
    pub hash_range: Option<ByteRange>,
    /// This session's TLS configuration, once TLS is on (AUTH TLS or an
    /// implicit-TLS listener). Data connections use it too, so that they
    /// can resume only this session's TLS sessions.
    pub tls: Option<crate::tls::SessionTls>,
    /// PBSZ was given (RFC 4217 requires it before PROT).
    pub pbsz: bool,
    /// `PROT P`: data connections are protected.
    pub prot_private: bool,
    /// This session's place in the per-account session count.
    pub user_slot: Option<crate::limits::Slot>,
    /// This session's entry among the live sessions, once logged in.
    pub live: Option<crate::live::Registration>,
}

impl Default for SessionState {
    fn default() -> Self {
        SessionState {
            login: Login::None,
            failed_logins: 0,
            files: None,
            cwd: VirtualPath::root(),
            transfer_type: TransferType::Ascii,
            restart: 0,
            rename_from: None,
            data: DataSetup::None,
            epsv_all: false,
            facts: FactSet::default(),
            hash_algorithm: HashAlgorithm::default(),
            hash_range: None,
            tls: None,
            pbsz: false,
            prot_private: false,
            user_slot: None,
            live: None,
        }
    }
}

impl SessionState {
    pub fn logged_in(&self) -> bool {
        matches!(self.login, Login::LoggedIn(_))
    }

    pub fn principal(&self) -> Option<&Principal> {
        match &self.login {
            Login::LoggedIn(p) => Some(p),
            _ => None,
        }
    }

    /// The user name for logs, `-` before login.
    pub fn user_name(&self) -> &str {
        self.principal().map_or("-", Principal::name)
    }
}
