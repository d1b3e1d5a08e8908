//! Certificate checks against a local HTTPS fake vCenter with a self-signed certificate.

use std::sync::Arc;

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::super::source::VsphereSource;
use super::fake_vcenter::{FakeVcenter, Reply};
use super::{config, fixture_path};

fn server_config() -> Arc<rustls::ServerConfig> {
    let certificates = CertificateDer::pem_file_iter(fixture_path("tls/server.pem"))
        .expect("certificate file")
        .collect::<Result<Vec<_>, _>>()
        .expect("certificates");
    let key = PrivateKeyDer::from_pem_file(fixture_path("tls/server.key")).expect("key");

    let config = rustls::ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("protocols")
        .with_no_client_auth()
        .with_single_cert(certificates, key)
        .expect("server config");
    Arc::new(config)
}

async fn https_vcenter() -> FakeVcenter {
    let fake = FakeVcenter::start_tls(server_config()).await;
    fake.script_session();
    let vms = Reply::fixture("RetrievePropertiesEx-VirtualMachine-view");
    fake.answer("RetrievePropertiesEx", [vms]);
    fake
}

#[tokio::test]
async fn an_unknown_certificate_is_refused_by_default() {
    let fake = https_vcenter().await;
    let source = VsphereSource::new(config(&fake)).expect("valid settings");

    let error = source.read_inventory().await.expect_err("untrusted");

    assert_eq!(error.reason(), "tls");
    assert!(fake.requests().is_empty());
}

#[tokio::test]
async fn the_ca_file_makes_the_certificate_trusted() {
    let fake = https_vcenter().await;
    let mut config = config(&fake);
    config.ca_file = Some(fixture_path("tls/server.pem"));
    let source = VsphereSource::new(config).expect("valid settings");

    let inventory = source.read_inventory().await;

    assert_eq!(inventory.expect("trusted").vms.len(), 4);
}

#[tokio::test]
async fn insecure_mode_accepts_any_certificate() {
    let fake = https_vcenter().await;
    let mut config = config(&fake);
    config.insecure = true;
    let source = VsphereSource::new(config).expect("valid settings");

    let inventory = source.read_inventory().await;

    assert_eq!(inventory.expect("accepted").vms.len(), 4);
}
