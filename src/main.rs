//! Thin entry point: parse the command line and hand over to the library.

fn main() {
    centerscope::kernels::tune_allocator();
    centerscope::cli::install_panic_hook();
    let code = std::panic::catch_unwind(|| centerscope::cli::main_with_args(std::env::args_os()))
        .unwrap_or(2);
    std::process::exit(code);
}
