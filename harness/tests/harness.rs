//! The harness's integration tests, in one binary.

mod mock_server;
mod mock_shaping;
