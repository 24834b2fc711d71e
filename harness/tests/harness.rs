//! The harness's integration tests, in one binary.

mod mbsync;
mod mock_server;
mod mock_shaping;
mod scale_hold;
mod serve;
