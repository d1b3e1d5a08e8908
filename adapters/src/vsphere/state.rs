//! What a `VsphereSource` has learnt from vCenter, and when to forget it.

use std::fmt;
use std::time::Duration;

use tokio::time::Instant;

use super::error::{SoapFault, VsphereError};
use super::moref::Moref;
use super::vim::ServiceContent;

/// After vCenter refused the password, how long reads fail without trying again: every
/// failed Login counts towards the account's lockout.
const LOGIN_RETRY_AFTER_REFUSAL: Duration = Duration::from_secs(600);

/// What was learnt from vCenter, each part found again when forgotten.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub content: Option<ServiceContent>,
    pub cookie: Option<SessionCookie>,
    pub refused_login: Option<(Instant, SoapFault)>,
    pub datacenter: Option<Moref>,
    pub vm_root: Option<Moref>,
    pub vm_view: Option<Moref>,
    pub pool: Option<Moref>,
    /// Which Login the cookie comes from (1 for the first), so that a session lost by one
    /// task is not forgotten again by another that saw the same loss later.
    pub generation: u64,
    /// The change feed's own property collector and its filter, which die with the
    /// session like the view.
    pub collector: Option<Moref>,
    pub filter: Option<Moref>,
}

/// The session cookie value; as good as a password while the session lives.
#[derive(Clone)]
pub(crate) struct SessionCookie(pub String);

impl fmt::Debug for SessionCookie {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl State {
    /// The InvalidLogin fault of a recent Login, while a new try must wait.
    pub fn recent_refusal(&self) -> Option<&SoapFault> {
        let (refused_at, fault) = self.refused_login.as_ref()?;
        (refused_at.elapsed() < LOGIN_RETRY_AFTER_REFUSAL).then_some(fault)
    }

    /// The session is gone: NotAuthenticated, or our view or collector vanished with it.
    pub fn lost_session(&self, error: &VsphereError) -> bool {
        let Some(fault) = error.fault() else {
            return false;
        };
        match fault.name.as_str() {
            "NotAuthenticated" => true,
            "ManagedObjectNotFound" => fault.object.as_ref().is_some_and(|object| {
                [&self.vm_view, &self.collector, &self.filter]
                    .into_iter()
                    .any(|ours| ours.as_ref() == Some(object))
            }),
            _ => false,
        }
    }

    pub fn forget_session(&mut self) {
        self.cookie = None;
        self.vm_view = None;
        self.collector = None;
        self.filter = None;
    }

    /// Forgets what a failed read showed to be stale, so that the next read finds it again.
    pub fn after<T>(&mut self, result: Result<T, VsphereError>) -> Result<T, VsphereError> {
        let Err(error) = &result else {
            return result;
        };
        if self.lost_session(error) {
            self.forget_session();
        }

        self.forget_deleted(error);
        result
    }

    /// Forgets the object a ManagedObjectNotFound names, to find it again when needed.
    pub fn forget_deleted(&mut self, error: &VsphereError) {
        let deleted = error.fault().and_then(|fault| fault.object.clone());
        if let Some(deleted) = deleted {
            self.forget(&deleted);
        }
    }

    fn forget(&mut self, deleted: &Moref) {
        if self.datacenter.as_ref() == Some(deleted) || self.vm_root.as_ref() == Some(deleted) {
            self.datacenter = None;
            self.vm_root = None;
        }
        let slots = [
            &mut self.vm_view,
            &mut self.pool,
            &mut self.collector,
            &mut self.filter,
        ];
        for slot in slots {
            if slot.as_ref() == Some(deleted) {
                *slot = None;
            }
        }
        // A filter dies with its collector.
        if self.collector.is_none() {
            self.filter = None;
        }
    }
}
