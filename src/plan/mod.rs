//! The plan: dependency order between nodes and the content hashes that decide what
//! must be rebuilt, re-provisioned or recreated.

pub mod cache_key;
pub mod hash;
pub mod order;
pub mod reconcile;
