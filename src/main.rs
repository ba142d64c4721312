//! Thin: parse the command line, set up tracing, and hand over to the library.

/// mimalloc: the sending path allocates and frees many small buffers from several
/// threads; glibc's allocator spent about a tenth of the CPU of a send on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    use std::io::IsTerminal;
    tracing_subscriber::fmt()
        .with_env_filter(herald::logging::filter_from_env())
        .with_writer(std::io::stderr)
        // No colour codes in a log file or a pipe.
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    std::process::exit(herald::cli::run());
}
