//! A commit object's headers, read as leniently as git reads them. The walk (parents, committer time) and decoding
//! (identities, time, encoding, message) both read commits here, so they agree on every commit, malformed or not.
//!
//! git tolerates identity lines its own `git commit` would never write, such as an email without angle brackets or
//! text after the time zone, and so must greenlight: one odd commit in a range must not stop the deploy gate. What
//! git cannot read shows as it shows in `git log`: an identity without `<…>` has an empty name and email, and a time
//! that cannot be read is 0 (the epoch).

/// The headers of one commit that greenlight uses. Each is the first of its kind; lines that continue a header (a
/// signature's) start with a space and are none of these.
pub(crate) struct Headers<'a> {
    pub author: Option<&'a [u8]>,
    pub committer: Option<&'a [u8]>,
    pub encoding: Option<&'a [u8]>,
    /// Everything after the blank line that ends the headers; empty when there is none.
    pub message: &'a [u8],
}

/// Reads the headers of a commit object, handing each parent's hex id to `parent` in order. As in git, the parents
/// are the `parent` lines right after the `tree` line; a `parent` line anywhere else is not one.
pub(crate) fn read<'a>(data: &'a [u8], mut parent: impl FnMut(&'a [u8])) -> Headers<'a> {
    let mut headers = Headers { author: None, committer: None, encoding: None, message: &[] };
    let mut rest = data;
    let mut first = true;
    let mut parents = false;
    while !rest.is_empty() {
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(end) => (&rest[..end], &rest[end + 1..]),
            None => (rest, &[][..]),
        };
        if line.is_empty() {
            // The blank line after the headers: the message follows.
            headers.message = next;
            break;
        }
        parents = (first && line.starts_with(b"tree ")) || (parents && line.starts_with(b"parent "));
        first = false;
        if let (true, Some(hex)) = (parents, line.strip_prefix(b"parent ")) {
            parent(hex);
        } else if let (None, Some(value)) = (headers.author, line.strip_prefix(b"author ")) {
            headers.author = Some(value);
        } else if let (None, Some(value)) = (headers.committer, line.strip_prefix(b"committer ")) {
            headers.committer = Some(value);
        } else if let (None, Some(value)) = (headers.encoding, line.strip_prefix(b"encoding ")) {
            headers.encoding = Some(value);
        }
        rest = next;
    }
    headers
}

/// The name and email of an author or committer line, as git splits them (`split_ident_line`): the name is what
/// comes before the first `<`, without the whitespace before it; the email runs to the first `>` after it. A line
/// without them has neither, and shows as empty in `git log` too.
pub(crate) fn identity(value: &[u8]) -> (&[u8], &[u8]) {
    let Some(open) = value.iter().position(|&b| b == b'<') else {
        return (&[], &[]);
    };
    let Some(close) = value[open + 1..].iter().position(|&b| b == b'>') else {
        return (&[], &[]);
    };
    let name = &value[..open];
    let name = &name[..name.len() - name.iter().rev().take_while(|&&b| is_space(b)).count()];
    (name, &value[open + 1..open + 1 + close])
}

/// The time of an author or committer line: seconds since the epoch and the UTC offset in seconds. As git reads a
/// commit's date (`parse_commit_date`): the digits after the line's last `>` (so an email with a stray `>`, or
/// anything after the time zone, does no harm), then the time zone, `+hhmm` or `-hhmm`, if it follows. No `>` or no
/// digits: 0; no time zone: UTC.
pub(crate) fn time(value: &[u8]) -> (i64, i32) {
    let Some(close) = value.iter().rposition(|&b| b == b'>') else {
        return (0, 0);
    };
    let rest = skip_spaces(&value[close + 1..]);
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return (0, 0);
    }
    let seconds = number(&rest[..digits]);
    let rest = skip_spaces(&rest[digits..]);
    let offset = match rest.split_first() {
        Some((&sign @ (b'+' | b'-'), zone)) => {
            let digits = zone.iter().take_while(|b| b.is_ascii_digit()).count();
            // git reads `+0130` as the number 130: hours times 100 plus minutes.
            let hhmm = number(&zone[..digits]);
            let seconds = (hhmm / 100 * 60 + hhmm % 100).saturating_mul(60);
            let seconds = i32::try_from(seconds).unwrap_or(i32::MAX);
            if sign == b'-' { -seconds } else { seconds }
        }
        _ => 0,
    };
    (seconds, offset)
}

/// git's `isspace`: no vertical tab or form feed.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn skip_spaces(bytes: &[u8]) -> &[u8] {
    &bytes[bytes.iter().take_while(|&&b| is_space(b)).count()..]
}

/// Decimal digits as a number, at most `i64::MAX`.
fn number(digits: &[u8]) -> i64 {
    digits.iter().fold(0i64, |n, &d| n.saturating_mul(10).saturating_add(i64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_as_git_splits_them() {
        assert_eq!(
            identity(b"Ada Lovelace <ada@example.com> 1700000000 +0100"),
            (&b"Ada Lovelace"[..], &b"ada@example.com"[..])
        );
        assert_eq!(identity(b"<a@x> 1 +0000"), (&b""[..], &b"a@x"[..]));
        assert_eq!(identity(b"C c@x 1700000000 +0000"), (&b""[..], &b""[..]));
        assert_eq!(identity(b"C <c@x 1700000000 +0000"), (&b""[..], &b""[..]));
        assert_eq!(identity(b"C \t<c>@x> 1 +0000"), (&b"C"[..], &b"c"[..]));
    }

    #[test]
    fn times_as_git_reads_them() {
        assert_eq!(time(b"C <c@x> 1700000000 +0000"), (1_700_000_000, 0));
        assert_eq!(time(b"C <c@x> 1700000000 +0130 trailing"), (1_700_000_000, 5400));
        assert_eq!(time(b"C <c@x> 1700000000 -0500"), (1_700_000_000, -18000));
        assert_eq!(time(b"C <c>@x> 1700000000 +0000"), (1_700_000_000, 0));
        assert_eq!(time(b"C <c@x> 1700000000"), (1_700_000_000, 0));
        assert_eq!(time(b"C c@x 1700000000 +0000"), (0, 0));
        assert_eq!(time(b"C <c@x> soon"), (0, 0));
        assert_eq!(time(b"C <c@x> 99999999999999999999999 +0000"), (i64::MAX, 0));
    }

    #[test]
    fn parents_are_the_lines_after_the_tree() {
        let data =
            b"tree t\nparent a\nparent b\nauthor A <a> 1 +0000\nparent c\ncommitter C <c> 2 +0000\n\nmsg\nparent d\n";
        let mut parents = Vec::new();
        let headers = read(data, |p| parents.push(p));
        assert_eq!(parents, [b"a", b"b"]);
        assert_eq!(headers.author, Some(&b"A <a> 1 +0000"[..]));
        assert_eq!(headers.committer, Some(&b"C <c> 2 +0000"[..]));
        assert_eq!(headers.message, b"msg\nparent d\n");
    }
}
