//! What `grin` and `grin-preview` share: the command-line arguments both take
//! ([`cli_args`]: `--camera`, `--size`, `--backend`, parsed once) and how both end
//! ([`exit`]: one failure type carrying the documented exit codes). The commands
//! themselves are the two binaries of this package.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cli_args;
pub mod exit;
