//! `--storage` and the S3 settings: where `wharfd serve` keeps files.
//! Flags and `WHARF_*` environment variables come through clap; the config
//! file fills in what they leave unset. Credentials are read by the S3
//! client from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (and the other
//! usual `AWS_*` variables), never from flags or the config file.

use crate::config::FileConfig;
use anyhow::{Context, Result};
use clap::Args;
use ftp_server::storage::s3::{S3Bucket, S3Config};
use ftp_server::storage::StorageBackend;
use std::sync::Arc;

#[derive(Debug, Args, Clone, Default)]
pub struct StorageArgs {
    /// Where files are kept: `local` (DATA/pub and DATA/home/NAME) or
    /// `s3://BUCKET/PREFIX` (PREFIX/pub/ and PREFIX/home/NAME/ in an
    /// S3-compatible bucket; credentials from AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY) [default: local].
    #[arg(long, env = "WHARF_STORAGE", value_name = "local|s3://BUCKET/PREFIX")]
    pub storage: Option<String>,
    /// S3 endpoint of a non-AWS service, e.g. https://minio.example:9000
    /// [default: AWS, or AWS_ENDPOINT].
    #[arg(long, env = "WHARF_S3_ENDPOINT", value_name = "URL")]
    pub s3_endpoint: Option<String>,
    /// S3 region [default: AWS_REGION, else us-east-1].
    #[arg(long, env = "WHARF_S3_REGION", value_name = "REGION")]
    pub s3_region: Option<String>,
    /// Allow a plain-HTTP S3 endpoint; only a loopback one (a local test
    /// service) is accepted.
    #[arg(long, env = "WHARF_S3_ALLOW_HTTP")]
    pub s3_allow_http: bool,
    /// Virtual-hosted addressing (BUCKET.HOST) instead of path-style
    /// (HOST/BUCKET, the default, which MinIO-style services need).
    #[arg(long, env = "WHARF_S3_VIRTUAL_HOSTED")]
    pub s3_virtual_hosted: bool,
}

/// The storage backend the settings name.
pub fn resolve(args: &StorageArgs, file: &FileConfig) -> Result<StorageBackend> {
    let choice = args.storage.as_ref().or(file.storage.as_ref());
    let Some(url) = choice.filter(|s| s.as_str() != "local") else {
        return Ok(StorageBackend::Local);
    };
    let mut config = S3Config::from_url(url).map_err(anyhow::Error::msg)?;
    config.endpoint = args.s3_endpoint.clone().or(file.s3_endpoint.clone());
    config.region = args.s3_region.clone().or(file.s3_region.clone());
    config.allow_http = args.s3_allow_http || file.s3_allow_http.unwrap_or(false);
    config.virtual_hosted = args.s3_virtual_hosted || file.s3_virtual_hosted.unwrap_or(false);
    let bucket = S3Bucket::connect(config)
        .map_err(anyhow::Error::msg)
        .context("--storage")?;
    Ok(StorageBackend::S3(Arc::new(bucket)))
}
