//! Reads the Microsoft migration tools' Foldermap.xml (guide 3.6.4.1.2 and 3.6.4.1.3).
//!
//! ```xml
//! <Folder path="Spam">
//!   <Property SpecialFolder="Junk E-mail" />
//! </Folder>
//! <Folder path="Important Mail">
//!   <Property Name="Inbox/Important" />
//! </Folder>
//! ```
//!
//! The guide shows `<Folder>` entries but not the element around them, so either form is read:
//! bare `<Folder>` entries (as printed in the guide) or entries inside one root element of any
//! name. Element and attribute names are matched case-insensitively and values are trimmed.
//! Everything else is an error naming the file, line and column: other elements, unknown
//! attributes, text, a `<Folder>` without exactly one `<Property>`, a `<Property>` without
//! exactly one of `SpecialFolder` / `Name`. Comments, the XML declaration, processing
//! instructions and a DOCTYPE are ignored.

use super::error::{FolderMapError, Problem};
use super::map::{is_usable_path, FolderMap, MapTarget};
use super::special::SpecialFolder;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;

/// Where the reader is inside the entries.
#[derive(Debug)]
enum State {
    /// Between entries (at the top level or inside the root element).
    Entries,
    /// Inside `<Folder>`: its path, the offset of its start tag, its target once seen.
    Folder {
        path: String,
        at: u64,
        target: Option<MapTarget>,
    },
    /// Inside a non-empty `<Property>` (`<Property ...></Property>`).
    Property {
        path: String,
        at: u64,
        target: Option<MapTarget>,
    },
}

/// The reader: the entry state plus the root element, if the entries have one.
struct Parser {
    state: State,
    /// The open root element's name.
    root: Option<String>,
    /// Whether any element has been seen (a root can only come first).
    started: bool,
    map: FolderMap,
}

/// Parses Foldermap.xml `text`; `origin` (usually the file name) prefixes every error.
///
/// The map keeps the built-in default map after the file's rules (a folder the file does not
/// name is still recognised by its name or SPECIAL-USE attribute).
pub fn parse_foldermap_xml(text: &str, origin: &str) -> Result<FolderMap, FolderMapError> {
    // Windows editors save with a byte order mark; it is not content (nor a column).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut parser = Parser {
        state: State::Entries,
        root: None,
        started: false,
        map: FolderMap::default(),
    };
    let err = |offset: u64, problem: Problem| {
        FolderMapError::at(
            origin,
            text,
            usize::try_from(offset).unwrap_or(usize::MAX),
            problem,
        )
    };
    loop {
        // The event starts after the whitespace that trimming skipped.
        let at = reader.buffer_position();
        let at = at + skipped_whitespace(text, at);
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => return Err(err(reader.error_position(), Problem::Syntax(e.to_string()))),
        };
        match event {
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
            Event::Text(t) => {
                let text = String::from_utf8_lossy(&t).trim().to_string();
                if !text.is_empty() {
                    return Err(err(at, Problem::UnexpectedText(text)));
                }
            }
            Event::CData(_) | Event::GeneralRef(_) => {
                return Err(err(at, Problem::UnexpectedText("character data".into())));
            }
            Event::Start(e) => parser.open(&e, at).map_err(|p| err(at, p))?,
            Event::Empty(e) => {
                parser.open(&e, at).map_err(|p| err(at, p))?;
                parser.close().map_err(|(at, p)| err(at, p))?;
            }
            Event::End(_) => parser.close().map_err(|(at, p)| err(at, p))?,
        }
    }
    match (parser.state, parser.root) {
        (State::Entries, None) => Ok(parser.map),
        (State::Entries, Some(root)) => Err(err(
            text.len() as u64,
            Problem::Invalid(format!("</{root}> missing at end of file")),
        )),
        (State::Folder { at, .. } | State::Property { at, .. }, _) => Err(err(
            at,
            Problem::Invalid("<Folder> not closed at end of file".into()),
        )),
    }
}

/// How many bytes of whitespace `text` has from byte `at` on.
fn skipped_whitespace(text: &str, at: u64) -> u64 {
    let rest = usize::try_from(at)
        .ok()
        .and_then(|at| text.get(at..))
        .unwrap_or("");
    (rest.len() - rest.trim_start().len()) as u64
}

