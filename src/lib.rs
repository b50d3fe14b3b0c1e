//! orbdeploy: a deploy runner for OrbStack Linux machines.
//!
//! Data flows one way: `cli` → `load` → `inventory` → `plan` → `run` → `report`.
//! `orb` is the only module that spells `orbctl`; `process` is the only one that starts
//! child processes; `yaml` is the only one that knows the YAML crate.

pub mod cli;
pub mod commands;
pub mod error;
pub mod exit;
pub mod facts;
pub mod interrupt;
pub mod inventory;
pub mod load;
pub mod lookups;
pub mod mask;
pub mod ops;
pub mod orb;
pub mod plan;
pub mod printable;
pub mod process;
pub mod quote;
pub mod read_log;
pub mod remote;
pub mod report;
pub mod run;
pub mod saved_plan;
pub mod scenario;
pub mod secrets;
pub mod serial;
pub mod spanned_map;
pub mod spec;
pub mod ssh_target;
pub mod steps;
pub mod template;
pub mod yaml;

/// Entry point used by `main.rs`: parse, run, print the error, return the exit code.
pub fn main_entry() -> i32 {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == process::reaper::ARG)
    {
        return process::reaper::serve();
    }
    // This binary's children are ended by its reaper if it dies without ending them.
    process::reaper::enable();
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // Every command starts orbctl children; Ctrl-C must end them whatever the command.
    interrupt::install();
    let result = run(&cli);
    if interrupt::requested() {
        // apply and plan print their summary and end with 130 themselves; any other
        // command stops where it was, its children ended by the handler. A run stopped
        // before its summary could start (while orbctl listed or readied the machines)
        // says so in one line, not in silence.
        if let Err(err) = &result {
            let reported = err
                .downcast_ref::<error::Outcome>()
                .is_some_and(error::Outcome::already_reported);
            if !reported {
                eprintln!("interrupted: {}", describe(err));
            }
        }
        return exit::INTERRUPTED;
    }
    match result {
        Ok(()) => exit::OK,
        Err(err) if closed_stdout(&err) => exit::BROKEN_PIPE,
        Err(err) => {
            let silent = err
                .downcast_ref::<error::Outcome>()
                .is_some_and(error::Outcome::already_reported);
            if !silent {
                eprintln!("error: {}", describe(&err));
            }
            error::exit_code(&err)
        }
    }
}

/// Run a parsed command line.
pub fn run(cli: &cli::Cli) -> anyhow::Result<()> {
    let deadlines =
        orb::Deadlines::from_env().map_err(|e| error::ConfigError::plain(e.to_string()))?;
    let orb = orb::Orb::with_deadlines(&cli.orbctl, deadlines);
    match &cli.command {
        cli::Command::Inventory(args) => commands::inventory::inventory(&orb, args),
        cli::Command::Machines(cmd) => commands::machines::machines(&orb, cmd),
        cli::Command::Apply(args) => Ok(run::apply(&orb, &args.config()?)?.into_result()?),
        cli::Command::Plan(args) => match &args.saved_plan {
            Some(path) => saved_plan::show::print(path),
            None => Ok(run::apply(&orb, &args.config()?)?.into_result()?),
        },
        cli::Command::Exec(args) => commands::exec::exec(&orb, &args.into()),
        cli::Command::Test(args) => scenario::test(&orb, &args.config()?),
        cli::Command::Init { dir } => commands::init::init(dir),
        cli::Command::Schema { document } => Ok(commands::schema::print((*document).into())?),
        cli::Command::Ssh(cli::SshCommand::Close) => commands::ssh::close(),
        cli::Command::Report(cli::ReportCommand::Merge(args)) => {
            commands::report::merge(&commands::report::MergeConfig {
                reports: args.reports.clone(),
                out: args.out.clone(),
                junit: args.junit.clone(),
                report_html: args.report_html.clone(),
                command_line: std::env::args_os().collect(),
            })
        }
        cli::Command::Secrets(cmd) => commands::secrets::secrets(cmd),
        cli::Command::Completions { shell } => Ok(cli::print_completions(*shell)?),
    }
}

/// Whether the error is stdout closed under us (a reader such as `head` went away): the
/// output is not wanted any more, so the command ends quietly. Rust ignores SIGPIPE, and
/// that is kept on purpose: a pipe to a child (a channel, ssh) that breaks must be an
/// error the run handles, not a signal that kills orbdeploy mid-run.
fn closed_stdout(err: &anyhow::Error) -> bool {
    let broken = err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    });
    broken && stdout_has_no_reader()
}

/// The write end of a pipe or socket whose reader is gone polls as an error (or hang-up):
/// tells stdout's broken pipe from a child's.
fn stdout_has_no_reader() -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    let mut fds = [PollFd::new(stdout.as_fd(), PollFlags::POLLOUT)];
    match poll(&mut fds, PollTimeout::ZERO) {
        Ok(_) => fds[0]
            .revents()
            .is_some_and(|r| r.intersects(PollFlags::POLLERR | PollFlags::POLLHUP)),
        Err(_) => false,
    }
}

/// One message for an error: a configuration error is shown alone (it already names the
/// file, line and column); anything else shows its chain of causes. Masked with the
/// secrets of the run that failed, when it knew them.
fn describe(err: &anyhow::Error) -> String {
    let text = if let Some(cfg) = err
        .chain()
        .find_map(|c| c.downcast_ref::<error::ConfigError>())
    {
        cfg.to_string()
    } else {
        let mut parts: Vec<String> = err
            .chain()
            .map(|c| c.to_string())
            .filter(|p| !p.is_empty())
            .collect();
        parts.dedup();
        parts.join(": ")
    };
    match err.downcast_ref::<mask::MaskErrors>() {
        Some(m) => m.0.text(&text),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_error_is_printed_masked() {
        let masker = mask::Masker::new(vec!["hunter2".into()]);
        let err = anyhow::anyhow!("cannot read /srv/hunter2/x")
            .context("loading hunter2")
            .context(mask::MaskErrors(masker.clone()));
        assert_eq!(describe(&err), "loading ***: cannot read /srv/***/x");
        let cfg = anyhow::Error::new(error::ConfigError::plain("bad value hunter2"))
            .context(mask::MaskErrors(masker));
        assert_eq!(describe(&cfg), "bad value ***");
        assert_eq!(error::exit_code(&cfg), exit::USAGE, "the code is kept");
    }
}
