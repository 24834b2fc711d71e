//! cutover's integration tests: one binary, one module per area.

mod access;
mod assess;
mod bench;
mod budget;
mod check;
mod checkpoints;
mod cli;
mod copy_dovecot;
mod copy_mock;
mod crash;
mod damaged_message;
mod dovecot_fixture;
mod filters;
mod incremental;
mod init;
mod interrupt;
mod lockout;
mod pair;
mod plan;
mod plan_validation;
mod quota;
mod resume;
mod secrets;
mod status;
mod transforms;
mod verify;
