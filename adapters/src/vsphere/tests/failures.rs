//! Broken answers and broken connections: each one a typed error, never a panic.

use std::time::Duration;

use tokio::net::TcpListener;

use super::super::config::VsphereConfig;
use super::super::error::VsphereError;
use super::super::source::VsphereSource;
use super::fake_vcenter::{FakeVcenter, Framing, Reply};
use super::{config, fixture};

/// The error of a first read when RetrieveServiceContent is answered with `reply`.
async fn first_read_error(reply: Reply) -> VsphereError {
    let fake = FakeVcenter::vcsim().await;
    fake.answer("RetrieveServiceContent", [reply]);
    read_error(config(&fake)).await
}

async fn read_error(config: VsphereConfig) -> VsphereError {
    let source = VsphereSource::new(config).expect("valid settings");
    source.read_inventory().await.expect_err("a failure")
}

#[tokio::test]
async fn garbage_is_an_xml_error() {
    let error = first_read_error(Reply::new(200, "\u{0}\u{1}not xml at all <<<")).await;

    assert_eq!(error.reason(), "xml");
}

#[tokio::test]
async fn a_truncated_envelope_is_an_xml_error() {
    let body = fixture("RetrieveServiceContent.response.xml");
    let error = first_read_error(Reply::new(200, &body[..body.len() / 2])).await;

    assert_eq!(error.reason(), "xml");
    assert!(matches!(error, VsphereError::Xml(_)), "{error:?}");
}

#[tokio::test]
async fn a_500_without_a_fault_is_an_http_error() {
    let error = first_read_error(Reply::new(500, "<html>Internal Server Error</html>")).await;

    assert_eq!(error.reason(), "http");
    assert!(error.to_string().contains("500"), "{error}");
}

#[tokio::test]
async fn an_answer_to_another_method_is_an_xml_error() {
    let error = first_read_error(Reply::fixture("Logout")).await;

    assert_eq!(error.reason(), "xml");
    assert!(
        error.to_string().contains("RetrieveServiceContent"),
        "{error}"
    );
}

#[tokio::test]
async fn a_body_announced_over_the_cap_is_refused() {
    let fake = FakeVcenter::vcsim().await;
    let mut config = config(&fake);
    config.max_response_bytes = 1000;

    let error = read_error(config).await;

    assert!(
        matches!(error, VsphereError::BodyTooLarge { limit: 1000 }),
        "{error:?}"
    );
    assert_eq!(error.reason(), "body_too_large");
}

#[tokio::test]
async fn a_chunked_body_over_the_cap_is_cut_short() {
    let fake = FakeVcenter::vcsim().await;
    let chunked = Reply::fixture("RetrieveServiceContent").framing(Framing::Chunked);
    fake.answer("RetrieveServiceContent", [chunked]);
    let mut config = config(&fake);
    config.max_response_bytes = 1000;

    let error = read_error(config).await;

    assert_eq!(error.reason(), "body_too_large");
}

#[tokio::test]
async fn a_chunked_body_under_the_cap_is_read() {
    let fake = FakeVcenter::vcsim().await;
    let chunked = Reply::fixture("RetrieveServiceContent").framing(Framing::Chunked);
    fake.answer("RetrieveServiceContent", [chunked]);
    let vms = Reply::fixture("RetrievePropertiesEx-VirtualMachine-view").framing(Framing::Chunked);
    fake.answer("RetrievePropertiesEx", [vms]);

    let source = VsphereSource::new(config(&fake)).expect("valid settings");

    assert_eq!(source.read_inventory().await.expect("read").vms.len(), 4);
}

#[tokio::test]
async fn a_connection_closed_mid_body_is_an_http_error() {
    let error = first_read_error(Reply::fixture("Logout").framing(Framing::CutAfter(100))).await;

    assert_eq!(error.reason(), "http");
}

