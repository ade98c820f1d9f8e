//! Thin entry point: parse the command line and hand over to the library.

fn main() {
    centerscope::kernels::tune_allocator();
    std::process::exit(centerscope::cli::main_with_args(std::env::args_os()));
}
