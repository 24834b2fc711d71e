//! LIST and LSUB: pattern matching and the attributes of each listed name. Pure logic.

use super::store::Mailboxes;

/// Whether `name` matches a LIST pattern: `*` matches anything, `%` anything but the delimiter.
pub(crate) fn matches(pattern: &[char], name: &[char], delimiter: char) -> bool {
    match pattern.split_first() {
        None => name.is_empty(),
        Some(('*', rest)) => (0..=name.len()).any(|i| matches(rest, &name[i..], delimiter)),
        Some(('%', rest)) => {
            let stop = name
                .iter()
                .position(|&c| c == delimiter)
                .unwrap_or(name.len());
            (0..=stop).any(|i| matches(rest, &name[i..], delimiter))
        }
        Some((&p, rest)) => name.first() == Some(&p) && matches(rest, &name[1..], delimiter),
    }
}

/// One LIST/LSUB answer line: attributes and Unicode name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Listed {
    /// Attributes such as `\HasNoChildren`, `\Sent`.
    pub(crate) attributes: Vec<String>,
    /// Unicode name.
    pub(crate) name: String,
}

/// What LIST or LSUB should show for `pattern` (already decoded to Unicode).
pub(crate) fn list(
    mb: &Mailboxes,
    pattern: &str,
    delimiter: char,
    subscribed_only: bool,
    special_use_only: bool,
    show_special_use: bool,
) -> Vec<Listed> {
    let pattern = mb.normalize(pattern);
    let pattern: Vec<char> = pattern.chars().collect();
    let mut out: Vec<Listed> = Vec::new();
    for (name, folder) in &mb.folders {
        let chars: Vec<char> = name.chars().collect();
        if subscribed_only && !folder.subscribed {
            // LSUB with `%`: an unsubscribed parent of a subscribed name shows as \Noselect.
            let has_subscribed_child = mb
                .folders
                .iter()
                .any(|(n, f)| f.subscribed && n.starts_with(&format!("{name}{delimiter}")));
            if has_subscribed_child && matches(&pattern, &chars, delimiter) {
                out.push(Listed {
                    attributes: vec!["\\Noselect".into()],
                    name: name.clone(),
                });
            }
            continue;
        }
        if !matches(&pattern, &chars, delimiter) {
            continue;
        }
        if special_use_only && folder.special_use.is_none() {
            continue;
        }
        let mut attributes = Vec::new();
        if folder.noselect {
            attributes.push("\\Noselect".to_string());
        }
        if !subscribed_only {
            attributes.push(
                if mb.has_children(name) {
                    "\\HasChildren"
                } else {
                    "\\HasNoChildren"
                }
                .into(),
            );
        }
        if show_special_use {
            attributes.extend(folder.special_use.clone());
        }
        out.push(Listed {
            attributes,
            name: name.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        let p: Vec<char> = p.chars().collect();
        let n: Vec<char> = n.chars().collect();
        matches(&p, &n, '/')
    }

    #[test]
    fn wildcards() {
        assert!(m("*", "a/b/c"));
        assert!(m("%", "a") && !m("%", "a/b"));
        assert!(m("a/%", "a/b") && !m("a/%", "a/b/c"));
        assert!(m("a*c", "a/b/c") && !m("a%c", "a/b/c"));
        assert!(m("", "") && !m("", "a"));
        assert!(m("Entw%", "Entwürfe"));
    }
}
