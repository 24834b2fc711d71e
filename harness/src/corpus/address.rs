//! People and their addresses: display names (some non-ASCII, RFC 2047 encoded), SMTP
//! addresses, and the two Exchange X.500 forms migrations meet in real mail — legacyExchangeDN
//! (`</O=ADATUM/OU=.../CN=JSMITH>`) and IMCEA encapsulation (`IMCEAEX-_O=ADATUM_...@adatum.com`).

use super::text::q_encode;

/// First names: (display form, ASCII form for the local part).
const FIRST: &[(&str, &str)] = &[
    ("Anna", "anna"),
    ("Ben", "ben"),
    ("Chloé", "chloe"),
    ("David", "david"),
    ("Emma", "emma"),
    ("François", "francois"),
    ("Grace", "grace"),
    ("Hiroshi", "hiroshi"),
    ("Ingrid", "ingrid"),
    ("Jürgen", "juergen"),
    ("Joe", "joe"),
    ("Karim", "karim"),
    ("Laura", "laura"),
    ("Mateo", "mateo"),
    ("Nadia", "nadia"),
    ("Olivia", "olivia"),
    ("Priya", "priya"),
    ("Rosa", "rosa"),
    ("Samuel", "samuel"),
    ("Tomás", "tomas"),
    ("Victor", "victor"),
    ("Wei", "wei"),
    ("Yasmin", "yasmin"),
    ("Zoë", "zoe"),
];

/// Last names: (display form, ASCII form).
const LAST: &[(&str, &str)] = &[
    ("Smith", "smith"),
    ("Müller", "mueller"),
    ("García", "garcia"),
    ("Nguyen", "nguyen"),
    ("Dubois", "dubois"),
    ("Kowalski", "kowalski"),
    ("Johnson", "johnson"),
    ("Rossi", "rossi"),
    ("Tanaka", "tanaka"),
    ("Østergaard", "oestergaard"),
    ("Patel", "patel"),
    ("O'Brien", "obrien"),
    ("Schmidt", "schmidt"),
    ("Silva", "silva"),
    ("Andersson", "andersson"),
    ("Brown", "brown"),
    ("Lefèvre", "lefevre"),
    ("Novak", "novak"),
    ("Chen", "chen"),
    ("Fischer", "fischer"),
];

/// Correspondents' domains; mailbox owners are at [`OWNER_DOMAIN`].
const DOMAINS: &[&str] = &[
    "example.org",
    "example.net",
    "adatum.com",
    "contoso.com",
    "fabrikam.com",
    "tailspintoys.com",
    "wingtiptoys.com",
    "example.co.uk",
    "beispiel.de",
    "exemple.fr",
];

/// The domain of every mailbox owner.
pub(super) const OWNER_DOMAIN: &str = "example.com";

/// The Exchange organisation and SMTP domain of X.500 addresses.
const X500_ORG: &str = "ADATUM";
const X500_DOMAIN: &str = "adatum.com";

/// One person: indices into the name tables and a domain.
#[derive(Clone, Copy, Debug)]
pub(super) struct Person {
    /// For a mailbox owner, the number in the `userNN` local part.
    user: Option<usize>,
    first: usize,
    last: usize,
    domain: &'static str,
}

/// How a person's address is written in a header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum AddressForm {
    /// `"Name" <first.last@domain>`.
    Smtp,
    /// `"Name" </O=ADATUM/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=X>`.
    LegacyDn,
    /// `"Name" <IMCEAEX-_O=ADATUM_OU=..._CN=X@adatum.com>`.
    Imcea,
}

impl Person {
    /// A correspondent chosen from 64 random bits.
    pub(super) fn from_bits(bits: u64) -> Person {
        Person {
            user: None,
            first: (bits % FIRST.len() as u64) as usize,
            last: ((bits >> 16) % LAST.len() as u64) as usize,
            domain: DOMAINS[((bits >> 32) % DOMAINS.len() as u64) as usize],
        }
    }

    /// The owner of mailbox `index`, `userNN@example.com` (NN = index + 1) with a random name.
    pub(super) fn owner(index: usize, bits: u64) -> Person {
        Person {
            user: Some(index + 1),
            domain: OWNER_DOMAIN,
            ..Person::from_bits(bits)
        }
    }

