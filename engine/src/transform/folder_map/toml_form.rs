//! The TOML form of a folder map: Foldermap.xml's meaning, plus regex rules.
//!
//! ```toml
//! # Optional, default true: after the rules below, the built-in default map still recognises
//! # the usual names (Sent, [Gmail]/Spam, Gesendete Elemente, ...) and SPECIAL-USE attributes.
//! default_map = true
//!
//! # Exact source names (case-insensitive, whitespace folded), as Foldermap.xml's <Folder>.
//! [exact]
//! "Spam" = { special = "Junk E-mail" }    # one of Exchange's default folders
//! "Important Mail" = "Inbox/Important"    # a folder path, `/` between levels
//! "Old Important" = { name = "Inbox/Important" }  # the same, spelled out; two sources merge
//!
//! # Regular expressions (Rust `regex` syntax) over the whole source name, tried in the order
//! # written after the exact names. `{1}`, `{name}`, `{0}` insert capture groups.
//! [regex]
//! '^Archive/(\d{4})$' = "Archive {1}"
//! '(?i)^bulk' = { special = "Junk E-mail" }
//! ```
//!
//! Any other key or table is an error, as is a source name given two different targets, a
//! regex that does not compile, or a template naming a group its regex lacks; every error names
//! the file, line and column.

use super::error::{FolderMapError, Problem};
use super::map::{is_usable_path, FolderMap, MapTarget};
use super::special::SpecialFolder;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt::{self, Write as _};
use toml::Spanned;

/// The file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct MapFile {
    /// Whether the built-in default map applies after the rules; default true.
    #[serde(default = "default_map_on")]
    default_map: bool,
    /// Exact source names; default none.
    #[serde(default)]
    exact: Entries,
    /// Regex rules, in the order written; default none.
    #[serde(default)]
    regex: Entries,
}

fn default_map_on() -> bool {
    true
}

/// A table's entries in the order written, with their positions.
#[derive(Debug, Default)]
struct Entries(Vec<(Spanned<String>, Spanned<Spec>)>);

/// One target as written: a path string, `{ special = ".." }` or `{ name = ".." }`.
#[derive(Debug)]
enum Spec {
    Special(String),
    Name(String),
}

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of source name = target")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut out = Vec::new();
                while let Some(key) = map.next_key()? {
                    out.push((key, map.next_value()?));
                }
                Ok(Entries(out))
            }
        }
        deserializer.deserialize_map(EntriesVisitor)
    }
}

impl<'de> Deserialize<'de> for Spec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct SpecVisitor;
        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = Spec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a folder path string, { special = "..." } or { name = "..." }"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Spec, E> {
                Ok(Spec::Name(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Spec, A::Error> {
                let mut spec = None;
                while let Some(key) = map.next_key::<String>()? {
                    let value: String = map.next_value()?;
                    let this = match key.as_str() {
                        "special" => Spec::Special(value),
                        "name" => Spec::Name(value),
                        other => return Err(de::Error::unknown_field(other, &["special", "name"])),
                    };
                    if spec.replace(this).is_some() {
                        return Err(de::Error::custom(
                            "give one of `special` and `name`, not both",
                        ));
                    }
                }
                spec.ok_or_else(|| de::Error::custom("expected `special` or `name`"))
            }
        }
        deserializer.deserialize_any(SpecVisitor)
    }
}

/// Parses the TOML form; `origin` (usually the file name) prefixes every error.
pub fn parse_foldermap_toml(text: &str, origin: &str) -> Result<FolderMap, FolderMapError> {
    // Windows editors save with a byte order mark; it is not content (nor a column).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let file: MapFile = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |s| s.start);
        let mut error = FolderMapError::at(
            origin,
            text,
            offset,
            Problem::Syntax(e.message().to_string()),
        );
        if e.span().is_none() {
            error.position = Default::default();
        }
        error
    })?;
    let at = |offset: usize, problem| FolderMapError::at(origin, text, offset, problem);
    let mut map = FolderMap::default();
    map.set_default_map(file.default_map);
    for (source, spec) in file.exact.0 {
        let target = map_target(spec.get_ref()).map_err(|p| at(spec.span().start, p))?;
        map.add_exact(source.get_ref(), target)
            .map_err(|p| at(source.span().start, p))?;
    }
    for (pattern, spec) in file.regex.0 {
        let added = match spec.get_ref() {
            Spec::Special(name) => SpecialFolder::from_exchange_name(name)
                .ok_or_else(|| Problem::UnknownSpecialFolder(name.clone()))
                .map(|s| map.add_regex_special(pattern.get_ref(), s)),
            Spec::Name(template) => Ok(map.add_regex_path(pattern.get_ref(), template)),
        };
        match added {
            Err(p) => return Err(at(spec.span().start, p)),
            Ok(Err(p @ Problem::BadRegex { .. })) => return Err(at(pattern.span().start, p)),
            Ok(Err(p)) => return Err(at(spec.span().start, p)),
            Ok(Ok(())) => {}
        }
    }
    Ok(map)
}

