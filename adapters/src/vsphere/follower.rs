//! The follower: a task that keeps the feed's mirror current with `WaitForUpdatesEx`.
//!
//! Its life is a loop of two moves. A sync sets up a property collector of our own (the
//! session's default one allows a single waiter) with one filter on the VM view, for the
//! paths a full read reads, and reads everything through it: WaitForUpdatesEx without
//! version answers an `enter` per VM, which replaces the mirror. Then it follows:
//! WaitForUpdatesEx with the version, each answer applied to the mirror, until the safety
//! net's full read is due (a new sync) or something fails. A lost session means one new
//! Login, shared with the source's other reads, and a sync; other failures, a sync after
//! a pause that doubles; a refusal, polling until the next full read is due. A read that
//! found vCenter silent (see `source`) ends a pending wait as a failure does.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::backoff::Backoff;
use super::connection::{Connection, Session};
use super::error::{SoapFault, VsphereError};
use super::feed::{Feed, FeedStatus};
use super::inventory::VM_PROPERTIES;
use super::mirror::Mirror;
use super::moref::Moref;
use super::properties::{CONTAINER_VIEW, ObjectSpec};
use super::state::State;
use super::updates::{ObjectUpdate, UpdateSet};
use super::vim::Vim;

/// How long one WaitForUpdatesEx may wait for a change: an idle exporter then exchanges
/// about one kilobyte a minute.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Object updates per answer, as for a full read's pages: about 1.2 MB.
const MAX_OBJECT_UPDATES: u32 = 1000;

/// The time given to a Logout of a session that lost its collector.
const LOGOUT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub(crate) struct Follower {
    connection: Arc<Connection>,
    feed: Arc<Feed>,
    full_read_interval: Duration,
    /// The last try was refused: a new refusal is not worth a warning.
    refused_before: bool,
}

/// What a sync set up, copied out of the state so that waits need no lock.
#[derive(Debug)]
struct Subscription {
    session: Session,
    view: Moref,
    collector: Moref,
    filter: Moref,
    /// `None` until the collector has given one.
    version: Option<String>,
    full_read_due: Instant,
}

/// Why the feed stopped.
#[derive(Debug)]
enum Failure {
    /// vCenter does not offer the feed: poll until the next full read is due.
    Refused {
        method: &'static str,
        fault: SoapFault,
    },
    /// The session died, the collector with it.
    Lost {
        generation: u64,
        error: VsphereError,
    },
    /// Anything else: the mirror may have missed changes.
    Failed(VsphereError),
    /// A read found vCenter silent while the wait was pending, and gave it up.
    Distrusted,
    /// Shutdown cancelled the wait.
    Stopped,
}

impl Follower {
    pub fn new(connection: Arc<Connection>, feed: Arc<Feed>, full_read_interval: Duration) -> Self {
        Self {
            connection,
            feed,
            full_read_interval,
            refused_before: false,
        }
    }

    pub async fn run(mut self) {
        let mut backoff = Backoff::default();
        let mut subscription = None;

        while !self.feed.stopping() {
            let step = match subscription.take() {
                Some(subscription) if self.in_step(&subscription) => {
                    self.follow(subscription, &mut backoff).await
                }
                _ => self.sync().await,
            };

            match step {
                Ok(next) => subscription = Some(next),
                Err(failure) => {
                    let Some(pause) = self.recover(failure, &mut backoff).await else {
                        return;
                    };
                    if !self.pause(pause).await {
                        return;
                    }
                }
            }
        }
    }

    /// The subscription is still of the current session, no full read is due, and no
    /// read has distrusted the mirror.
    fn in_step(&self, subscription: &Subscription) -> bool {
        Instant::now() < subscription.full_read_due
            && subscription.session.generation == self.connection.logins()
            && self.feed.is_current()
    }

    async fn sync(&mut self) -> Result<Subscription, Failure> {
        self.feed.set_status(FeedStatus::Syncing);

        let mut subscription = self.subscribe().await?;
        self.read_all(&mut subscription, Duration::ZERO).await?;

        self.refused_before = false;
        Ok(subscription)
    }

    /// A new collector and filter, replacing those of an earlier sync.
    async fn subscribe(&self) -> Result<Subscription, Failure> {
        let mut state = self.connection.state().await;

        let subscription = self.try_subscribe(&mut state).await;
        if let Err(Failure::Lost { error, .. } | Failure::Failed(error)) = &subscription {
            state.forget_deleted(error);
        }
        subscription
    }

