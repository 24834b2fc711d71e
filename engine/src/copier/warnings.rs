//! What a pass warns about in its report: folders over the destination's item thresholds
//! (guide 3.3.4.16), and folders the map sends elsewhere than an earlier pass did.

use super::ledger::Moved;
use crate::report::FolderReport;

/// Folders the destination will find too full (guide 3.3.4.16): copied all the same, and said.
pub(super) fn threshold_warnings(folders: &[FolderReport], dest_delimiter: char) -> Vec<String> {
    folders
        .iter()
        .filter_map(|f| {
            let category = crate::plan::assessment::folder_category(
                &f.dest,
                Some(dest_delimiter),
                f.special_use.as_deref(),
            )?;
            let limit = category.threshold();
            (f.source_messages > limit).then(|| {
                format!(
                    "folder {:?} holds {} items, over the destination's threshold of {limit} for \
                     its kind (guide 3.3.4.16): performance may suffer; consider splitting it",
                    f.dest, f.source_messages
                )
            })
        })
        .collect()
}

/// Folders the map sends elsewhere than an earlier pass did, as the report says them.
pub(super) fn moved_warnings(moved: &[Moved]) -> Vec<String> {
    moved
        .iter()
        .map(|m| match m.still_there {
            0 => format!(
                "the folder map now sends {:?} to {:?}: its {} messages copied to {:?} by an \
                 earlier pass are no longer there, and were copied to {:?}",
                m.source, m.new_dest, m.messages, m.old_dest, m.new_dest
            ),
            n => format!(
                "the folder map now sends {:?} to {:?}: its {} messages were copied there, and \
                 {:?} still holds {n} of them from an earlier pass",
                m.source, m.new_dest, m.messages, m.old_dest
            ),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_over_the_destinations_item_thresholds_are_warned_about() {
        let folder = |dest: &str, special: Option<&str>, n: u64| FolderReport {
            source: dest.into(),
            dest: dest.into(),
            special_use: special.map(str::to_string),
            source_messages: n,
            ..FolderReport::default()
        };
        let folders = [
            folder("INBOX", None, 20_001),
            folder("Sent", Some("\\Sent"), 20_000),
            folder("Archive/2020", None, 90_000),
            folder("Calendar", None, 5_001),
        ];
        let w = threshold_warnings(&folders, '/');
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(
            w[0].starts_with(
                "folder \"INBOX\" holds 20001 items, over the destination's threshold of 20000"
            ),
            "{w:?}"
        );
        assert!(w[1].contains("\"Calendar\" holds 5001 items"), "{w:?}");
    }
}
