//! `wharfd hostkey show|rotate`: the SSH host keys of the SFTP listener
//! (see `ftp_server::sftp::hostkey`), in `ssh_host_keys` (DATA/ssh).

use crate::cli::HostkeyCommand;
use crate::config::{self, FileConfig};
use anyhow::{Context, Result};
use ftp_server::sftp::hostkey::{fingerprints, load_or_create, KEY_FILES};
use std::path::PathBuf;

pub fn run(cmd: HostkeyCommand) -> Result<()> {
    let (location, rotate) = match cmd {
        HostkeyCommand::Show { location } => (location, false),
        HostkeyCommand::Rotate { location } => (location, true),
    };
    let file = FileConfig::load(&location)?;
    let dir = file
        .ssh_host_keys
        .clone()
        .unwrap_or_else(|| config::data_dir(&location, &file).join("ssh"));
    if rotate {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        for name in KEY_FILES {
            for file in [PathBuf::from(name), PathBuf::from(format!("{name}.pub"))] {
                let from = dir.join(&file);
                if from.exists() {
                    let to = dir.join(format!("{}.old-{stamp}", file.display()));
                    std::fs::rename(&from, &to)
                        .with_context(|| format!("cannot move {} aside", from.display()))?;
                    println!("moved {} to {}", from.display(), to.display());
                }
            }
        }
    }
    let keys = load_or_create(&dir)?;
    for line in fingerprints(&keys) {
        println!("{line}");
    }
    if rotate {
        println!("restart wharfd to serve the new keys");
    }
    Ok(())
}
