//! The read of a large answer on two threads, on its own: records in order, a refusal
//! that stops the parser, and the records before a break in the answer.

use super::super::error::VsphereError;
use super::super::properties::OBJECTS;
use super::super::streaming::read_streamed;
use super::super::tls::{Trust, client_config};
use super::fake_vcenter::{FakeVcenter, Framing, Reply};
use super::fixture;

const VMS: &str = "RetrievePropertiesEx-VirtualMachine-view";

/// The fake's answer to a RetrievePropertiesEx, not yet read; the fake must outlive it.
async fn answer(reply: Reply) -> (FakeVcenter, reqwest::Response) {
    let fake = FakeVcenter::start().await;
    fake.answer("RetrievePropertiesEx", [reply]);
    let request = "<Envelope><Body><RetrievePropertiesEx/></Body></Envelope>";

    let tls = client_config(Trust::Nothing).expect("a tls configuration");
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build();
    let response = client
        .expect("a client")
        .post(fake.url())
        .body(request)
        .send()
        .await;

    (fake, response.expect("an answer"))
}

#[tokio::test]
async fn records_come_in_document_order_with_their_ancestors() {
    let (_fake, response) = answer(Reply::fixture(VMS).framing(Framing::Chunked)).await;
    let mut seen = Vec::new();

    let envelope = read_streamed(
        "RetrievePropertiesEx",
        response,
        u64::MAX,
        OBJECTS,
        |open, objects| {
            let ancestors: Vec<_> = open.iter().map(|e| e.name.to_string()).collect();
            let obj = objects.root().child("obj").and_then(|obj| obj.moref());
            seen.push((ancestors, obj.map(|obj| obj.value)));
            Ok(())
        },
    )
    .await;

    assert!(envelope.is_ok(), "{envelope:?}");
    let ids: Vec<_> = seen.iter().filter_map(|(_, id)| id.clone()).collect();
    assert_eq!(ids, ["vm-57", "vm-60", "vm-63", "vm-66"]);
    for (ancestors, _) in &seen {
        let expected = [
            "Envelope",
            "Body",
            "RetrievePropertiesExResponse",
            "returnval",
        ];
        assert_eq!(ancestors, &expected);
    }
}

#[tokio::test]
async fn a_refused_record_stops_the_read_and_is_the_error_returned() {
    for refused in 1..=4 {
        let (_fake, response) = answer(Reply::fixture(VMS)).await;
        let mut records = 0;

        let envelope = read_streamed(
            "RetrievePropertiesEx",
            response,
            u64::MAX,
            OBJECTS,
            |_, _| {
                records += 1;
                if records < refused {
                    return Ok(());
                }
                Err(VsphereError::unexpected(
                    "RetrievePropertiesEx",
                    "refused by the test",
                ))
            },
        )
        .await;

        let error = envelope.expect_err("refused");
        assert!(error.to_string().contains("refused by the test"), "{error}");
        assert_eq!(records, refused, "no record after the refused one");
    }
}

#[tokio::test]
async fn a_broken_answer_gives_the_records_before_the_break_then_the_error() {
    let body = fixture(&format!("{VMS}.response.xml"));
    let broken = body.replacen(
        "<objects><obj type=\"VirtualMachine\">vm-63",
        "<objects><obj>vm-63</x>",
        1,
    );
    assert_ne!(broken, body);
    let (_fake, response) = answer(Reply::new(200, broken)).await;
    let mut seen = Vec::new();

    let envelope = read_streamed(
        "RetrievePropertiesEx",
        response,
        u64::MAX,
        OBJECTS,
        |_, objects| {
            seen.push(objects.root().child_text("obj").map(|obj| obj.into_owned()));
            Ok(())
        },
    )
    .await;

    assert!(
        matches!(envelope, Err(VsphereError::Xml(_))),
        "{envelope:?}"
    );
    assert_eq!(seen, [Some("vm-57".to_owned()), Some("vm-60".to_owned())]);
}
