//! The vim25 methods the exporter calls, one typed function per SOAP method.

use std::time::Duration;

use super::config::Password;
use super::error::VsphereError;
use super::moref::Moref;
use super::properties::{
    OBJECTS, ObjectSpec, PropertySpec, RetrieveResult, create_filter_request, object_record,
    page_token, retrieve_request,
};
use super::record::FlatRecord;
use super::request::SoapRequest;
use super::transport::{Call, SoapTransport};
use super::updates::{OBJECT_SETS, ObjectUpdate, UpdateSet, object_set_record, parse_update_set};
use super::xml::{Element, Record};

/// The API version sent before the server has told its own: every vCenter still
/// supported knows 6.5, and vcsim announces it.
pub(crate) const DEFAULT_API_VERSION: &str = "6.5";

/// The entry points read from `ServiceInstance.content`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServiceContent {
    pub root_folder: Moref,
    pub property_collector: Moref,
    pub view_manager: Moref,
    pub session_manager: Moref,
    pub search_index: Moref,
    /// `about.apiVersion`, sent back in `SOAPAction`.
    pub api_version: String,
}

impl ServiceContent {
    /// `RetrieveServiceContent`, allowed without a session.
    pub async fn retrieve(transport: &SoapTransport) -> Result<Self, VsphereError> {
        const METHOD: &str = "RetrieveServiceContent";
        let request = SoapRequest::new(METHOD, &Moref::new("ServiceInstance", "ServiceInstance"));

        let reply = transport.call(request, DEFAULT_API_VERSION, None).await?;

        Self::from_response(&expect_response(METHOD, reply.response)?)
    }

    pub fn from_response(response: &Element) -> Result<Self, VsphereError> {
        const METHOD: &str = "RetrieveServiceContent";
        let content = response
            .child("returnval")
            .ok_or_else(|| VsphereError::unexpected(METHOD, "no returnval"))?;
        let moref = |name: &str| {
            content
                .child(name)
                .and_then(Element::moref)
                .ok_or_else(|| VsphereError::unexpected(METHOD, format!("no {name}")))
        };
        let api_version = content
            .child("about")
            .and_then(|about| about.child_text("apiVersion"))
            .unwrap_or(DEFAULT_API_VERSION);

        Ok(Self {
            root_folder: moref("rootFolder")?,
            property_collector: moref("propertyCollector")?,
            view_manager: moref("viewManager")?,
            session_manager: moref("sessionManager")?,
            search_index: moref("searchIndex")?,
            api_version: api_version.trim().to_owned(),
        })
    }
}

/// Calls made with one session cookie, or none before Login.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Vim<'a> {
    transport: &'a SoapTransport,
    content: &'a ServiceContent,
    cookie: Option<&'a str>,
    /// Replaces the configured request timeout when set.
    timeout: Option<Duration>,
}

impl<'a> Vim<'a> {
    pub fn new(
        transport: &'a SoapTransport,
        content: &'a ServiceContent,
        cookie: Option<&'a str>,
    ) -> Self {
        Self {
            transport,
            content,
            cookie,
            timeout: None,
        }
    }

