//! The change feed's answers read and applied as a pure unit: an `UpdateSet` in, the
//! mirror's inventory out.

use domain::{PowerState, VirtualMachine};

use super::super::error::VsphereError;
use super::super::inventory::VM_PROPERTIES;
use super::super::mirror::Mirror;
use super::super::moref::Moref;
use super::super::properties::{CONTAINER_VIEW, ObjectSpec, create_filter_request};
use super::super::record::{Capacity, RecordBuilder};
use super::super::updates::{
    ChangeOp, OBJECT_SETS, ObjectUpdate, UpdateKind, UpdateSet, object_set_record,
    parse_update_set, read_update_set,
};
use super::super::xml::{Element, Envelope, parse_envelope, read_envelope};
use super::captures::{fault, response};
use super::fixture;

/// The filter of the `CreateFilter` capture, which every feed fixture reports on.
pub(super) const FILTER: &str =
    "session[fa75aa3f-bae9-4bbf-86dd-77e557e0ceae]2a923057-2cd0-4eaa-a875-13b7af54afba";

fn filter() -> Moref {
    Moref::new("PropertyFilter", FILTER)
}

fn update_set(name: &str) -> UpdateSet {
    read_update_set(fixture(&format!("{name}.response.xml")).as_bytes())
        .expect("a valid answer")
        .expect("an update set")
}

/// A mirror after each answer of `names`, in order.
fn mirror_after(names: &[&str]) -> Mirror {
    let mut mirror = Mirror::default();
    for name in names {
        mirror.apply(&update_set(name), &filter()).expect("applies");
    }
    mirror
}

fn vms(mirror: &Mirror) -> Vec<VirtualMachine> {
    mirror.inventory().vms
}

fn vm<'a>(vms: &'a [VirtualMachine], id: &str) -> &'a VirtualMachine {
    vms.iter()
        .find(|vm| vm.id == id)
        .unwrap_or_else(|| panic!("{id} not in {vms:?}"))
}

const INITIAL: &str = "handmade/WaitForUpdatesEx-initial-enter";
const RENAMED: &str = "handmade/WaitForUpdatesEx-modify-annotation-and-name";
const LEAVE: &str = "handmade/WaitForUpdatesEx-leave";
const CREATED: &str = "handmade/WaitForUpdatesEx-enter-after-create";
const SEVERAL: &str = "handmade/WaitForUpdatesEx-several-filterSets";
const REMOVED: &str = "handmade/WaitForUpdatesEx-remove-annotation";

#[test]
fn the_captured_initial_enter_gives_every_vm_and_unset_annotations() {
    let set = update_set("WaitForUpdatesEx-1-initial-enter");

    assert_eq!(set.version, "-");
    assert!(!set.truncated);
    let object = &set.filters[0].objects[0];
    assert_eq!(object.kind, UpdateKind::Enter);
    let annotation = object
        .changes
        .iter()
        .find(|c| c.name == "config.annotation");
    let annotation = annotation.expect("annotation change");
    assert_eq!(
        (annotation.op, annotation.val.as_ref()),
        (ChangeOp::Assign, None)
    );

    let mut mirror = Mirror::default();
    let changed = mirror.apply(&set, &filter()).expect("applies");

    assert!(changed);
    let read = vms(&mirror);
    let ids: Vec<_> = read.iter().map(|vm| vm.id.as_str()).collect();
    assert_eq!(ids, ["vm-57", "vm-60", "vm-63", "vm-66"]);
    let expected = VirtualMachine {
        id: "vm-57".into(),
        name: "DC0_H0_VM0".into(),
        vcpus: 1,
        memory_mb: 32,
        annotation: None,
        power_state: PowerState::PoweredOn,
        template: false,
    };
    assert_eq!(read[0], expected);
}

