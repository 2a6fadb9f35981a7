//! The fingerprint of a cached function's own body, computed at compile
//! time from the text `stringify!` gives its tokens. Comments are not
//! tokens; spacing is, in that text (rustc keeps the source's spacing), so
//! whitespace is dropped except where it separates two word characters, and
//! string, byte-string and char literals are hashed exactly as written. When
//! in doubt (a literal this cannot delimit), it keeps more text, never less:
//! a formatting edit may then be a miss, an edit of code never a hit.

/// FNV-1a, 64 bits, then a finalizer that spreads every input bit.
struct Hasher(u64);

impl Hasher {
    const fn new() -> Hasher {
        Hasher(0xcbf2_9ce4_8422_2325)
    }

    const fn byte(self, b: u8) -> Hasher {
        Hasher((self.0 ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
    }

    const fn finish(self) -> u64 {
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

const fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// The length of the UTF-8 character whose first byte is `b`.
const fn char_len(b: u8) -> usize {
    match b {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

/// Where the string literal opening with the `"` at `at` ends (one past its
/// closing quote, or the end of the text): raw (`r"..."`, `r#"..."#`) when
/// `r` and hashes stand right before the quote.
const fn string_end(b: &[u8], at: usize) -> usize {
    let mut hashes = 0;
    while at > hashes && b[at - 1 - hashes] == b'#' {
        hashes += 1;
    }
    let raw = at > hashes
        && b[at - 1 - hashes] == b'r'
        && (at - 1 - hashes == 0 || !is_word(b[at - 2 - hashes]) || {
            // `br"..."` and `cr"..."`
            let p = b[at - 2 - hashes];
            (p == b'b' || p == b'c') && (at - 2 - hashes == 0 || !is_word(b[at - 3 - hashes]))
        });
    let mut i = at + 1;
    if raw {
        while i < b.len() {
            if b[i] == b'"' {
                let mut n = 0;
                while n < hashes && i + 1 + n < b.len() && b[i + 1 + n] == b'#' {
                    n += 1;
                }
                if n == hashes {
                    return i + 1 + n;
                }
            }
            i += 1;
        }
        return b.len();
    }
    while i < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    b.len()
}

/// Where the char literal opening with the `'` at `at` ends, or `None` when
/// the quote starts a lifetime or a label.
const fn char_end(b: &[u8], at: usize) -> Option<usize> {
    if at + 1 >= b.len() {
        return None;
    }
    if b[at + 1] == b'\\' {
        let mut i = at + 3;
        while i < b.len() {
            if b[i] == b'\'' {
                return Some(i + 1);
            }
            i += 1;
        }
        return Some(b.len());
    }
    let close = at + 1 + char_len(b[at + 1]);
    if close < b.len() && b[close] == b'\'' {
        Some(close + 1)
    } else {
        None
    }
}

/// How deep the delimiters a trailing comma is judged in may nest; deeper,
/// every comma counts.
const MAX_DEPTH: usize = 64;

/// An open delimiter, as trailing commas are judged: its closing byte,
/// whether a comma stood at its top level, and whether a `<` did (a comma
/// there may be a generic argument's).
#[derive(Clone, Copy)]
struct Group {
    close: u8,
    comma: bool,
    angle: bool,
}

/// Whether a comma right before `close` changes nothing: before `]` and
/// `}` never, before `)` unless it makes a one-element tuple (`(x,)`), that
/// is when no other comma stood in the parentheses (and, to be sure, no
/// `<`).
const fn trailing_comma_is_formatting(group: Option<Group>, close: u8) -> bool {
    match group {
        Some(g) if g.close == close => close != b')' || (g.comma && !g.angle),
        _ => false,
    }
}

/// The fingerprint of a body's tokens as `stringify!` writes them.
pub const fn body_fingerprint(text: &str) -> u64 {
    let b = text.as_bytes();
    let mut h = Hasher::new();
    let mut i = 0;
    let mut space = false;
    let mut comma = false;
    let mut last: u8 = b' ';
    let mut groups = [Group {
        close: 0,
        comma: false,
        angle: false,
    }; MAX_DEPTH];
    let mut depth = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            space = true;
            i += 1;
            continue;
        }
        let top = if depth > 0 && depth <= MAX_DEPTH {
            Some(groups[depth - 1])
        } else {
            None
        };
        if comma {
            // A comma waits to see what follows it: rustfmt adds and drops
            // trailing commas.
            comma = false;
            if !trailing_comma_is_formatting(top, c) {
                h = h.byte(b',');
            }
            if depth > 0 && depth <= MAX_DEPTH {
                groups[depth - 1].comma = true;
            }
            last = b',';
        }
        if c == b',' {
            comma = true;
            space = false;
            i += 1;
            continue;
        }
        if space && is_word(last) && is_word(c) {
            h = h.byte(b' ');
        }
        space = false;
        match c {
            b'(' | b'[' | b'{' => {
                if depth < MAX_DEPTH {
                    groups[depth] = Group {
                        close: match c {
                            b'(' => b')',
                            b'[' => b']',
                            _ => b'}',
                        },
                        comma: false,
                        angle: false,
                    };
                }
                depth += 1;
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'<' if depth > 0 && depth <= MAX_DEPTH => groups[depth - 1].angle = true,
            _ => {}
        }
        let end = match c {
            b'"' => string_end(b, i),
            b'\'' => match char_end(b, i) {
                Some(end) => end,
                None => i + 1,
            },
            _ => i + 1,
        };
        while i < end {
            h = h.byte(b[i]);
            i += 1;
        }
        last = b[end - 1];
    }
    if comma {
        h = h.byte(b',');
    }
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::body_fingerprint as fp;

    #[test]
    fn spacing_between_tokens_does_not_count() {
        assert_eq!(
            fp("let x = a+b; foo(x,y);"),
            fp("let x = a + b;  foo( x , y ) ;")
        );
        assert_eq!(fp("x . iter () . sum ()"), fp("x.iter().sum()"));
    }

    #[test]
    fn trailing_commas_do_not_count_but_a_one_element_tuple_does() {
        assert_eq!(fp("vec![x, x * 2]"), fp("vec![\n x,\n x*2,\n ]"));
        assert_eq!(fp("f(a, b)"), fp("f(a, b,)"));
        assert_eq!(fp("S { a: 1, b: 2 }"), fp("S { a: 1, b: 2, }"));
        assert_eq!(
            fp("match x { A => 1, B => 2 }"),
            fp("match x { A => 1, B => 2, }")
        );
        assert_ne!(
            fp("g((x,))"),
            fp("g((x))"),
            "a 1-tuple is not a parenthesis"
        );
        assert_ne!(
            fp("g(([a, b],))"),
            fp("g(([a, b]))"),
            "commas inside [] are not its own"
        );
        assert_ne!(fp("g((M::<A, B>::new(),))"), fp("g((M::<A, B>::new()))"));
        assert_ne!(fp("f(a, b)"), fp("f(a b)"));
    }

    #[test]
    fn words_stay_apart_and_every_token_counts() {
        assert_ne!(fp("return x"), fp("returnx"));
        assert_ne!(fp("a + b"), fp("a - b"));
        assert_ne!(fp("x * 2"), fp("x * 3"));
        assert_ne!(fp("f(x)"), fp("f(x,)"));
    }

    #[test]
    fn literals_are_hashed_as_written() {
        assert_ne!(fp(r#"let s = "a + b";"#), fp(r#"let s = "a+b";"#));
        assert_ne!(fp(r#"s = "a \" + b";"#), fp(r#"s = "a \"+ b";"#));
        assert_ne!(fp(r##"s = r#"a " + b"#;"##), fp(r##"s = r#"a "+ b"#;"##));
        assert_ne!(fp(r#"s = br"a \ + b";"#), fp(r#"s = br"a \+ b";"#));
        assert_ne!(fp("c = ' ';"), fp("c = '  ';"));
        // A quote in a char literal opens no string.
        assert_ne!(fp(r#"q = '"'; s = "a + b";"#), fp(r#"q = '"'; s = "a+b";"#));
        // Lifetimes and labels are not char literals.
        assert_eq!(
            fp("fn f<'a>(x: &'a str) { 'outer: loop { break 'outer; } }"),
            fp("fn f<'a>(x:&'a str){'outer:loop{break 'outer;}}")
        );
    }

    #[test]
    fn it_is_computed_at_compile_time() {
        const F: u64 = fp("x * 2");
        assert_eq!(F, fp("x*2"));
    }
}
