//! The `orbdeploy` command: parses the command line, runs it, exits with its code
//! (see `orbdeploy::main_entry`).

fn main() {
    std::process::exit(orbdeploy::main_entry());
}
