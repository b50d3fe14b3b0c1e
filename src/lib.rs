//! orbdeploy: a deploy runner for OrbStack Linux machines.
//!
//! Data flows one way: `cli` → `load` → `inventory` → `plan` → `run` → `report`.
//! `orb` is the only module that spells `orbctl`; `process` is the only one that starts
//! child processes; `yaml` is the only one that knows the YAML crate.

pub mod error;
pub mod inventory;
pub mod load;
pub mod orb;
pub mod process;
pub mod remote;
pub mod yaml;

/// Entry point used by `main.rs`; returns the process exit code.
pub fn main_entry() -> i32 {
    0
}