/// The element's local name, lossily decoded.
fn element_name(e: &BytesStart<'_>) -> String {
    String::from_utf8_lossy(e.local_name().as_ref()).into_owned()
}

/// The attributes of `e` as (name, unescaped trimmed value) pairs.
fn attributes(e: &BytesStart<'_>) -> Result<Vec<(String, String)>, Problem> {
    let mut out = Vec::new();
    for attr in e.attributes() {
        let attr = attr.map_err(|e| Problem::Syntax(e.to_string()))?;
        let name = String::from_utf8_lossy(attr.key.local_name().as_ref()).into_owned();
        let value = attr
            .unescape_value()
            .map_err(|e| Problem::Syntax(e.to_string()))?;
        out.push((name, value.trim().to_string()));
    }
    Ok(out)
}

impl Parser {
    /// A start tag (for `<x/>` the caller then closes it).
    fn open(&mut self, e: &BytesStart<'_>, at: u64) -> Result<(), Problem> {
        let name = element_name(e);
        let is = |want: &str| name.eq_ignore_ascii_case(want);
        let unexpected = |context: String| Problem::UnexpectedElement {
            element: name.clone(),
            context,
        };
        let first = !std::mem::replace(&mut self.started, true);
        let state = std::mem::replace(&mut self.state, State::Entries);
        self.state = match state {
            State::Entries if is("Folder") => State::Folder {
                path: folder_path(e, &name)?,
                at,
                target: None,
            },
            State::Entries if first && !is("Property") => {
                if let Some((attribute, _)) = attributes(e)?.into_iter().next() {
                    return Err(Problem::UnknownAttribute {
                        attribute,
                        element: name,
                        expected: "no attributes",
                    });
                }
                self.root = Some(name);
                State::Entries
            }
            State::Entries => {
                return Err(unexpected(match &self.root {
                    Some(root) => format!("inside <{root}> (expected <Folder>)"),
                    None => "at the top level (expected <Folder>)".into(),
                }))
            }
            State::Folder { path, at, target } if is("Property") => {
                if target.is_some() {
                    return Err(Problem::Invalid(format!(
                        "<Folder path={path:?}> has more than one <Property>"
                    )));
                }
                State::Property {
                    target: Some(property_target(e, &name)?),
                    path,
                    at,
                }
            }
            State::Folder { .. } => {
                return Err(unexpected("inside <Folder> (expected <Property>)".into()))
            }
            State::Property { .. } => {
                return Err(unexpected("inside <Property> (it takes no content)".into()))
            }
        };
        Ok(())
    }

    /// An end tag; closing a `<Folder>` adds its rule to the map. Errors carry the offset of
    /// the `<Folder>` start tag they are about.
    fn close(&mut self) -> Result<(), (u64, Problem)> {
        let state = std::mem::replace(&mut self.state, State::Entries);
        match state {
            State::Property { path, at, target } => {
                self.state = State::Folder { path, at, target };
            }
            State::Folder { path, at, target } => {
                let target = target.ok_or_else(|| {
                    let problem = format!("<Folder path={path:?}> has no <Property>");
                    (at, Problem::Invalid(problem))
                })?;
                self.map.add_exact(&path, target).map_err(|p| (at, p))?;
            }
            State::Entries => {
                // quick-xml checks end names, so this can only be the root closing.
                self.root = None;
            }
        }
        Ok(())
    }
}

/// The `path` of a `<Folder>`: required, non-empty, the only attribute.
fn folder_path(e: &BytesStart<'_>, element: &str) -> Result<String, Problem> {
    let mut path = None;
    for (attr, value) in attributes(e)? {
        if !attr.eq_ignore_ascii_case("path") {
            return Err(Problem::UnknownAttribute {
                attribute: attr,
                element: element.to_string(),
                expected: "path",
            });
        }
        path = Some(value);
    }
    path.filter(|p| !p.is_empty())
        .ok_or_else(|| Problem::Invalid("<Folder> has no path attribute (or it is empty)".into()))
}