    /// The domain of the person's SMTP address.
    pub(super) fn domain(&self) -> &'static str {
        self.domain
    }

    /// The owner's address, `userNN@example.com`.
    pub(super) fn owner_email(index: usize) -> String {
        format!("user{:02}@{OWNER_DOMAIN}", index + 1)
    }

    /// Appends `first.last@domain`, or `userNN@example.com` for an owner.
    pub(super) fn write_email(&self, out: &mut Vec<u8>) {
        if let Some(user) = self.user {
            out.extend_from_slice(Person::owner_email(user - 1).as_bytes());
            return;
        }
        out.extend_from_slice(FIRST[self.first].1.as_bytes());
        out.push(b'.');
        out.extend_from_slice(LAST[self.last].1.as_bytes());
        out.push(b'@');
        out.extend_from_slice(self.domain.as_bytes());
    }

    /// Appends the display name: a quoted string if ASCII, else one `Q` encoded-word.
    fn write_display(&self, out: &mut Vec<u8>) {
        let (first, last) = (FIRST[self.first].0, LAST[self.last].0);
        if first.is_ascii() && last.is_ascii() {
            out.push(b'"');
            out.extend_from_slice(first.as_bytes());
            out.push(b' ');
            out.extend_from_slice(last.as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(b"=?UTF-8?Q?");
            q_encode(first.as_bytes(), out);
            out.push(b'_');
            q_encode(last.as_bytes(), out);
            out.extend_from_slice(b"?=");
        }
    }

    /// Appends the Exchange recipient name: first initial and last name, upper case (`JSMITH`).
    fn write_x500_cn(&self, out: &mut Vec<u8>) {
        out.push(FIRST[self.first].1.as_bytes()[0].to_ascii_uppercase());
        out.extend(LAST[self.last].1.bytes().map(|b| b.to_ascii_uppercase()));
    }

    /// Appends a full mailbox: display name and angle-bracketed address in the given form.
    pub(super) fn write_mailbox(&self, form: AddressForm, out: &mut Vec<u8>) {
        self.write_display(out);
        out.extend_from_slice(b" <");
        match form {
            AddressForm::Smtp => self.write_email(out),
            AddressForm::LegacyDn => {
                out.push(b'/');
                out.extend_from_slice(b"O=");
                out.extend_from_slice(X500_ORG.as_bytes());
                out.extend_from_slice(
                    b"/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=",
                );
                self.write_x500_cn(out);
            }
            AddressForm::Imcea => {
                out.extend_from_slice(b"IMCEAEX-_O=");
                out.extend_from_slice(X500_ORG.as_bytes());
                out.extend_from_slice(
                    b"_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP+20+28FYDIBOHF23SPDLT+29_CN=RECIPIENTS_CN=",
                );
                self.write_x500_cn(out);
                out.push(b'@');
                out.extend_from_slice(X500_DOMAIN.as_bytes());
            }
        }
        out.push(b'>');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mailbox(person: Person, form: AddressForm) -> String {
        let mut out = Vec::new();
        person.write_mailbox(form, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn writes_the_three_address_forms() {
        let joe = Person {
            user: None,
            first: 10,
            last: 0,
            domain: "adatum.com",
        };
        assert_eq!(
            mailbox(joe, AddressForm::Smtp),
            r#""Joe Smith" <joe.smith@adatum.com>"#
        );
        assert_eq!(
            mailbox(joe, AddressForm::LegacyDn),
            r#""Joe Smith" </O=ADATUM/OU=EXCHANGE ADMINISTRATIVE GROUP (FYDIBOHF23SPDLT)/CN=RECIPIENTS/CN=JSMITH>"#
        );
        assert_eq!(
            mailbox(joe, AddressForm::Imcea),
            r#""Joe Smith" <IMCEAEX-_O=ADATUM_OU=EXCHANGE+20ADMINISTRATIVE+20GROUP+20+28FYDIBOHF23SPDLT+29_CN=RECIPIENTS_CN=JSMITH@adatum.com>"#
        );
        let juergen = Person {
            user: None,
            first: 9,
            last: 1,
            domain: "beispiel.de",
        };
        assert_eq!(
            mailbox(juergen, AddressForm::Smtp),
            "=?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen.mueller@beispiel.de>"
        );
        let owner = Person {
            user: Some(7),
            ..joe
        };
        assert_eq!(
            mailbox(owner, AddressForm::Smtp),
            r#""Joe Smith" <user07@example.com>"#
        );
    }

    #[test]
    fn names_are_ascii_where_they_must_be() {
        for (display, ascii) in FIRST.iter().chain(LAST) {
            assert!(ascii.bytes().all(|b| b.is_ascii_lowercase()), "{display}");
            assert!(!display.contains('"') && !display.contains('\\'));
        }
    }
}
