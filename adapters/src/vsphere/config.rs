//! The settings of a vSphere connection, and the password type that never prints itself.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use percent_encoding::percent_decode_str;
use reqwest::Url;

use super::error::VsphereError;

/// How long one SOAP exchange may take, from connecting to the last byte of the answer.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The largest answer read: one page of 1,000 virtual machines is about 1.2 MB, so this
/// leaves room for long annotations while bounding what a faulty server can make us hold.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// How often the inventory followed through the change feed is read again in full, in
/// case the feed missed something (vcsim, for one, reports no annotation change).
pub const DEFAULT_FULL_READ_INTERVAL: Duration = Duration::from_secs(600);

/// How long the followed inventory is served on the change feed's word alone. A wait
/// pending on a vCenter that hangs looks just like one on a quiet vCenter, so after this
/// long without an answer a read first asks vCenter whether it still answers. Short
/// enough that every interval's collection asks, long enough that the reads a change
/// brings about, which follow an answer closely, do not.
pub const DEFAULT_SILENCE_LIMIT: Duration = Duration::from_secs(5);

/// A password: its `Debug` prints `[redacted]`, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(password: impl Into<String>) -> Self {
        Self(password.into())
    }

    /// The password itself, for the Login request only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Password {
    fn from(password: String) -> Self {
        Self(password)
    }
}

/// Where and how to reach vCenter.
#[derive(Clone)]
pub struct VsphereConfig {
    /// The SDK endpoint, `https://host/sdk` (`http://` for a local simulator). A path of
    /// `/` or none means `/sdk`, as govc does.
    pub url: Url,
    /// The user name; when `None`, the one of the URL's `user:password@` part.
    pub username: Option<String>,
    /// The password; when `None`, the one of the URL's `user:password@` part.
    pub password: Option<Password>,
    /// Skip certificate verification (self-signed vCenter without its CA at hand).
    pub insecure: bool,
    /// A PEM file of CA certificates trusted on top of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// The datacenter whose VMs are read (name or inventory path); every datacenter when
    /// `None`.
    pub datacenter: Option<String>,
    /// The inventory path of the Resource Pool to report, such as
    /// `/DC0/host/DC0_C0/Resources`; when `None`, govc's default pool.
    pub resource_pool: Option<String>,
    pub request_timeout: Duration,
    pub max_response_bytes: u64,
    /// Follow vCenter's change feed (`WaitForUpdatesEx`) instead of reading every VM at
    /// every collection; when `false`, or when vCenter refuses the feed, each inventory
    /// read is a full read.
    pub follow_changes: bool,
    /// How often the followed inventory is read again in full, and how long a refused
    /// feed waits before it is tried again.
    pub full_read_interval: Duration,
    /// See [`DEFAULT_SILENCE_LIMIT`].
    pub silence_limit: Duration,
}

impl VsphereConfig {
    /// The settings for `url` with the defaults. Credentials written in the URL are taken
    /// out of it into `username` and `password`.
    pub fn new(url: Url) -> Self {
        let mut config = Self {
            url,
            username: None,
            password: None,
            insecure: false,
            ca_file: None,
            datacenter: None,
            resource_pool: None,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            follow_changes: true,
            full_read_interval: DEFAULT_FULL_READ_INTERVAL,
            silence_limit: DEFAULT_SILENCE_LIMIT,
        };
        config.take_url_credentials();
        config
    }

    /// The URL fit for a log line: without user name or password.
    pub fn redacted_url(&self) -> Url {
        redact_url(&self.url)
    }

    /// Moves the URL's credentials out of it; explicit `username` and `password` win
    /// over those of the URL, as govc's flags win over its URL.
    pub(crate) fn take_url_credentials(&mut self) {
        if self.username.is_none() && !self.url.username().is_empty() {
            self.username = Some(decode(self.url.username()));
        }

        if self.password.is_none() {
            self.password = self.url.password().map(|p| Password(decode(p)));
        }

        self.url = redact_url(&self.url);
    }

