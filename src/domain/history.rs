//! Keyset paging of the history: a page starts after or before one call, named by its
//! creation time and id (ids are time-ordered), so no page costs more than its own rows.

use std::fmt;

/// A position in the history: one call's `(created_at, id)`, written `<ms>.<id>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Milliseconds since the epoch.
    pub created_at: i64,
    pub id: String,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.created_at, self.id)
    }
}

impl std::str::FromStr for Cursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "`{}` is not a history position",
                super::inbox::truncate(text, 80)
            )
        };
        let (at, id) = text.split_once('.').ok_or_else(bad)?;
        let created_at: i64 = at.parse().map_err(|_| bad())?;
        let id_ok = (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if created_at < 0 || !id_ok {
            return Err(bad());
        }
        Ok(Cursor {
            created_at,
            id: id.to_string(),
        })
    }
}

/// Which page of the history, newest first.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Page {
    /// The newest calls.
    #[default]
    Newest,
    /// The calls older than the cursor.
    Before(Cursor),
    /// The calls newer than the cursor (the page before, going back).
    After(Cursor),
}

impl Page {
    /// The page named by a `before` or `after` query parameter (not both).
    pub fn from_query(before: Option<&str>, after: Option<&str>) -> Result<Self, String> {
        match (before, after) {
            (Some(_), Some(_)) => Err("give `before` or `after`, not both".into()),
            (Some(b), None) => Ok(Page::Before(b.parse()?)),
            (None, Some(a)) => Ok(Page::After(a.parse()?)),
            (None, None) => Ok(Page::Newest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let id = "019ad3c5-6a3e-7b3c-9f00-1234567890ab";
        let cursor: Cursor = format!("1764480000000.{id}").parse().unwrap();
        assert_eq!("5.h-500001".parse::<Cursor>().unwrap().id, "h-500001");
        assert_eq!(cursor.created_at, 1_764_480_000_000);
        assert_eq!(cursor.id, id);
        assert_eq!(cursor.to_string(), format!("1764480000000.{id}"));
        for bad in [
            "",
            "123",
            ".abc",
            "abc.def",
            "-5.abc",
            "12.",
            "12.' OR 1=1 --",
            "12.abc def",
            &format!("12.{}", "a".repeat(65)),
        ] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn pages_from_the_query() {
        let c = "5.ab";
        let cases = [
            (None, None, Ok(Page::Newest)),
            (Some(c), None, Ok(Page::Before(c.parse().unwrap()))),
            (None, Some(c), Ok(Page::After(c.parse().unwrap()))),
            (Some(c), Some(c), Err(())),
            (Some("x"), None, Err(())),
        ];
        for (before, after, want) in cases {
            let got = Page::from_query(before, after).map_err(|_| ());
            assert_eq!(got, want, "{before:?} {after:?}");
        }
    }
}
