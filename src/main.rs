//! Thin entry point: parse the command line and hand over to the library.

use clap::Parser;

fn main() {
    let cli = centerscope::cli::Cli::parse();
    std::process::exit(centerscope::cli::run(cli));
}
