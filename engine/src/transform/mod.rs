//! Transforms: pure, synchronous changes to what is copied (one message's header addresses, one
//! folder's name), kept apart from the network code so they can be tested alone.

pub mod address_rewrite;
pub mod folder_map;
