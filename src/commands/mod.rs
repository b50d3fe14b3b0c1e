//! The commands that are not `apply`/`plan`: `inventory`, `machines`, `exec`, `init`, `report merge` and `ssh close`.

pub mod exec;
pub mod init;
pub mod inventory;
pub mod machines;
pub mod report;
pub mod ssh;
