//! The XML layer on vcsim's captured answers and on hand-written ones of the same shape.

use domain::{PowerState, ResourcePoolRuntime, ResourceUsage, VirtualMachine};

use super::super::datacenter::layout_from;
use super::super::error::{SoapFault, VsphereError};
use super::super::inventory::{MAX_OBJECTS_PER_PAGE, VM_PROPERTIES, read_vms};
use super::super::moref::Moref;
use super::super::properties::{
    CONTAINER_VIEW, OBJECTS, ObjectSpec, RetrieveResult, page_token, read_response,
    read_retrieve_result, retrieve_request,
};
use super::super::resource_pool::{default_pool, runtime_from};
use super::super::vim::ServiceContent;
use super::super::xml::{Element, Envelope, parse_envelope};
use super::fixture;

/// The element under `Body` of an answer that is not a fault.
pub(super) fn response(name: &str) -> Element {
    match parse_envelope(fixture(&format!("{name}.response.xml")).as_bytes()) {
        Ok(Envelope::Response(response)) => response,
        other => panic!("{name}: {other:?}"),
    }
}

pub(super) fn fault(name: &str) -> SoapFault {
    match parse_envelope(fixture(&format!("{name}.response.xml")).as_bytes()) {
        Ok(Envelope::Fault(fault)) => fault,
        other => panic!("{name}: {other:?}"),
    }
}

pub(super) fn retrieve_result(name: &str) -> Result<RetrieveResult, VsphereError> {
    read_retrieve_result(fixture(&format!("{name}.response.xml")).as_bytes())
}

fn vms(name: &str) -> Vec<VirtualMachine> {
    read_vms(fixture(&format!("{name}.response.xml")).as_bytes()).expect("valid")
}

const VM_VIEW: &str = "RetrievePropertiesEx-VirtualMachine-view";

pub(super) fn moref(kind: &str, value: &str) -> Moref {
    Moref::new(kind, value)
}

#[test]
fn service_content_gives_the_managers_and_the_api_version() {
    let content = ServiceContent::from_response(&response("RetrieveServiceContent"));

    let content = content.expect("service content");
    assert_eq!(content.root_folder, moref("Folder", "group-d1"));
    assert_eq!(
        content.property_collector,
        moref("PropertyCollector", "propertyCollector")
    );
    assert_eq!(content.view_manager, moref("ViewManager", "ViewManager"));
    assert_eq!(
        content.session_manager,
        moref("SessionManager", "SessionManager")
    );
    assert_eq!(content.search_index, moref("SearchIndex", "SearchIndex"));
    assert_eq!(content.api_version, "6.5");
}

#[test]
fn login_answers_the_user_session() {
    let login = response("Login");

    assert_eq!(login.name, "LoginResponse");
    let key = login.child("returnval").and_then(|r| r.child_text("key"));
    assert_eq!(key, Some("8c826521-8b50-44e0-b133-254f79dbabc7"));
}

#[test]
fn create_container_view_returns_the_view() {
    let view = response("CreateContainerView");

    let view = view.child("returnval").and_then(Element::moref);
    assert_eq!(
        view,
        Some(moref("ContainerView", super::fake_vcenter::CAPTURED_VIEW))
    );
}

#[test]
fn the_vms_of_the_view_are_read_from_both_envelope_styles() {
    let unprefixed = vms("RetrievePropertiesEx-VirtualMachine-view");
    let prefixed = vms("RetrievePropertiesEx-VirtualMachine-view-soapenv");

    let names: Vec<_> = unprefixed.iter().map(|vm| vm.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "DC0_H0_VM0",
            "DC0_H0_VM1",
            "DC0_C0_RP0_VM0",
            "DC0_C0_RP0_VM1"
        ]
    );
    assert_eq!(unprefixed, prefixed);
    assert_eq!(
        unprefixed[0],
        VirtualMachine {
            id: "vm-57".into(),
            name: "DC0_H0_VM0".into(),
            vcpus: 1,
            memory_mb: 32,
            annotation: None,
            power_state: PowerState::PoweredOn,
            template: false,
        }
    );
}

/// The same answer written in govmomi's style: the SOAP namespace as the default one.
#[test]
fn an_unprefixed_envelope_is_read_alike() {
    let prefixed = fixture(&format!("{VM_VIEW}.response.xml"));
    let unprefixed = prefixed
        .replace("xmlns:soapenv=", "xmlns=")
        .replace("soapenv:", "");
    assert!(
        unprefixed.contains("<Envelope xmlns:soapenc="),
        "{unprefixed}"
    );

    let read = read_vms(unprefixed.as_bytes()).expect("valid");

    assert_eq!(read, vms(VM_VIEW));
    assert_eq!(read.len(), 4);
}

