//! What the source and its follower task share: the followed inventory, the version that
//! `changed()` watches, and how the feed is doing.
//!
//! The mirror sits behind a std mutex held for memory work only, never across a call to
//! vCenter; the version and status go through a `watch` so that readers can wait on them.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use domain::Inventory;
use tokio::sync::watch;
use tokio::time::Instant;

use super::connection::Session;
use super::error::VsphereError;
use super::mirror::Mirror;
use super::moref::Moref;
use super::updates::UpdateSet;

/// Where the follower is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FeedStatus {
    /// No follower: none asked for yet, or the feed is disabled.
    Idle,
    /// Reading everything through the feed: at start, after a failure, or as the
    /// periodic safety net (the mirror, if current, stays in use meanwhile).
    Syncing,
    Following,
    /// vCenter refused the feed: inventory reads poll until it is tried again.
    Refused,
    /// The feed failed, or a read found vCenter silent: it is read again after a pause,
    /// and inventory reads poll meanwhile.
    Failing,
    /// Shutting down: the follower ends and is not started again.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Bumped each time the followed inventory may have changed.
    pub version: u64,
    pub status: FeedStatus,
}

#[derive(Debug)]
pub(crate) struct Feed {
    followed: Mutex<Followed>,
    progress: watch::Sender<Progress>,
    /// The version of the inventory `inventory()` last returned.
    returned: AtomicU64,
}

#[derive(Debug, Default)]
struct Followed {
    mirror: Mirror,
    /// The mirror is current: the follower is in step with vCenter.
    current: bool,
    /// The session the mirror was read in, for asking whether vCenter still answers.
    session: Option<Session>,
    /// When vCenter last answered the follower (or that question).
    heard_at: Option<Instant>,
}

impl Feed {
    pub fn new() -> Self {
        let progress = Progress {
            version: 0,
            status: FeedStatus::Idle,
        };
        Self {
            followed: Mutex::default(),
            progress: watch::Sender::new(progress),
            returned: AtomicU64::new(0),
        }
    }

    pub fn status(&self) -> FeedStatus {
        self.progress.borrow().status
    }

    /// Moves from `Idle` to `Syncing`; true when the caller is to start the follower.
    pub fn begin(&self) -> bool {
        self.progress.send_if_modified(|progress| {
            let idle = progress.status == FeedStatus::Idle;
            if idle {
                progress.status = FeedStatus::Syncing;
            }
            idle
        })
    }

    pub fn set_status(&self, status: FeedStatus) {
        self.progress.send_if_modified(|progress| {
            let stopped = progress.status == FeedStatus::Stopped;
            let modified = !stopped && progress.status != status;
            if modified {
                progress.status = status;
            }
            modified
        });
    }

    /// Shutdown: the follower ends, and reads no longer trust the mirror.
    pub fn stop(&self) {
        self.lock().current = false;
        self.progress
            .send_modify(|progress| progress.status = FeedStatus::Stopped);
    }

    /// The follower ended without being asked to (a bug): back to `Idle`, so that the
    /// next read starts another.
    pub fn restart(&self) {
        self.lock().current = false;
        self.progress.send_if_modified(|progress| {
            let restart = progress.status != FeedStatus::Stopped;
            if restart {
                progress.status = FeedStatus::Idle;
            }
            restart
        });
    }

    pub fn stopping(&self) -> bool {
        self.status() == FeedStatus::Stopped
    }

    /// Waits until shutdown starts.
    pub async fn stopped(&self) {
        let mut progress = self.progress.subscribe();
        let _ = progress
            .wait_for(|progress| progress.status == FeedStatus::Stopped)
            .await;
    }

    pub fn is_current(&self) -> bool {
        self.lock().current
    }

    /// The followed inventory while it is current, recorded as returned.
    pub fn followed_inventory(&self) -> Option<Inventory> {
        let followed = self.lock();
        if !followed.current {
            return None;
        }

        let version = self.progress.borrow().version;
        self.returned.store(version, Ordering::Relaxed);
        Some(followed.mirror.inventory())
    }

