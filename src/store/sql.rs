//! Helpers for statements assembled at run time, in the SQL both backends read.

/// Splits `items` into runs whose lengths are powers of two (largest first, at most
/// `max`), for multi-row statements: a few distinct statement shapes stay in the prepared
/// statement cache, instead of one new statement to prepare for every batch size.
pub fn power_of_two_chunks<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let mut chunks = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let size = if rest.len() >= max {
            max
        } else {
            1 << rest.len().ilog2()
        };
        let (chunk, tail) = rest.split_at(size);
        chunks.push(chunk);
        rest = tail;
    }
    chunks
}

/// A statement assembled from pieces (filters, multi-row `VALUES`) with `?` marks, given
/// `$1, $2, …` in order: the one parameter style both backends read. Marks inside quoted
/// SQL strings are left alone.
pub fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 16);
    let mut n = 0;
    let mut quoted = false;
    for ch in sql.chars() {
        match ch {
            '\'' => {
                quoted = !quoted;
                out.push(ch);
            }
            '?' if !quoted => {
                n += 1;
                out.push('$');
                out.push_str(&n.to_string());
            }
            _ => out.push(ch),
        }
    }
    out
}

/// A statement with `?` marks in the style of `backend`: as written for SQLite, numbered
/// for PostgreSQL. SQLite binds anonymous `?` parameters in order for free, but looks each
/// `$n` up by name in a list as long as the statement's parameters — quadratic in a
/// multi-row INSERT of thousands of values (it was a fifth of the allowed path's CPU).
pub fn marks_for(backend: super::Backend, sql: String) -> String {
    match backend {
        super::Backend::Sqlite => sql,
        super::Backend::Postgres => numbered(&sql),
    }
}

/// `INSERT INTO t (…) VALUES …` as `INSERT INTO t (…) SELECT * FROM (VALUES …)`, for a
/// `WHERE` to follow (SQLite keeps the rows in their order).
pub fn insert_select(insert: &str) -> String {
    match insert.split_once("VALUES ") {
        Some((head, values)) => format!("{head}SELECT * FROM (VALUES {values})"),
        None => insert.to_string(),
    }
}

/// `n` comma-separated `?` marks, for `IN (…)` (number them with [`numbered`]).
pub fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// `text` with LIKE's wildcards (and its escape, `\\`) escaped, for `LIKE ? ESCAPE '\\'`.
pub fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        if matches!(ch, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn marks_are_numbered_in_order_outside_quotes() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("a = ? AND b IN (?, ?)", "a = $1 AND b IN ($2, $3)"),
            ("x = '?' AND y = ?", "x = '?' AND y = $1"),
            ("x = 'it''s ?' AND y = ?", "x = 'it''s ?' AND y = $1"),
        ];
        for (sql, want) in cases {
            assert_eq!(super::numbered(sql), want, "{sql}");
        }
    }

    #[test]
    fn chunks_are_powers_of_two_largest_first() {
        let cases: [(usize, usize, &[usize]); 6] = [
            (0, 256, &[]),
            (1, 256, &[1]),
            (7, 256, &[4, 2, 1]),
            (64, 256, &[64]),
            (100, 256, &[64, 32, 4]),
            (600, 256, &[256, 256, 64, 16, 8]),
        ];
        for (n, max, want) in cases {
            let items: Vec<usize> = (0..n).collect();
            let chunks = super::power_of_two_chunks(&items, max);
            let sizes: Vec<usize> = chunks.iter().map(|c| c.len()).collect();
            assert_eq!(sizes, want, "{n} items");
            assert_eq!(chunks.concat(), items, "order kept");
        }
    }
}
