//! The change feed's follower against the scripted fake vCenter: refusal, a feed turned
//! off, and shutdown.

use std::time::Duration;

use ports::{InventorySource, Tracking};
use tokio::time::{Instant, sleep, timeout};

use super::super::source::VsphereSource;
use super::config;
use super::fake_vcenter::Reply;
use super::feed::{CANCELED, COLLECTOR, INITIAL, eventually, feed_vcenter, idle, source};

#[tokio::test]
async fn a_refused_feed_falls_back_to_polling() {
    let fake = feed_vcenter(vec![idle()]).await;
    let refusal = Reply::fixture("handmade/Fault-MethodNotFound-CreatePropertyCollector");
    fake.answer("CreatePropertyCollector", [refusal]);
    let source = source(&fake);

    let first = source.inventory().await.expect("inventory");
    let second = source.inventory().await.expect("inventory");

    assert_eq!((first.vms.len(), second.vms.len()), (4, 4));
    assert_eq!(source.tracking(), Tracking::Polling);
    assert_eq!(
        fake.count("RetrievePropertiesEx"),
        2,
        "each read a full read"
    );
    assert_eq!(fake.count("CreatePropertyCollector"), 1);
    assert_eq!(
        fake.count("CreateFilter") + fake.count("WaitForUpdatesEx"),
        0
    );
    let quiet = timeout(Duration::from_millis(300), source.changed()).await;
    assert!(quiet.is_err(), "no feed, no change announced");
}

#[tokio::test]
async fn a_refused_feed_is_tried_again_at_the_next_full_read() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), idle()]).await;
    let refusal = Reply::fixture("handmade/Fault-MethodNotFound-CreatePropertyCollector");
    let accepted = Reply::fixture("CreatePropertyCollector");
    fake.answer("CreatePropertyCollector", [refusal, accepted]);
    let mut config = config(&fake);
    config.full_read_interval = Duration::from_millis(500);
    let source = VsphereSource::new(config).expect("valid");

    source.inventory().await.expect("polled");
    eventually("the feed followed", || {
        source.tracking() == Tracking::ChangeFeed
    })
    .await;
    timeout(Duration::from_secs(1), source.changed())
        .await
        .expect("the mirror replaces what was polled");

    assert!(fake.count("CreatePropertyCollector") >= 2);
    assert_eq!(fake.count("Login"), 1);
}

#[tokio::test]
async fn shutdown_cancels_the_wait_and_destroys_the_collector() {
    let canceled = Reply::fixture(CANCELED).delay(Duration::from_millis(300));
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), canceled]).await;
    let source = source(&fake);
    source.inventory().await.expect("inventory");
    eventually("a pending wait", || fake.count("WaitForUpdatesEx") == 2).await;

    let started = Instant::now();
    source.shutdown().await;

    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let methods = fake.methods();
    let tail = &methods[methods.len() - 4..];
    assert_eq!(
        tail,
        [
            "CancelWaitForUpdates",
            "DestroyPropertyCollector",
            "DestroyView",
            "Logout"
        ]
    );
    for method in ["CancelWaitForUpdates", "DestroyPropertyCollector"] {
        let request = &fake.requests_for(method)[0];
        assert!(request.body.contains(COLLECTOR), "{}", request.body);
    }
    assert_eq!(
        fake.count("Login"),
        1,
        "the requested cancel is no lost session"
    );
    sleep(Duration::from_millis(400)).await;
    assert_eq!(
        fake.methods().len(),
        methods.len(),
        "nothing after shutdown"
    );
}

#[tokio::test]
async fn shutdown_gives_up_within_its_budget_when_vcenter_hangs() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), idle()]).await;
    let hang = Reply::fixture("CancelWaitForUpdates").delay(Duration::from_secs(30));
    fake.answer("CancelWaitForUpdates", [hang]);
    let source = source(&fake);
    source.inventory().await.expect("inventory");

    let started = Instant::now();
    source.shutdown().await;

    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(fake.count("DestroyView") + fake.count("Logout"), 0);
}

#[tokio::test]
async fn a_disabled_feed_polls_and_never_announces_changes() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL)]).await;
    let mut config = config(&fake);
    config.follow_changes = false;
    let source = VsphereSource::new(config).expect("valid");

    source.inventory().await.expect("inventory");

    assert_eq!(fake.count("RetrievePropertiesEx"), 1);
    assert_eq!(fake.count("CreatePropertyCollector"), 0);
    assert_eq!(source.tracking(), Tracking::Polling);
    let quiet = timeout(Duration::from_millis(100), source.changed()).await;
    assert!(quiet.is_err());
}
