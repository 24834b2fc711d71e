//! The fuzz targets' bodies: each `check` takes arbitrary bytes and asserts what the code under
//! test promises about them, panicking when a promise is broken. The `cargo fuzz` targets in
//! `fuzz_targets/` only call these, so `tests/replay.rs` can run the same checks on stable, over
//! the seed corpora and any crash artifacts, without libFuzzer.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod address_rewrite;
pub mod directory;
mod folder_map_checks;
pub mod folder_map_toml;
pub mod folder_map_xml;

/// Every target: its name (as `cargo fuzz` knows it), its check, and the folders of the
/// repository (relative to its root) that seed its corpus.
pub const TARGETS: &[(&str, fn(&[u8]), &[&str])] = &[
    (
        "address_rewrite",
        address_rewrite::check,
        &["fixtures/messages/rewrite", "fuzz/seeds/address_rewrite"],
    ),
    (
        "directory",
        directory::check,
        &["fixtures/messages/rewrite", "fuzz/seeds/directory"],
    ),
    (
        "folder_map_xml",
        folder_map_xml::check,
        &["fixtures/foldermaps", "fuzz/seeds/folder_map_xml"],
    ),
    (
        "folder_map_toml",
        folder_map_toml::check,
        &["fixtures/foldermaps", "fuzz/seeds/folder_map_toml"],
    ),
];
