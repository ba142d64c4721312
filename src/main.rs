//! Thin: parse the command line, set up tracing, and hand over to the library.

/// mimalloc: the sending path allocates and frees many small buffers from several
/// threads; glibc's allocator spent about a tenth of the CPU of a send on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HERALD_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    std::process::exit(herald::cli::run());
}