    async fn try_subscribe(&self, state: &mut State) -> Result<Subscription, Failure> {
        let session = self.connection.session(state).await;
        let session = session.map_err(|error| session_failure(state, error))?;
        let vim = session.vim(self.connection.transport());
        let view = self.connection.vm_view(&vim, state).await;
        let view = view.map_err(|error| session_failure(state, error))?;

        destroy_collector(&vim, state).await;
        let generation = session.generation;

        let created = vim.create_property_collector().await;
        let collector = created.map_err(|error| {
            self.classify("CreatePropertyCollector", error, &[&view], generation)
        })?;
        state.collector = Some(collector.clone());

        let object = ObjectSpec {
            obj: &view,
            skip: true,
            select: &[CONTAINER_VIEW],
        };
        let created = vim
            .create_filter(&collector, &[VM_PROPERTIES], object)
            .await;
        let ours = [&view, &collector];
        let filter =
            created.map_err(|error| self.classify("CreateFilter", error, &ours, generation))?;
        state.filter = Some(filter.clone());

        Ok(Subscription {
            session,
            view,
            collector,
            filter,
            version: None,
            full_read_due: Instant::now() + self.full_read_interval,
        })
    }

    /// Reads everything the filter sees, in as many answers as vCenter cuts it into, and
    /// replaces the mirror with it.
    async fn read_all(
        &self,
        subscription: &mut Subscription,
        first_wait: Duration,
    ) -> Result<(), Failure> {
        let mut mirror = Mirror::default();
        let mut wait = first_wait;
        loop {
            // Each VM goes into the mirror as the answer is read: the answer of a large
            // inventory is never held whole.
            let filter = &subscription.filter;
            let apply = |from: Moref, update: ObjectUpdate<'_>| {
                mirror.apply_update(&from, filter, update).map(drop)
            };
            let Some(set) = self.wait(subscription, wait, apply).await? else {
                break;
            };

            subscription.version = Some(set.version);
            if !set.truncated {
                break;
            }
            // The rest of a truncated set is ready: no reason to wait for it.
            wait = Duration::ZERO;
        }

        let vms = mirror.len();
        let resumed = !self.feed.is_current();
        self.feed.replace(mirror, subscription.session.clone());
        subscription.full_read_due = Instant::now() + self.full_read_interval;

