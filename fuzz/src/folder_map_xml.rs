//! `folder_map_xml`: arbitrary text through the Foldermap.xml reader; see
//! `folder_map_checks` for what is checked.

use cutover_engine::transform::folder_map::parse_foldermap_xml;

/// Parses `data` (lossily as UTF-8) as Foldermap.xml and checks the map or the error.
pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    crate::folder_map_checks::check(&text, parse_foldermap_xml);
}