/// A state this exporter does not know (a newer vSphere's) keeps the VM, counted as off.
#[test]
fn an_unknown_power_state_counts_as_off() {
    let captured = fixture(&format!("{VM_VIEW}.response.xml"));
    let newer = captured.replacen(">poweredOn<", ">poweredStandby<", 1);
    assert_ne!(newer, captured);

    let read = read_vms(newer.as_bytes()).expect("valid");

    let mut expected = vms(VM_VIEW);
    let changed = expected
        .iter()
        .position(|vm| vm.power_state == PowerState::PoweredOn)
        .expect("a powered-on VM");
    expected[changed].power_state = PowerState::PoweredOff;
    assert_eq!(read, expected);
}

#[test]
fn a_set_annotation_is_read_from_config() {
    let vms = vms("RetrievePropertiesEx-annotation-after-ReconfigVM_Task");

    let annotation = vms[0].annotation.as_deref();
    assert_eq!(annotation, Some("cds: reconfigured via ReconfigVM_Task"));
}

#[test]
fn annotation_entities_and_unicode_are_decoded() {
    let vms = vms("handmade/RetrievePropertiesEx-VirtualMachine-page1");

    let expected = concat!(
        r#"{"hatchery_name":"hatchery-vsphere","model":false,"#,
        r#""worker_model_path":"shared.infra/débian/12","flavor":"b2-7 <&> 🚀🚀é'"}"#
    );
    assert_eq!(vms[0].annotation.as_deref(), Some(expected));
    assert_eq!(
        vms[1].annotation, None,
        "unset annotation is absent from propSet"
    );
}

#[test]
fn a_vm_without_config_counts_zero_and_a_deleted_one_is_skipped() {
    let vms = vms("handmade/ContinueRetrievePropertiesEx-page2");

    assert_eq!(vms.len(), 1, "vm-104 has only missingSet entries");
    assert_eq!(
        (vms[0].id.as_str(), vms[0].vcpus, vms[0].memory_mb),
        ("vm-103", 0, 0)
    );
    assert_eq!(vms[0].power_state, PowerState::PoweredOff);
}

#[test]
fn templates_suspended_vms_and_empty_annotations_are_read() {
    let vms = vms("handmade/ContinueRetrievePropertiesEx-page3");

    assert!(vms[0].template);
    assert_eq!(vms[0].power_state, PowerState::Suspended);
    assert_eq!(vms[0].annotation.as_deref(), Some(""));
}

#[test]
fn the_paging_token_is_read() {
    let page = retrieve_result("handmade/RetrievePropertiesEx-VirtualMachine-page1");

    assert_eq!(
        page.expect("page").token.as_deref(),
        Some("session[52aa]token-1")
    );
}

#[test]
fn the_resource_pool_runtime_is_read() {
    let result = retrieve_result("RetrievePropertiesEx-ResourcePool-runtime").expect("result");

    let runtime = runtime_from(&result.objects[0]).expect("runtime");

    let expected = ResourcePoolRuntime {
        cpu_mhz: ResourceUsage {
            max: 4121,
            usage: 0,
            unreserved: 4121,
        },
        memory_bytes: ResourceUsage {
            max: 1_007_681_536,
            usage: 0,
            unreserved: 1_007_681_536,
        },
    };
    assert_eq!(runtime, expected);
}

#[test]
fn find_by_inventory_path_found_and_not_found() {
    let found = response("FindByInventoryPath-ResourcePool");
    let null = response("handmade/FindByInventoryPath-null");

    let found = found.child("returnval").and_then(Element::moref);
    assert_eq!(found, Some(moref("ResourcePool", "resgroup-26")));
    assert_eq!(null.name, "FindByInventoryPathResponse");
    assert!(null.child("returnval").is_none());
}

#[test]
fn empty_answers_are_read() {
    for name in ["DestroyView", "Logout"] {
        let answer = response(name);
        assert_eq!(answer.name, format!("{name}Response"));
        assert!(answer.children.is_empty());
    }
}

