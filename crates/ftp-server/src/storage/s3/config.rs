//! [`S3Config`]: the settings of the object-storage backend, and the
//! parsing of `s3://bucket/prefix`.

/// Settings of the S3 backend. Credentials are not here: they come from
/// the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, ...)
/// and are never logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    pub bucket: String,
    /// Key prefix of everything the server stores, without slashes at
    /// either end; may be empty.
    pub prefix: String,
    /// `http(s)://host:port` of an S3-compatible service; AWS if `None`.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Plain HTTP to the endpoint; refused unless the endpoint is a
    /// loopback address.
    pub allow_http: bool,
    /// `bucket.host` instead of the default path-style `host/bucket`.
    pub virtual_hosted: bool,
}

impl S3Config {
    /// Parses `s3://bucket/prefix` (the prefix is optional).
    pub fn from_url(url: &str) -> Result<S3Config, String> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            format!("storage {url:?} is not understood; give `local` or `s3://BUCKET/PREFIX`")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "storage {url:?} names no bucket; give s3://BUCKET/PREFIX"
            ));
        }
        let prefix = prefix.trim_matches('/');
        if prefix
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
            && !prefix.is_empty()
        {
            return Err(format!(
                "storage prefix {prefix:?} has an empty, `.` or `..` segment; give s3://BUCKET/a/b"
            ));
        }
        Ok(S3Config {
            bucket: bucket.into(),
            prefix: prefix.into(),
            endpoint: None,
            region: None,
            allow_http: false,
            virtual_hosted: false,
        })
    }

    /// Checks the settings against each other.
    pub fn validate(&self) -> Result<(), String> {
        let Some(endpoint) = &self.endpoint else {
            return Ok(());
        };
        let url = url::Url::parse(endpoint).map_err(|e| {
            format!("S3 endpoint {endpoint:?} is not a URL ({e}); give http(s)://HOST:PORT")
        })?;
        match url.scheme() {
            "https" => Ok(()),
            "http" if !self.allow_http => Err(format!(
                "S3 endpoint {endpoint} is plain HTTP; use https, or add --s3-allow-http for a loopback test service"
            )),
            "http" if !is_loopback(&url) => Err(format!(
                "--s3-allow-http is only for a loopback endpoint; {endpoint} would carry data and signatures unencrypted: use https"
            )),
            "http" => Ok(()),
            other => Err(format!("S3 endpoint scheme {other:?} is not http(s)")),
        }
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_and_prefix() {
        let c = S3Config::from_url("s3://b/p/q/").unwrap();
        assert_eq!((c.bucket.as_str(), c.prefix.as_str()), ("b", "p/q"));
        assert_eq!(S3Config::from_url("s3://b").unwrap().prefix, "");
        assert!(S3Config::from_url("s3:///p").is_err());
        assert!(S3Config::from_url("b/p").is_err());
        assert!(S3Config::from_url("s3://b/a//c").is_err());
        assert!(S3Config::from_url("s3://b/a/../c").is_err());
    }

    #[test]
    fn http_only_to_loopback_and_only_when_asked() {
        let mut c = S3Config::from_url("s3://b").unwrap();
        c.endpoint = Some("http://127.0.0.1:9000".into());
        assert!(c.validate().is_err());
        c.allow_http = true;
        assert!(c.validate().is_ok());
        c.endpoint = Some("http://s3.example.com".into());
        assert!(c.validate().is_err());
        c.endpoint = Some("https://s3.example.com".into());
        assert!(c.validate().is_ok());
    }
}