    /// The same calls, each allowed `timeout` instead of the configured request timeout.
    pub fn within(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    pub fn content(&self) -> &ServiceContent {
        self.content
    }

    /// `SessionManager.Login`; returns the session cookie. Sent without a cookie: vCenter
    /// answers InvalidLogin to a Login made within a still valid session.
    pub async fn login(
        &self,
        user_name: &str,
        password: &Password,
    ) -> Result<String, VsphereError> {
        const METHOD: &str = "Login";
        let mut request = SoapRequest::new(METHOD, &self.content.session_manager);
        request
            .text("userName", user_name)
            .text("password", password.expose());

        let reply = self
            .transport
            .call(request, &self.content.api_version, None)
            .await?;

        expect_response(METHOD, reply.response)?;
        reply
            .session_cookie
            .ok_or_else(|| VsphereError::unexpected(METHOD, "no vmware_soap_session cookie"))
    }

    /// `ServiceInstance.CurrentTime`, vCenter's clock as it writes it: the smallest call
    /// that needs a live session, made to learn whether vCenter still answers.
    pub async fn current_time(&self) -> Result<String, VsphereError> {
        const METHOD: &str = "CurrentTime";
        let request = SoapRequest::new(METHOD, &Moref::new("ServiceInstance", "ServiceInstance"));

        let response = self.call(request).await?;

        response
            .child_text("returnval")
            .map(|time| time.trim().to_owned())
            .ok_or_else(|| VsphereError::unexpected(METHOD, "no returnval"))
    }

    pub async fn logout(&self) -> Result<(), VsphereError> {
        let request = SoapRequest::new("Logout", &self.content.session_manager);
        self.call(request).await.map(drop)
    }

    /// `ViewManager.CreateContainerView`, recursive.
    pub async fn create_container_view(
        &self,
        container: &Moref,
        kind: &str,
    ) -> Result<Moref, VsphereError> {
        let mut request = SoapRequest::new("CreateContainerView", &self.content.view_manager);
        request
            .moref("container", container)
            .text("type", kind)
            .text("recursive", "true");

        let response = self.call(request).await?;

        returned_moref("CreateContainerView", &response)?
            .ok_or_else(|| VsphereError::unexpected("CreateContainerView", "no returnval"))
    }

    pub async fn destroy_view(&self, view: &Moref) -> Result<(), VsphereError> {
        self.call(SoapRequest::new("DestroyView", view))
            .await
            .map(drop)
    }

    /// `SearchIndex.FindByInventoryPath`; `None` when nothing is at that path.
    pub async fn find_by_inventory_path(&self, path: &str) -> Result<Option<Moref>, VsphereError> {
        let mut request = SoapRequest::new("FindByInventoryPath", &self.content.search_index);
        request.text("inventoryPath", path);

        let response = self.call(request).await?;

        returned_moref("FindByInventoryPath", &response)
    }

    /// `RetrievePropertiesEx` of a small set of objects, each value made a tree; the
    /// token of the next page with them.
    pub async fn retrieve_properties(
        &self,
        properties: &[PropertySpec],
        object: ObjectSpec<'_>,
        max_objects: Option<u32>,
    ) -> Result<RetrieveResult, VsphereError> {
        let mut objects = Vec::new();
        let collect = |record: &FlatRecord| {
            objects.push(object_record("RetrievePropertiesEx", record)?);
            Ok(())
        };
        let token = self
            .retrieve_records(properties, object, max_objects, collect)
            .await?;
        Ok(RetrieveResult { objects, token })
    }

    /// `RetrievePropertiesEx`, each object handed to `on_object` flat as the answer is
    /// read, for the VM view, whose answer is large; returns the token of the next page.
    pub async fn retrieve_records(
        &self,
        properties: &[PropertySpec],
        object: ObjectSpec<'_>,
        max_objects: Option<u32>,
        on_object: impl FnMut(&FlatRecord) -> Result<(), VsphereError>,
    ) -> Result<Option<String>, VsphereError> {
        let collector = &self.content.property_collector;
        let request = retrieve_request(collector, properties, object, max_objects);

        self.page(request, on_object).await
    }

    /// `ContinueRetrievePropertiesEx`: the next page, read as
    /// [`Self::retrieve_records`] does.
    pub async fn continue_records(
        &self,
        token: &str,
        on_object: impl FnMut(&FlatRecord) -> Result<(), VsphereError>,
    ) -> Result<Option<String>, VsphereError> {
        let mut request = SoapRequest::new(
            "ContinueRetrievePropertiesEx",
            &self.content.property_collector,
        );
        request.text("token", token);

        self.page(request, on_object).await
    }

    async fn page(
        &self,
        request: SoapRequest,
        mut on_object: impl FnMut(&FlatRecord) -> Result<(), VsphereError>,
    ) -> Result<Option<String>, VsphereError> {
        let on_record = |_: &[Element], objects: FlatRecord| on_object(&objects);

        let response = self.call_with_records(request, OBJECTS, on_record).await?;

        Ok(page_token(&response))
    }

    pub async fn cancel_retrieve(&self, token: &str) -> Result<(), VsphereError> {
        let mut request = SoapRequest::new(
            "CancelRetrievePropertiesEx",
            &self.content.property_collector,
        );
        request.text("token", token);
        self.call(request).await.map(drop)
    }

    /// `PropertyCollector.CreatePropertyCollector`: a collector of our own, as the
    /// session's default one allows a single waiter.
    pub async fn create_property_collector(&self) -> Result<Moref, VsphereError> {
        const METHOD: &str = "CreatePropertyCollector";
        let request = SoapRequest::new(METHOD, &self.content.property_collector);

        let response = self.call(request).await?;

        returned_moref(METHOD, &response)?
            .ok_or_else(|| VsphereError::unexpected(METHOD, "no returnval"))
    }

    /// `CreateFilter` on `collector`; returns the `PropertyFilter`.
    pub async fn create_filter(
        &self,
        collector: &Moref,
        properties: &[PropertySpec],
        object: ObjectSpec<'_>,
    ) -> Result<Moref, VsphereError> {
        const METHOD: &str = "CreateFilter";
        let request = create_filter_request(collector, properties, object);

        let response = self.call(request).await?;

        returned_moref(METHOD, &response)?
            .ok_or_else(|| VsphereError::unexpected(METHOD, "no returnval"))
    }

    /// `WaitForUpdatesEx`: the changes since `version` (everything when `None`), or `None`
    /// when `max_wait_seconds` passed without any. Each object update is handed to
    /// `on_update` with its filter as the answer is read: the set returned holds the rest
    /// (version, truncated). The HTTP timeout must exceed the wait.
    pub async fn wait_for_updates(
        &self,
        collector: &Moref,
        version: Option<&str>,
        max_wait_seconds: u64,
        max_object_updates: u32,
        mut on_update: impl FnMut(Moref, ObjectUpdate<'_>) -> Result<(), VsphereError>,
    ) -> Result<Option<UpdateSet>, VsphereError> {
        let mut request = SoapRequest::new("WaitForUpdatesEx", collector);
        if let Some(version) = version {
            request.text("version", version);
        }
        request
            .open("options")
            .text("maxWaitSeconds", &max_wait_seconds.to_string())
            .text("maxObjectUpdates", &max_object_updates.to_string())
            .close("options");
        let on_record = |ancestors: &[Element], object_set: FlatRecord| {
            let (filter, update) = object_set_record(ancestors, &object_set)?;
            on_update(filter, update)
        };

        let response = self
            .call_with_records(request, OBJECT_SETS, on_record)
            .await?;

        parse_update_set(response)
    }

    /// Ends the pending `WaitForUpdatesEx` of `collector` with a RequestCanceled fault.
    pub async fn cancel_wait_for_updates(&self, collector: &Moref) -> Result<(), VsphereError> {
        self.call(SoapRequest::new("CancelWaitForUpdates", collector))
            .await
            .map(drop)
    }

    /// Destroys `collector` and its filters.
    pub async fn destroy_property_collector(&self, collector: &Moref) -> Result<(), VsphereError> {
        self.call(SoapRequest::new("DestroyPropertyCollector", collector))
            .await
            .map(drop)
    }

    async fn call(&self, request: SoapRequest) -> Result<Element, VsphereError> {
        let method = request.method();
        let reply = self
            .transport
            .call_within(
                request,
                &self.content.api_version,
                self.cookie,
                self.timeout,
            )
            .await?;
        expect_response(method, reply.response)
    }

    /// [`Self::call`], each element of `record` handed to `on_record` as it is read.
    async fn call_with_records(
        &self,
        request: SoapRequest,
        record: Record,
        on_record: impl FnMut(&[Element], FlatRecord) -> Result<(), VsphereError>,
    ) -> Result<Element, VsphereError> {
        let method = request.method();
        let call = Call {
            api_version: &self.content.api_version,
            cookie: self.cookie,
            timeout: self.timeout,
        };
        let reply = self
            .transport
            .call_with_records(request, call, Some(record), on_record)
            .await?;
        expect_response(method, reply.response)
    }
}

fn expect_response(method: &'static str, response: Element) -> Result<Element, VsphereError> {
    let expected = response
        .name
        .strip_suffix("Response")
        .is_some_and(|name| name == method);
    if !expected {
        return Err(VsphereError::unexpected(
            method,
            format!("answered <{}>", response.name),
        ));
    }
    Ok(response)
}

/// `<returnval type="Kind">id</returnval>`, or none for a null result.
fn returned_moref(method: &'static str, response: &Element) -> Result<Option<Moref>, VsphereError> {
    let Some(returnval) = response.child("returnval") else {
        return Ok(None);
    };
    returnval
        .moref()
        .map(Some)
        .ok_or_else(|| VsphereError::unexpected(method, "returnval is not a reference"))
}
