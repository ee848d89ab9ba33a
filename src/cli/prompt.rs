//! Password input: on the terminal without echo (new passwords twice), or one per
//! line from standard input with `--password-stdin` (automation and tests).

use std::io::BufRead;

use anyhow::{Context, Result, bail};
use zeroize::Zeroizing;

use bcpvault::crypto::Password;

/// Where passwords come from.
pub enum PasswordSource {
    /// Prompt on the controlling terminal.
    Tty,
    /// Read lines from standard input, in the order executives were named.
    Stdin,
}

impl PasswordSource {
    /// `--password-stdin` selects standard input; otherwise the terminal.
    pub fn new(password_stdin: bool) -> PasswordSource {
        if password_stdin {
            PasswordSource::Stdin
        } else {
            PasswordSource::Tty
        }
    }

    /// An existing password (unlock approval): asked once.
    pub fn existing(&mut self, executive: &str) -> Result<Password> {
        match self {
            PasswordSource::Tty => tty(&format!("Password for executive {executive}: ")),
            PasswordSource::Stdin => stdin_line(executive),
        }
    }

    /// A new password (ceremony, rekey): asked twice on the terminal.
    pub fn new_password(&mut self, executive: &str) -> Result<Password> {
        match self {
            PasswordSource::Tty => {
                let first = tty(&format!("New password for executive {executive}: "))?;
                let second = tty(&format!("Repeat the password for {executive}: "))?;
                if first.expose() != second.expose() {
                    bail!(
                        "the two passwords typed for executive {executive} differ; nothing was written"
                    );
                }
                Ok(first)
            }
            PasswordSource::Stdin => stdin_line(executive),
        }
    }
}

fn tty(prompt: &str) -> Result<Password> {
    let text = rpassword::prompt_password(prompt)
        .context("cannot prompt for a password on the terminal (no TTY?); use --password-stdin")?;
    Ok(Password::new(text))
}

fn stdin_line(executive: &str) -> Result<Password> {
    let mut line = Zeroizing::new(String::new());
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("--password-stdin: cannot read standard input")?;
    if n == 0 {
        bail!(
            "--password-stdin: no line for executive {executive} (give one password per line, in --executive order)"
        );
    }
    let trimmed = line.trim_end_matches(['\n', '\r']);
    Ok(Password::new(trimmed.to_string()))
}