    /// Checks what can be checked without a network, and fills in the default path.
    pub(crate) fn validated(mut self) -> Result<Self, VsphereError> {
        self.take_url_credentials();

        if !matches!(self.url.scheme(), "https" | "http") {
            return Err(config_error("the url must be http:// or https://"));
        }

        if matches!(self.url.path(), "" | "/") {
            self.url.set_path("/sdk");
        }

        if self.username.as_deref().is_none_or(str::is_empty) {
            return Err(config_error("no user name, in the url or the settings"));
        }

        if self.password.is_none() {
            return Err(config_error("no password, in the url or the settings"));
        }

        if self.request_timeout.is_zero() || self.max_response_bytes == 0 {
            return Err(config_error(
                "request timeout and response size must not be zero",
            ));
        }

        if self.full_read_interval.is_zero() {
            return Err(config_error("the full read interval must not be zero"));
        }

        Ok(self)
    }
}

impl fmt::Debug for VsphereConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VsphereConfig")
            .field("url", &self.redacted_url().as_str())
            .field("username", &self.username)
            .field("password", &self.password)
            .field("insecure", &self.insecure)
            .field("ca_file", &self.ca_file)
            .field("datacenter", &self.datacenter)
            .field("resource_pool", &self.resource_pool)
            .field("request_timeout", &self.request_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .field("follow_changes", &self.follow_changes)
            .field("full_read_interval", &self.full_read_interval)
            .field("silence_limit", &self.silence_limit)
            .finish()
    }
}

/// `url` without user name or password.
pub fn redact_url(url: &Url) -> Url {
    let mut redacted = url.clone();

    // Both fail only for URLs that cannot hold credentials, which then have none.
    let _ = redacted.set_username("");
    let _ = redacted.set_password(None);

    redacted
}

fn decode(component: &str) -> String {
    percent_decode_str(component)
        .decode_utf8_lossy()
        .into_owned()
}

fn config_error(message: &str) -> VsphereError {
    VsphereError::Config(message.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).expect("test url")
    }

    #[test]
    fn url_credentials_are_taken_out_of_the_url() {
        let config = VsphereConfig::new(url("https://adm%40vsphere.local:p%3Cw@vc.example/sdk"));

        assert_eq!(config.username.as_deref(), Some("adm@vsphere.local"));
        assert_eq!(config.password.as_ref().map(Password::expose), Some("p<w"));
        assert_eq!(config.url.as_str(), "https://vc.example/sdk");
    }

    #[test]
    fn explicit_credentials_win_over_the_url() {
        let mut config = VsphereConfig::new(url("https://vc.example/sdk"));
        config.url = url("https://u:p@vc.example/sdk");
        config.username = Some("other".into());
        config.password = Some(Password::new("secret"));

        let config = config.validated().expect("valid");

        assert_eq!(config.username.as_deref(), Some("other"));
        assert_eq!(
            config.password.as_ref().map(Password::expose),
            Some("secret")
        );
        assert_eq!(config.url.as_str(), "https://vc.example/sdk");
    }

    #[test]
    fn a_bare_host_gets_the_sdk_path() {
        let config = VsphereConfig::new(url("https://u:p@vc.example")).validated();

        assert_eq!(config.expect("valid").url.path(), "/sdk");
    }

    #[test]
    fn missing_credentials_are_a_config_error() {
        let error = VsphereConfig::new(url("https://vc.example/sdk")).validated();

        assert!(matches!(error, Err(VsphereError::Config(_))));
    }

    #[test]
    fn debug_never_shows_the_password() {
        let mut config = VsphereConfig::new(url("https://u:hunter2@vc.example/sdk"));
        config.url = url("https://u:hunter2@vc.example/sdk");

        let printed = format!("{config:?}");

        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(printed.contains("[redacted]"), "{printed}");
    }
}
