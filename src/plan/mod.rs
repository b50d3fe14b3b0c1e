//! The plan layer: pure, no orbctl call. From the loaded inventory and steps it decides
//! which steps each machine gets (after `hosts:`, `--limit` and `--tags`), checks that
//! every one of them renders for every machine before anything runs, and decides the
//! machine actions of phase 1.

pub mod machines;
