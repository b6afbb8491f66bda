//! Closed vocabularies: enums with one spelling each on the wire and in the catalog
//! (classification, urgency, document state, task state, …). The catalog stores and reads them
//! through this trait, so a word outside the list is an integrity error, never a default.

/// A closed list of words.
pub trait Vocabulary: Copy + Sized + 'static {
    /// What the words name, for error messages ("classification").
    const WHAT: &'static str;
    fn as_str(self) -> &'static str;
    fn parse_word(word: &str) -> Option<Self>;
}

/// Implements [`Vocabulary`] for enums that already have `as_str` and `parse`.
macro_rules! vocabulary_of {
    ($($t:ty => $what:literal),+ $(,)?) => {$(
        impl $crate::domain::vocabulary::Vocabulary for $t {
            const WHAT: &'static str = $what;
            fn as_str(self) -> &'static str {
                <$t>::as_str(self)
            }
            fn parse_word(word: &str) -> Option<Self> {
                <$t>::parse(word)
            }
        }
    )+};
}

vocabulary_of! {
    super::routing::TaskState => "task state",
    super::routing::RouteStatus => "route status",
    super::routing::ActionKind => "action",
    super::archive::Retention => "retention",
    super::extract::JobState => "extraction state",
}
