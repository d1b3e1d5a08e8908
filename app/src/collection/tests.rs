//! Tests of the collection.
