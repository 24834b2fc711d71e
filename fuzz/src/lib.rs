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

/// One fuzz target.
pub struct Target {
    /// Its name, as `cargo fuzz` knows it.
    pub name: &'static str,
    /// Its body: panics when an invariant is broken.
    pub check: fn(&[u8]),
    /// The folders of the repository (relative to its root) that seed its corpus.
    pub seeds: &'static [&'static str],
}

/// Every target.
pub const TARGETS: &[Target] = &[
    Target {
        name: "address_rewrite",
        check: address_rewrite::check,
        seeds: &["fixtures/messages/rewrite", "fuzz/seeds/address_rewrite"],
    },
    Target {
        name: "directory",
        check: directory::check,
        seeds: &["fixtures/messages/rewrite", "fuzz/seeds/directory"],
    },
    Target {
        name: "folder_map_xml",
        check: folder_map_xml::check,
        seeds: &["fixtures/foldermaps", "fuzz/seeds/folder_map_xml"],
    },
    Target {
        name: "folder_map_toml",
        check: folder_map_toml::check,
        seeds: &["fixtures/foldermaps", "fuzz/seeds/folder_map_toml"],
    },
];
