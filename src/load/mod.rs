//! Loading what the user wrote: YAML files into typed, validated configuration.
//! Every error here is a `ConfigError` (exit 2) raised before any machine is touched.

pub mod inventory;
pub mod operations;
pub mod scenario;
pub mod schema;