        if resumed {
            info!(vms, "following vSphere inventory changes");
        } else {
            debug!(vms, "read the followed vSphere inventory in full");
        }
        Ok(())
    }

    /// One wait for changes, applied to the mirror.
    async fn follow(
        &self,
        mut subscription: Subscription,
        backoff: &mut Backoff,
    ) -> Result<Subscription, Failure> {
        let until_full_read = subscription
            .full_read_due
            .saturating_duration_since(Instant::now());
        let max_wait = MAX_WAIT.min(until_full_read).max(Duration::from_secs(1));

        // A collector that has not given a version yet saw an empty inventory, and its
        // next answer is a full one again.
        if subscription.version.is_none() {
            self.read_all(&mut subscription, max_wait).await?;
            return Ok(subscription);
        }

        let mut updates = Vec::new();
        // Applied once the answer is whole, so kept beyond the records they come from.
        let collect = |filter, update: ObjectUpdate<'_>| {
            updates.push((filter, update.into_owned()));
            Ok(())
        };
        if let Some(set) = self.wait(&subscription, max_wait, collect).await? {
            let set = set.with_updates(updates);
            self.feed
                .apply(&set, &subscription.filter)
                .map_err(Failure::Failed)?;
            debug!(version = %set.version, truncated = set.truncated, "applied vSphere inventory changes");
            subscription.version = Some(set.version);
        }

        backoff.reset();
        Ok(subscription)
    }

    /// WaitForUpdatesEx, with an HTTP timeout beyond the wait, given up when a read
    /// finds vCenter silent meanwhile: a vCenter that hangs would otherwise show only
    /// when the wait times out, 90 s later by default.
    async fn wait(
        &self,
        subscription: &Subscription,
        max_wait: Duration,
        on_update: impl FnMut(Moref, ObjectUpdate<'_>) -> Result<(), VsphereError>,
    ) -> Result<Option<UpdateSet>, Failure> {
        let seconds = max_wait.as_secs();
        let timeout = Duration::from_secs(seconds) + self.connection.request_timeout();
        let vim = subscription
            .session
            .vim(self.connection.transport())
            .within(timeout);

        let version = subscription.version.as_deref();
        let collector = &subscription.collector;
        let waited =
            vim.wait_for_updates(collector, version, seconds, MAX_OBJECT_UPDATES, on_update);
        let answer = tokio::select! {
            answer = waited => answer,
            () = self.feed.distrusted() => return Err(Failure::Distrusted),
        };
        if answer.is_ok() {
            self.feed.heard();
        }

        let ours = [&subscription.view, collector, &subscription.filter];
        let generation = subscription.session.generation;
        answer.map_err(|error| self.classify("WaitForUpdatesEx", error, &ours, generation))
    }

    /// What a failed call of the feed means.
    fn classify(
        &self,
        method: &'static str,
        error: VsphereError,
        ours: &[&Moref],
        generation: u64,
    ) -> Failure {
        let Some(fault) = error.fault() else {
            return Failure::Failed(error);
        };

        let ours =
            |object: &Option<Moref>| object.as_ref().is_some_and(|object| ours.contains(&object));
        match fault.name.as_str() {
            "RequestCanceled" if self.feed.stopping() => Failure::Stopped,
            "NotAuthenticated" | "RequestCanceled" => Failure::Lost { generation, error },
            "ManagedObjectNotFound" if ours(&fault.object) => Failure::Lost { generation, error },
            "ManagedObjectNotFound" | "InvalidCollectorVersion" => Failure::Failed(error),
            _ => Failure::Refused {
                method,
                fault: fault.clone(),
            },
        }
    }

    /// Handles a failure; returns the pause before the next sync, `None` to stop.
    async fn recover(&mut self, failure: Failure, backoff: &mut Backoff) -> Option<Duration> {
        match failure {
            Failure::Stopped => None,
            Failure::Refused { method, fault } => Some(self.refused(method, &fault).await),
            Failure::Lost { generation, error } => {
                self.feed.lose(FeedStatus::Failing);
                self.drop_session(generation, &error).await;
                Some(backoff.after_loss())
            }
            Failure::Distrusted => {
                let retry_in = backoff.next_delay();
                warn!(
                    ?retry_in,
                    "vCenter stopped answering while the change feed waited, reading everything again"
                );
                Some(retry_in)
            }
            Failure::Failed(error) => {
                self.feed.lose(FeedStatus::Failing);
                let retry_in = backoff.next_delay();
                if backoff.failures() == 1 {
                    warn!(reason = %error.reason(), error = %error, ?retry_in, "the vSphere change feed failed, polling until it is read again");
                } else {
                    debug!(reason = %error.reason(), error = %error, ?retry_in, "the vSphere change feed failed again");
                }
                Some(retry_in)
            }
        }
    }

    async fn refused(&mut self, method: &'static str, fault: &SoapFault) -> Duration {
        self.feed.lose(FeedStatus::Refused);
        self.release_collector().await;

        let retry_in = self.full_read_interval;
        if self.refused_before {
            debug!(method, fault = %fault.name, ?retry_in, "vCenter still refuses the change feed");
        } else {
            warn!(method, fault = %fault.name, ?retry_in, "vCenter refused the change feed, reading the whole inventory at each collection");
        }
        self.refused_before = true;
        retry_in
    }

    /// Forgets the lost session, so that the next sync logs in again. The loss of a
    /// collector or an unasked RequestCanceled may leave the session itself alive: it is
    /// logged out first, so that the new Login never makes two sessions.
    async fn drop_session(&self, generation: u64, error: &VsphereError) {
        let mut state = self.connection.state().await;
        let old = state.content.clone().zip(state.cookie.clone());
        if !self.connection.session_lost(&mut state, generation, error) {
            return;
        }

        let expired = error
            .fault()
            .is_some_and(|fault| fault.is("NotAuthenticated"));
        let Some((content, cookie)) = old.filter(|_| !expired) else {
            return;
        };
        let vim = Vim::new(self.connection.transport(), &content, Some(&cookie.0));
        if let Err(error) = vim.within(LOGOUT_TIMEOUT).logout().await {
            debug!(error = %error, "cannot log out of the session that lost its collector");
        }
    }

    /// Destroys the collector of a refused feed, which would otherwise live as long as
    /// the session.
    async fn release_collector(&self) {
        let mut state = self.connection.state().await;
        let (Some(content), Some(cookie)) = (state.content.clone(), state.cookie.clone()) else {
            return;
        };
        let vim = Vim::new(self.connection.transport(), &content, Some(&cookie.0));
        destroy_collector(&vim, &mut state).await;
    }

    /// Sleeps, unless shutdown starts meanwhile; false when it did.
    async fn pause(&self, pause: Duration) -> bool {
        tokio::select! {
            () = tokio::time::sleep(pause) => !self.feed.stopping(),
            () = self.feed.stopped() => false,
        }
    }
}

/// A failure of the session's own calls (Login, CreateContainerView).
fn session_failure(state: &State, error: VsphereError) -> Failure {
    if state.lost_session(&error) {
        let generation = state.generation;
        return Failure::Lost { generation, error };
    }
    Failure::Failed(error)
}

/// Destroys the collector of an earlier sync (and its filter with it), best effort.
async fn destroy_collector(vim: &Vim<'_>, state: &mut State) {
    state.filter = None;
    let Some(collector) = state.collector.take() else {
        return;
    };
    if let Err(error) = vim.destroy_property_collector(&collector).await {
        debug!(error = %error, "cannot destroy the previous property collector");
    }
}
