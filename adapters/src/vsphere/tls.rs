//! The rustls client configuration: system roots plus an optional CA file, or no checks.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, SignatureScheme};
use rustls_platform_verifier::Verifier;

use super::error::VsphereError;

/// What to trust.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Trust<'a> {
    /// The system's roots, plus those of a CA file.
    Roots { ca_file: Option<&'a Path> },
    /// Any certificate (`insecure`).
    Anything,
    /// No certificate: for an `http://` URL, where no TLS is spoken at all, so that a
    /// machine without system roots can still reach a local simulator.
    Nothing,
}

/// The configuration handed to reqwest, which needs one even for plain HTTP.
pub(crate) fn client_config(trust: Trust<'_>) -> Result<ClientConfig, VsphereError> {
    // ring rather than the process-wide default provider: a library should not install
    // one, and aws-lc-rs is not compiled in.
    let provider = Arc::new(ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match trust {
        Trust::Roots { ca_file } => {
            let extra_roots = ca_file.map(read_ca_file).transpose()?.unwrap_or_default();
            let verifier = Verifier::new_with_extra_roots(extra_roots, provider.clone());
            Arc::new(verifier.map_err(VsphereError::TlsSetup)?)
        }
        Trust::Anything => Arc::new(SameAnswer::new(&provider, true)),
        Trust::Nothing => Arc::new(SameAnswer::new(&provider, false)),
    };

    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(VsphereError::TlsSetup)?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();

    // The vim25 endpoint speaks HTTP/1.1 only, and reqwest is built without HTTP/2.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, VsphereError> {
    let ca_file_error = |source| VsphereError::CaFile {
        path: path.to_owned(),
        source,
    };

    let certificates = CertificateDer::pem_file_iter(path)
        .map_err(ca_file_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(ca_file_error)?;

    if certificates.is_empty() {
        return Err(ca_file_error(rustls::pki_types::pem::Error::NoItemsFound));
    }
    Ok(certificates)
}

/// A verifier that gives every certificate the same answer: yes in the `insecure` mode,
/// no where TLS is not expected. In the `insecure` mode handshake signatures are not
/// checked either: against a certificate nobody vouches for they prove nothing, and
/// vcsim's built-in certificate has a 1024-bit RSA key that ring refuses.
#[derive(Debug)]
struct SameAnswer {
    accept: bool,
    schemes: Vec<SignatureScheme>,
}

impl SameAnswer {
    fn new(provider: &CryptoProvider, accept: bool) -> Self {
        let schemes = provider
            .signature_verification_algorithms
            .supported_schemes();
        Self { accept, schemes }
    }

    fn answer<T>(&self, yes: fn() -> T) -> Result<T, rustls::Error> {
        if self.accept {
            Ok(yes())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer,
            ))
        }
    }
}

impl ServerCertVerifier for SameAnswer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.answer(ServerCertVerified::assertion)
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.answer(HandshakeSignatureValid::assertion)
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.answer(HandshakeSignatureValid::assertion)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_a_config_error() {
        let ca_file = Some(Path::new("/nonexistent/ca.pem"));

        let error = client_config(Trust::Roots { ca_file });

        let error = error.expect_err("no such file");
        assert_eq!(error.reason(), "config");
        assert!(error.to_string().contains("/nonexistent/ca.pem"), "{error}");
    }

    #[test]
    fn a_ca_file_without_certificates_is_a_config_error() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vsphere/Login.request.xml"
        );

        let ca_file = Some(Path::new(path));

        let error = client_config(Trust::Roots { ca_file }).expect_err("no pem");

        assert!(matches!(error, VsphereError::CaFile { .. }), "{error:?}");
    }

    #[test]
    fn plain_http_needs_no_roots() {
        assert!(client_config(Trust::Nothing).is_ok());
    }
}
