//! `config show | get KEY | set KEY VALUE | add KEY VALUE | reset` (docs/orbctl.md §2, §11.2; words from
//! OrbStack's `config_show.go`, `config_get.go` and `config_set.go`).

use anyhow::Result;

use super::{arg_count, fail, home};
use crate::output::{server_error, usage_error};
use crate::settings::{self, Effect};
use crate::state::{self, Machine};
use crate::{cgroup, machine};

/// What orbctl prints (to stderr, as cobra's `cmd.Println` does) after setting a key that
/// needs OrbStack to restart.
const RESTART_ORBSTACK: &str = "Restart OrbStack with \"orbctl stop\" to apply changes.";

/// `orbctl config ...`: its own small dispatcher (a cobra parent with five children).
pub fn config(args: &[String]) -> i32 {
    let Some((sub, rest)) = args.split_first() else {
        crate::output::print(&crate::output::usage("config"));
        return 0;
    };
    let cmd = match sub.as_str() {
        "-h" | "--help" | "help" => {
            crate::output::print(&crate::output::usage("config"));
            return 0;
        }
        "show" => "config show",
        "get" => "config get",
        "set" => "config set",
        "add" => "config add",
        "reset" => "config reset",
        other => {
            eprintln!(
                "Error: unknown command \"{other}\" for \"orbctl config\"\nRun 'orbctl config --help' for usage."
            );
            return 1;
        }
    };
    // No flags but -h; `--` ends them, as in pflag.
    let mut pos = Vec::new();
    let mut flags_done = false;
    for a in rest {
        if flags_done || !a.starts_with('-') || a == "-" {
            pos.push(a.clone());
        } else if a == "--" {
            flags_done = true;
        } else if a == "-h" || a == "--help" {
            crate::output::print(&crate::output::usage(cmd));
            return 0;
        } else {
            let name = a.trim_start_matches('-');
            let msg = if a.starts_with("--") {
                format!("unknown flag: {a}")
            } else {
                format!(
                    "unknown shorthand flag: '{}' in {a}",
                    name.chars().next().unwrap_or('-')
                )
            };
            return usage_error(cmd, &msg);
        }
    }
    let result = match cmd {
        "config show" => show(cmd, &pos),
        "config get" => get(cmd, &pos),
        "config set" => set(cmd, &pos),
        "config add" => add(cmd, &pos),
        _ => reset(cmd, &pos),
    };
    result.unwrap_or_else(fail)
}

/// cobra.NoArgs: an argument is an unknown command.
fn no_args(cmd: &str, pos: &[String]) -> Option<i32> {
    let first = pos.first()?;
    Some(usage_error(
        cmd,
        &format!("unknown command \"{first}\" for \"orbctl {cmd}\""),
    ))
}

/// Every `key: value` line, sorted as Go sorts the formatted lines.
fn lines(state: &state::State) -> Vec<String> {
    let mut out = settings::global_lines(&state.config);
    for m in &state.machines {
        out.extend(settings::machine_lines(m));
    }
    out.sort();
    out
}

fn show(cmd: &str, pos: &[String]) -> Result<i32> {
    if let Some(code) = no_args(cmd, pos) {
        return Ok(code);
    }
    let locked = state::lock(&home())?;
    let mut text = lines(&locked.state).join("\n");
    text.push('\n');
    crate::output::print(&text);
    Ok(0)
}

/// `config get KEY`. OrbStack's source (docs/orbctl.md §2) prints every key, ignoring KEY, and
/// orbsim does the same. `ORBSIM_CONFIG_GET=value` instead prints the value alone, or
/// `Unknown configuration key: K` and exit 1 — \[GUESS\] how a newer build answers; for
/// clients that must handle both.
fn get(cmd: &str, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count(cmd, pos, 1, 1) {
        return Ok(code);
    }
    let locked = state::lock(&home())?;
    let all = lines(&locked.state);
    if std::env::var("ORBSIM_CONFIG_GET").as_deref() != Ok("value") {
        crate::output::print(&format!("{}\n", all.join("\n")));
        return Ok(0);
    }
    let prefix = format!("{}: ", pos[0]);
    match all.iter().find_map(|l| l.strip_prefix(&prefix)) {
        Some(value) => {
            crate::output::print(&format!("{value}\n"));
            Ok(0)
        }
        None => {
            eprintln!("Unknown configuration key: {}", pos[0]);
            Ok(1)
        }
    }
}