/// The target a `<Property>` names: exactly one of `SpecialFolder` and `Name`.
fn property_target(e: &BytesStart<'_>, element: &str) -> Result<MapTarget, Problem> {
    let mut target = None;
    for (attr, value) in attributes(e)? {
        let this = if attr.eq_ignore_ascii_case("SpecialFolder") {
            MapTarget::Special(
                SpecialFolder::from_exchange_name(&value)
                    .ok_or(Problem::UnknownSpecialFolder(value))?,
            )
        } else if attr.eq_ignore_ascii_case("Name") {
            let path = value.trim_matches('/').to_string();
            if !is_usable_path(&path) {
                return Err(Problem::Invalid(format!(
                    "<Property Name={value:?}> is not a folder path"
                )));
            }
            MapTarget::Path(path)
        } else {
            return Err(Problem::UnknownAttribute {
                attribute: attr,
                element: element.to_string(),
                expected: "SpecialFolder or Name",
            });
        };
        if target.replace(this).is_some() {
            return Err(Problem::Invalid(
                "<Property> has both SpecialFolder and Name (give one)".into(),
            ));
        }
    }
    target.ok_or_else(|| Problem::Invalid("<Property> has neither SpecialFolder nor Name".into()))
}

#[cfg(test)]
mod tests {
    use super::super::{DestinationFolders, MatchedBy, Position};
    use super::*;

    const SEED: &str = include_str!("../../../../fixtures/foldermaps/seed-example.xml");

    fn exchange() -> DestinationFolders {
        DestinationFolders::new('/')
            .with_folder("INBOX", None)
            .with_folder("Junk Email", Some("\\Junk"))
    }

    /// The error for `text`, as (line, column, message).
    fn error(text: &str) -> (usize, usize, String) {
        let e = parse_foldermap_xml(text, "Foldermap.xml").unwrap_err();
        assert!(e.to_string().starts_with("Foldermap.xml:"), "{e}");
        let Position { line, column } = e.position;
        (line, column, e.problem.to_string())
    }

    #[test]
    fn seed_fixture_maps_spam_to_junk_and_important_mail_under_the_inbox() {
        let map = parse_foldermap_xml(SEED, "seed-example.xml").unwrap();
        let dest = exchange();
        for spam in ["Spam", "Junk", "spam"] {
            let t = map.resolve(spam, None, &dest);
            assert_eq!(
                (t.name.as_str(), t.matched_by),
                ("Junk Email", MatchedBy::Exact)
            );
        }
        let t = map.resolve("Important Mail", None, &dest);
        assert_eq!((t.name.as_str(), t.exists), ("INBOX/Important", false));
        assert_eq!(map.exact_rules().count(), 3);
        // The default map still applies after the file's rules.
        assert_eq!(map.resolve("Bulk Mail", None, &dest).name, "Junk Email");
    }

    #[test]
    fn reads_bare_entries_as_the_guide_prints_them() {
        // Spacing as the guide's PDF text has it, "Junk E - mail" included.
        let text = "<Folder path=\"Spam\">  \n<Property SpecialFolder=\"Junk E - mail\" />  \n</Folder>  \n\
                    <Folder path=\"Important Mail\">\n<Property Name=\"Inbox/Important\" />\n</Folder>\n";
        let map = parse_foldermap_xml(text, "Foldermap.xml").unwrap();
        assert_eq!(map.resolve("Spam", None, &exchange()).name, "Junk Email");
        assert_eq!(
            map.resolve("Important Mail", None, &exchange()).name,
            "INBOX/Important"
        );
    }

    #[test]
    fn tolerates_case_whitespace_comments_and_non_empty_property() {
        let text = r#"<?xml version="1.0"?>
            <!-- a comment -->
            <foldermapping>
              <FOLDER PATH="  Old Spam  ">
                <property specialfolder=" junk e-mail "></property>
              </FOLDER>
              <folder path="R&amp;D"><Property Name="/Work/R&amp;D/" /></folder>
            </foldermapping>"#;
        let map = parse_foldermap_xml(text, "Foldermap.xml").unwrap();
        assert_eq!(
            map.resolve("old spam", None, &exchange()).name,
            "Junk Email"
        );
        assert_eq!(map.resolve("R&D", None, &exchange()).name, "Work/R&D");
        assert_eq!(
            parse_foldermap_xml("", "empty.xml")
                .unwrap()
                .exact_rules()
                .count(),
            0
        );
        assert_eq!(
            parse_foldermap_xml("<FolderMap/>", "e.xml")
                .unwrap()
                .exact_rules()
                .count(),
            0
        );
    }

