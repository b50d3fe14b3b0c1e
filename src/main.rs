fn main() {
    std::process::exit(orbdeploy::main_entry());
}
