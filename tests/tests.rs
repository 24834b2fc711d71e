//! cutover's integration tests: one binary, one module per area.

mod cli;
mod copy_dovecot;
mod dovecot_fixture;
