//! Reading a saved plan back (`apply --plan`, `plan --show`): a file that is not a
//! plan is bad input (exit 2); a plan that was changed after it was written, or was made
//! by another orbdeploy or format version, is refused (exit 5).

use std::path::Path;

use serde_json::Value as Json;

use crate::error::{ConfigError, Outcome};

use super::digest;
use super::model::{PlanFile, FORMAT_VERSION, SCHEMA};

/// Saved plans larger than this are refused before parsing (a plan of 100 machines x
/// 200 steps is about 20 MiB).
const MAX_PLAN_BYTES: u64 = 256 * 1024 * 1024;

/// Read, verify and parse the saved plan at `path`.
pub fn open(path: &Path) -> anyhow::Result<PlanFile> {
    let doc = read_json(path)?;
    if doc.get("schema").and_then(Json::as_str) != Some(SCHEMA) {
        return Err(ConfigError::in_file(
            path,
            format!("not a saved plan: expected `\"schema\": \"{SCHEMA}\"` (written by `orbdeploy plan --out`)"),
        )
        .into());
    }
    let refuse = |why: String| Outcome::PlanRefused(format!("{}: {why}", path.display()));
    let format = doc.get("format_version").and_then(Json::as_u64);
    if format != Some(u64::from(FORMAT_VERSION)) {
        let found = format.map_or("no".to_string(), |v| v.to_string());
        return Err(refuse(format!(
            "the plan has format version {found}; this orbdeploy reads version {FORMAT_VERSION}: make a new plan"
        ))
        .into());
    }
    let mine = env!("CARGO_PKG_VERSION");
    let made_by = doc.get("orbdeploy_version").and_then(Json::as_str);
    if made_by != Some(mine) {
        return Err(refuse(format!(
            "the plan was made by orbdeploy {}; this is orbdeploy {mine}: make a new plan",
            made_by.unwrap_or("(unknown)")
        ))
        .into());
    }
    let stated = doc.get("integrity").and_then(Json::as_str).unwrap_or("");
    let actual = digest::integrity(&doc);
    if stated != actual {
        return Err(refuse(format!(
            "the plan's integrity hash does not match its content (it says {}, the content hashes to {actual}): the file was changed after `plan --out` wrote it",
            if stated.is_empty() { "nothing" } else { stated }
        ))
        .into());
    }
    serde_json::from_value(doc)
        .map_err(|e| ConfigError::in_file(path, format!("not a valid saved plan: {e}")).into())
}

/// The file as JSON; any failure is bad input.
fn read_json(path: &Path) -> Result<Json, ConfigError> {
    let reason = |e: &std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_string(),
        _ => e.to_string(),
    };
    let meta = std::fs::metadata(path).map_err(|e| {
        ConfigError::in_file(path, format!("cannot read the saved plan: {}", reason(&e)))
    })?;
    if meta.len() > MAX_PLAN_BYTES {
        return Err(ConfigError::in_file(
            path,
            format!("the saved plan is too large ({} bytes)", meta.len()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| {
        ConfigError::in_file(path, format!("cannot read the saved plan: {}", reason(&e)))
    })?;
    serde_json::from_slice(&bytes).map_err(|e| {
        // serde_json's message ends with the position, which the location already gives.
        let text = e.to_string();
        let what = text.split(" at line ").next().unwrap_or(&text).to_string();
        ConfigError::at(
            path,
            e.line() as u64,
            e.column() as u64,
            format!("not a saved plan: the file is not JSON ({what})"),
        )
    })
}
