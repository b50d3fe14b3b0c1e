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
pub mod spanned_map;
pub mod spec;
pub mod ssh_target;
pub mod steps;
pub mod template;
pub mod yaml;

/// Entry point used by `main.rs`: parse, run, print the error, return the exit code.
pub fn main_entry() -> i32 {
    let cli = match cli::parse() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    // Every command starts orbctl children; Ctrl-C must end them whatever the command.
    interrupt::install();
    let result = run(&cli);
    if interrupt::requested() {
        // apply and plan print their summary and end with 130 themselves; any other
        // command stops where it was, its children ended by the handler.
        return exit::INTERRUPTED;
    }
    match result {
        Ok(()) => exit::OK,
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
        cli::Command::Completions { shell } => {
            cli::print_completions(*shell);
            Ok(())
        }
    }
}

/// One message for an error: a configuration error is shown alone (it already names the
/// file, line and column); anything else shows its chain of causes.
fn describe(err: &anyhow::Error) -> String {
    if let Some(cfg) = err
        .chain()
        .find_map(|c| c.downcast_ref::<error::ConfigError>())
    {
        return cfg.to_string();
    }
    let mut parts: Vec<String> = err.chain().map(|c| c.to_string()).collect();
    parts.dedup();
    parts.join(": ")
}
