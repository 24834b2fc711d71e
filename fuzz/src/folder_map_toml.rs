//! `folder_map_toml`: arbitrary text through the TOML folder-map reader; see
//! `folder_map_checks` for what is checked.

use cutover_engine::transform::folder_map::parse_foldermap_toml;

/// Parses `data` (lossily as UTF-8) as a TOML folder map and checks the map or the error.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    crate::folder_map_checks::check(&text, parse_foldermap_toml);
}
