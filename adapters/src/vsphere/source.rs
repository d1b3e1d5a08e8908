//! `VsphereSource`: one vCenter session for the life of the process, behind the ports'
//! source traits, and the inventory kept current from vCenter's change feed.
//!
//! The connection is lazy: [`VsphereSource::new`] only checks the settings, and the first
//! read logs in, so an exporter started while vCenter is down starts all the same and
//! reports the failure; every later read tries again. [`VsphereSource::connect`] does the
//! same work up front for callers that prefer to fail at start.
//!
//! The first `inventory()` starts the follower task (see `follower`), whose first full
//! read through the feed it waits for; while the feed is followed, `inventory()` answers
//! from memory without any call to vCenter, unless vCenter has said nothing for the
//! silence limit: then it asks vCenter the time first, and fails as a full read would
//! when no answer comes. While the feed is not followed (refused, failing, disabled),
//! each `inventory()` is a full read.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use domain::{Inventory, ResourcePoolRuntime};
use ports::{InventorySource, ResourcePoolSource, SourceError, Tracking};
use reqwest::Url;
use tokio::task::JoinHandle;
use tracing::{Instrument, debug, info_span, warn};

use super::config::VsphereConfig;
use super::connection::Connection;
use super::error::VsphereError;
use super::feed::Feed;
use super::follower::Follower;
use super::shutdown::Goodbyes;

/// Reads the inventory and the Resource Pool of one vCenter.
pub struct VsphereSource {
    connection: Arc<Connection>,
    feed: Arc<Feed>,
    /// The follower task, once started.
    follower: Mutex<Option<JoinHandle<()>>>,
    follow_changes: bool,
    full_read_interval: Duration,
    silence_limit: Duration,
}

impl VsphereSource {
    /// Checks the settings and builds the HTTP client, without any network exchange.
    pub fn new(config: VsphereConfig) -> Result<Self, VsphereError> {
        let config = config.validated()?;
        if config.insecure {
            warn!(url = %config.url, "tls certificate verification of vSphere is disabled");
        }

        Ok(Self {
            connection: Arc::new(Connection::new(&config)?),
            feed: Arc::new(Feed::new()),
            follower: Mutex::new(None),
            follow_changes: config.follow_changes,
            full_read_interval: config.full_read_interval,
            silence_limit: config.silence_limit,
        })
    }

    /// [`Self::new`], then logs in, creates the VM view and finds the Resource Pool.
    pub async fn connect(config: VsphereConfig) -> Result<Self, VsphereError> {
        let source = Self::new(config)?;
        source.connection.prepare().await?;
        Ok(source)
    }

    /// The SDK URL, without credentials.
    pub fn url(&self) -> &Url {
        self.connection.url()
    }

    /// Every VM of the datacenter (or of all datacenters), in one full read whether the
    /// change feed is followed or not.
    pub async fn read_inventory(&self) -> Result<Inventory, VsphereError> {
        self.connection.read_inventory().await
    }

    /// `runtime` of the configured (or default) Resource Pool.
    pub async fn read_resource_pool_runtime(&self) -> Result<ResourcePoolRuntime, VsphereError> {
        self.connection.read_resource_pool_runtime().await
    }

    /// Stops following changes, destroys the collector and the view, and logs out: best
    /// effort, as the session would expire anyway, and within a few seconds even when
    /// vCenter is gone.
    pub async fn shutdown(&self) {
        self.feed.stop();
        let follower = self.lock_follower().take();

        Goodbyes::new(&self.connection, follower).say().await;
    }

    /// The followed inventory while the feed is current, else a full read.
    async fn current_inventory(&self) -> Result<Inventory, VsphereError> {
        self.start_following();

        if let Some(inventory) = self.followed_inventory().await? {
            return Ok(inventory);
        }

        // The follower's full read at start (or after a failure) is on its way: waiting
        // for it spares vCenter a second one.
        let limit = self.connection.request_timeout();
        if self.feed.settled(limit).await {
            if let Some(inventory) = self.feed.followed_inventory() {
                return Ok(inventory);
            }
        }

        self.feed.polling();
        self.read_inventory().await
    }

    /// The followed inventory while the feed is current and vCenter answers.
    ///
    /// A wait pending on a vCenter that hangs looks just like one on a quiet vCenter, so
    /// after a silence vCenter is asked the time first. No answer fails the read, as a
    /// full read would fail; a fault (vCenter answered, but not in this session) leaves
    /// the read to a full read, which logs in again. Either way the follower reads
    /// everything again.
    async fn followed_inventory(&self) -> Result<Option<Inventory>, VsphereError> {
        if let Some(session) = self.feed.silent_session(self.silence_limit) {
            let vim = session.vim(self.connection.transport());
            match vim.current_time().await {
                Ok(_) => self.feed.heard(),
                Err(error) => {
                    self.feed.distrust();
                    if error.fault().is_none() {
                        return Err(error);
                    }
                    debug!(error = %error, "vCenter answered with a fault while followed, reading in full");
                    self.connection
                        .forget_if_lost(session.generation, &error)
                        .await;
                    return Ok(None);
                }
            }
        }

        Ok(self.feed.followed_inventory())
    }

    /// Starts the follower at the first call, unless the feed is disabled or stopped.
    fn start_following(&self) {
        if !self.follow_changes {
            return;
        }

        let mut running = self.lock_follower();
        if running.as_ref().is_some_and(JoinHandle::is_finished) && !self.feed.stopping() {
            // Only a panic ends it: without a new one the mirror would never move again.
            warn!("the vSphere change feed follower ended, starting another");
            *running = None;
            self.feed.restart();
        }
        if !self.feed.begin() {
            return;
        }

        let follower = Follower::new(
            Arc::clone(&self.connection),
            Arc::clone(&self.feed),
            self.full_read_interval,
        );
        let span = info_span!("vsphere_feed", url = %self.connection.url());
        *running = Some(tokio::spawn(follower.run().instrument(span)));
    }

    fn lock_follower(&self) -> std::sync::MutexGuard<'_, Option<JoinHandle<()>>> {
        self.follower.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for VsphereSource {
    /// The follower holds no reference to the source: without this it would outlive it.
    fn drop(&mut self) {
        if let Some(follower) = self.lock_follower().take() {
            follower.abort();
        }
    }
}

impl fmt::Debug for VsphereSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VsphereSource")
            .field("connection", &self.connection)
            .field("follow_changes", &self.follow_changes)
            .field("full_read_interval", &self.full_read_interval)
            .field("silence_limit", &self.silence_limit)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl InventorySource for VsphereSource {
    async fn inventory(&self) -> Result<Inventory, SourceError> {
        let inventory = self.current_inventory().await?;
        debug!(vms = inventory.vms.len(), "read the vSphere inventory");
        Ok(inventory)
    }

    async fn changed(&self) {
        self.feed.changed().await;
    }

    fn tracking(&self) -> Tracking {
        if self.feed.is_current() {
            Tracking::ChangeFeed
        } else {
            Tracking::Polling
        }
    }

    fn logins(&self) -> u64 {
        self.connection.logins()
    }
}

#[async_trait]
impl ResourcePoolSource for VsphereSource {
    async fn resource_pool_runtime(&self) -> Result<ResourcePoolRuntime, SourceError> {
        Ok(self.read_resource_pool_runtime().await?)
    }
}