    /// The session to ask vCenter whether it still answers, when the mirror is current
    /// but vCenter has said nothing for `limit`.
    pub fn silent_session(&self, limit: Duration) -> Option<Session> {
        let followed = self.lock();
        let silent = followed.heard_at.is_none_or(|at| at.elapsed() >= limit);
        if !followed.current || !silent {
            return None;
        }
        followed.session.clone()
    }

    /// vCenter answered just now.
    pub fn heard(&self) {
        self.lock().heard_at = Some(Instant::now());
    }

    /// vCenter did not answer a read's question: the mirror is no longer trusted, and
    /// the follower's pending wait is given up (see [`Self::distrusted`]).
    pub fn distrust(&self) {
        self.lose(FeedStatus::Failing);
    }

    /// Returns once a read has distrusted the mirror. Only the follower's recovery sets
    /// `Failing` otherwise, never while it waits.
    pub async fn distrusted(&self) {
        let mut progress = self.progress.subscribe();
        let distrusted = progress.wait_for(|progress| progress.status == FeedStatus::Failing);
        if distrusted.await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Records that `inventory()` reads in full, so that `changed()` waits for what
    /// happens from now on.
    pub fn polling(&self) {
        let version = self.progress.borrow().version;
        self.returned.store(version, Ordering::Relaxed);
    }

    /// Waits, up to `limit`, for a sync in progress to end; true when it did.
    pub async fn settled(&self, limit: Duration) -> bool {
        let mut progress = self.progress.subscribe();
        let settled = progress.wait_for(|progress| progress.status != FeedStatus::Syncing);
        matches!(tokio::time::timeout(limit, settled).await, Ok(Ok(_)))
    }

    /// Returns once the version differs from the one `inventory()` last returned.
    pub async fn changed(&self) {
        let returned = self.returned.load(Ordering::Relaxed);
        let mut progress = self.progress.subscribe();
        if progress
            .wait_for(|progress| progress.version != returned)
            .await
            .is_err()
        {
            std::future::pending::<()>().await;
        }
    }

    /// A full read through the feed, in `session`: the mirror is replaced, and current.
    pub fn replace(&self, mirror: Mirror, session: Session) {
        let mut followed = self.lock();

        // Reads polled while the feed was down may have seen anything: tell the reader
        // to look at the mirror, even when it did not change meanwhile.
        let changed = !followed.current || followed.mirror != mirror;
        followed.mirror = mirror;
        followed.current = true;
        followed.session = Some(session);
        followed.heard_at = Some(Instant::now());

        self.publish(changed, FeedStatus::Following);
    }

    /// Applies the updates of `filter`; on error the mirror is no longer current.
    pub fn apply(&self, set: &UpdateSet, filter: &Moref) -> Result<(), VsphereError> {
        let mut followed = self.lock();

        match followed.mirror.apply(set, filter) {
            Ok(changed) => {
                self.publish(changed, FeedStatus::Following);
                Ok(())
            }
            Err(error) => {
                followed.current = false;
                Err(error)
            }
        }
    }

    /// The feed stopped: inventory reads poll until the mirror is current again.
    pub fn lose(&self, status: FeedStatus) {
        self.lock().current = false;
        self.set_status(status);
    }

    /// Called with the mirror locked, so that a reader sees a version with its mirror.
    fn publish(&self, changed: bool, status: FeedStatus) {
        self.progress.send_if_modified(|progress| {
            if progress.status == FeedStatus::Stopped {
                return false;
            }
            let modified = changed || progress.status != status;
            progress.version += u64::from(changed);
            progress.status = status;
            modified
        });
    }

    /// A panic while the lock was held cannot leave the mirror half-written in a way
    /// that matters: the next full read replaces it.
    fn lock(&self) -> std::sync::MutexGuard<'_, Followed> {
        self.followed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