#[test]
fn the_captured_changes_apply_in_order() {
    let mut mirror = mirror_after(&["WaitForUpdatesEx-1-initial-enter"]);

    let annotated = update_set("WaitForUpdatesEx-4-modify-annotation");
    assert!(mirror.apply(&annotated, &filter()).expect("applies"));
    let annotation = vm(&vms(&mirror), "vm-57").annotation.clone();
    assert_eq!(annotation.as_deref(), Some("cds: set via Map.Update hook"));

    let gone = update_set("WaitForUpdatesEx-5-modify-powerState-and-leave");
    assert!(mirror.apply(&gone, &filter()).expect("applies"));
    assert!(vms(&mirror).iter().all(|vm| vm.id != "vm-57"));

    let created = update_set("WaitForUpdatesEx-6-enter-after-CreateVM");
    let kinds: Vec<_> = created
        .filters
        .iter()
        .flat_map(|f| &f.objects)
        .map(|o| o.kind)
        .collect();
    assert_eq!(
        kinds,
        [UpdateKind::Enter, UpdateKind::Modify],
        "two filterSets of one filter"
    );
    assert!(mirror.apply(&created, &filter()).expect("applies"));
    let read = vms(&mirror);
    assert_eq!(read.len(), 4);
    assert_eq!(vm(&read, "vm-74").name, "new-vm");
    assert_eq!(vm(&read, "vm-74").power_state, PowerState::PoweredOff);
}

#[test]
fn only_updates_that_change_a_vm_say_so() {
    let mut mirror = mirror_after(&["WaitForUpdatesEx-1-initial-enter"]);
    let annotated = update_set("WaitForUpdatesEx-4-modify-annotation");

    assert!(mirror.apply(&annotated, &filter()).expect("applies"));
    assert!(
        !mirror.apply(&annotated, &filter()).expect("applies"),
        "the same annotation again"
    );
    let again = update_set("WaitForUpdatesEx-1-initial-enter");
    assert!(
        mirror.apply(&again, &filter()).expect("applies"),
        "an enter with the annotation before"
    );
    assert!(
        !mirror.apply(&again, &filter()).expect("applies"),
        "the same enter again"
    );
}