    #[test]
    fn the_same_folder_twice_is_fine_with_one_target_and_an_error_with_two() {
        let same = r#"<M><Folder path="Spam"><Property SpecialFolder="Junk E-mail"/></Folder>
<Folder path="SPAM"><Property SpecialFolder="JunkEmail"/></Folder></M>"#;
        assert!(parse_foldermap_xml(same, "a.xml").is_ok());
        let clash = r#"<M><Folder path="Spam"><Property SpecialFolder="Junk E-mail"/></Folder>
<Folder path="spam"><Property Name="Inbox/Spam"/></Folder></M>"#;
        let (line, column, message) = error(clash);
        assert_eq!((line, column), (2, 1));
        assert!(message.contains("mapped twice"), "{message}");
    }

    #[test]
    fn structural_errors_name_line_column_and_problem() {
        let cases: &[(&str, (usize, usize), &str)] = &[
            (
                "<Folder><Property Name=\"x\"/></Folder>",
                (1, 1),
                "no path attribute",
            ),
            (
                "<Folder path=\"\"><Property Name=\"x\"/></Folder>",
                (1, 1),
                "no path",
            ),
            (
                "<Folder path=\"a\" id=\"1\"><Property Name=\"x\"/></Folder>",
                (1, 1),
                "unknown attribute \"id\"",
            ),
            (
                "<M>\n  <Folder path=\"a\">\n    <Folder path=\"b\"/>",
                (3, 5),
                "unexpected element <Folder> inside <Folder>",
            ),
            (
                "<M>\n<Thing/>\n</M>",
                (2, 1),
                "unexpected element <Thing> inside <M>",
            ),
            (
                "<Folder path=\"a\"><Property Name=\"x\"/></Folder>\n<Other/>",
                (2, 1),
                "at the top level",
            ),
            (
                "<Folder path=\"a\">\n</Folder>",
                (1, 1),
                "has no <Property>",
            ),
            (
                "<Folder path=\"a\"><Property Name=\"x\"/><Property Name=\"y\"/></Folder>",
                (1, 38),
                "more than one <Property>",
            ),
            (
                "<Folder path=\"a\"><Property/></Folder>",
                (1, 18),
                "neither SpecialFolder nor Name",
            ),
            (
                "<Folder path=\"a\"><Property Name=\"x\" SpecialFolder=\"Notes\"/></Folder>",
                (1, 18),
                "both",
            ),
            (
                "<Folder path=\"a\"><Property SpecialFolder=\"Spam Box\"/></Folder>",
                (1, 18),
                "unknown special folder \"Spam Box\"",
            ),
            (
                "<Folder path=\"a\"><Property Name=\"a//b\"/></Folder>",
                (1, 18),
                "not a folder path",
            ),
            (
                "<Folder path=\"a\"><Property Nmae=\"x\"/></Folder>",
                (1, 18),
                "unknown attribute \"Nmae\"",
            ),
            (
                "<Folder path=\"a\">hello<Property Name=\"x\"/></Folder>",
                (1, 18),
                "unexpected text \"hello\"",
            ),
            (
                "<M>\n<Folder path=\"a\"><Property Name=\"x\"/></Folder>",
                (2, 47),
                "</M> missing",
            ),
        ];
        for (text, position, needle) in cases {
            let (line, column, message) = error(text);
            assert!(message.contains(needle), "{text:?}: {message}");
            assert_eq!((line, column), *position, "{text:?}: {message}");
        }
    }

    #[test]
    fn a_byte_order_mark_is_not_text() {
        let text = format!("\u{feff}{SEED}");
        let map = parse_foldermap_xml(&text, "bom.xml").unwrap();
        assert_eq!(map.exact_rules().count(), 3);
        let (line, column, _) = error("\u{feff}<Folder/>");
        assert_eq!((line, column), (1, 1));
    }

    #[test]
    fn malformed_xml_is_a_syntax_error_with_a_position() {
        for text in [
            "<Folder path=\"a\"><Property Name=\"x\"/></Fold>",
            "<Folder path=\"a><Property Name=\"x\"/></Folder>",
            "<Folder path=\"a\"><Property Name=\"x\"/>\n</Folder></Folder>",
        ] {
            let e = parse_foldermap_xml(text, "bad.xml").unwrap_err();
            assert!(e.position.line >= 1, "{text:?}: {e}");
            assert!(e.to_string().starts_with("bad.xml:"), "{e}");
        }
    }
}
