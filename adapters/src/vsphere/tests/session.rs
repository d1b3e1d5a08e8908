//! The session against the fake vCenter: login, cookie, renewal, start-up and shutdown.

use ports::InventorySource;

use super::super::source::VsphereSource;
use super::fake_vcenter::{CAPTURED_VIEW, FakeVcenter, Reply};
use super::{config, fixture};

const VM_VIEW: &str = "RetrievePropertiesEx-VirtualMachine-view";
const EXPIRED_VIEW: &str =
    "session[6e6e7081-2f30-46ca-8056-013ece643649]3fcb6a02-eddc-4b53-82c9-b88de3fd886c";

async fn vcsim_with_vms() -> FakeVcenter {
    let fake = FakeVcenter::vcsim().await;
    fake.answer("RetrievePropertiesEx", [Reply::fixture(VM_VIEW)]);
    fake
}

fn source(fake: &FakeVcenter) -> VsphereSource {
    VsphereSource::new(config(fake)).expect("valid settings")
}

#[tokio::test]
async fn the_first_read_logs_in_and_later_reads_reuse_the_session() {
    let fake = vcsim_with_vms().await;
    let mut config = config(&fake);
    config.follow_changes = false;
    let source = VsphereSource::new(config).expect("valid settings");

    let first = source.inventory().await.expect("inventory");
    let second = source.inventory().await.expect("inventory");

    assert_eq!(first.vms.len(), 4);
    assert_eq!(first, second);
    let expected = [
        "RetrieveServiceContent",
        "Login",
        "CreateContainerView",
        "RetrievePropertiesEx",
        "RetrievePropertiesEx",
    ];
    assert_eq!(fake.methods(), expected);
}

