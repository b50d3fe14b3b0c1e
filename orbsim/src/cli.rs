//! Dispatch by the name orbsim was called under (docs/orbctl.md §1), and cobra-style parsing of
//! subcommand flags so that errors read exactly like orbctl's.

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
    ("config", &[]),
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
    if faults.stopped_hang {
        return commands::stopped_hang(cmd);
    }
    match cmd {
        // run has its own parser (docs/orbctl.md §4.1); config has subcommands of its own.
        "run" => commands::run(args, faults),
        "config" => commands::config(args),
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

/// How a flag takes its value (pflag's bool, string and string-array flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `--all`, `--all=false`.
    Bool,
    /// `-f json`, `--format=json`; the last one wins.
    Value,
    /// `--mount A --mount B`: every value is kept.
    Repeated,
}

use Kind::{Bool, Repeated, Value};

/// Flags: (short, long, kind); `'\0'` is no shorthand.
fn spec(cmd: &str) -> &'static [(char, &'static str, Kind)] {
    match cmd {
        "list" => &[
            ('f', "format", Value),
            ('q', "quiet", Bool),
            ('r', "running", Bool),
        ],
        "info" => &[('f', "format", Value)],
        "create" => &[
            ('a', "arch", Value),
            ('u', "user", Value),
            ('c', "user-data", Value),
            ('p', "set-password", Bool),
            // v2.1–v2.2 (docs/orbctl.md §11.2).
            ('\0', "cpus", Value),
            ('\0', "memory", Value),
            ('\0', "disk", Value),
            ('\0', "isolated", Bool),
            ('\0', "isolate-network", Bool),
            ('\0', "forward-ssh-agent", Bool),
            ('\0', "mount", Repeated),
        ],
        "start" | "restart" => &[('a', "all", Bool)],
        "stop" | "delete" => &[('a', "all", Bool), ('f', "force", Bool)],
        "push" | "pull" => &[('m', "machine", Value)],
        "logs" => &[('a', "all", Bool)],
        _ => &[],
    }
}

/// Parsed flags, in command-line order.
#[derive(Debug, Default)]
pub struct Flags(Vec<(&'static str, String)>);

impl Flags {
    /// The last value of a flag.
    pub fn get(&self, name: &str) -> Option<&String> {
        self.0
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// Every value of a repeated flag.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Whether a boolean flag is on (`--all`, `--all=true`; not `--all=false`).
    pub fn on(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "true")
    }
}

/// The flag as pflag names it in errors: `-a, --all` or `--cpus`.
fn shown(short: char, long: &str) -> String {
    if short == '\0' {
        format!("--{long}")
    } else {
        format!("-{short}, --{long}")
    }
}

/// pflag's boolean values (Go's strconv.ParseBool).
pub fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

fn bool_value(short: char, long: &str, v: &str) -> Result<String, String> {
    parse_bool(v).map(|b| b.to_string()).ok_or_else(|| {
        format!(
            "invalid argument \"{v}\" for \"{}\" flag: strconv.ParseBool: parsing \"{v}\": invalid syntax",
            shown(short, long)
        )
    })
}

enum Parsed {
    Help,
    Args(Flags, Vec<String>),
}

/// cobra/pflag parsing: flags anywhere, `--` ends them, `-f json`, `-f=json`,
/// `--format json`, `--format=json`, `-fjson`, combined booleans `-af`.
fn parse(cmd: &str, args: &[String]) -> Result<Parsed, String> {
    let spec = spec(cmd);
    let mut flags = Flags::default();
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
            let Some(&(short, lname, kind)) = spec.iter().find(|(_, l, _)| *l == name) else {
                return Err(format!("unknown flag: --{name}"));
            };
            let value = match (kind, inline) {
                (Bool, inline) => bool_value(short, lname, inline.as_deref().unwrap_or("true"))?,
                (_, Some(v)) => v,
                (_, None) => {
                    let v = args
                        .get(i)
                        .cloned()
                        .ok_or_else(|| format!("flag needs an argument: --{name}"))?;
                    i += 1;
                    v
                }
            };
            flags.0.push((lname, value));
        } else if a.len() > 1 && a.starts_with('-') {
            i = shorthands(spec, args, i, &mut flags)?.unwrap_or(i);
            if flags.0.last().is_some_and(|(n, _)| *n == "help") {
                return Ok(Parsed::Help);
            }
        } else {
            pos.push(a.clone());
        }
    }
    Ok(Parsed::Args(flags, pos))
}

/// One `-abc` group (the argument before `next`); returns the new index when a value was
/// taken from the next argument. `-h` is recorded as a `help` flag.
fn shorthands(
    spec: &[(char, &'static str, Kind)],
    args: &[String],
    next: usize,
    flags: &mut Flags,
) -> Result<Option<usize>, String> {
    let a = &args[next - 1];
    let chars: Vec<char> = a[1..].chars().collect();
    let mut j = 0;
    while j < chars.len() {
        let c = chars[j];
        if c == 'h' {
            flags.0.push(("help", "true".into()));
            return Ok(None);
        }
        let Some(&(_, lname, kind)) = spec.iter().find(|(s, _, _)| *s == c && c != '\0') else {
            return Err(format!("unknown shorthand flag: '{c}' in {a}"));
        };
        let rest: String = chars[j + 1..].iter().collect();
        if kind == Bool {
            if let Some(v) = rest.strip_prefix('=') {
                flags.0.push((lname, bool_value(c, lname, v)?));
                return Ok(None);
            }
            flags.0.push((lname, "true".into()));
            j += 1;
            continue;
        }
        if let Some(v) = rest.strip_prefix('=') {
            flags.0.push((lname, v.to_string()));
        } else if !rest.is_empty() {
            flags.0.push((lname, rest));
        } else {
            let v = args
                .get(next)
                .cloned()
                .ok_or_else(|| format!("flag needs an argument: '{c}' in -{c}"))?;
            flags.0.push((lname, v));
            return Ok(Some(next + 1));
        }
        return Ok(None);
    }
    Ok(None)
}

const ORBCTL_HELP: &str =
    "orbctl (orbsim): OrbStack's command line, simulated on Linux with real machines.

Usage:
  orbctl [command]

Available Commands:
  clone       Clone a machine
  config      Get or set configuration options
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
