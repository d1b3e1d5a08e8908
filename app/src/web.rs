//! The optional protection of `/mon/metrics`: TLS and basic authentication, configured by
//! a web configuration file in the format of Prometheus' exporter toolkit.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::Deserialize;

/// The web configuration file, as Prometheus' own exporters read it.
///
/// Only the keys this exporter honours are accepted: silently ignoring, say,
/// `client_auth_type` would leave an operator believing in a protection that is not there.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WebConfigFile {
    tls_server_config: Option<TlsServerConfig>,
    #[serde(default)]
    basic_auth_users: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsServerConfig {
    cert_file: PathBuf,
    key_file: PathBuf,
}

/// What protects the endpoint, checked at start.
#[derive(Debug, Clone, Default)]
pub struct WebConfig {
    /// The certificate chain and key files, paths resolved.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// User names and their bcrypt hashes; no authentication when empty.
    pub users: BTreeMap<String, String>,
}

/// The web configuration file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WebConfigError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid web configuration file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_yaml_ng::Error,
    },
    #[error("the password of user {user:?} in {path} is not a bcrypt hash")]
    NotBcrypt { user: String, path: PathBuf },
}

impl WebConfig {
    /// Reads the file; relative certificate paths are relative to the file's folder, as
    /// the exporter toolkit has them.
    pub fn read(path: &Path) -> Result<WebConfig, WebConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| WebConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let file: WebConfigFile =
            serde_yaml_ng::from_str(&text).map_err(|source| WebConfigError::Parse {
                path: path.to_owned(),
                source,
            })?;

        for (user, hash) in &file.basic_auth_users {
            if bcrypt::HashParts::from_str(hash).is_err() {
                return Err(WebConfigError::NotBcrypt {
                    user: user.clone(),
                    path: path.to_owned(),
                });
            }
        }

        let folder = path.parent().unwrap_or(Path::new("."));
        let tls = file
            .tls_server_config
            .map(|tls| (folder.join(tls.cert_file), folder.join(tls.key_file)));
        Ok(WebConfig {
            tls,
            users: file.basic_auth_users,
        })
    }
}

/// Checks the `Authorization` header of each request against bcrypt hashes.
#[derive(Debug)]
pub struct BasicAuth {
    users: BTreeMap<String, String>,
    /// Header values already verified: bcrypt is slow on purpose, and a scraper sends the
    /// same credentials every time.
    verified: Mutex<HashSet<HeaderValue>>,
}

/// How many distinct verified credentials are remembered; past that the set starts over.
const VERIFIED_CAPACITY: usize = 64;

/// A bcrypt hash of nothing in particular, checked for unknown users so that a wrong user
/// name takes as long to refuse as a wrong password.
const DECOY_HASH: &str = "$2y$10$8tTqXI5fOkQbMKcc6nYoROBAlTnNbW8iJ2TVMT0ke4hSNnnAz5ptS";

impl BasicAuth {
    pub fn new(users: BTreeMap<String, String>) -> Self {
        Self {
            users,
            verified: Mutex::new(HashSet::new()),
        }
    }

    async fn allows(self: &Arc<Self>, authorization: Option<&HeaderValue>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        if self.remembered(value) {
            return true;
        }
        let Some((user, password)) = credentials(value) else {
            return false;
        };

        let hash = self.users.get(&user).cloned();
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| DECOY_HASH.to_owned());
        let matches = tokio::task::spawn_blocking(move || bcrypt::verify(password, &hash))
            .await
            .is_ok_and(|verified| verified.unwrap_or(false));

        let allowed = known && matches;
        if allowed {
            self.remember(value.clone());
        }
        allowed
    }

    fn remembered(&self, value: &HeaderValue) -> bool {
        self.verified
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(value)
    }

    fn remember(&self, value: HeaderValue) {
        let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(value);
    }
}

/// `Basic base64(user:password)`, decoded.
fn credentials(value: &HeaderValue) -> Option<(String, String)> {
    let encoded = value.to_str().ok()?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// The middleware: a request without valid credentials gets 401 and a challenge.
pub async fn require_basic_auth(
    State(auth): State<Arc<BasicAuth>>,
    request: Request,
    next: Next,
) -> Response {
    if auth
        .allows(request.headers().get(header::AUTHORIZATION))
        .await
    {
        return next.run(request).await;
    }

    let challenge = [(
        header::WWW_AUTHENTICATE,
        "Basic realm=\"cds-vsphere-exporter\", charset=\"UTF-8\"",
    )];
    (StatusCode::UNAUTHORIZED, challenge).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> HeaderValue {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        HeaderValue::from_str(&format!("Basic {encoded}")).unwrap()
    }

    fn auth() -> Arc<BasicAuth> {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        Arc::new(BasicAuth::new([("prometheus".to_owned(), hash)].into()))
    }

    #[tokio::test]
    async fn the_right_credentials_pass() {
        let auth = auth();

        assert!(auth.allows(Some(&basic("prometheus", "s3cret"))).await);
        assert!(
            auth.allows(Some(&basic("prometheus", "s3cret"))).await,
            "remembered"
        );
    }

    #[tokio::test]
    async fn anything_else_is_refused() {
        let auth = auth();

        assert!(!auth.allows(None).await);
        assert!(!auth.allows(Some(&basic("prometheus", "wrong"))).await);
        assert!(!auth.allows(Some(&basic("nobody", "s3cret"))).await);
        assert!(
            !auth
                .allows(Some(&HeaderValue::from_static("Bearer x")))
                .await
        );
        assert!(
            !auth
                .allows(Some(&HeaderValue::from_static("Basic !!!")))
                .await
        );
    }

    #[test]
    fn the_decoy_is_a_valid_hash() {
        assert!(bcrypt::HashParts::from_str(DECOY_HASH).is_ok());
    }

    #[test]
    fn reads_the_exporter_toolkit_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        let hash = bcrypt::hash("pw", 4).unwrap();
        let yaml = format!(
            "tls_server_config:\n  cert_file: server.pem\n  key_file: /etc/key.pem\n\
             basic_auth_users:\n  alice: '{hash}'\n"
        );
        std::fs::write(&path, yaml).unwrap();

        let config = WebConfig::read(&path).unwrap();

        let (cert, key) = config.tls.unwrap();
        assert_eq!(cert, dir.path().join("server.pem"));
        assert_eq!(key, PathBuf::from("/etc/key.pem"));
        assert_eq!(config.users["alice"], hash);
    }

    #[test]
    fn unknown_keys_and_plain_passwords_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");

        std::fs::write(&path, "tls_server_config:\n  client_auth_type: RequireAndVerifyClientCert\n  cert_file: a\n  key_file: b\n").unwrap();
        let unknown = WebConfig::read(&path).unwrap_err();
        std::fs::write(&path, "basic_auth_users:\n  alice: hunter2\n").unwrap();
        let plain = WebConfig::read(&path).unwrap_err();

        assert!(format!("{:#}", anyhow::Error::from(unknown)).contains("client_auth_type"));
        let message = plain.to_string();
        assert!(
            message.contains("alice") && !message.contains("hunter2"),
            "{message}"
        );
    }
}