#[tokio::test]
async fn requests_carry_the_soap_headers_and_the_session_cookie() {
    let fake = vcsim_with_vms().await;

    source(&fake).read_inventory().await.expect("inventory");

    let requests = fake.requests();
    for request in &requests {
        assert_eq!(request.soap_action.as_deref(), Some("urn:vim25/6.5"));
        assert_eq!(
            request.content_type.as_deref(),
            Some(r#"text/xml; charset="utf-8""#)
        );
    }
    assert_eq!(requests[1].cookie, None, "Login is sent without a cookie");
    assert!(
        requests[1]
            .body
            .contains("<userName>user</userName><password>pass</password>")
    );
    for request in &requests[2..] {
        assert_eq!(
            request.cookie.as_deref(),
            Some("vmware_soap_session=session-1")
        );
    }
    let view = &requests[2].body;
    assert!(
        view.contains(r#"<container type="Folder">group-d1</container>"#),
        "{view}"
    );
    assert!(
        view.contains("<type>VirtualMachine</type><recursive>true</recursive>"),
        "{view}"
    );
}

#[tokio::test]
async fn a_quoted_cookie_is_sent_back_verbatim() {
    let fake = vcsim_with_vms().await;
    let set_cookie = r#"vmware_soap_session="52d3-quoted"; Path=/; HttpOnly; Secure"#;
    fake.answer(
        "Login",
        [Reply::fixture("Login").header("Set-Cookie", set_cookie)],
    );

    source(&fake).read_inventory().await.expect("inventory");

    let view = &fake.requests_for("CreateContainerView")[0];
    assert_eq!(
        view.cookie.as_deref(),
        Some(r#"vmware_soap_session="52d3-quoted""#)
    );
}

#[tokio::test]
async fn not_authenticated_logs_in_again_and_retries_once() {
    let fake = FakeVcenter::vcsim().await;
    fake.answer(
        "Login",
        [Reply::login("session-1"), Reply::login("session-2")],
    );
    let expired = Reply::fixture("Fault-NotAuthenticated-expired-session");
    fake.answer("RetrievePropertiesEx", [expired, Reply::fixture(VM_VIEW)]);

    let inventory = source(&fake).read_inventory().await;

    assert_eq!(inventory.expect("retried").vms.len(), 4);
    assert_eq!(fake.count("Login"), 2);
    assert_eq!(fake.count("CreateContainerView"), 2);
    let logins = fake.requests_for("Login");
    assert_eq!(
        logins[1].cookie, None,
        "a Login within the old session would be refused"
    );
    let retried = fake
        .requests_for("RetrievePropertiesEx")
        .pop()
        .expect("retry");
    assert_eq!(
        retried.cookie.as_deref(),
        Some("vmware_soap_session=session-2")
    );
}

#[tokio::test]
async fn a_retry_that_fails_again_is_returned_without_another_login() {
    let fake = FakeVcenter::vcsim().await;
    let expired = Reply::fixture("Fault-NotAuthenticated-expired-session");
    fake.answer("RetrievePropertiesEx", [expired]);

    let error = source(&fake)
        .read_inventory()
        .await
        .expect_err("still refused");

    assert_eq!(error.reason(), "NotAuthenticated");
    assert_eq!(fake.count("Login"), 2, "the first Login and one renewal");
    assert_eq!(fake.count("RetrievePropertiesEx"), 2);
}

#[tokio::test]
async fn a_missing_set_of_not_authenticated_renews_the_session() {
    let fake = FakeVcenter::vcsim().await;
    let no_session = Reply::fixture("RetrievePropertiesEx-no-session-missingSet");
    fake.answer(
        "RetrievePropertiesEx",
        [no_session, Reply::fixture(VM_VIEW)],
    );

    let inventory = source(&fake).read_inventory().await;

    assert_eq!(inventory.expect("retried").vms.len(), 4);
    assert_eq!(fake.count("Login"), 2);
}

#[tokio::test]
async fn a_view_gone_with_the_session_is_recreated() {
    let fake = FakeVcenter::vcsim().await;
    let view = fixture("CreateContainerView.response.xml").replace(CAPTURED_VIEW, EXPIRED_VIEW);
    fake.answer("CreateContainerView", [Reply::new(200, view)]);
    let dead_view = Reply::fixture("Fault-ManagedObjectNotFound-view-of-expired-session");
    fake.answer("RetrievePropertiesEx", [dead_view, Reply::fixture(VM_VIEW)]);

    let inventory = source(&fake).read_inventory().await;

    assert_eq!(inventory.expect("retried").vms.len(), 4);
    assert_eq!(fake.count("Login"), 2);
    assert_eq!(fake.count("CreateContainerView"), 2);
}

#[tokio::test]
async fn another_object_not_found_is_not_a_lost_session() {
    let fake = FakeVcenter::vcsim().await;
    let deleted = Reply::fixture("Fault-ManagedObjectNotFound-RetrievePropertiesEx");
    fake.answer("RetrievePropertiesEx", [deleted]);

    let error = source(&fake).read_inventory().await.expect_err("a fault");

    assert_eq!(error.reason(), "ManagedObjectNotFound");
    assert_eq!(fake.count("Login"), 1);
}

#[tokio::test]
async fn invalid_login_is_an_error_and_is_not_tried_again_at_once() {
    let fake = vcsim_with_vms().await;
    fake.answer("Login", [Reply::fixture("Fault-InvalidLogin")]);
    let source = source(&fake);

    let first = source.inventory().await.expect_err("refused");
    let second = source.inventory().await.expect_err("still refused");

    assert_eq!(first.reason, "InvalidLogin");
    assert_eq!(second.reason, "InvalidLogin");
    assert_eq!(
        fake.count("Login"),
        1,
        "a second Login could lock the account"
    );
    assert!(!format!("{:?}", source).contains("pass"));
}

#[tokio::test]
async fn a_failed_start_is_tried_again_at_the_next_read() {
    let fake = vcsim_with_vms().await;
    let unavailable = Reply::new(503, "vCenter is starting");
    let content = Reply::fixture("RetrieveServiceContent");
    fake.answer("RetrieveServiceContent", [unavailable, content]);
    let source = source(&fake);

    let first = source.read_inventory().await.expect_err("unavailable");
    let second = source.read_inventory().await;

    assert_eq!(first.reason(), "http");
    assert_eq!(second.expect("up").vms.len(), 4);
}

#[tokio::test]
async fn connect_logs_in_creates_the_view_and_finds_the_pool_up_front() {
    let fake = FakeVcenter::vcsim().await;
    let pool = Reply::fixture("FindByInventoryPath-ResourcePool");
    fake.answer("FindByInventoryPath", [pool]);
    let runtime = Reply::fixture("RetrievePropertiesEx-ResourcePool-runtime");
    fake.answer("RetrievePropertiesEx", [runtime]);
    let mut config = config(&fake);
    config.resource_pool = Some("/DC0/host/DC0_C0/Resources".into());

    let source = VsphereSource::connect(config).await.expect("connected");
    let expected = [
        "RetrieveServiceContent",
        "Login",
        "CreateContainerView",
        "FindByInventoryPath",
    ];
    assert_eq!(fake.methods(), expected);
    let runtime = source.read_resource_pool_runtime().await.expect("runtime");

    assert_eq!(runtime.cpu_mhz.max, 4121);
    let find = &fake.requests_for("FindByInventoryPath")[0].body;
    assert!(
        find.contains("<inventoryPath>/DC0/host/DC0_C0/Resources</inventoryPath>"),
        "{find}"
    );
    let read = &fake.requests_for("RetrievePropertiesEx")[0].body;
    assert!(
        read.contains(r#"<obj type="ResourcePool">resgroup-26</obj>"#),
        "{read}"
    );
    assert!(read.contains("<pathSet>runtime</pathSet>"), "{read}");
}

#[tokio::test]
async fn an_unknown_pool_path_is_named_in_the_error() {
    let fake = FakeVcenter::vcsim().await;
    let null = Reply::fixture("handmade/FindByInventoryPath-null");
    fake.answer("FindByInventoryPath", [null]);
    let mut config = config(&fake);
    config.resource_pool = Some("/DC0/host/nowhere/Resources".into());

    let error = VsphereSource::new(config)
        .expect("valid settings")
        .read_resource_pool_runtime()
        .await
        .expect_err("not found");

    assert_eq!(error.reason(), "config");
    assert!(
        error.to_string().contains("/DC0/host/nowhere/Resources"),
        "{error}"
    );
}

#[tokio::test]
async fn the_default_pool_is_found_in_one_call() {
    let fake = FakeVcenter::vcsim().await;
    let layout = Reply::fixture("handmade/RetrievePropertiesEx-layout-one-root-pool");
    let runtime = Reply::fixture("RetrievePropertiesEx-ResourcePool-runtime");
    fake.answer("RetrievePropertiesEx", [layout, runtime]);

    let runtime = source(&fake).read_resource_pool_runtime().await;

    assert_eq!(runtime.expect("runtime").memory_bytes.max, 1_007_681_536);
    let layout = &fake.requests_for("RetrievePropertiesEx")[0].body;
    let start = r#"<obj type="Folder">group-d1</obj><skip>true</skip><selectSet xsi:type="TraversalSpec"><type>Folder</type><path>childEntity</path>"#;
    assert!(layout.contains(start), "{layout}");
}

#[tokio::test]
async fn several_default_pools_are_a_config_error() {
    let fake = FakeVcenter::vcsim().await;
    let layout = Reply::fixture("handmade/RetrievePropertiesEx-layout-two-root-pools");
    fake.answer("RetrievePropertiesEx", [layout]);

    let error = source(&fake).read_resource_pool_runtime().await;

    let error = error.expect_err("ambiguous");
    assert_eq!(error.reason(), "config");
    assert!(
        error.to_string().contains("/DC0/host/DC0_H0/Resources"),
        "{error}"
    );
}

#[tokio::test]
async fn a_datacenter_roots_the_view_at_its_vm_folder() {
    let fake = FakeVcenter::vcsim().await;
    let datacenter = fixture("FindByInventoryPath-ResourcePool.response.xml").replace(
        r#"type="ResourcePool">resgroup-26"#,
        r#"type="Datacenter">datacenter-2"#,
    );
    fake.answer("FindByInventoryPath", [Reply::new(200, datacenter)]);
    let layout = Reply::fixture("handmade/RetrievePropertiesEx-layout-one-root-pool");
    fake.answer("RetrievePropertiesEx", [layout, Reply::fixture(VM_VIEW)]);
    let mut config = config(&fake);
    config.datacenter = Some("DC0".into());

    let inventory = VsphereSource::new(config)
        .expect("valid")
        .read_inventory()
        .await;

    assert_eq!(inventory.expect("inventory").vms.len(), 4);
    let find = &fake.requests_for("FindByInventoryPath")[0].body;
    assert!(
        find.contains("<inventoryPath>/DC0</inventoryPath>"),
        "{find}"
    );
    let view = &fake.requests_for("CreateContainerView")[0].body;
    assert!(
        view.contains(r#"<container type="Folder">folder-3</container>"#),
        "{view}"
    );
}

#[tokio::test]
async fn shutdown_destroys_the_view_then_logs_out() {
    let fake = vcsim_with_vms().await;
    let source = source(&fake);
    source.read_inventory().await.expect("inventory");

    source.shutdown().await;

    let methods = fake.methods();
    assert_eq!(methods[methods.len() - 2..], ["DestroyView", "Logout"]);
    let destroy = &fake.requests_for("DestroyView")[0];
    assert!(destroy.body.contains(CAPTURED_VIEW));
    assert_eq!(
        destroy.cookie.as_deref(),
        Some("vmware_soap_session=session-1")
    );
}

#[tokio::test]
async fn shutdown_before_any_read_sends_nothing() {
    let fake = FakeVcenter::vcsim().await;

    source(&fake).shutdown().await;

    assert!(fake.requests().is_empty());
}
