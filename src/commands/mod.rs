//! The commands that are not `apply`/`plan`: `inventory`, `machines`, `exec`, `init`, `schema`,
//! `report merge`, `ssh close` and `secrets`.

pub mod exec;
pub mod init;
pub mod inventory;
pub mod machines;
pub mod report;
pub mod schema;
pub mod secrets;
pub mod ssh;
