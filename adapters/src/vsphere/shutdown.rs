//! The goodbyes to vCenter at shutdown: the change feed's wait and collector, the view,
//! the session; within one short time budget, and given up once vCenter proves gone.

use std::time::Duration;

use tokio::sync::MutexGuard;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout, timeout_at};
use tracing::{debug, info, warn};

use super::connection::Connection;
use super::error::VsphereError;
use super::state::State;
use super::vim::Vim;

/// The whole of the goodbyes; the app gives the shutdown 3 s.
const BUDGET: Duration = Duration::from_millis(2500);

/// How long the follower may keep the state for a call in flight before it is stopped.
const LOCK_WAIT: Duration = Duration::from_millis(500);

/// How long the follower has to see its wait cancelled and end by itself.
const FOLLOWER_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug)]
pub(crate) struct Goodbyes<'a> {
    connection: &'a Connection,
    follower: Option<JoinHandle<()>>,
    deadline: Instant,
    /// A call got no answer: vCenter is gone, and the next calls would only wait alike.
    gone: bool,
}

impl<'a> Goodbyes<'a> {
    /// `follower` is the change feed's task, already told to stop.
    pub fn new(connection: &'a Connection, follower: Option<JoinHandle<()>>) -> Self {
        Self {
            connection,
            follower,
            deadline: Instant::now() + BUDGET,
            gone: false,
        }
    }

    pub async fn say(mut self) {
        let Some(mut state) = self.lock_state().await else {
            warn!("vSphere session busy at shutdown, leaving it to expire");
            self.end_follower(Duration::ZERO).await;
            return;
        };
        let (Some(content), Some(cookie)) = (state.content.clone(), state.cookie.take()) else {
            self.end_follower(Duration::ZERO).await;
            return;
        };
        let session = Vim::new(self.connection.transport(), &content, Some(&cookie.0));

        self.close_feed(session, &mut state).await;
        self.end_follower(Duration::ZERO).await;

        if let Some(view) = state.vm_view.take() {
            if let Some(vim) = self.vim(session) {
                let destroyed = vim.destroy_view(&view).await;
                self.check(destroyed, "cannot destroy the vSphere container view");
            }
        }
        self.log_out(session).await;
    }

    /// Cancels the pending wait, which then ends with RequestCanceled, lets the follower
    /// see it and end, and destroys the collector with its filter.
    async fn close_feed(&mut self, session: Vim<'_>, state: &mut State) {
        state.filter = None;
        let Some(collector) = state.collector.take() else {
            return;
        };

        if let Some(vim) = self.vim(session) {
            let cancelled = vim.cancel_wait_for_updates(&collector).await;
            self.check(cancelled, "cannot cancel the vSphere change feed wait");
        }
        self.end_follower(FOLLOWER_GRACE).await;

        if let Some(vim) = self.vim(session) {
            let destroyed = vim.destroy_property_collector(&collector).await;
            self.check(destroyed, "cannot destroy the vSphere property collector");
        }
    }

    async fn log_out(&mut self, session: Vim<'_>) {
        let Some(vim) = self.vim(session) else {
            return;
        };
        match vim.logout().await {
            Ok(()) => info!(url = %self.connection.url(), "logged out of vSphere"),
            Err(error) => warn!(error = %error, "cannot log out of vSphere"),
        }
    }

    /// The state, once the follower lets go of it; a follower stuck in a call is ended.
    async fn lock_state(&mut self) -> Option<MutexGuard<'a, State>> {
        if let Ok(state) = timeout(LOCK_WAIT, self.connection.state()).await {
            return Some(state);
        }

        self.end_follower(Duration::ZERO).await;
        timeout_at(self.deadline, self.connection.state())
            .await
            .ok()
    }

    /// Waits up to `grace` for the follower to end, then aborts it.
    async fn end_follower(&mut self, grace: Duration) {
        let Some(mut follower) = self.follower.take() else {
            return;
        };

        let grace = grace.min(self.deadline.saturating_duration_since(Instant::now()));
        if timeout(grace, &mut follower).await.is_ok() {
            return;
        }

        // Aborted, it ends at its next await: waiting for that frees the state it held.
        follower.abort();
        let _ = timeout_at(self.deadline, follower).await;
        debug!("stopped the vSphere change feed follower");
    }

    /// `session` with what is left of the budget; `None` once vCenter is gone or the
    /// budget is spent.
    fn vim<'v>(&self, session: Vim<'v>) -> Option<Vim<'v>> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        (!self.gone && !left.is_zero()).then(|| session.within(left))
    }

    fn check(&mut self, result: Result<(), VsphereError>, message: &'static str) {
        let Err(error) = result else { return };
        warn!(error = %error, "{message}");

        self.gone |= matches!(
            error,
            VsphereError::Timeout(_) | VsphereError::Connect(_) | VsphereError::Tls(_)
        );
    }
}