fn set(cmd: &str, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count(cmd, pos, 2, 2) {
        return Ok(code);
    }
    let (key, value) = (pos[0].as_str(), pos[1].as_str());
    let mut locked = state::lock(&home())?;
    if let Some(result) = settings::set_global(key, value) {
        return match result {
            Ok((normalised, reboot)) => {
                locked.state.config.insert(key.to_string(), normalised);
                locked.save()?;
                if reboot {
                    eprintln!("{RESTART_ORBSTACK}");
                }
                Ok(0)
            }
            Err(why) => {
                eprintln!("{why}");
                Ok(1)
            }
        };
    }
    change_machine(&mut locked, key, |m, sub| {
        settings::set_machine(m, sub, value)
    })
}

/// Change one machine's setting (`key` is `machine.NAME.KEY`) with `change` (`config set`'s
/// or `add`'s), with orbctl's line for an unknown machine, key or value, then make it real
/// where it applies at once, and save.
fn change_machine(
    locked: &mut state::Locked,
    key: &str,
    change: impl FnOnce(&mut Machine, &str) -> Option<Result<Effect, String>>,
) -> Result<i32> {
    let (name, sub) = match machine_key(key) {
        Ok(parts) => parts,
        Err(code) => return Ok(code),
    };
    let Some(m) = locked.state.find_mut(&name) else {
        return Ok(server_error(&format!("machine not found: '{name}'")));
    };
    let effect = match change(m, sub) {
        None => {
            eprintln!("Unknown machine config key: {key}");
            return Ok(1);
        }
        Some(Err(why)) => {
            eprintln!("{why}");
            return Ok(1);
        }
        Some(Ok(effect)) => effect,
    };
    apply_now(m, sub, effect)?;
    locked.save()?;
    Ok(0)
}

/// `machine.NAME.KEY` split into NAME and KEY (a name with dots quoted:
/// `machine."a.b".username`); `Err` is the exit code after orbctl's line.
fn machine_key(key: &str) -> Result<(String, &str), i32> {
    let Some(rest) = key.strip_prefix("machine.") else {
        eprintln!("Unknown configuration key: {key}");
        return Err(1);
    };
    let Some((name, sub)) = rest.rsplit_once('.').filter(|(n, _)| !n.is_empty()) else {
        eprintln!("Invalid machine config key: {key}");
        return Err(1);
    };
    Ok((name.replace('"', ""), sub))
}

/// `config add machine.NAME.mounts SRC[:DEST]` (docs/orbctl.md §12.1, \[3P\]: two clients
/// add a mount to a stopped clone before its first start, which cannot take `--mount`).
/// The mount joins the machine's list and applies at its next start, by `config set`'s
/// rule for `mounts`. \[GUESS\]: the words of every error but the shared ones (unknown key,
/// unknown machine, a bad mount), that `mounts` is the only list-valued key, that several
/// comma-separated mounts may be given at once, and that adding a mount that is already
/// there changes nothing.
fn add(cmd: &str, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count(cmd, pos, 2, 2) {
        return Ok(code);
    }
    let (key, value) = (pos[0].as_str(), pos[1].as_str());
    if settings::set_global(key, "").is_some() {
        eprintln!("Configuration key is not a list: {key}");
        return Ok(1);
    }
    let mut locked = state::lock(&home())?;
    change_machine(&mut locked, key, |m, sub| {
        settings::add_machine(m, sub, value)
    })
}

/// Make a per-machine change real where it applies at once; say when it waits for a
/// restart (orbsim never restarts a machine by itself).
fn apply_now(m: &mut Machine, key: &str, effect: Effect) -> Result<()> {
    let running = m.is_running();
    match (effect, key) {
        (Effect::Now, "username") if running => machine::ensure_user(m, None)?,
        (Effect::Now, "username") => m.user_pending = true,
        (Effect::Now, _) => {
            if let Some(w) = cgroup::Backend::warning(cgroup::Backend::detect().as_ref()) {
                eprintln!("{w}");
            }
            if running {
                cgroup::apply(&m.cgroups, m.limits.cpu, m.limits.memory_mib)?;
            }
        }
        // [GUESS] words, after the global restart line.
        (Effect::NextStart, _) if running => eprintln!(
            "Restart the machine with \"orbctl restart {}\" to apply changes.",
            m.name
        ),
        (Effect::NextStart, _) => {}
    }
    Ok(())
}

/// `config reset`: every global key back to its default (machines keep their settings).
fn reset(cmd: &str, pos: &[String]) -> Result<i32> {
    if let Some(code) = no_args(cmd, pos) {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    locked.state.config.clear();
    locked.save()?;
    eprintln!("{RESTART_ORBSTACK}");
    Ok(0)
}
