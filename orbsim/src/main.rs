//! orbsim: an orbctl-compatible OrbStack machine simulator for Linux.
//!
//! Invoked as `orbctl` it answers orbctl's command line; as `orb` it behaves like `orb`
//! (a known subcommand first, else `run`); as `orbsim` it is `orbctl`. Machines are real:
//! an init process in its own PID/mount/UTS/IPC/network namespaces over an overlay of a
//! debootstrapped Debian root file system. See orbsim/README.md.

mod agent;
mod calllog;
mod cgroup;
mod cli;
mod commands;
mod compat;
mod copy;
mod distro;
mod enter;
mod faults;
mod hosts;
mod image;
mod init;
mod keeper;
mod machine;
mod net;
mod output;
mod paths;
mod quote;
mod runflags;
mod settings;
mod state;
mod ulid;

use std::time::Instant;

fn main() {
    let started = Instant::now();
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    // The machine's init is this same binary, started detached by `start`/`create`.
    if argv.get(1).map(String::as_str) == Some(init::SUBCOMMAND) {
        std::process::exit(init::main(&argv[2..]));
    }
    let log = calllog::open();
    let faults = faults::Faults::from_env();
    if let Some(latency) = faults.latency {
        std::thread::sleep(latency);
    }
    compat::Compat::report_unknown();
    let code = match compat::home_panic(compat::Compat::from_env()) {
        Some(code) => code,
        None => cli::dispatch(&argv, &faults),
    };
    calllog::append(log, &argv, code, started.elapsed());
    std::process::exit(code);
}
