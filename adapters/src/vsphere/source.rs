//! `VsphereSource`: one vCenter session for the life of the process, behind the ports'
//! source traits.
//!
//! The connection is lazy: [`VsphereSource::new`] only checks the settings, and the first
//! read logs in, so an exporter started while vCenter is down starts all the same and
//! reports the failure; every later read tries again. [`VsphereSource::connect`] does the
//! same work up front for callers that prefer to fail at start.

use std::fmt;

use async_trait::async_trait;
use domain::{Inventory, ResourcePoolRuntime};
use ports::{InventorySource, ResourcePoolSource, SourceError};
use reqwest::Url;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::config::{Password, VsphereConfig};
use super::datacenter::{LayoutRoot, read_layout};
use super::error::VsphereError;
use super::inventory::read_inventory;
use super::moref::Moref;
use super::resource_pool::{default_pool, find_pool, read_runtime};
use super::state::{SessionCookie, State};
use super::transport::SoapTransport;
use super::vim::{ServiceContent, Vim};

/// Reads the inventory and the Resource Pool of one vCenter.
pub struct VsphereSource {
    transport: SoapTransport,
    url: Url,
    username: String,
    password: Password,
    /// The datacenter's inventory path (`/DC0`).
    datacenter_path: Option<String>,
    resource_pool_path: Option<String>,
    /// Held for the whole of a read, so that a re-login never interleaves with a call.
    state: Mutex<State>,
}

/// The service content and cookie of the current session, copied out of the state.
struct Session {
    content: ServiceContent,
    cookie: SessionCookie,
}

impl VsphereSource {
    /// Checks the settings and builds the HTTP client, without any network exchange.
    pub fn new(config: VsphereConfig) -> Result<Self, VsphereError> {
        let config = config.validated()?;
        if config.insecure {
            warn!(url = %config.url, "tls certificate verification of vSphere is disabled");
        }

        let transport = SoapTransport::new(&config)?;
        let datacenter_path = config.datacenter.as_deref().map(inventory_path);

        Ok(Self {
            transport,
            url: config.url,
            // validated() has checked both are there.
            username: config.username.unwrap_or_default(),
            password: config.password.unwrap_or_else(|| Password::new("")),
            datacenter_path,
            resource_pool_path: config.resource_pool,
            state: Mutex::new(State::default()),
        })
    }

    /// [`Self::new`], then logs in, creates the VM view and finds the Resource Pool.
    pub async fn connect(config: VsphereConfig) -> Result<Self, VsphereError> {
        let source = Self::new(config)?;
        source.prepare().await?;
        Ok(source)
    }

    /// The SDK URL, without credentials.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Every VM of the datacenter (or of all datacenters).
    pub async fn read_inventory(&self) -> Result<Inventory, VsphereError> {
        let mut state = self.state.lock().await;

        let mut result = self.try_inventory(&mut state).await;
        if let Err(error) = &result {
            if state.lost_session(error) {
                self.log_lost_session(&mut state, error);
                result = self.try_inventory(&mut state).await;
            }
        }

        state.after(result)
    }

    /// `runtime` of the configured (or default) Resource Pool.
    pub async fn read_resource_pool_runtime(&self) -> Result<ResourcePoolRuntime, VsphereError> {
        let mut state = self.state.lock().await;

        let mut result = self.try_pool_runtime(&mut state).await;
        if let Err(error) = &result {
            if state.lost_session(error) {
                self.log_lost_session(&mut state, error);
                result = self.try_pool_runtime(&mut state).await;
            }
        }

        state.after(result)
    }

    /// Destroys the view and logs out, best effort: the session would expire anyway.
    pub async fn shutdown(&self) {
        let mut state = self.state.lock().await;
        let (Some(content), Some(cookie)) = (state.content.clone(), state.cookie.take()) else {
            return;
        };
        let vim = Vim::new(&self.transport, &content, Some(&cookie.0));

        if let Some(view) = state.vm_view.take() {
            if let Err(error) = vim.destroy_view(&view).await {
                warn!(error = %error, "cannot destroy the vSphere container view");
            }
        }

        match vim.logout().await {
            Ok(()) => info!(url = %self.url, "logged out of vSphere"),
            Err(error) => warn!(error = %error, "cannot log out of vSphere"),
        }
    }

    async fn prepare(&self) -> Result<(), VsphereError> {
        let mut state = self.state.lock().await;
        let result = self.try_prepare(&mut state).await;
        state.after(result)
    }

    async fn try_prepare(&self, state: &mut State) -> Result<(), VsphereError> {
        let session = self.session(state).await?;
        let vim = Vim::new(&self.transport, &session.content, Some(&session.cookie.0));

        self.vm_view(&vim, state).await?;
        self.pool(&vim, state).await?;
        Ok(())
    }

    async fn try_inventory(&self, state: &mut State) -> Result<Inventory, VsphereError> {
        let session = self.session(state).await?;
        let vim = Vim::new(&self.transport, &session.content, Some(&session.cookie.0));

        let view = self.vm_view(&vim, state).await?;

        read_inventory(&vim, &view).await
    }

    async fn try_pool_runtime(
        &self,
        state: &mut State,
    ) -> Result<ResourcePoolRuntime, VsphereError> {
        let session = self.session(state).await?;
        let vim = Vim::new(&self.transport, &session.content, Some(&session.cookie.0));

        let pool = self.pool(&vim, state).await?;

        read_runtime(&vim, &pool).await
    }