/// The target an `[exact]` entry names.
fn map_target(spec: &Spec) -> Result<MapTarget, Problem> {
    match spec {
        Spec::Special(name) => SpecialFolder::from_exchange_name(name)
            .map(MapTarget::Special)
            .ok_or_else(|| Problem::UnknownSpecialFolder(name.clone())),
        Spec::Name(path) => {
            let trimmed = path.trim().trim_matches('/');
            if is_usable_path(trimmed) {
                Ok(MapTarget::Path(trimmed.to_string()))
            } else {
                Err(Problem::Invalid(format!("{path:?} is not a folder path")))
            }
        }
    }
}

/// The built-in default map in the TOML form: what `cutover folder-map --default` prints, and a
/// starting point to copy and edit (as the guide suggests for Foldermap.xml).
///
/// Read back with [`parse_foldermap_toml`], it maps every name as the built-in map does.
/// It cannot show that the built-in map also follows the source's SPECIAL-USE attributes.
pub fn render_default() -> String {
    let mut out = String::from(
        "# cutover's built-in folder map, in the TOML form that --folder-map reads.\n\
         # Names match case-insensitively. Besides these names, a source folder whose LIST\n\
         # shows \\Sent, \\Drafts, \\Junk or \\Trash is that special folder.\n\
         # A special folder lands in the destination's folder advertising the same\n\
         # SPECIAL-USE attribute, else in an existing folder with one of these names,\n\
         # else in the Exchange name (created). Copied into a file, these are [exact]\n\
         # rules and so come before any [regex] rule added to it.\n\
         default_map = true\n\n[exact]\n",
    );
    for special in SpecialFolder::ALL {
        match special.special_use() {
            Some(attr) => writeln!(out, "\n# {special} ({attr})"),
            None => writeln!(out, "\n# {special}"),
        }
        .expect("writing to a String cannot fail");
        for name in special.known_names() {
            writeln!(
                out,
                "{} = {{ special = {} }}",
                quote(name),
                quote(special.exchange_name())
            )
            .expect("writing to a String cannot fail");
        }
    }
    out
}

