//! Properties of the XML layer: no input makes it panic, no cut answer passes for whole,
//! any text survives the trip through the request writer and the parser, and the text of
//! a leaf, taken in one piece, reads as the reader's events read it.

use proptest::prelude::*;

use super::super::inventory::read_vms;
use super::super::mirror::Mirror;
use super::super::moref::Moref;
use super::super::properties::read_retrieve_result;
use super::super::request::SoapRequest;
use super::super::updates::read_update_set;
use super::super::xml::{Envelope, parse_document, parse_envelope};
use super::feed_updates::FILTER;
use super::fixture;

const CAPTURES: &[&str] = &[
    "RetrieveServiceContent",
    "RetrievePropertiesEx-VirtualMachine-view",
    "RetrievePropertiesEx-ResourcePool-runtime",
    "Fault-ManagedObjectNotFound-view-of-expired-session",
    "handmade/RetrievePropertiesEx-VirtualMachine-page1",
    "WaitForUpdatesEx-6-enter-after-CreateVM",
    "handmade/WaitForUpdatesEx-initial-enter",
    "handmade/WaitForUpdatesEx-remove-annotation",
];

/// Every reading an answer may go through: as a page of properties, as VMs, and as an
/// update set applied to a mirror.
fn parse_fully(bytes: &[u8]) {
    let _ = read_retrieve_result(bytes);
    let _ = read_vms(bytes);
    if let Ok(Some(set)) = read_update_set(bytes) {
        let filter = Moref::new("PropertyFilter", FILTER);
        let _ = Mirror::default().apply(&set, &filter);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        parse_fully(&bytes);
    }

    #[test]
    fn mutated_captures_never_panic(
        capture in proptest::sample::select(CAPTURES),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
    ) {
        let mut bytes = fixture(&format!("{capture}.response.xml")).into_bytes();
        for (index, byte) in edits {
            let at = index.index(bytes.len());
            bytes[at] = byte;
        }

        parse_fully(&bytes);
    }

    #[test]
    fn every_cut_answer_is_an_error(
        capture in proptest::sample::select(CAPTURES),
        cut in any::<prop::sample::Index>(),
    ) {
        let text = fixture(&format!("{capture}.response.xml"));
        let whole = text.trim_end();
        let cut = cut.index(whole.len());
        prop_assume!(whole.is_char_boundary(cut));

        prop_assert!(parse_envelope(&whole.as_bytes()[..cut]).is_err());
    }

    #[test]
    fn any_text_survives_the_round_trip(text in "[^\u{0}-\u{1f}]*|[\t\n a-z<>&'\"]*") {
        let mut request = SoapRequest::new("Login", &Moref::new("SessionManager", &text));
        request.text("password", &text);
        let body = request.into_body();

        let Ok(Envelope::Response(login)) = parse_envelope(body.as_bytes()) else {
            panic!("not an envelope: {body}");
        };
        prop_assert_eq!(login.child_text("password"), Some(text.as_str()));
        let this = login.child("_this").map(|this| this.text.clone());
        prop_assert_eq!(this.as_deref(), Some(text.as_str()));
    }

    #[test]
    fn a_leaf_reads_as_text_beside_a_child_does(
        pieces in proptest::collection::vec(proptest::sample::select(TEXT_PIECES), 0..24),
    ) {
        let text = pieces.concat();

        // With a child after it, the text is read from the reader's events alone.
        let leaf = parse_document(format!("<a>{text}</a>").as_bytes());
        let beside_a_child = parse_document(format!("<a>{text}<b/></a>").as_bytes());

        match (leaf, beside_a_child) {
            (Ok(leaf), Ok(parent)) => prop_assert_eq!(leaf.text, parent.text),
            (Err(leaf), Err(parent)) => prop_assert_eq!(leaf.to_string(), parent.to_string()),
            (leaf, parent) => prop_assert!(false, "{text:?}: leaf {leaf:?}, beside a child {parent:?}"),
        }
    }
}

/// Pieces of text, references well and badly written among them.
const TEXT_PIECES: &[&str] = &[
    "a",
    "é",
    " ",
    "\n",
    "\r",
    "\r\n",
    "&",
    ";",
    "#",
    "x",
    "0",
    "34",
    "4F",
    "&#34;",
    "&#x22;",
    "&#X22;",
    "&#0;",
    "&#+1;",
    "&#x110000;",
    "&#65536;",
    "&quot;",
    "&amp;",
    "&lt;",
    "&gt;",
    "&apos;",
    "&nbsp;",
    "&;",
    "&#;",
    "&#x;",
    "&#00065;",
    "]]>",
];
