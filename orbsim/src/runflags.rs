//! `orbctl run`'s own flag parser (docs/orbctl.md §4.1): flags are read from the left and
//! parsing stops at the first argument that does not start with `-`; `--` is NOT a
//! separator but an unknown flag.

/// What `run`'s flags said.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunFlags {
    /// `-m/--machine`.
    pub machine: Option<String>,
    /// `-u/--user`.
    pub user: Option<String>,
    /// `-w/--workdir` (`Some("")` means the user's home).
    pub workdir: Option<String>,
    /// `-s/--shell`: join the arguments unquoted and run them as a script.
    pub shell: bool,
    /// `-p/--path`: translate absolute mac paths in arguments.
    pub path: bool,
    /// `-h/--help`.
    pub help: bool,
    /// The command and its arguments, verbatim.
    pub command: Vec<String>,
}

/// Parse `run`'s arguments; the error is cobra's message (without `Error: `).
pub fn parse(args: &[String]) -> Result<RunFlags, String> {
    let mut f = RunFlags::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if !arg.starts_with('-') {
            break;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (arg.as_str(), None),
        };
        let name = name.trim_start_matches('-');
        // `--` (and `-`) have an empty name: unknown, as in real orbctl.
        match name {
            "m" | "machine" | "u" | "user" | "w" | "workdir" => {
                let value = match inline {
                    Some(v) => v,
                    None => {
                        i += 1;
                        match args.get(i) {
                            Some(v) => v.clone(),
                            None => return Err(format!("missing value for flag {arg}")),
                        }
                    }
                };
                match name {
                    "m" | "machine" => f.machine = Some(value),
                    "u" | "user" => f.user = Some(value),
                    _ => f.workdir = Some(value),
                }
            }
            "s" | "shell" | "p" | "path" | "h" | "help" => {
                let on = match inline.as_deref() {
                    None | Some("true") | Some("1") => true,
                    Some("false") | Some("0") => false,
                    Some(other) => return Err(format!("invalid value for flag {name}: {other}")),
                };
                match name {
                    "s" | "shell" => f.shell = on,
                    "p" | "path" => f.path = on,
                    _ => f.help = on,
                }
            }
            _ => return Err(format!("unknown flag {arg}")),
        }
        i += 1;
    }
    f.command = args[i..].to_vec();
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<RunFlags, String> {
        parse(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn flags_stop_at_the_first_non_flag() {
        let f = p(&["-m", "vm", "ls", "-la", "--color"]).unwrap();
        assert_eq!(f.machine.as_deref(), Some("vm"));
        assert_eq!(f.command, ["ls", "-la", "--color"]);
    }

    #[test]
    fn every_spelling_is_accepted_and_last_wins() {
        let f = p(&[
            "--machine=a",
            "-machine",
            "b",
            "-u=root",
            "--workdir",
            "/tmp",
            "-w=",
            "true",
        ])
        .unwrap();
        assert_eq!(f.machine.as_deref(), Some("b"));
        assert_eq!(f.user.as_deref(), Some("root"));
        assert_eq!(f.workdir.as_deref(), Some(""));
        assert_eq!(f.command, ["true"]);
        assert_eq!(
            p(&["--machine", "-x", "id"]).unwrap().machine.as_deref(),
            Some("-x")
        );
        assert!(p(&["-s", "--shell=false", "x"]).map(|f| !f.shell).unwrap());
    }

    #[test]
    fn double_dash_and_unknown_flags_are_errors() {
        assert_eq!(p(&["-m", "vm", "--", "ls"]).unwrap_err(), "unknown flag --");
        assert_eq!(p(&["-x", "ls"]).unwrap_err(), "unknown flag -x");
        assert_eq!(p(&["-m"]).unwrap_err(), "missing value for flag -m");
    }
}
