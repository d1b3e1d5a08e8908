//! The change feed's follower against the scripted fake vCenter: the first read through
//! the feed, changes, refusal, session loss, the safety net and shutdown.

use std::time::Duration;

use ports::{InventorySource, Tracking};
use tokio::time::{Instant, sleep, timeout};

use super::super::source::VsphereSource;
use super::config;
use super::fake_vcenter::{CAPTURED_VIEW, FakeVcenter, Reply};

pub(super) const INITIAL: &str = "handmade/WaitForUpdatesEx-initial-enter";
const RENAMED: &str = "handmade/WaitForUpdatesEx-modify-annotation-and-name";
const EMPTY: &str = "WaitForUpdatesEx-2-maxWaitSeconds-expired";
pub(super) const CANCELED: &str = "Fault-RequestCanceled-WaitForUpdatesEx";
const VM_VIEW: &str = "RetrievePropertiesEx-VirtualMachine-view";

/// The collector of the `CreatePropertyCollector` capture.
pub(super) const COLLECTOR: &str =
    "session[fa75aa3f-bae9-4bbf-86dd-77e557e0ceae]e57da5ad-a833-43ff-b88f-1c53fc74ddfa";

/// How long the fake holds an idle wait before answering that nothing changed.
const IDLE: Duration = Duration::from_millis(200);

/// A vCenter with the feed's calls scripted; WaitForUpdatesEx answers `waits` in turn.
pub(super) async fn feed_vcenter(waits: Vec<Reply>) -> FakeVcenter {
    let fake = FakeVcenter::vcsim().await;
    let script = [
        ("CreatePropertyCollector", "CreatePropertyCollector"),
        ("CreateFilter", "CreateFilter-VirtualMachine-view"),
        ("CancelWaitForUpdates", "CancelWaitForUpdates"),
        ("DestroyPropertyCollector", "DestroyPropertyCollector"),
        ("RetrievePropertiesEx", VM_VIEW),
    ];
    for (method, fixture) in script {
        fake.answer(method, [Reply::fixture(fixture)]);
    }
    fake.answer("WaitForUpdatesEx", waits);
    fake
}

pub(super) fn idle() -> Reply {
    Reply::fixture(EMPTY).delay(IDLE)
}

pub(super) fn source(fake: &FakeVcenter) -> VsphereSource {
    VsphereSource::new(config(fake)).expect("valid settings")
}

/// Waits up to 5 s for `condition`.
pub(super) async fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !condition() {
        assert!(Instant::now() < deadline, "never came: {what}");
        sleep(Duration::from_millis(20)).await;
    }
}

/// The requests other than WaitForUpdatesEx, which the follower sends on its own.
fn calls_but_waits(fake: &FakeVcenter) -> Vec<String> {
    let methods = fake.methods().into_iter();
    methods.filter(|m| m != "WaitForUpdatesEx").collect()
}

#[tokio::test]
async fn the_first_read_comes_from_the_feed_and_later_reads_make_no_call() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), idle()]).await;
    let source = source(&fake);

    let first = source.inventory().await.expect("inventory");
    eventually("a second wait", || fake.count("WaitForUpdatesEx") >= 2).await;
    let before = calls_but_waits(&fake);
    let later = source.inventory().await.expect("inventory");
    let again = source.inventory().await.expect("inventory");

    assert_eq!(first.vms.len(), 4);
    assert_eq!((&first, &first), (&later, &again));
    let expected = [
        "RetrieveServiceContent",
        "Login",
        "CreateContainerView",
        "CreatePropertyCollector",
        "CreateFilter",
    ];
    assert_eq!(before, expected, "no RetrievePropertiesEx at all");
    assert_eq!(calls_but_waits(&fake), before, "no call for later reads");
    assert_eq!(source.tracking(), Tracking::ChangeFeed);
    assert_eq!(source.logins(), 1);
}

#[tokio::test]
async fn the_feed_is_set_up_on_the_view_and_waits_carry_the_version() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), idle()]).await;
    let source = source(&fake);

    source.inventory().await.expect("inventory");
    eventually("a second wait", || fake.count("WaitForUpdatesEx") >= 2).await;

    let filter = &fake.requests_for("CreateFilter")[0].body;
    assert!(
        filter.contains(&format!(
            r#"<_this type="PropertyCollector">{COLLECTOR}</_this>"#
        )),
        "{filter}"
    );
    assert!(
        filter.contains(&format!(
            r#"<obj type="ContainerView">{CAPTURED_VIEW}</obj>"#
        )),
        "{filter}"
    );
    assert!(
        filter.contains("<pathSet>config.annotation</pathSet>"),
        "{filter}"
    );
    assert!(
        filter.contains("</spec><partialUpdates>false</partialUpdates>"),
        "{filter}"
    );
    let waits = fake.requests_for("WaitForUpdatesEx");
    let (initial, next) = (&waits[0].body, &waits[1].body);
    assert!(!initial.contains("<version>"), "{initial}");
    assert!(initial.contains("<options><maxWaitSeconds>0</maxWaitSeconds><maxObjectUpdates>1000</maxObjectUpdates></options>"), "{initial}");
    assert!(
        next.contains("<version>1</version><options><maxWaitSeconds>60</maxWaitSeconds>"),
        "{next}"
    );
    assert!(next.contains(COLLECTOR), "{next}");
}

