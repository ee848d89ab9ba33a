//! The terminal side of [`bcpvault::repo::Progress`]: a byte progress bar with
//! rate and ETA on a TTY, nothing otherwise.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use bcpvault::repo::Progress;

/// A progress bar for byte-counted work.
pub struct Bar {
    bar: ProgressBar,
    interactive: bool,
}

impl Bar {
    /// A bar labelled `what`, drawn only when stderr is a terminal.
    pub fn new(what: &str) -> Bar {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let interactive = std::io::stderr().is_terminal();
        if !interactive {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        bar.set_style(
            ProgressStyle::with_template(
                "{prefix} [{bar:30}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_prefix(what.to_string());
        Bar { bar, interactive }
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Progress for Bar {
    fn total(&self, bytes: u64) {
        self.bar.set_length(bytes);
    }

    fn advance(&self, bytes: u64) {
        self.bar.inc(bytes);
    }

    fn file(&self, _path: &Path) {}

    /// Shown live on a terminal only: scripts get the full list in the command's
    /// report on stdout and exactly one error line on stderr.
    fn warn(&self, message: &str) {
        if self.interactive {
            self.bar.suspend(|| eprintln!("warning: {message}"));
        }
    }
}

/// Human-readable size (binary units).
pub fn size(bytes: u64) -> String {
    indicatif::BinaryBytes(bytes).to_string()
}
