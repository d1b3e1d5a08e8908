//! The session with one vCenter, shared by the source and its change feed follower: one
//! Login at a time, every call made with the current cookie, full reads of the VMs and
//! the Resource Pool.
//!
//! The session is lazy: the first read logs in, so an exporter started while vCenter is
//! down starts all the same and reports the failure; every later read tries again.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::{Inventory, ResourcePoolRuntime};
use reqwest::Url;
use tokio::sync::{Mutex, MutexGuard};
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

/// The transport, the credentials and what was learnt of one vCenter.
pub(crate) struct Connection {
    transport: SoapTransport,
    url: Url,
    username: String,
    password: Password,
    /// The datacenter's inventory path (`/DC0`).
    datacenter_path: Option<String>,
    resource_pool_path: Option<String>,
    request_timeout: Duration,
    /// Held for the whole of a read, so that a re-login never interleaves with a call;
    /// the change feed follower holds it for short calls only, never across its long poll.
    state: Mutex<State>,
    /// Successful Logins since start, the first included.
    logins: AtomicU64,
}

/// The service content and cookie of the current session, copied out of the state.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub content: ServiceContent,
    pub cookie: SessionCookie,
    /// The Login the session comes from, see [`State::generation`].
    pub generation: u64,
}

impl Session {
    pub fn vim<'a>(&'a self, transport: &'a SoapTransport) -> Vim<'a> {
        Vim::new(transport, &self.content, Some(&self.cookie.0))
    }
}

impl Connection {
    /// `config` must be validated.
    pub fn new(config: &VsphereConfig) -> Result<Self, VsphereError> {
        let transport = SoapTransport::new(config)?;
        let datacenter_path = config.datacenter.as_deref().map(inventory_path);

        Ok(Self {
            transport,
            url: config.url.clone(),
            // validated() has checked both are there.
            username: config.username.clone().unwrap_or_default(),
            password: config.password.clone().unwrap_or_else(|| Password::new("")),
            datacenter_path,
            resource_pool_path: config.resource_pool.clone(),
            request_timeout: config.request_timeout,
            state: Mutex::new(State::default()),
            logins: AtomicU64::new(0),
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn transport(&self) -> &SoapTransport {
        &self.transport
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    /// Successful Logins since start; also the generation of the current session.
    pub fn logins(&self) -> u64 {
        self.logins.load(Ordering::Relaxed)
    }

    pub async fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().await
    }

    /// Every VM of the datacenter (or of all datacenters), in one full read.
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

    /// Logs in, creates the VM view and finds the Resource Pool.
    pub async fn prepare(&self) -> Result<(), VsphereError> {
        let mut state = self.state.lock().await;
        let result = self.try_prepare(&mut state).await;
        state.after(result)
    }

    async fn try_prepare(&self, state: &mut State) -> Result<(), VsphereError> {
        let session = self.session(state).await?;
        let vim = session.vim(&self.transport);

        self.vm_view(&vim, state).await?;
        self.pool(&vim, state).await?;
        Ok(())
    }

    async fn try_inventory(&self, state: &mut State) -> Result<Inventory, VsphereError> {
        let session = self.session(state).await?;
        let vim = session.vim(&self.transport);

        let view = self.vm_view(&vim, state).await?;

        read_inventory(&vim, &view).await
    }

    async fn try_pool_runtime(
        &self,
        state: &mut State,
    ) -> Result<ResourcePoolRuntime, VsphereError> {
        let session = self.session(state).await?;
        let vim = session.vim(&self.transport);

        let pool = self.pool(&vim, state).await?;

        read_runtime(&vim, &pool).await
    }

    /// The current session, after a Login if there is none.
    pub async fn session(&self, state: &mut State) -> Result<Session, VsphereError> {
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

        Ok(Session {
            content,
            cookie,
            generation: state.generation,
        })
    }

    /// Forgets the session of `generation` after its loss, unless another caller has
    /// already logged in again since: one loss, one new Login.
    pub fn session_lost(&self, state: &mut State, generation: u64, error: &VsphereError) -> bool {
        if state.generation != generation || state.cookie.is_none() {
            return false;
        }
        self.log_lost_session(state, error);
        true
    }

    /// Forgets the session of `generation` when `error` shows it lost, so that the next
    /// read logs in again without first failing in it.
    pub async fn forget_if_lost(&self, generation: u64, error: &VsphereError) {
        let mut state = self.state.lock().await;
        if state.lost_session(error) {
            self.session_lost(&mut state, generation, error);
        }
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
                let logins = self.logins.fetch_add(1, Ordering::Relaxed) + 1;
                info!(url = %self.url, api_version = %content.api_version, logins, "logged in to vSphere");
                state.refused_login = None;
                state.generation = logins;
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
    pub async fn vm_view(&self, vim: &Vim<'_>, state: &mut State) -> Result<Moref, VsphereError> {
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

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("url", &self.url.as_str())
            .field("username", &self.username)
            .field("datacenter_path", &self.datacenter_path)
            .field("resource_pool_path", &self.resource_pool_path)
            .finish_non_exhaustive()
    }
}