/// A TOML basic string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                write!(out, "\\u{:04X}", u32::from(c)).expect("writing to a String cannot fail")
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::super::{parse_foldermap_xml, DestinationFolders, MatchedBy, Position};
    use super::*;

    const SEED_TOML: &str = include_str!("../../../../fixtures/foldermaps/seed-example.toml");
    const SEED_XML: &str = include_str!("../../../../fixtures/foldermaps/seed-example.xml");

    fn exchange() -> DestinationFolders {
        DestinationFolders::new('/')
            .with_folder("INBOX", None)
            .with_folder("Sent Items", Some("\\Sent"))
            .with_folder("Junk Email", Some("\\Junk"))
    }

    fn error(text: &str) -> (usize, usize, String) {
        let e = parse_foldermap_toml(text, "map.toml").unwrap_err();
        assert!(e.to_string().starts_with("map.toml:"), "{e}");
        let Position { line, column } = e.position;
        (line, column, e.problem.to_string())
    }

    #[test]
    fn seed_fixture_means_what_the_xml_fixture_means() {
        let from_toml = parse_foldermap_toml(SEED_TOML, "seed-example.toml").unwrap();
        let from_xml = parse_foldermap_xml(SEED_XML, "seed-example.xml").unwrap();
        let dest = exchange();
        for name in ["Spam", "Junk", "Important Mail", "Sent", "Other", "INBOX"] {
            assert_eq!(
                from_toml.resolve(name, None, &dest),
                from_xml.resolve(name, None, &dest),
                "{name}"
            );
        }
        assert_eq!(from_toml.resolve("Spam", None, &dest).name, "Junk Email");
        assert_eq!(
            from_toml.resolve("Important Mail", None, &dest).name,
            "INBOX/Important"
        );
        let t = from_toml.resolve("Archive/2019", None, &dest);
        assert_eq!(
            (t.name.as_str(), t.matched_by),
            ("Archive 2019", MatchedBy::Regex)
        );
        assert_eq!(
            from_xml.resolve("Archive/2019", None, &dest).name,
            "Archive/2019"
        );
    }

    #[test]
    fn a_byte_order_mark_is_not_content() {
        let map = parse_foldermap_toml(&format!("\u{feff}{SEED_TOML}"), "bom.toml").unwrap();
        assert_eq!(map.exact_rules().count(), 3);
    }

    #[test]
    fn an_empty_file_is_the_default_map() {
        let map = parse_foldermap_toml("", "empty.toml").unwrap();
        assert!(map.uses_default_map());
        assert_eq!(map.resolve("Sent", None, &exchange()).name, "Sent Items");
    }

    #[test]
    fn render_default_reads_back_as_the_default_map() {
        let text = render_default();
        let map = parse_foldermap_toml(&text, "default.toml").unwrap();
        let builtin = FolderMap::default();
        let dest = exchange();
        let mut checked = 0;
        for special in SpecialFolder::ALL {
            for name in special.known_names() {
                let (rendered, builtin) = (
                    map.resolve(name, None, &dest),
                    builtin.resolve(name, None, &dest),
                );
                assert_eq!(rendered.name, builtin.name, "{name}");
                assert_eq!(rendered.special, Some(special), "{name}");
                checked += 1;
            }
        }
        assert!(checked > 100, "{checked}");
        assert!(text.contains("\"Gelöschte Elemente\" = { special = \"Deleted Items\" }"));
        assert!(text.contains("\"[Gmail]/Spam\" = { special = \"Junk E-mail\" }"));
        assert!(text.contains("# Sent Items (\\Sent)"));
    }

    #[test]
    fn quotes_toml_strings() {
        assert_eq!(quote("Boîte d'envoi"), "\"Boîte d'envoi\"");
        assert_eq!(quote("a\"b\\c\td"), "\"a\\\"b\\\\c\\u0009d\"");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors_with_positions() {
        let cases: &[(&str, (usize, usize), &str)] = &[
            (
                "[exact]\n\"Spam\" = \"Junk\"\n[regexp]\n",
                (3, 2),
                "unknown field",
            ),
            ("defaults = true\n", (1, 1), "unknown field"),
            (
                "[exact]\n\"Spam\" = { special = \"Junk\" }\n",
                (2, 10),
                "unknown special folder \"Junk\"",
            ),
            (
                "[exact]\n\"Spam\" = { folder = \"Junk\" }\n",
                (2, 10),
                "unknown field `folder`",
            ),
            (
                "[exact]\n\"Spam\" = { special = \"Notes\", name = \"x\" }\n",
                (2, 10),
                "not both",
            ),
            ("[exact]\n\"Spam\" = 3\n", (2, 10), "folder path string"),
            (
                "[exact]\n\"Spam\" = \"a//b\"\n",
                (2, 10),
                "not a folder path",
            ),
            (
                "[exact]\n\"Spam\" = \"Junk\"\n\"spam\" = \"Trash\"\n",
                (3, 1),
                "mapped twice",
            ),
            ("[regex]\n'^(a' = \"x\"\n", (2, 1), "bad regex \"^(a\""),
            (
                "[regex]\n'^(a)$' = \"x {2}\"\n",
                (2, 11),
                "has 1 capture group",
            ),
            (
                "[regex]\n'^a$' = { special = \"Bin\" }\n",
                (2, 9),
                "unknown special folder",
            ),
            ("[exact\n", (1, 7), ""),
            ("default_map = \"yes\"\n", (1, 15), "bool"),
        ];
        let mut wrong = Vec::new();
        for (text, position, needle) in cases {
            let (line, column, message) = error(text);
            if !message.contains(needle) || (line, column) != *position {
                wrong.push(format!("{text:?}: {line}:{column}: {message}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
