//! Faults and `missingSet` entries of vcsim's captured answers.

use super::captures::{fault, moref, retrieve_result};
use super::fake_vcenter::CAPTURED_VIEW;

#[test]
fn every_captured_fault_gives_its_name_and_message() {
    let cases = [
        ("Fault-InvalidLogin", "InvalidLogin", "Login failure"),
        (
            "Fault-InvalidLogin-second-Login-same-session",
            "InvalidLogin",
            "Login failure",
        ),
        (
            "Fault-InvalidRequest-malformed-xml",
            "InvalidRequest",
            "xml.Unmarshal: XML syntax error on line 2: element <RetrievePropertiesEx> closed by </Body>",
        ),
        (
            "Fault-NotAuthenticated-after-Logout",
            "NotAuthenticated",
            "",
        ),
        (
            "Fault-NotAuthenticated-expired-session",
            "NotAuthenticated",
            "",
        ),
        (
            "Fault-RequestCanceled-WaitForUpdatesEx",
            "RequestCanceled",
            "",
        ),
        (
            "ContinueRetrievePropertiesEx",
            "MethodNotFound",
            "PropertyCollector:propertyCollector does not implement: ContinueRetrievePropertiesEx",
        ),
        (
            "CancelRetrievePropertiesEx",
            "MethodNotFound",
            "PropertyCollector:propertyCollector does not implement: CancelRetrievePropertiesEx",
        ),
        (
            "Fault-ManagedObjectNotFound-method-call",
            "ManagedObjectNotFound",
            "managed object not found: VirtualMachine:vm-99999",
        ),
    ];

    for (file, name, message) in cases {
        let fault = fault(file);
        assert_eq!(
            (fault.name.as_str(), fault.message.as_str()),
            (name, message),
            "{file}"
        );
    }
}

#[test]
fn managed_object_not_found_names_the_object() {
    let deleted_vm = fault("Fault-ManagedObjectNotFound-RetrievePropertiesEx");
    let dead_view = fault("Fault-ManagedObjectNotFound-view-of-expired-session");
    let twice = fault("Fault-ManagedObjectNotFound-DestroyView-twice");

    let message = "The object has already been deleted or has not been completely created";
    for fault in [&deleted_vm, &dead_view] {
        assert_eq!(fault.name, "ManagedObjectNotFound");
        assert_eq!(fault.message, message);
    }
    assert_eq!(
        twice.message,
        format!("managed object not found: ContainerView:{}", CAPTURED_VIEW)
    );
    assert_eq!(deleted_vm.object, Some(moref("VirtualMachine", "vm-99999")));
    let view = "session[6e6e7081-2f30-46ca-8056-013ece643649]3fcb6a02-eddc-4b53-82c9-b88de3fd886c";
    assert_eq!(dead_view.object, Some(moref("ContainerView", view)));
    assert_eq!(twice.object, Some(moref("ContainerView", CAPTURED_VIEW)));
}

#[test]
fn missing_set_not_authenticated_is_a_lost_session() {
    let error = retrieve_result("RetrievePropertiesEx-no-session-missingSet");

    let error = error.expect_err("no session");
    assert_eq!(error.reason(), "NotAuthenticated");
}

#[test]
fn other_missing_properties_are_kept_aside() {
    let result = retrieve_result("RetrievePropertiesEx-InvalidProperty-missingSet");

    let object = &result.expect("a result").objects[0];
    assert_eq!(object.text("name"), Some("DC0_H0_VM1"));
    assert_eq!(object.missing[0].path, "summary.config.noSuchField");
    assert_eq!(object.missing[0].fault, "InvalidProperty");
}
