//! orbdeploy's integration tests: one test binary (`cargo test --test suite`), one module per
//! area, so that the suite is linked once instead of once per file. A module's tests are
//! named after it: `cargo test --test suite -- output::` runs what `tests/output.rs` ran when
//! each file was a test binary of its own.
//!
//! The shared parts are modules too: `harness` (a `World` of orbsim machines for the
//! end-to-end tests, and `harness::sshbed`, real sshd hosts), `fake` (the recording fake
//! orbctl) and `snap` (the snapshot projects, through the fake). Snapshots live in
//! `snapshots/`, named `suite__<module>__<name>.snap`.

mod fake;
mod harness;
mod snap;

mod ansible_diff;
mod ansible_habits;
mod apply;
mod bad_input;
mod become_password;
mod cargo_install;
mod ci_example;
mod cli;
mod e2e;
mod faults;
mod first_deploy;
mod fuzz;
mod groups;
mod html_report;
mod install;
mod kill;
mod live_display;
mod loops;
mod loops_output;
mod masking;
mod ops_everyday;
mod ops_transfer;
mod orbsim_compat;
mod orbstack_2026;
mod output;
mod persist;
mod pipeline;
mod readme;
mod reconcile;
mod rerun;
mod saved_plan;
mod saved_plan_output;
mod scenarios;
mod schema;
mod secret_sources;
mod secrets;
mod serial;
mod shards;
mod ssh;
mod ssh_inventory;
mod sshbed;
mod step_results;
mod transport;
