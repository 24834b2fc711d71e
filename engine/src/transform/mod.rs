//! Transforms: pure, synchronous changes to what is copied (folder names, later header
//! addresses), kept apart from the network code so they can be tested alone.

pub mod folder_map;
