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
//! With the change feed (the default), the first inventory read starts a follower task
//! instead: `CreatePropertyCollector`, `CreateFilter` on the view, then `WaitForUpdatesEx`,
//! whose first answer is the full read and later ones the changes, applied to a mirror
//! that inventory reads answer from without any call, unless vCenter has said nothing for
//! `silence_limit`: then one `CurrentTime` first, since a hung vCenter and a quiet one look
//! alike to a pending wait. When idle, one WaitForUpdatesEx a minute and one CurrentTime
//! per collection; every `full_read_interval`, a new collector and full read as a safety
//! net; at shutdown, `CancelWaitForUpdates` and `DestroyPropertyCollector` before the view
//! and the Logout. A server refusing the feed is polled as above.
//!
//! Module map: `config` and `error` are the public face; `transport` (HTTP), `tls`,
//! `request` and `xml` (SOAP bodies), `properties`, `updates` and `vim` (typed vim25
//! calls), `inventory`, `datacenter` and `resource_pool` (what is read), `connection` and
//! `state` (the session), `source`, `feed`, `follower`, `backoff`, `mirror` and
//! `shutdown` (the change feed and the source's lifecycle).

mod backoff;
mod config;
mod connection;
mod datacenter;
mod error;
mod feed;
mod follower;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
mod inventory;
mod mirror;
mod moref;
mod properties;
mod record;
mod request;
mod resource_pool;
mod shutdown;
mod source;
mod state;
mod streaming;
mod tls;
mod transport;
mod updates;
mod vim;
mod xml;

#[cfg(test)]
mod tests;

pub use config::{
    DEFAULT_FULL_READ_INTERVAL, DEFAULT_MAX_RESPONSE_BYTES, DEFAULT_REQUEST_TIMEOUT, Password,
    VsphereConfig, redact_url,
};
pub use error::{SoapFault, VsphereError};
pub use source::VsphereSource;
pub use xml::XmlError;

/// The URL type of the settings, so that callers need not depend on reqwest.
pub use reqwest::Url;