    async fn session(&self, state: &mut State) -> Result<Session, VsphereError> {
        if let Some(fault) = state.recent_refusal() {
            return Err(VsphereError::Fault(fault.clone()));
        }

        let content = match &state.content {
            Some(content) => content.clone(),
            None => state
                .content
                .insert(ServiceContent::retrieve(&self.transport).await?)
                .clone(),
        };

        let cookie = match &state.cookie {
            Some(cookie) => cookie.clone(),
            None => {
                let cookie = self.login(state, &content).await?;
                state.cookie.insert(cookie).clone()
            }
        };

        Ok(Session { content, cookie })
    }

    async fn login(
        &self,
        state: &mut State,
        content: &ServiceContent,
    ) -> Result<SessionCookie, VsphereError> {
        let vim = Vim::new(&self.transport, content, None);

        let cookie = vim.login(&self.username, &self.password).await;

        match cookie {
            Ok(cookie) => {
                info!(url = %self.url, api_version = %content.api_version, "logged in to vSphere");
                state.refused_login = None;
                Ok(SessionCookie(cookie))
            }
            Err(VsphereError::Fault(fault)) if fault.is("InvalidLogin") => {
                warn!(url = %self.url, user = %self.username, "vSphere refused the login");
                state.refused_login = Some((Instant::now(), fault.clone()));
                Err(VsphereError::Fault(fault))
            }
            Err(error) => Err(error),
        }
    }

    /// The container view of every VM, created once per session.
    async fn vm_view(&self, vim: &Vim<'_>, state: &mut State) -> Result<Moref, VsphereError> {
        if let Some(view) = &state.vm_view {
            return Ok(view.clone());
        }

        let root = self.vm_root(vim, state).await?;
        let view = vim.create_container_view(&root, "VirtualMachine").await?;

        debug!(view = %view.value, root = %root, "created the vm container view");
        Ok(state.vm_view.insert(view).clone())
    }

    /// The datacenter's `vmFolder`, or the root folder when no datacenter is configured.
    async fn vm_root(&self, vim: &Vim<'_>, state: &mut State) -> Result<Moref, VsphereError> {
        if let Some(root) = &state.vm_root {
            return Ok(root.clone());
        }
        if self.datacenter_path.is_none() {
            return Ok(vim.content().root_folder.clone());
        }

        let datacenter = self.datacenter(vim, state).await?;
        let layout = read_layout(vim, LayoutRoot::Datacenter(&datacenter)).await?;

        let vm_folder = layout.datacenters.into_iter().find_map(|dc| dc.vm_folder);
        let vm_folder = vm_folder
            .ok_or_else(|| VsphereError::unexpected("RetrievePropertiesEx", "no vmFolder"))?;
        Ok(state.vm_root.insert(vm_folder).clone())
    }

    async fn datacenter(&self, vim: &Vim<'_>, state: &mut State) -> Result<Moref, VsphereError> {
        if let Some(datacenter) = &state.datacenter {
            return Ok(datacenter.clone());
        }
        let path = self.datacenter_path.as_deref().unwrap_or("/");

        let found = vim.find_by_inventory_path(path).await?;

        let datacenter = found.filter(|moref| moref.kind == "Datacenter");
        let datacenter = datacenter.ok_or_else(|| VsphereError::NotFound {
            what: "datacenter",
            path: path.to_owned(),
        })?;
        Ok(state.datacenter.insert(datacenter).clone())
    }

    /// The Resource Pool, found once: by its path, or govc's default.
    async fn pool(&self, vim: &Vim<'_>, state: &mut State) -> Result<Moref, VsphereError> {
        if let Some(pool) = &state.pool {
            return Ok(pool.clone());
        }

        let pool = match &self.resource_pool_path {
            Some(path) => find_pool(vim, path).await?,
            None => self.default_pool(vim, state).await?,
        };

        info!(pool = %pool.value, "found the vSphere resource pool");
        Ok(state.pool.insert(pool).clone())
    }

    async fn default_pool(&self, vim: &Vim<'_>, state: &mut State) -> Result<Moref, VsphereError> {
        let layout = match &self.datacenter_path {
            Some(_) => {
                let datacenter = self.datacenter(vim, state).await?;
                read_layout(vim, LayoutRoot::Datacenter(&datacenter)).await?
            }
            None => read_layout(vim, LayoutRoot::RootFolder(&vim.content().root_folder)).await?,
        };

        default_pool(&layout, self.datacenter_path.as_deref())
    }

    fn log_lost_session(&self, state: &mut State, error: &VsphereError) {
        info!(reason = %error.reason(), "vSphere session lost, logging in again");
        state.forget_session();
    }
}

/// `DC0` → `/DC0`; a path (`/Folder/DC0`) is kept.
fn inventory_path(datacenter: &str) -> String {
    if datacenter.starts_with('/') {
        datacenter.to_owned()
    } else {
        format!("/{datacenter}")
    }
}

impl fmt::Debug for VsphereSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VsphereSource")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("datacenter_path", &self.datacenter_path)
            .field("resource_pool_path", &self.resource_pool_path)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl InventorySource for VsphereSource {
    async fn inventory(&self) -> Result<Inventory, SourceError> {
        let inventory = self.read_inventory().await?;
        debug!(vms = inventory.vms.len(), "read the vSphere inventory");
        Ok(inventory)
    }
}

#[async_trait]
impl ResourcePoolSource for VsphereSource {
    async fn resource_pool_runtime(&self) -> Result<ResourcePoolRuntime, SourceError> {
        Ok(self.read_resource_pool_runtime().await?)
    }
}