#[test]
fn the_handmade_initial_enter_reads_every_kind_of_vm() {
    let set = update_set(INITIAL);
    let read = vms(&mirror_after(&[INITIAL]));

    assert_eq!(set.version, "1");
    assert_eq!(read.len(), 4);
    let worker = vm(&read, "vm-101");
    assert_eq!((worker.vcpus, worker.memory_mb), (2, 4096));
    assert!(
        worker
            .annotation
            .as_deref()
            .is_some_and(|a| a.contains(r#""job_id":"42""#))
    );
    let provision = vm(&read, "vm-102").annotation.as_deref();
    assert!(provision.is_some_and(|a| a.contains(r#""flavor":"<&>""#) && a.contains("débian")));
    assert!(vm(&read, "vm-103").template);
    let plain = vm(&read, "vm-104");
    assert_eq!(
        (plain.annotation.as_deref(), plain.power_state),
        (None, PowerState::Suspended)
    );
}

#[test]
fn a_modify_changes_name_and_annotation_and_keeps_the_rest() {
    let before = vms(&mirror_after(&[INITIAL]));
    let after = vms(&mirror_after(&[INITIAL, RENAMED]));

    let (old, new) = (vm(&before, "vm-101"), vm(&after, "vm-101"));
    assert_eq!(new.name, "worker-a-renamed");
    assert!(
        new.annotation
            .as_deref()
            .is_some_and(|a| a.contains(r#""flavor":"b2-15""#))
    );
    assert_eq!(
        (new.vcpus, new.memory_mb, new.power_state),
        (old.vcpus, old.memory_mb, old.power_state)
    );
    assert_eq!(vm(&before, "vm-102"), vm(&after, "vm-102"));
}

#[test]
fn a_leave_removes_the_vm_and_an_enter_adds_one() {
    let read = vms(&mirror_after(&[INITIAL, RENAMED, LEAVE, CREATED]));

    let ids: Vec<_> = read.iter().map(|vm| vm.id.as_str()).collect();
    assert_eq!(ids, ["vm-101", "vm-103", "vm-104", "vm-105"]);
    let created = vm(&read, "vm-105");
    assert_eq!((created.name.as_str(), created.vcpus), ("worker-e", 2));
    assert_eq!(created.power_state, PowerState::PoweredOn);
}

#[test]
fn every_filter_set_of_an_answer_is_applied_in_order() {
    let set = update_set(SEVERAL);
    let read = vms(&mirror_after(&[INITIAL, RENAMED, LEAVE, CREATED, SEVERAL]));

    // Both filter sets of the one filter, their objects in document order.
    let objects: Vec<_> = set.filters.iter().flat_map(|f| &f.objects).collect();
    let read_in_order: Vec<_> = objects
        .iter()
        .map(|o| (o.kind, o.obj.value.as_str()))
        .collect();
    assert_eq!(
        read_in_order,
        [
            (UpdateKind::Modify, "vm-101"),
            (UpdateKind::Modify, "vm-101"),
            (UpdateKind::Leave, "vm-104"),
        ]
    );
    let worker = vm(&read, "vm-101");
    assert_eq!(
        (worker.vcpus, worker.power_state),
        (4, PowerState::PoweredOff)
    );
    assert!(read.iter().all(|vm| vm.id != "vm-104"));
}

#[test]
fn a_removed_or_cleared_annotation_becomes_unset() {
    let read = vms(&mirror_after(&[INITIAL, CREATED, REMOVED]));

    assert_eq!(vm(&read, "vm-101").annotation, None, "op remove");
    assert_eq!(vm(&read, "vm-105").annotation, None, "assign without val");
    assert_eq!(vm(&read, "vm-101").name, "worker-a", "the rest is kept");
}

#[test]
fn a_truncated_set_says_so_and_its_rest_completes_it() {
    let first = update_set("handmade/WaitForUpdatesEx-truncated-1");
    let rest = update_set("handmade/WaitForUpdatesEx-truncated-2");

    assert!(first.truncated);
    assert!(!rest.truncated);
    let whole = mirror_after(&[
        "handmade/WaitForUpdatesEx-truncated-1",
        "handmade/WaitForUpdatesEx-truncated-2",
    ]);
    assert_eq!(vms(&whole), vms(&mirror_after(&[INITIAL])));
}

#[test]
fn an_answer_without_returnval_is_no_change() {
    let empty = parse_update_set(response("WaitForUpdatesEx-2-maxWaitSeconds-expired"));

    assert_eq!(empty.expect("valid"), None);
}

#[test]
fn the_cancelled_wait_is_a_request_canceled_fault() {
    assert_eq!(
        fault("Fault-RequestCanceled-WaitForUpdatesEx").name,
        "RequestCanceled"
    );
    assert_eq!(
        fault("handmade/Fault-MethodNotFound-CreatePropertyCollector").name,
        "MethodNotFound"
    );
}

#[test]
fn an_update_that_changes_nothing_says_so() {
    let mut mirror = mirror_after(&[INITIAL]);

    let again = mirror.apply(&update_set(INITIAL), &filter());

    assert!(!again.expect("applies"), "the same values entered again");
}

#[test]
fn updates_of_another_filter_are_skipped() {
    let mut mirror = Mirror::default();

    let other = Moref::new("PropertyFilter", "someone-else's");
    let changed = mirror.apply(&update_set(INITIAL), &other);

    assert!(!changed.expect("applies"));
    assert!(vms(&mirror).is_empty());
}

/// The answer of `name` with `from` replaced by `to`, parsed.
fn edited(name: &str, from: &str, to: &str) -> Result<Option<UpdateSet>, VsphereError> {
    let body = fixture(&format!("{name}.response.xml"));
    assert!(body.contains(from), "{from} not in {name}");
    read_update_set(body.replacen(from, to, 1).as_bytes())
}

#[test]
fn an_unknown_op_or_kind_is_an_error() {
    let op = edited(RENAMED, "<op>assign</op>", "<op>append</op>");
    let kind = edited(RENAMED, "<kind>modify</kind>", "<kind>vanish</kind>");

    assert_eq!(op.expect_err("unknown op").reason(), "xml");
    assert_eq!(kind.expect_err("unknown kind").reason(), "xml");
}

#[test]
fn a_value_that_does_not_parse_is_an_error_naming_the_feed() {
    let set = edited(CREATED, ">2</val>", ">two</val>")
        .expect("parses")
        .expect("a set");

    let error = Mirror::default()
        .apply(&set, &filter())
        .expect_err("malformed");

    let message = error.to_string();
    assert!(message.contains("WaitForUpdatesEx"), "{message}");
    assert!(
        message.contains("summary.config.numCpu of vm-105"),
        "{message}"
    );
}

#[test]
fn a_not_authenticated_property_is_a_lost_session() {
    let missing = concat!(
        "<missingSet><path>name</path><fault><fault xsi:type=\"NotAuthenticated\">",
        "</fault></fault></missingSet></objectSet>"
    );
    let set = edited(RENAMED, "</objectSet>", missing);

    assert_eq!(set.expect_err("no session").reason(), "NotAuthenticated");
}

/// Our CreateFilter has the shape of govmomi's captured one, for our paths.
#[test]
fn the_filter_request_matches_the_captured_one() {
    let view = Moref::new(
        "ContainerView",
        "session[fa75aa3f-bae9-4bbf-86dd-77e557e0ceae]d3b195e7-ab7a-48fd-a869-8e95b81f8c8c",
    );
    let collector = Moref::new(
        "PropertyCollector",
        "session[fa75aa3f-bae9-4bbf-86dd-77e557e0ceae]e57da5ad-a833-43ff-b88f-1c53fc74ddfa",
    );
    let object = ObjectSpec {
        obj: &view,
        skip: true,
        select: &[CONTAINER_VIEW],
    };
    let ours = create_filter_request(&collector, &[VM_PROPERTIES], object).into_body();

    let captured = fixture("CreateFilter-VirtualMachine-view.request.xml");

    let (ours, captured) = (filter_call(&ours), filter_call(&captured));
    assert_eq!(ours.child("_this"), captured.child("_this"));
    assert_eq!(ours.child_text("partialUpdates"), Some("false"));
    assert_eq!(
        ours.child("partialUpdates"),
        captured.child("partialUpdates")
    );
    let object_set = |call: &Element| {
        let mut object = call
            .child("spec")
            .and_then(|s| s.child("objectSet"))
            .cloned();
        let select = object
            .as_mut()
            .and_then(|o| o.children.iter_mut().find(|c| c.name == "selectSet"));
        select
            .expect("selectSet")
            .children
            .retain(|c| c.name != "name");
        object
    };
    assert_eq!(object_set(&ours), object_set(&captured));
    let paths = |call: &Element| -> Vec<String> {
        let prop_set = call
            .child("spec")
            .and_then(|s| s.child("propSet"))
            .expect("propSet");
        let paths = prop_set.children.iter().filter(|c| c.name == "pathSet");
        let mut paths: Vec<String> = paths.map(|p| p.text.clone()).collect();
        paths.retain(|p| p != "summary.config.annotation");
        paths.sort();
        paths
    };
    assert_eq!(paths(&ours), paths(&captured));
}

fn filter_call(body: &str) -> Element {
    match parse_envelope(body.as_bytes()) {
        Ok(Envelope::Response(call)) => call,
        other => panic!("{other:?}"),
    }
}

/// Every feed answer, read as the feed reads it (each `objectSet` handed over while the
/// answer is parsed, then applied), hands over every object set of the answer read whole,
/// leaves none in the rest, and leaves the mirror as the update set applied at once.
#[test]
fn updates_read_one_by_one_agree_with_the_whole_answer() {
    let answers = [
        "WaitForUpdatesEx-1-initial-enter",
        "WaitForUpdatesEx-4-modify-annotation",
        "WaitForUpdatesEx-5-modify-powerState-and-leave",
        "WaitForUpdatesEx-6-enter-after-CreateVM",
        INITIAL,
        RENAMED,
        LEAVE,
        CREATED,
        SEVERAL,
        REMOVED,
        "handmade/WaitForUpdatesEx-truncated-1",
        "handmade/WaitForUpdatesEx-truncated-2",
    ];
    let mut whole = Mirror::default();
    let mut streamed = Mirror::default();

    for name in answers {
        let set = update_set(name);
        whole.apply(&set, &filter()).expect("applies");
        let tree = response(name);

        let body = fixture(&format!("{name}.response.xml"));
        let mut handed = 0;
        let rest = read_envelope(body.as_bytes(), Some(OBJECT_SETS), |open, object_set| {
            let (from, update) = object_set_record(open, &object_set)?;
            handed += 1;
            streamed.apply_update(&from, &filter(), update).map(drop)
        });
        let Ok(Envelope::Response(rest)) = rest else {
            panic!("{name}: not an answer: {rest:?}");
        };

        let objects = set.filters.iter().map(|f| f.objects.len()).sum::<usize>();
        assert_eq!(handed, object_sets(&tree), "{name}");
        assert_eq!(objects, object_sets(&tree), "{name}");
        assert_eq!(object_sets(&rest), 0, "{name}");
        let left = parse_update_set(rest).expect("valid").expect("a set");
        assert_eq!((left.version, left.truncated), (set.version, set.truncated));
        assert_eq!(vms(&streamed), vms(&whole), "{name}");
    }
    assert!(!vms(&whole).is_empty());
}

/// The `objectSet` elements under the `filterSet`s of an answer's tree.
fn object_sets(response: &Element) -> usize {
    let Some(returnval) = response.child("returnval") else {
        return 0;
    };
    let filter_sets = returnval.children.iter().filter(|c| c.name == "filterSet");
    filter_sets
        .flat_map(|filter_set| &filter_set.children)
        .filter(|child| child.name == "objectSet")
        .count()
}

#[test]
fn updates_put_back_keep_their_order_and_their_filter() {
    let other = Moref::new("PropertyFilter", "other");
    let update = |id: &str| ObjectUpdate {
        kind: UpdateKind::Leave,
        obj: Moref::new("VirtualMachine", id),
        changes: Vec::new(),
        missing: Vec::new(),
    };
    let set = UpdateSet {
        version: "2".to_owned(),
        truncated: false,
        filters: Vec::new(),
    }
    .with_updates(vec![
        (filter(), update("vm-1")),
        (filter(), update("vm-2")),
        (other.clone(), update("vm-3")),
        (filter(), update("vm-4")),
    ]);

    let grouped: Vec<_> = set
        .filters
        .iter()
        .map(|f| {
            let ids: Vec<_> = f.objects.iter().map(|o| o.obj.value.as_str()).collect();
            (f.filter.value.as_str(), ids)
        })
        .collect();
    assert_eq!(
        grouped,
        [
            (FILTER, vec!["vm-1", "vm-2"]),
            ("other", vec!["vm-3"]),
            (FILTER, vec!["vm-4"]),
        ]
    );
}

#[test]
fn an_object_set_outside_a_filter_set_with_its_filter_is_an_error() {
    let object_set = Element {
        name: "objectSet".into(),
        ..Element::default()
    };
    let mut builder = RecordBuilder::new(object_set, &Capacity::default());
    builder.end();
    let (object_set, _) = builder.finish().expect("utf-8");

    let error = object_set_record(&[], &object_set).expect_err("no filter");

    assert!(
        error.to_string().contains("objectSet before its filter"),
        "{error}"
    );
}

/// A property's name is read without the blanks around it, whether its text is read in
/// one piece (borrowed from the record) or put together from several.
#[test]
fn property_names_are_read_without_their_blanks() {
    let answer = fixture(&format!("{RENAMED}.response.xml"));
    let expected = vms(&mirror_after(&[INITIAL, RENAMED]));

    // The second is read in two pieces, either side of a child no server would send.
    for name in [
        "\n  config&#46;annotation  ",
        " config.annotation<split/>\t",
    ] {
        let padded = answer.replace(
            "<name>config.annotation</name>",
            &format!("<name>{name}</name>"),
        );
        assert_ne!(padded, answer);
        let set = read_update_set(padded.as_bytes()).expect("valid");

        let mut mirror = mirror_after(&[INITIAL]);
        mirror
            .apply(&set.expect("an update set"), &filter())
            .expect("applies");
        assert_eq!(vms(&mirror), expected, "{name:?}");
    }
}