#[test]
fn the_default_pool_is_the_single_root_pool() {
    let result = retrieve_result("handmade/RetrievePropertiesEx-layout-one-root-pool");
    let layout = layout_from(&result.expect("layout").objects);

    let pool = default_pool(&layout, None);

    assert_eq!(
        pool.expect("one pool"),
        moref("ResourcePool", "resgroup-26")
    );
}

#[test]
fn several_root_pools_are_named_in_the_error() {
    let result = retrieve_result("handmade/RetrievePropertiesEx-layout-two-root-pools");
    let layout = layout_from(&result.expect("layout").objects);

    let error = default_pool(&layout, Some("/Folder/DC0"));

    let VsphereError::AmbiguousDefaultPool { candidates } = error.expect_err("two") else {
        panic!("not ambiguous");
    };
    let expected = [
        "/Folder/DC0/host/DC0_H0/Resources",
        "/Folder/DC0/host/DC0_C0/Resources",
    ];
    assert_eq!(candidates, expected);
}

#[test]
fn no_root_pool_is_an_error() {
    let layout = layout_from(&[]);

    assert!(matches!(
        default_pool(&layout, None),
        Err(VsphereError::NoDefaultPool)
    ));
}

/// Our request has the shape of govmomi's captured one, with `config.annotation`.
#[test]
fn the_vm_request_matches_the_captured_one() {
    let view = moref("ContainerView", super::fake_vcenter::CAPTURED_VIEW);
    let collector = moref("PropertyCollector", "propertyCollector");
    let object = ObjectSpec {
        obj: &view,
        skip: true,
        select: &[CONTAINER_VIEW],
    };
    let ours = retrieve_request(
        &collector,
        &[VM_PROPERTIES],
        object,
        Some(MAX_OBJECTS_PER_PAGE),
    );
    let ours = ours
        .into_body()
        .replace("config.annotation", "summary.config.annotation");

    let captured = fixture("RetrievePropertiesEx-VirtualMachine-view.request.xml");

    let spec = |body: &str| match parse_envelope(body.as_bytes()) {
        Ok(Envelope::Response(request)) => request.child("specSet").cloned(),
        other => panic!("{other:?}"),
    };
    let without_name = |spec: Option<Element>| {
        let mut spec = spec.expect("specSet");
        let object = spec.children.iter_mut().find(|c| c.name == "objectSet");
        let select = object.and_then(|o| o.children.iter_mut().find(|c| c.name == "selectSet"));
        select
            .expect("selectSet")
            .children
            .retain(|c| c.name != "name");
        spec
    };
    assert_eq!(without_name(spec(&ours)), without_name(spec(&captured)));
    assert!(
        ours.contains("<options><maxObjects>1000</maxObjects></options>"),
        "{ours}"
    );
}

/// Every property answer, read as the adapter reads it (each `objects` a flat record
/// handed over while the answer is parsed), gives the elements the tree reader reads,
/// and leaves the token in the rest.
#[test]
fn objects_read_as_records_hold_what_the_tree_reader_reads() {
    let answers = [
        VM_VIEW,
        "RetrievePropertiesEx-VirtualMachine-view-soapenv",
        "RetrievePropertiesEx-ResourcePool-runtime",
        "RetrievePropertiesEx-InvalidProperty-missingSet",
        "handmade/RetrievePropertiesEx-VirtualMachine-page1",
        "handmade/ContinueRetrievePropertiesEx-page2",
        "handmade/ContinueRetrievePropertiesEx-page3",
        "handmade/RetrievePropertiesEx-layout-two-root-pools",
    ];

    for name in answers {
        let body = fixture(&format!("{name}.response.xml"));
        let Ok(Envelope::Response(whole)) = parse_envelope(body.as_bytes()) else {
            panic!("{name}: not an answer");
        };
        let returnval = whole.child("returnval").expect("returnval");
        let trees: Vec<&Element> = returnval
            .children
            .iter()
            .filter(|child| child.name == "objects")
            .collect();

        let mut records = Vec::new();
        let rest = read_response(body.as_bytes(), OBJECTS, |_, objects| {
            records.push(objects.root().to_element());
            Ok(())
        });
        let rest = rest.expect("an answer");

        assert!(!records.is_empty(), "{name}");
        assert_eq!(records.iter().collect::<Vec<_>>(), trees, "{name}");
        assert_eq!(page_token(&rest), page_token(&whole), "{name}");
        assert!(
            rest.child("returnval")
                .and_then(|r| r.child("objects"))
                .is_none()
        );
    }
}
