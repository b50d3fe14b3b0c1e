//! Read-only subcommands: list, info, default, logs.

use std::io::Write;

use anyhow::Result;

use super::{arg_count, home, Flags};
use crate::output::{server_error, usage_error};
use crate::state::{self, Machine};

pub(super) fn list(flags: &Flags, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("list", pos, 0, 0) {
        return Ok(code);
    }
    let format = flags.get("format").map_or("text", String::as_str);
    if format != "text" && format != "json" {
        return Ok(usage_error("list", &format!("invalid format: {format}")));
    }
    let locked = state::lock(&home())?;
    let running_only = flags.on("running");
    let machines: Vec<&Machine> = locked
        .state
        .machines
        .iter()
        .filter(|m| !running_only || m.is_running())
        .collect();
    let mut out = std::io::stdout().lock();
    if flags.on("quiet") {
        for m in &machines {
            writeln!(out, "{}", m.name)?;
        }
        return Ok(0);
    }
    if format == "json" {
        let list: Vec<serde_json::Value> = machines.iter().map(|m| m.to_json()).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(0);
    }
    // tabwriter, padding 2; no header in a pipe (docs/orbctl.md §3.1). orbsim never runs on a TTY
    // in tests; print the header only when stdout is a terminal, as orbctl does.
    let mut rows: Vec<Vec<String>> = Vec::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        rows.push(
            ["NAME", "STATE", "DISTRO", "VERSION", "ARCH", "SIZE", "IP"]
                .map(String::from)
                .to_vec(),
        );
        rows.push(
            ["----", "-----", "------", "-------", "----", "----", "--"]
                .map(String::from)
                .to_vec(),
        );
    }
    for m in &machines {
        let ip = if m.is_running() {
            m.ip4.clone().unwrap_or_default()
        } else {
            String::new()
        };
        rows.push(vec![
            m.name.clone(),
            m.state().to_string(),
            m.image.distro.clone(),
            m.image.version.clone(),
            m.image.arch.clone(),
            String::new(),
            ip,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c < 6 {
                    format!("{v:w$}  ", w = widths[c])
                } else {
                    v.clone()
                }
            })
            .collect();
        writeln!(out, "{}", cells.concat())?;
    }
    Ok(0)
}

pub(super) fn info(flags: &Flags, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("info", pos, 1, 1) {
        return Ok(code);
    }
    let format = flags.get("format").map_or("text", String::as_str);
    if format != "text" && format != "json" {
        return Ok(usage_error("info", &format!("invalid format: {format}")));
    }
    let locked = state::lock(&home())?;
    let Some(m) = locked.state.find(&pos[0]) else {
        return Ok(server_error(&format!("machine not found: '{}'", pos[0])));
    };
    let running = m.is_running();
    if format == "json" {
        let mut doc = serde_json::json!({ "record": m.to_json(), "disk_size": null });
        if let (true, Some(ip)) = (running, &m.ip4) {
            doc["ip4"] = serde_json::json!(ip);
        }
        crate::output::print(&format!("{}\n", serde_json::to_string_pretty(&doc)?));
        return Ok(0);
    }
    let mut text = format!(
        "ID: {}\nName: {}\nState: {}\n\nDistro: {}\nVersion: {}\nArchitecture: {}\n",
        m.id,
        m.name,
        m.state(),
        m.image.distro,
        m.image.version,
        m.image.arch
    );
    if let (true, Some(ip)) = (running, &m.ip4) {
        text.push_str(&format!("\nIPv4: {ip}\n"));
    }
    crate::output::print(&format!("{text}\n"));
    Ok(0)
}

pub(super) fn default(pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("default", pos, 0, 1) {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    match pos.first() {
        None => match locked.state.default_machine() {
            Some(m) => {
                crate::output::print(&format!("{}\n", m.name));
                Ok(0)
            }
            None => Ok(server_error("no machines found")),
        },
        Some(key) => {
            let Some(id) = locked.state.find(key).map(|m| m.id.clone()) else {
                return Ok(server_error(&format!("machine not found: '{key}'")));
            };
            locked.state.default_id = Some(id);
            locked.save()?;
            Ok(0)
        }
    }
}

pub(super) fn logs(_flags: &Flags, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("logs", pos, 1, 1) {
        return Ok(code);
    }
    let locked = state::lock(&home())?;
    let Some(m) = locked.state.find(&pos[0]) else {
        // orbctl prints this error on stdout and exits 0 (docs/orbctl.md §7).
        crate::output::print(&format!("[-32098] machine not found: '{}'\n", pos[0]));
        return Ok(0);
    };
    let log = std::fs::read(m.dir(locked.home()).join("console.log")).unwrap_or_default();
    std::io::stdout().write_all(&log)?;
    Ok(0)
}
