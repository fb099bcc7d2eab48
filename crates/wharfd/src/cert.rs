//! `wharfd cert self-signed`: a certificate and key for a quick start with
//! FTPS. Clients do not trust it until told to (`curl --cacert cert.pem`,
//! `lftp -e 'set ssl:ca-file cert.pem'`); for a public server use a
//! certificate from a CA.

use crate::cli::CertCommand;
use crate::config::{self, FileConfig};
use anyhow::{bail, Context, Result};
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

pub fn run(cmd: CertCommand) -> Result<()> {
    let CertCommand::SelfSigned {
        hosts,
        out,
        force,
        location,
    } = cmd;
    let file = FileConfig::load(&location)?;
    let dir = out.unwrap_or_else(|| config::data_dir(&location, &file).join("tls"));
    let hosts = if hosts.is_empty() {
        vec![
            "localhost".to_string(),
            "127.0.0.1".to_string(),
            "::1".to_string(),
        ]
    } else {
        hosts
    };
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    if !force && (cert_path.exists() || key_path.exists()) {
        bail!(
            "{} or {} exists already; use --force to replace them",
            cert_path.display(),
            key_path.display()
        );
    }
    let (cert, key) = ftp_server::tls::self_signed(&hosts).map_err(anyhow::Error::msg)?;
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    fs::write(&cert_path, cert).with_context(|| format!("cannot write {}", cert_path.display()))?;
    let mut key_file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&key_path)
        .with_context(|| format!("cannot write {}", key_path.display()))?;
    key_file.write_all(key.as_bytes())?;
    println!(
        "wrote {} and {} for {}",
        cert_path.display(),
        key_path.display(),
        hosts.join(", ")
    );
    println!(
        "serve with: wharfd --tls-cert {} --tls-key {}",
        cert_path.display(),
        key_path.display()
    );
    Ok(())
}
