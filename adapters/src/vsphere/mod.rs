//! The vSphere source: a vim25 SOAP client over reqwest, reading the VMs and a Resource Pool.
//!
//! One session is kept for the life of the process (cookie `vmware_soap_session`). At the
//! first read, or in [`VsphereSource::connect`]: `RetrieveServiceContent`, `Login`, the
//! datacenter's folders when one is configured (`FindByInventoryPath` and one
//! `RetrievePropertiesEx`), one `CreateContainerView` of `VirtualMachine`, and the Resource
//! Pool (`FindByInventoryPath`, or one `RetrievePropertiesEx` for govc's default). Then
//! each inventory read is one `RetrievePropertiesEx` on the view plus a
//! `ContinueRetrievePropertiesEx` per further page, and each pool read one
//! `RetrievePropertiesEx`. A lost session (NotAuthenticated, or the view gone with it)
//! costs one new Login and view, and one retry of the read.
//!
//! Module map: `config` and `error` are the public face; `transport` (HTTP), `tls`,
//! `request` and `xml` (SOAP bodies), `properties` and `vim` (typed vim25 calls),
//! `inventory`, `datacenter` and `resource_pool` (what is read), `source` and `state` (the
//! session).

mod config;
mod datacenter;
mod error;
mod inventory;
mod moref;
mod properties;
mod request;
mod resource_pool;
mod source;
mod state;
mod tls;
mod transport;
mod vim;
mod xml;

#[cfg(test)]
mod tests;

pub use config::{
    DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT, Password, VsphereConfig, redact_url,
};
pub use error::{SoapFault, VsphereError};
pub use source::VsphereSource;
pub use xml::XmlError;

/// The URL type of the settings, so that callers need not depend on reqwest.
pub use reqwest::Url;
