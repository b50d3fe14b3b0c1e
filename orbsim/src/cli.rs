//! Dispatch by the name orbsim was called under (reference §1), and cobra-style parsing of
//! subcommand flags so that errors read exactly like orbctl's.

use std::collections::HashMap;

use crate::commands;
use crate::faults::Faults;
use crate::output::{usage, usage_error};

/// Subcommands orbsim answers (with their aliases).
const SUBCOMMANDS: &[(&str, &[&str])] = &[
    ("list", &["ls"]),
    ("info", &["i"]),
    ("create", &["add", "new"]),
    ("start", &[]),
    ("stop", &["shutdown"]),
    ("restart", &[]),
    ("delete", &["rm"]),
    ("run", &["exec", "shell"]),
    ("push", &[]),
    ("pull", &[]),
    ("clone", &[]),
    ("rename", &[]),
    ("default", &["set-default", "get-default"]),
    ("status", &[]),
    ("version", &[]),
    ("logs", &["log", "console"]),
];

fn canonical(word: &str) -> Option<&'static str> {
    SUBCOMMANDS
        .iter()
        .find(|(name, aliases)| *name == word || aliases.contains(&word))
        .map(|(name, _)| *name)
}

/// Run one invocation; returns the exit code.
pub fn dispatch(argv: &[String], faults: &Faults) -> i32 {
    if !cfg!(target_os = "linux") {
        eprintln!(
            "orbsim: needs Linux (namespaces and overlayfs); on a Mac use OrbStack's own orbctl"
        );
        return 1;
    }
    let called = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a).to_string())
        .unwrap_or_default();
    let args = argv.get(1..).unwrap_or_default();
    if called == "orb" {
        return match args.first().map(String::as_str) {
            None => commands::run(&[], faults),
            Some("-h" | "--help" | "help") => {
                crate::output::print(ORB_HELP);
                0
            }
            Some(first) => match canonical(first) {
                Some(cmd) => subcommand(cmd, &args[1..], faults),
                // Anything else is a command to run in the default machine.
                None => commands::run(args, faults),
            },
        };
    }
    match args.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => {
            crate::output::print(ORBCTL_HELP);
            0
        }
        Some(first) => match canonical(first) {
            Some(cmd) => subcommand(cmd, &args[1..], faults),
            None if first.starts_with('-') => {
                eprintln!("Error: unknown flag: {first}\nRun 'orbctl --help' for usage.");
                1
            }
            None => {
                eprintln!("Error: unknown command \"{first}\" for \"orbctl\"\nRun 'orbctl --help' for usage.");
                1
            }
        },
    }
}

fn subcommand(cmd: &str, args: &[String], faults: &Faults) -> i32 {
    if faults.not_running {
        return commands::not_running(cmd);
    }
    match cmd {
        // run has its own parser (reference §4.1).
        "run" => commands::run(args, faults),
        _ => match parse(cmd, args) {
            Ok(Parsed::Help) => {
                crate::output::print(&usage(cmd));
                0
            }
            Ok(Parsed::Args(flags, pos)) => commands::call(cmd, &flags, &pos, faults),
            Err(msg) => usage_error(cmd, &msg),
        },
    }
}

/// Flags: (short, long, takes a value).
fn spec(cmd: &str) -> &'static [(char, &'static str, bool)] {
    match cmd {
        "list" => &[
            ('f', "format", true),
            ('q', "quiet", false),
            ('r', "running", false),
        ],
        "info" => &[('f', "format", true)],
        "create" => &[
            ('a', "arch", true),
            ('u', "user", true),
            ('c', "user-data", true),
            ('p', "set-password", false),
        ],
        "start" | "restart" => &[('a', "all", false)],
        "stop" => &[('a', "all", false), ('f', "force", false)],
        "delete" => &[('a', "all", false), ('f', "force", false)],
        "push" | "pull" => &[('m', "machine", true)],
        "logs" => &[('a', "all", false)],
        _ => &[],
    }
}

enum Parsed {
    Help,
    Args(HashMap<&'static str, String>, Vec<String>),
}

/// cobra/pflag parsing: flags anywhere, `--` ends them, `-f json`, `-f=json`,
/// `--format json`, `--format=json`, `-fjson`, combined booleans `-af`.
fn parse(cmd: &str, args: &[String]) -> Result<Parsed, String> {
    let spec = spec(cmd);
    let mut flags = HashMap::new();
    let mut pos = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if a == "--" {
            pos.extend(args[i..].iter().cloned());
            break;
        }
        if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            if name == "help" {
                return Ok(Parsed::Help);
            }
            let Some(&(_, lname, takes)) = spec.iter().find(|(_, l, _)| *l == name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            let value = if takes {
                match inline {
                    Some(v) => v,
                    None => {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| format!("flag needs an argument: --{name}"))?;
                        i += 1;
                        v
                    }
                }
            } else {
                inline.unwrap_or_else(|| "true".to_string())
            };
            flags.insert(lname, value);
        } else if a.len() > 1 && a.starts_with('-') {
            let chars: Vec<char> = a[1..].chars().collect();
            let mut j = 0;
            while j < chars.len() {
                let c = chars[j];
                if c == 'h' {
                    return Ok(Parsed::Help);
                }
                let Some(&(_, lname, takes)) = spec.iter().find(|(s, _, _)| *s == c) else {
                    return Err(format!("unknown shorthand flag: '{c}' in {a}"));
                };
                if takes {
                    let rest: String = chars[j + 1..].iter().collect();
                    let value = if let Some(v) = rest.strip_prefix('=') {
                        v.to_string()
                    } else if !rest.is_empty() {
                        rest
                    } else {
                        let v = args
                            .get(i)
                            .cloned()
                            .ok_or_else(|| format!("flag needs an argument: '{c}' in -{c}"))?;
                        i += 1;
                        v
                    };
                    flags.insert(lname, value);
                    break;
                }
                flags.insert(lname, "true".to_string());
                j += 1;
            }
        } else {
            pos.push(a.clone());
        }
    }
    Ok(Parsed::Args(flags, pos))
}

const ORBCTL_HELP: &str =
    "orbctl (orbsim): OrbStack's command line, simulated on Linux with real machines.

Usage:
  orbctl [command]

Available Commands:
  clone       Clone a machine
  create      Create a new machine
  default     Get or set the default machine
  delete      Delete machines
  info        Get info about a machine
  list        List machines
  logs        Show a machine's console log
  pull        Copy files from Linux
  push        Copy files to Linux
  rename      Rename a machine
  restart     Restart machines
  run         Run a command in a machine
  start       Start machines
  status      Show OrbStack's status
  stop        Stop machines
  version     Show the version

Use \"orbctl [command] --help\" for more information about a command.
";

const ORB_HELP: &str = "Usage:
  orb                      Start a shell in the default machine
  orb <command> [args]     Run a command in the default machine (orb -m NAME -u USER ...)
  orb <subcommand> [args]  Run an orbctl subcommand (orb list, orb create ...)
";