#[tokio::test]
async fn a_slow_answer_times_out() {
    let fake = FakeVcenter::vcsim().await;
    let slow = Reply::fixture("RetrieveServiceContent").delay(Duration::from_secs(5));
    fake.answer("RetrieveServiceContent", [slow]);
    let mut config = config(&fake);
    config.request_timeout = Duration::from_millis(200);

    let error = read_error(config).await;

    assert_eq!(error.reason(), "timeout");
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let url = format!("http://user:pass@{address}/sdk")
        .parse()
        .expect("url");

    let error = read_error(VsphereConfig::new(url)).await;

    assert_eq!(error.reason(), "connect");
}

#[tokio::test]
async fn https_to_a_plain_http_server_is_a_tls_error() {
    let fake = FakeVcenter::vcsim().await;
    let mut config = config(&fake);
    config.url.set_scheme("https").expect("https");

    let error = read_error(config).await;

    assert_eq!(error.reason(), "tls");
}

#[tokio::test]
async fn errors_never_show_the_password() {
    let fake = FakeVcenter::vcsim().await;
    fake.answer("Login", [Reply::fixture("Fault-InvalidLogin")]);
    let mut config = config(&fake);
    config.password = Some(super::super::config::Password::new("hunter2-secret"));

    let error = read_error(config).await;

    assert_eq!(error.reason(), "InvalidLogin");
    assert!(!format!("{error} {error:?}").contains("hunter2"));
    assert!(
        fake.requests_for("Login")[0]
            .body
            .contains("hunter2-secret")
    );
}

/// The error of a read whose RetrievePropertiesEx, the answer read while it arrives, is
/// answered with `reply`.
async fn inventory_error(reply: Reply, tweak: impl FnOnce(&mut VsphereConfig)) -> VsphereError {
    let fake = FakeVcenter::vcsim().await;
    fake.answer("RetrievePropertiesEx", [reply]);
    let mut config = config(&fake);
    tweak(&mut config);
    read_error(config).await
}

const VMS: &str = "RetrievePropertiesEx-VirtualMachine-view";

#[tokio::test]
async fn an_inventory_answer_cut_short_is_an_xml_error() {
    let body = fixture(&format!("{VMS}.response.xml"));

    let error = inventory_error(Reply::new(200, &body[..body.len() * 2 / 3]), |_| {}).await;

    assert!(matches!(error, VsphereError::Xml(_)), "{error:?}");
}

#[tokio::test]
async fn an_inventory_answer_whose_connection_closes_is_an_http_error() {
    let cut = Reply::fixture(VMS).framing(Framing::CutAfter(2000));

    let error = inventory_error(cut, |_| {}).await;

    assert_eq!(error.reason(), "http", "{error:?}");
}

#[tokio::test]
async fn an_inventory_answer_that_stalls_times_out() {
    let stalled = Reply::fixture(VMS).framing(Framing::StallAfter(2000));

    let error = inventory_error(stalled, |config| {
        config.request_timeout = Duration::from_millis(300);
    })
    .await;

    assert_eq!(error.reason(), "timeout", "{error:?}");
}

#[tokio::test]
async fn an_inventory_answer_over_the_cap_is_refused_whatever_its_framing() {
    for framing in [Framing::ContentLength, Framing::Chunked] {
        let reply = Reply::fixture(VMS).framing(framing);

        let error = inventory_error(reply, |config| config.max_response_bytes = 3000).await;

        assert_eq!(error.reason(), "body_too_large", "{framing:?}: {error:?}");
    }
}

#[tokio::test]
async fn an_inventory_answer_in_small_chunks_is_read_whole() {
    let fake = FakeVcenter::vcsim().await;
    let chunked = Reply::fixture(VMS).framing(Framing::Chunked);
    fake.answer("RetrievePropertiesEx", [chunked]);

    let source = VsphereSource::new(config(&fake)).expect("valid settings");

    assert_eq!(source.read_inventory().await.expect("read").vms.len(), 4);
}
