//! People and the vocabulary of documents: roles, classification (密级), urgency (紧急程度) and
//! document states, with the one spelling each has on the wire and in the catalog.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Defines a closed vocabulary: a `Copy` enum with its wire spelling, parsing and listing.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = UnknownWord;
            fn from_str(s: &str) -> Result<Self, UnknownWord> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownWord {
                        what: stringify!($name),
                        allowed: vec![$($text),+],
                    }),
                }
            }
        }

        impl $crate::domain::vocabulary::Vocabulary for $name {
            const WHAT: &'static str = stringify!($name);
            fn as_str(self) -> &'static str {
                <$name>::as_str(self)
            }
            fn parse_word(word: &str) -> Option<Self> {
                word.parse().ok()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// A word outside a closed vocabulary; says which words are allowed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what}; expected one of: {}", allowed.join(", "))]
pub struct UnknownWord {
    pub what: &'static str,
    pub allowed: Vec<&'static str>,
}

vocabulary! {
    /// 密级: ascending, so a user's clearance compares with `<=`.
    Classification {
        /// 公开
        Public = "public",
        /// 内部
        Internal = "internal",
        /// 秘密
        Confidential = "confidential",
        /// 机密
        Secret = "secret",
    }
}

impl Classification {
    /// Classified documents are sealed at rest and every read of them is audited.
    pub fn is_classified(self) -> bool {
        self >= Classification::Confidential
    }

    /// A number for SQL filters (`classification_rank <= clearance`).
    pub fn rank(self) -> i64 {
        self as i64
    }
}

vocabulary! {
    /// 紧急程度 (GB/T 9704).
    Urgency {
        Normal = "normal",
        /// 加急
        Urgent = "urgent",
        /// 特急
        VeryUrgent = "very_urgent",
    }
}

vocabulary! {
    Role {
        /// 收发员: registers, routes, distributes and archives.
        Clerk = "clerk",
        Staff = "staff",
        /// 领导: reviews, writes opinions, signs off.
        Leader = "leader",
        /// 档案员
        Archivist = "archivist",
        Auditor = "auditor",
        Admin = "admin",
    }
}

vocabulary! {
    DocumentState {
        Draft = "draft",
        Registered = "registered",
        InReview = "in_review",
        Approved = "approved",
        Issued = "issued",
        Returned = "returned",
        Withdrawn = "withdrawn",
        Archived = "archived",
    }
}

/// The signed-in user as every rule sees them.
#[derive(Clone, Debug)]
pub struct Principal {
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub department: String,
    pub roles: Vec<Role>,
    pub clearance: Classification,
    pub color: String,
}

impl Principal {
    /// The operator at the console (`henji user add`, `export`, …): an administrator's reach,
    /// named `henji-cli` in the audit trail.
    pub fn console() -> Self {
        Self {
            id: "henji-cli".into(),
            username: "henji-cli".into(),
            display_name: "henji (command line)".into(),
            department: "ADMIN".into(),
            roles: vec![Role::Admin],
            clearance: Classification::Secret,
            color: "#000000".into(),
        }
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }
}

/// Usernames and department codes end up in archive numbers, audit rows and URLs, so they are
/// kept to a small alphabet.
pub fn check_username(s: &str) -> Result<(), &'static str> {
    let ok = (1..=64).contains(&s.len())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        && s.as_bytes()[0].is_ascii_alphanumeric();
    if ok { Ok(()) } else { Err("1 to 64 characters: letters, digits, '.', '_' or '-', starting with a letter or digit") }
}

pub fn check_department_code(s: &str) -> Result<(), &'static str> {
    let ok = (1..=16).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if ok { Ok(()) } else { Err("1 to 16 characters: upper-case letters and digits, e.g. \"BGS\"") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_orders_from_public_to_secret() {
        assert!(Classification::Public < Classification::Internal);
        assert!(Classification::Confidential < Classification::Secret);
        assert!(!Classification::Internal.is_classified());
        assert!(Classification::Confidential.is_classified());
        assert_eq!("very_urgent".parse::<Urgency>(), Ok(Urgency::VeryUrgent));
        let err = "top".parse::<Classification>().unwrap_err();
        assert!(err.to_string().contains("public, internal, confidential, secret"));
    }

    #[test]
    fn names_are_checked() {
        assert!(check_username("zhang.san").is_ok());
        assert!(check_username("../x").is_err());
        assert!(check_username("").is_err());
        assert!(check_department_code("BGS").is_ok());
        assert!(check_department_code("bgs").is_err());
        assert!(check_department_code("B/S").is_err());
    }
}
