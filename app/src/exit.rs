//! How `grin` and `grin-preview` end: one error type carrying one of the documented
//! exit codes (README, "Exit codes"), so a code is chosen by its meaning, never as a
//! literal number.

use std::fmt::Display;
use std::process::ExitCode;

/// Why a command failed, as its exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Exit {
    /// Something failed while running: a render step, frames of a batch, the window
    /// or device, writing a report.
    Failed = 1,
    /// Bad input: a scene, manifest, mesh, grid or flag, or an output that cannot be
    /// written; nothing was rendered.
    BadInput = 2,
    /// Out of GPU memory (a render, a single-frame batch).
    OutOfMemory = 3,
    /// `--backend gpu` without a usable GPU.
    NoGpu = 4,
}

/// A failed command: its exit code and the message printed to stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit code.
    pub exit: Exit,
    /// What to print (prefixed with the command's name).
    pub message: String,
}

impl Failure {
    /// A failure with `exit` and `message`.
    pub fn new(exit: Exit, message: impl Display) -> Self {
        Self {
            exit,
            message: message.to_string(),
        }
    }

    /// Prints the message and gives the process exit code.
    pub fn report(&self) -> ExitCode {
        eprintln!("{}", self.message);
        ExitCode::from(self.exit as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        // README, "Exit codes": 1 failed, 2 bad input, 3 out of GPU memory, 4 no GPU.
        let codes = [
            (Exit::Failed, 1u8),
            (Exit::BadInput, 2),
            (Exit::OutOfMemory, 3),
            (Exit::NoGpu, 4),
        ];
        for (exit, code) in codes {
            assert_eq!(exit as u8, code);
        }
    }
}
