//! A followed inventory after vCenter has said nothing for a while: the read asks vCenter
//! the time before it trusts the mirror, since a wait pending on a hung vCenter looks just
//! like one on a quiet vCenter.

use std::time::Duration;

use ports::{InventorySource, Tracking};
use tokio::time::{sleep, timeout};

use super::super::source::VsphereSource;
use super::config;
use super::fake_vcenter::{FakeVcenter, Reply};
use super::feed::{INITIAL, eventually, feed_vcenter, idle};

/// Long enough to pass for a hang: beyond every limit of these tests.
const HANG: Duration = Duration::from_secs(60);

const SILENCE: Duration = Duration::from_millis(300);

/// A wait that answers nothing until the test is over.
fn endless_wait() -> Reply {
    Reply::fixture("WaitForUpdatesEx-2-maxWaitSeconds-expired").delay(HANG)
}

fn silent_source(fake: &FakeVcenter) -> VsphereSource {
    let mut config = config(fake);
    config.silence_limit = SILENCE;
    config.request_timeout = Duration::from_secs(1);
    VsphereSource::new(config).expect("valid settings")
}

/// Followed, then quiet beyond the silence limit.
async fn followed_then_quiet(source: &VsphereSource) {
    source.inventory().await.expect("first inventory");
    assert_eq!(source.tracking(), Tracking::ChangeFeed);
    sleep(SILENCE * 2).await;
}

#[tokio::test]
async fn a_read_after_a_silence_asks_vcenter_once_then_serves_the_mirror() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), endless_wait()]).await;
    fake.answer("CurrentTime", [Reply::fixture("CurrentTime")]);
    let source = silent_source(&fake);
    followed_then_quiet(&source).await;

    let asked = source.inventory().await.expect("inventory");
    let again = source.inventory().await.expect("inventory");

    assert_eq!(asked.vms.len(), 4);
    assert_eq!(asked, again);
    let questions = fake.requests_for("CurrentTime");
    assert_eq!(questions.len(), 1, "the answer counts as word from vCenter");
    let question = &questions[0];
    assert!(
        question
            .body
            .contains(r#"<_this type="ServiceInstance">ServiceInstance</_this>"#),
        "{}",
        question.body
    );
    assert_eq!(
        question.cookie.as_deref(),
        Some("vmware_soap_session=session-1")
    );
    assert_eq!(fake.count("RetrievePropertiesEx"), 0, "no full read");
    assert_eq!(source.tracking(), Tracking::ChangeFeed);
}

#[tokio::test]
async fn reads_close_behind_an_answer_ask_nothing() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), idle()]).await;
    fake.answer("CurrentTime", [Reply::fixture("CurrentTime")]);
    let source = silent_source(&fake);
    source.inventory().await.expect("inventory");

    // The fake answers each wait within 200 ms, under the silence limit.
    for _ in 0..5 {
        sleep(SILENCE / 2).await;
        source.inventory().await.expect("inventory");
    }

    assert!(
        fake.count("WaitForUpdatesEx") > 3,
        "the feed kept answering"
    );
    assert_eq!(fake.count("CurrentTime"), 0);
}

#[tokio::test]
async fn a_vcenter_that_hangs_during_a_wait_fails_the_next_read_and_is_read_again_after() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), endless_wait()]).await;
    fake.answer("CurrentTime", [Reply::fixture("CurrentTime").delay(HANG)]);
    let source = silent_source(&fake);
    followed_then_quiet(&source).await;

    // Without the question, the read would serve the mirror until the wait timed out.
    let read = timeout(Duration::from_secs(10), source.inventory()).await;
    let error = read.expect("the read ends").expect_err("vCenter is silent");

    assert_eq!(error.reason, "timeout");
    assert_eq!(source.tracking(), Tracking::Polling);

    // vCenter answers again: the follower reads everything with a new collector.
    fake.answer("CurrentTime", [Reply::fixture("CurrentTime")]);
    fake.answer("WaitForUpdatesEx", [Reply::fixture(INITIAL), idle()]);
    eventually("the feed followed again", || {
        source.tracking() == Tracking::ChangeFeed
    })
    .await;
    let inventory = source.inventory().await.expect("inventory");

    assert_eq!(inventory.vms.len(), 4);
    assert_eq!(fake.count("CreatePropertyCollector"), 2);
    assert_eq!(fake.count("Login"), 1, "the session was never lost");
}

#[tokio::test]
async fn a_fault_in_answer_reads_in_full_in_a_new_session() {
    let fake = feed_vcenter(vec![Reply::fixture(INITIAL), endless_wait()]).await;
    let expired = Reply::fixture("Fault-NotAuthenticated-expired-session");
    fake.answer("CurrentTime", [expired]);
    fake.answer(
        "Login",
        [Reply::login("session-1"), Reply::login("session-2")],
    );
    let source = silent_source(&fake);
    followed_then_quiet(&source).await;

    let inventory = source.inventory().await.expect("a full read");

    assert_eq!(inventory.vms.len(), 4);
    let reads = fake.requests_for("RetrievePropertiesEx");
    assert_eq!(reads.len(), 1);
    assert_eq!(
        reads[0].cookie.as_deref(),
        Some("vmware_soap_session=session-2")
    );
}
