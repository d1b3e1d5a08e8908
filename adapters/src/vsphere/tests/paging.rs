//! The `ContinueRetrievePropertiesEx` token loop, on hand-written pages (vcsim never pages).

use super::super::source::VsphereSource;
use super::fake_vcenter::{FakeVcenter, Reply};
use super::{config, fixture};

const PAGE_1: &str = "handmade/RetrievePropertiesEx-VirtualMachine-page1";
const PAGE_2: &str = "handmade/ContinueRetrievePropertiesEx-page2";
const PAGE_3: &str = "handmade/ContinueRetrievePropertiesEx-page3";

async fn paging_vcenter() -> FakeVcenter {
    let fake = FakeVcenter::vcsim().await;
    fake.answer("RetrievePropertiesEx", [Reply::fixture(PAGE_1)]);
    let pages = [Reply::fixture(PAGE_2), Reply::fixture(PAGE_3)];
    fake.answer("ContinueRetrievePropertiesEx", pages);
    fake
}

fn source(fake: &FakeVcenter) -> VsphereSource {
    VsphereSource::new(config(fake)).expect("valid settings")
}

#[tokio::test]
async fn every_page_is_read_and_each_token_sent_back() {
    let fake = paging_vcenter().await;

    let inventory = source(&fake).read_inventory().await.expect("inventory");

    let ids: Vec<_> = inventory.vms.iter().map(|vm| vm.id.as_str()).collect();
    assert_eq!(
        ids,
        ["vm-101", "vm-102", "vm-103", "vm-105"],
        "vm-104 was deleted"
    );
    let tokens: Vec<_> = fake
        .requests_for("ContinueRetrievePropertiesEx")
        .into_iter()
        .map(|request| request.body)
        .collect();
    assert_eq!(tokens.len(), 2);
    assert!(
        tokens[0].contains("<token>session[52aa]token-1</token>"),
        "{}",
        tokens[0]
    );
    assert!(
        tokens[1].contains("<token>session[52aa]token-2</token>"),
        "{}",
        tokens[1]
    );
}

#[tokio::test]
async fn the_first_request_asks_for_pages_and_the_narrow_paths_only() {
    let fake = paging_vcenter().await;

    source(&fake).read_inventory().await.expect("inventory");

    let body = &fake.requests_for("RetrievePropertiesEx")[0].body;
    let paths = concat!(
        "<type>VirtualMachine</type><pathSet>name</pathSet>",
        "<pathSet>summary.config.numCpu</pathSet><pathSet>summary.config.memorySizeMB</pathSet>",
        "<pathSet>config.annotation</pathSet><pathSet>summary.config.template</pathSet>",
        "<pathSet>runtime.powerState</pathSet></propSet>"
    );
    assert!(body.contains(paths), "{body}");
    assert!(body.contains("<maxObjects>1000</maxObjects>"), "{body}");
    assert!(body.contains(r#"<skip>true</skip><selectSet xsi:type="TraversalSpec"><type>ContainerView</type><path>view</path>"#), "{body}");
}

#[tokio::test]
async fn a_session_lost_between_pages_restarts_the_read_without_duplicates() {
    let fake = paging_vcenter().await;
    let expired = Reply::fixture("Fault-NotAuthenticated-expired-session");
    let pages = [expired, Reply::fixture(PAGE_2), Reply::fixture(PAGE_3)];
    fake.answer("ContinueRetrievePropertiesEx", pages);

    let inventory = source(&fake).read_inventory().await.expect("inventory");

    assert_eq!(inventory.vms.len(), 4);
    assert_eq!(fake.count("Login"), 2);
    assert_eq!(fake.count("RetrievePropertiesEx"), 2);
}

#[tokio::test]
async fn a_server_without_continue_gives_method_not_found() {
    let fake = paging_vcenter().await;
    let not_implemented = Reply::fixture("ContinueRetrievePropertiesEx");
    fake.answer("ContinueRetrievePropertiesEx", [not_implemented]);

    let error = source(&fake).read_inventory().await.expect_err("no paging");

    assert_eq!(error.reason(), "MethodNotFound");
    assert!(error.to_string().contains("does not implement"), "{error}");
}

#[tokio::test]
async fn a_malformed_page_cancels_the_collection() {
    let fake = paging_vcenter().await;
    let page = fixture(&format!("{PAGE_1}.response.xml")).replacen(">2</val>", ">two</val>", 1);
    fake.answer("RetrievePropertiesEx", [Reply::new(200, page)]);
    fake.answer(
        "CancelRetrievePropertiesEx",
        [Reply::fixture("CancelRetrievePropertiesEx")],
    );

    let error = source(&fake).read_inventory().await.expect_err("malformed");

    assert_eq!(error.reason(), "xml");
    assert!(
        error
            .to_string()
            .contains("summary.config.numCpu of vm-101"),
        "{error}"
    );
    let cancel = &fake.requests_for("CancelRetrievePropertiesEx")[0].body;
    assert!(
        cancel.contains("<token>session[52aa]token-1</token>"),
        "{cancel}"
    );
    assert_eq!(fake.count("ContinueRetrievePropertiesEx"), 0);
}
