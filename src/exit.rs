//! Exit codes of `orbdeploy`, as documented in the README: a contract scripts rely on.
//! A leaf module: it depends on nothing, so every layer may name a code.

/// Every step on every selected machine succeeded.
pub const OK: i32 = 0;
/// At least one step failed on at least one machine.
pub const FAILED: i32 = 1;
/// Usage or configuration error; nothing was run.
pub const USAGE: i32 = 2;
/// orbctl or a machine is unavailable.
pub const UNAVAILABLE: i32 = 3;
/// `plan --exit-code`: changes are pending (not used by any other command).
pub const CHANGES_PENDING: i32 = 4;
/// stdout was closed before everything was written (`| head`): the status a shell gives a
/// process that SIGPIPE ended (128 + 13), with no message, as other command-line tools end.
pub const BROKEN_PIPE: i32 = 141;
/// Interrupted by SIGINT/SIGTERM; children were stopped and the summary printed.
pub const INTERRUPTED: i32 = 130;
/// `apply --plan`: the saved plan was refused (changed, made by another version or with
/// other inputs, unknown steps without `--allow-unknown`), or a machine was refused because
/// its facts differ from the plan's.
pub const PLAN_REFUSED: i32 = 5;
