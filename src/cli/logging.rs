//! Log output of the daemon: `tracing` to stderr (the daemon log file when in the
//! background), level from `BCPVAULT_LOG` (default `info`).

/// Installs the stderr subscriber once.
pub fn init_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BCPVAULT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
