//! Closed vocabularies as text columns: written by their one spelling, read back only if the
//! word is known. An unknown word fails the read (an integrity error), so no rule ever sees a
//! default in its place.

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::sqlite::{SqliteArgumentsBuffer, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, Sqlite, Type};

use crate::domain::archive::Retention;
use crate::domain::extract::JobState;
use crate::domain::people::{Classification, DocumentState, Urgency};
use crate::domain::routing::{ActionKind, RouteStatus, TaskState};
use crate::domain::vocabulary::Vocabulary;

/// A stored word its column's vocabulary does not know.
#[derive(Debug, thiserror::Error)]
#[error("the catalog holds an unknown {what} {word:?}")]
pub struct UnknownStoredWord {
    what: &'static str,
    word: String,
}

fn decode_word<T: Vocabulary>(value: SqliteValueRef<'_>) -> Result<T, BoxDynError> {
    let word = <&str as Decode<Sqlite>>::decode(value)?;
    T::parse_word(word).ok_or_else(|| Box::new(UnknownStoredWord { what: T::WHAT, word: word.chars().take(40).collect() }) as BoxDynError)
}

macro_rules! text_columns {
    ($($t:ty),+ $(,)?) => {$(
        impl Type<Sqlite> for $t {
            fn type_info() -> SqliteTypeInfo {
                <str as Type<Sqlite>>::type_info()
            }
            fn compatible(ty: &SqliteTypeInfo) -> bool {
                <&str as Type<Sqlite>>::compatible(ty)
            }
        }

        impl Encode<'_, Sqlite> for $t {
            fn encode_by_ref(&self, buf: &mut SqliteArgumentsBuffer) -> Result<IsNull, BoxDynError> {
                <&str as Encode<Sqlite>>::encode(Vocabulary::as_str(*self), buf)
            }
        }

        impl<'r> Decode<'r, Sqlite> for $t {
            fn decode(value: SqliteValueRef<'r>) -> Result<Self, BoxDynError> {
                decode_word::<$t>(value)
            }
        }
    )+};
}

text_columns!(Classification, Urgency, DocumentState, TaskState, RouteStatus, ActionKind, Retention, JobState);
