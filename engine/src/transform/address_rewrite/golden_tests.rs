//! Golden pairs: `fixtures/messages/rewrite/NNN.eml` must become `NNN.expected.eml`, in the
//! line-ending form it is written in and in the other one (CRLF <-> LF). On a mismatch the actual
//! output is written next to the case, to `NNN.failed` (or `NNN.other-eol.failed`). Every case
//! runs through `directory.ldif`, the renames of the mailbox list `identities.csv` and the
//! domain map `adatum.com=contoso.com` (see the fixtures' README).

use std::path::{Path, PathBuf};

use super::{AddressRewriter, Directory, DomainMap, IdentityMap, Rewrite};
use crate::plan::mailbox_list::parse_mailbox_list;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/messages/rewrite")
}

fn rewriter(keep_original: bool) -> AddressRewriter {
    let path = fixtures().join("directory.ldif");
    let text = std::fs::read_to_string(&path).unwrap();
    let directory = Directory::from_ldif(&text, &path.display().to_string()).unwrap();
    let domains: DomainMap = [("adatum.com", "contoso.com")].into_iter().collect();
    let path = fixtures().join("identities.csv");
    let rows = parse_mailbox_list(&std::fs::read(&path).unwrap(), "identities.csv").unwrap();
    let identities = IdentityMap::from_mailbox_list(&rows);
    assert_eq!(identities.len(), 2, "Mary and Lee are renamed");
    AddressRewriter::new(directory, domains, keep_original).with_identities(identities)
}

/// `bytes` in the other line-ending form, when every line ending in it is the same.
fn other_line_endings(bytes: &[u8]) -> Option<Vec<u8>> {
    let lf = bytes.iter().filter(|&&b| b == b'\n').count();
    let cr = bytes.iter().filter(|&&b| b == b'\r').count();
    let crlf = bytes.windows(2).filter(|w| w == b"\r\n").count();
    if lf == 0 || cr != crlf {
        return None;
    }
    if crlf == lf {
        Some(bytes.iter().copied().filter(|&b| b != b'\r').collect())
    } else if crlf == 0 {
        Some(
            bytes
                .iter()
                .flat_map(|&b| {
                    if b == b'\n' {
                        vec![b'\r', b'\n']
                    } else {
                        vec![b]
                    }
                })
                .collect(),
        )
    } else {
        None
    }
}

#[test]
fn golden_rewrite_pairs() {
    let plain = rewriter(false);
    let keeping = rewriter(true);
    let mut inputs: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .filter(|p| !p.to_string_lossy().ends_with(".expected.eml"))
        .collect();
    inputs.sort();
    let mut failures = Vec::new();
    let mut runs = 0;
    for input_path in &inputs {
        let input = std::fs::read(input_path).unwrap();
        let expected = std::fs::read(input_path.with_extension("expected.eml")).unwrap();
        let keep = input.windows(23).any(|w| w == b"X-Golden: keep-original");
        let rewriter = if keep { &keeping } else { &plain };
        let mut forms = vec![(input.clone(), expected.clone(), "failed")];
        if let (Some(i), Some(e)) = (other_line_endings(&input), other_line_endings(&expected)) {
            forms.push((i, e, "other-eol.failed"));
        }
        for (input, expected, form) in forms {
            runs += 1;
            let rewrite = rewriter.rewrite(&input);
            if expected == input {
                assert!(
                    matches!(rewrite, Rewrite::Unchanged { .. }),
                    "{}: expected Unchanged ({form})",
                    input_path.display()
                );
            }
            let actual = rewrite.bytes(&input);
            if actual != expected.as_slice() {
                let failed = input_path.with_extension(form);
                std::fs::write(&failed, actual).unwrap();
                failures.push(format!(
                    "{} ({form}): see {}",
                    input_path.display(),
                    failed.display()
                ));
            }
        }
    }
    assert!(
        runs > 0,
        "no golden cases found in {}",
        fixtures().display()
    );
    assert!(
        failures.is_empty(),
        "{} golden case(s) differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Every prefix of every golden input (a message cut anywhere: mid-field, mid-escape, mid-fold),
/// with and without keep_original, is rewritten without a panic.
#[test]
fn truncated_golden_inputs_do_not_panic() {
    let rewriters = [rewriter(false), rewriter(true)];
    let mut runs = 0;
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "eml") {
            continue;
        }
        let input = std::fs::read(&path).unwrap();
        let header_len = super::header_fields::header_end(&input);
        for cut in 0..=header_len.min(input.len()) {
            for rewriter in &rewriters {
                let _ = rewriter.rewrite(&input[..cut]);
                runs += 1;
            }
        }
    }
    assert!(runs > 0);
}
