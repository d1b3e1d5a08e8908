//! Managed object references: how vim25 names a server-side object (`VirtualMachine:vm-42`).

use std::fmt;

/// A `ManagedObjectReference`: the object's type and its id (`value`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Moref {
    pub kind: String,
    pub value: String,
}

impl Moref {
    pub fn new(kind: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            kind: kind.into(),
            value: value.into(),
        }
    }
}

impl fmt::Display for Moref {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind, self.value)
    }
}
