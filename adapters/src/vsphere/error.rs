//! The errors of the vSphere adapter, and their short reasons for logs and metrics.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use ports::SourceError;

use super::moref::Moref;
use super::xml::XmlError;

/// A SOAP fault: the vim25 fault type (the `xsi:type` of the element under `detail`)
/// and the `faultstring`, which vCenter may leave empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapFault {
    /// `NotAuthenticated`, `InvalidLogin`, `ManagedObjectNotFound`...
    pub name: String,
    pub message: String,
    /// The `obj` of a `ManagedObjectNotFound`, to tell a dead view from a deleted VM.
    pub(crate) object: Option<Moref>,
}

impl SoapFault {
    pub(crate) fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            message: message.into(),
            object: None,
        }
    }

    pub fn is(&self, name: &str) -> bool {
        self.name == name
    }
}

impl fmt::Display for SoapFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.message.is_empty() {
            write!(f, "soap fault {}", self.name)
        } else {
            write!(f, "soap fault {}: {}", self.name, self.message)
        }
    }
}

/// Why a call to vSphere failed.
#[derive(Debug, thiserror::Error)]
pub enum VsphereError {
    #[error("invalid vSphere settings: {0}")]
    Config(String),

    #[error("cannot read the CA file {path}")]
    CaFile {
        path: PathBuf,
        #[source]
        source: rustls::pki_types::pem::Error,
    },

    #[error("cannot set up tls")]
    TlsSetup(#[source] rustls::Error),

    #[error("cannot build the http client")]
    Client(#[source] reqwest::Error),

    #[error("{0}")]
    Fault(SoapFault),

    #[error("request to vSphere timed out")]
    Timeout(#[source] reqwest::Error),

    #[error("cannot connect to vSphere")]
    Connect(#[source] reqwest::Error),

    #[error("tls handshake with vSphere failed")]
    Tls(#[source] reqwest::Error),

    #[error("http exchange with vSphere failed")]
    Http(#[source] reqwest::Error),

    #[error("vSphere answered http status {status} without a soap fault")]
    HttpStatus { status: u16 },

    #[error("response body larger than {limit} bytes")]
    BodyTooLarge { limit: u64 },

    #[error("malformed xml response")]
    Xml(#[from] XmlError),

    #[error("unexpected answer to {method}: {detail}")]
    UnexpectedResponse {
        method: &'static str,
        detail: String,
    },

    #[error("{what} {path} not found")]
    NotFound { what: &'static str, path: String },

    #[error("no default resource pool found, give the resource pool's inventory path")]
    NoDefaultPool,

    #[error(
        "default resource pool resolves to several pools ({}), give one's inventory path",
        candidates.join(", ")
    )]
    AmbiguousDefaultPool { candidates: Vec<String> },
}

impl VsphereError {
    /// A short, stable name of the failure, fit for a log field or a metric label.
    pub fn reason(&self) -> Cow<'static, str> {
        match self {
            Self::Fault(fault) => Cow::Owned(fault.name.clone()),
            Self::Timeout(_) => "timeout".into(),
            Self::Connect(_) => "connect".into(),
            Self::Tls(_) => "tls".into(),
            Self::Http(_) | Self::HttpStatus { .. } => "http".into(),
            Self::BodyTooLarge { .. } => "body_too_large".into(),
            Self::Xml(_) | Self::UnexpectedResponse { .. } => "xml".into(),
            Self::Config(_)
            | Self::CaFile { .. }
            | Self::TlsSetup(_)
            | Self::Client(_)
            | Self::NotFound { .. }
            | Self::NoDefaultPool
            | Self::AmbiguousDefaultPool { .. } => "config".into(),
        }
    }

    /// The SOAP fault, when vSphere answered with one.
    pub fn fault(&self) -> Option<&SoapFault> {
        match self {
            Self::Fault(fault) => Some(fault),
            _ => None,
        }
    }

    pub(crate) fn unexpected(method: &'static str, detail: impl Into<String>) -> Self {
        Self::UnexpectedResponse {
            method,
            detail: detail.into(),
        }
    }
}

impl From<VsphereError> for SourceError {
    fn from(error: VsphereError) -> Self {
        SourceError::new(error.reason(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_gives_its_name_as_reason_and_message() {
        let error = VsphereError::Fault(SoapFault::new("InvalidLogin", "Login failure"));

        let source = SourceError::from(error);

        assert_eq!(source.reason, "InvalidLogin");
        let inner = std::error::Error::source(&source).map(ToString::to_string);
        assert_eq!(
            inner.as_deref(),
            Some("soap fault InvalidLogin: Login failure")
        );
    }

    #[test]
    fn an_empty_faultstring_is_not_printed() {
        let fault = SoapFault::new("NotAuthenticated", "");

        assert_eq!(fault.to_string(), "soap fault NotAuthenticated");
    }

    #[test]
    fn ambiguous_default_pool_names_the_candidates() {
        let error = VsphereError::AmbiguousDefaultPool {
            candidates: vec![
                "/DC0/host/A/Resources".into(),
                "/DC0/host/B/Resources".into(),
            ],
        };

        assert_eq!(error.reason(), "config");
        assert!(
            error
                .to_string()
                .contains("/DC0/host/A/Resources, /DC0/host/B/Resources")
        );
    }
}
