//! The shapes of orbctl's output and errors (docs/orbctl.md §1.1): server errors as one
//! `[-32098] …` line, argument errors as cobra's `Error: …` followed by the command's usage,
//! and what a reader that goes away does to the program.

/// Write to stdout as orbctl does: when the reader has gone away, the process ends the way a
/// Go program writing to fd 1 does — killed by SIGPIPE, without a word — never with a
/// panic or an error message.
pub fn print(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            die_of_sigpipe();
        }
    }
}

/// End the process by SIGPIPE (see [`print()`]).
pub fn die_of_sigpipe() -> ! {
    // SAFETY: restoring the default action of one signal and raising it.
    unsafe {
        nix::libc::signal(nix::libc::SIGPIPE, nix::libc::SIG_DFL);
        nix::libc::raise(nix::libc::SIGPIPE);
    }
    std::process::exit(141)
}

/// A server-side error: one line on stderr, exit 1.
pub fn server_error(msg: &str) -> i32 {
    eprintln!("[-32098] {msg}");
    1
}

/// A cobra argument error: `Error: MSG`, the usage of `cmd`, exit 1 (modern builds).
pub fn usage_error(cmd: &str, msg: &str) -> i32 {
    eprintln!("Error: {msg}");
    eprint!("{}", usage(cmd));
    1
}

/// cobra's usage block for a subcommand.
pub fn usage(cmd: &str) -> String {
    let (line, flags) = match cmd {
        "list" => ("list [flags]", "  -f, --format string   output format (text, json) (default \"text\")\n  -h, --help            help for list\n  -q, --quiet           only show machine names\n  -r, --running         only show running machines\n"),
        "info" => ("info [flags] ID/NAME", "  -f, --format string   output format (text, json) (default \"text\")\n  -h, --help            help for info\n"),
        "create" => ("create [flags] DISTRO[:VERSION] [MACHINE_NAME]", "  -a, --arch string           override machine architecture\n      --cpus int              limit the machine to N CPU cores\n      --disk string           disk size (e.g. 64G)\n      --forward-ssh-agent     forward the SSH agent into the machine\n  -h, --help                  help for create\n      --isolate-network       no network access to the host or other machines\n      --isolated              no access to host files and the host\n      --memory string         memory limit (e.g. 4G)\n      --mount stringArray     share a host directory: SRC[:DEST] (repeatable)\n  -p, --set-password          set a password for the default user\n  -u, --user string           set the default username\n  -c, --user-data string      path to user data for cloud-init\n"),
        "start" => ("start [flags] [ID/NAME]...", "  -a, --all    start all machines\n  -h, --help   help for start\n"),
        "stop" => ("stop [flags] [ID/NAME]...", "  -a, --all     stop all machines\n  -f, --force   force stop\n  -h, --help    help for stop\n"),
        "restart" => ("restart [flags] [ID/NAME]...", "  -a, --all    restart all machines\n  -h, --help   help for restart\n"),
        "delete" => ("delete [flags] [ID/NAME]...", "  -a, --all     delete all machines\n  -f, --force   skip confirmation\n  -h, --help    help for delete\n"),
        "run" => ("run [flags] -- [COMMAND] [ARGS]...", "  -h, --help             help for run\n  -m, --machine string   Use a specific Linux machine\n  -p, --path             Translate absolute macOS paths to Linux paths\n  -s, --shell            Use the login shell instead of running the command directly\n  -u, --user string      Log in as a specific user\n  -w, --workdir string   Override the working directory\n"),
        "push" => ("push [flags] macOS-source... [Linux-dest]", "  -h, --help             help for push\n  -m, --machine string   Copy to a specific Linux machine\n"),
        "pull" => ("pull [flags] Linux-source... [macOS-dest]", "  -h, --help             help for pull\n  -m, --machine string   Copy from a specific Linux machine\n"),
        "clone" => ("clone [flags] OLD NEW", "  -h, --help   help for clone\n"),
        "rename" => ("rename [flags] OLD/ID NEW", "  -h, --help   help for rename\n"),
        "default" => ("default [flags] [NAME/ID]", "  -h, --help   help for default\n"),
        "logs" => ("logs [flags] ID/NAME", "  -a, --all    show all logs\n  -h, --help   help for logs\n"),
        "config" => ("config [command]", "  -h, --help   help for config\n\nAvailable Commands:\n  add         Add a value to a list config option\n  get         Get a config value\n  reset       Reset configuration to defaults\n  set         Set a config option\n  show        Show current configuration\n"),
        "config show" => ("config show [flags]", "  -h, --help   help for show\n"),
        "config get" => ("config get KEY [flags]", "  -h, --help   help for get\n"),
        "config set" => ("config set KEY VALUE [flags]", "  -h, --help   help for set\n"),
        // [GUESS] the usage line and help words of `config add` (§12.1 gives only its use).
        "config add" => ("config add KEY VALUE [flags]", "  -h, --help   help for add\n"),
        "config reset" => ("config reset [flags]", "  -h, --help   help for reset\n"),
        _ => ("[command]", "  -h, --help   help\n"),
    };
    format!("Usage:\n  orbctl {line}\n\nFlags:\n{flags}\n")
}