#[tokio::test]
async fn changed_returns_after_an_update_which_the_next_read_shows() {
    let renamed = Reply::fixture(RENAMED).delay(Duration::from_millis(300));
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), renamed, idle()]).await;
    let source = source(&fake);
    let first = source.inventory().await.expect("inventory");
    let before = calls_but_waits(&fake);

    timeout(Duration::from_secs(5), source.changed())
        .await
        .expect("changed");
    // Nothing read since: it says so again at once.
    timeout(Duration::from_millis(50), source.changed())
        .await
        .expect("still changed");
    let second = source.inventory().await.expect("inventory");

    let worker = |vms: &[domain::VirtualMachine]| vms.iter().find(|vm| vm.id == "vm-101").cloned();
    assert_eq!(worker(&first.vms).expect("worker").name, "worker-a");
    assert_eq!(
        worker(&second.vms).expect("worker").name,
        "worker-a-renamed"
    );
    assert_eq!(calls_but_waits(&fake), before);
    let quiet = timeout(Duration::from_millis(400), source.changed()).await;
    assert!(quiet.is_err(), "nothing changed since the last read");
}

#[tokio::test]
async fn a_truncated_initial_set_is_read_whole_before_use() {
    let parts = [
        Reply::fixture("handmade/WaitForUpdatesEx-truncated-1"),
        Reply::fixture("handmade/WaitForUpdatesEx-truncated-2"),
        idle(),
    ];
    let fake = feed_vcenter(parts.into()).await;

    let inventory = source(&fake).inventory().await.expect("inventory");

    assert_eq!(inventory.vms.len(), 4);
    let rest = &fake.requests_for("WaitForUpdatesEx")[1].body;
    assert!(
        rest.contains("<version>1</version><options><maxWaitSeconds>0</maxWaitSeconds>"),
        "{rest}"
    );
}

#[tokio::test]
async fn not_authenticated_from_the_wait_logs_in_once_and_reads_again() {
    let expired = Reply::fixture("Fault-NotAuthenticated-expired-session").delay(IDLE);
    let waits = vec![
        Reply::fixture(INITIAL),
        expired,
        Reply::fixture(INITIAL),
        idle(),
    ];
    let fake = feed_vcenter(waits).await;
    fake.answer(
        "Login",
        [Reply::login("session-1"), Reply::login("session-2")],
    );
    let source = source(&fake);

    source.inventory().await.expect("inventory");
    eventually("a new collector", || {
        fake.count("CreatePropertyCollector") == 2
    })
    .await;
    eventually("the feed followed again", || {
        source.tracking() == Tracking::ChangeFeed
    })
    .await;
    let inventory = source.inventory().await.expect("inventory");

    assert_eq!(inventory.vms.len(), 4);
    assert_eq!(fake.count("Login"), 2, "exactly one new Login");
    assert_eq!(source.logins(), 2);
    let waits = fake.requests_for("WaitForUpdatesEx");
    assert!(
        !waits[2].body.contains("<version>"),
        "a full read: {}",
        waits[2].body
    );
    assert_eq!(
        waits[2].cookie.as_deref(),
        Some("vmware_soap_session=session-2")
    );
    let nothing_to_close = ["Logout", "DestroyPropertyCollector", "RetrievePropertiesEx"];
    for method in nothing_to_close {
        assert_eq!(fake.count(method), 0, "{method} sent");
    }
}

#[tokio::test]
async fn an_unasked_request_canceled_closes_the_session_before_a_new_login() {
    let canceled = Reply::fixture(CANCELED).delay(IDLE);
    let waits = vec![
        Reply::fixture(INITIAL),
        canceled,
        Reply::fixture(INITIAL),
        idle(),
    ];
    let fake = feed_vcenter(waits).await;
    fake.answer(
        "Login",
        [Reply::login("session-1"), Reply::login("session-2")],
    );
    let source = source(&fake);

    source.inventory().await.expect("inventory");
    eventually("a new filter", || fake.count("CreateFilter") == 2).await;

    let methods = calls_but_waits(&fake);
    let tail = &methods[methods.len() - 5..];
    let expected = [
        "Logout",
        "Login",
        "CreateContainerView",
        "CreatePropertyCollector",
        "CreateFilter",
    ];
    assert_eq!(tail, expected);
    let logout = &fake.requests_for("Logout")[0];
    assert_eq!(
        logout.cookie.as_deref(),
        Some("vmware_soap_session=session-1")
    );
}

#[tokio::test]
async fn the_safety_net_reads_everything_again_with_a_new_collector() {
    let same = Reply::fixture("WaitForUpdatesEx-1-initial-enter").delay(IDLE);
    let fake = feed_vcenter(vec![same]).await;
    let mut config = config(&fake);
    config.full_read_interval = Duration::from_millis(600);
    let source = VsphereSource::new(config).expect("valid");

    source.inventory().await.expect("inventory");
    eventually("a second sync", || {
        fake.count("CreatePropertyCollector") >= 2
    })
    .await;

    let destroyed = &fake.requests_for("DestroyPropertyCollector");
    assert!(!destroyed.is_empty(), "the old collector destroyed first");
    assert!(destroyed[0].body.contains(COLLECTOR));
    assert_eq!(fake.count("Login"), 1);
    assert_eq!(fake.count("RetrievePropertiesEx"), 0);
    let waits = fake.requests_for("WaitForUpdatesEx");
    assert!(
        waits[1].body.contains("<maxWaitSeconds>1</maxWaitSeconds>"),
        "capped: {}",
        waits[1].body
    );
}
