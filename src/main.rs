//! The `registrar` binary: parse the command line, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;
use registrar::{cli::Cli, error};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Exit 2 is reserved for `plan --detailed-exitcode` (changes present).
            return if e.use_stderr() {
                ExitCode::from(error::EXIT_ERROR)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match registrar::run(cli) {
        Ok(code) => code,
        Err(err) => {
            anstream::eprint!("{}", error::render(&err));
            ExitCode::from(error::EXIT_ERROR)
        }
    }
}
