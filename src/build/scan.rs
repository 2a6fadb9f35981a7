//! Finds the `permacached!` functions in Rust source: each one's namespace
//! path, line, and a fingerprint of its body's tokens. A small tokenizer, so
//! that comments, string literals and raw strings never count, and so that
//! reformatting a body (whitespace, comments, trailing commas) leaves its
//! fingerprint unchanged.

/// One `"path" => fn name(..) { body }` found in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The namespace path.
    pub path: String,
    /// 1-based line of the path literal.
    pub line: usize,
    /// The function's name, when it could be found.
    pub function: Option<String>,
    /// xxh3-64 of the body's tokens, when the body could be found.
    pub body_fingerprint: Option<u64>,
    /// The names the function's parameters and body use (what deep body
    /// tracking follows).
    pub uses: Vec<String>,
}

/// A function, method, constant or static defined in a file: what a cached
/// function's body can reach by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Its name.
    pub name: String,
    /// 1-based line of its name.
    pub line: usize,
    /// xxh3-64 of its tokens (formatting and comments do not count).
    pub fingerprint: u64,
    /// The names it uses.
    pub uses: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    /// A string literal's contents, unescaped only as far as the path needs.
    Str(String),
    /// Any other literal or lifetime: its text.
    Other(String),
    Punct(char),
    Open(char),
    Close(char),
}

struct Token {
    tok: Tok,
    line: usize,
}

/// Splits Rust source into tokens, dropping whitespace and comments.
fn tokenize(src: &str) -> Vec<Token> {
    let s: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let count_lines = |from: usize, to: usize, line: &mut usize| {
        *line += s[from..to].iter().filter(|&&c| c == '\n').count();
    };
    while i < s.len() {
        let c = s[i];
        let start = i;
        let start_line = line;
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && s.get(i + 1) == Some(&'/') {
            while i < s.len() && s[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && s.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < s.len() {
                if s[i] == '/' && s.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if s[i] == '*' && s.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            count_lines(start, i.min(s.len()), &mut line);
        } else if let Some((end, contents)) = raw_string(&s, i) {
            count_lines(start, end, &mut line);
            out.push(Token {
                tok: Tok::Str(contents),
                line: start_line,
            });
            i = end;
        } else if c == '"' || ((c == 'b' || c == 'c') && s.get(i + 1) == Some(&'"')) {
            i += if c == '"' { 1 } else { 2 };
            let mut contents = String::new();
            while i < s.len() && s[i] != '"' {
                if s[i] == '\\' && i + 1 < s.len() {
                    contents.push(s[i]);
                    i += 1;
                }
                contents.push(s[i]);
                i += 1;
            }
            i += 1;
            count_lines(start, i.min(s.len()), &mut line);
            out.push(Token {
                tok: Tok::Str(contents),
                line: start_line,
            });
        } else if c == '\'' || (c == 'b' && s.get(i + 1) == Some(&'\'')) {
            // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
            let q = if c == '\'' { i } else { i + 1 };
            let is_char = s.get(q + 1) == Some(&'\\') || s.get(q + 2) == Some(&'\'');
            i = q + 1;
            if is_char {
                if s.get(i) == Some(&'\\') {
                    i += 2;
                }
                while i < s.len() && s[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                    i += 1;
                }
            }
            out.push(Token {
                tok: Tok::Other(s[start..i.min(s.len())].iter().collect()),
                line: start_line,
            });
        } else if c.is_alphabetic() || c == '_' {
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(s[start..i].iter().collect()),
                line: start_line,
            });
        } else if c.is_ascii_digit() {
            while i < s.len() && (s[i].is_alphanumeric() || s[i] == '_' || s[i] == '.') {
                // `1..2` is a range, not a number.
                if s[i] == '.' && s.get(i + 1) == Some(&'.') {
                    break;
                }
                i += 1;
            }
            out.push(Token {
                tok: Tok::Other(s[start..i].iter().collect()),
                line: start_line,
            });
        } else {
            i += 1;
            let tok = match c {
                '(' | '[' | '{' => Tok::Open(c),
                ')' | ']' | '}' => Tok::Close(c),
                _ => Tok::Punct(c),
            };
            out.push(Token {
                tok,
                line: start_line,
            });
        }
    }
    out
}

/// A raw string (`r"..."`, `r#"..."#`, `br#"..."#`) starting at `i`: where it
/// ends and what it holds.
fn raw_string(s: &[char], i: usize) -> Option<(usize, String)> {
    let mut j = i;
    if matches!(s.get(j), Some('b' | 'c')) {
        j += 1;
    }
    if s.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = s[j..].iter().take_while(|&&c| c == '#').count();
    j += hashes;
    if s.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    let body_start = j;
    while j < s.len() {
        if s[j] == '"'
            && s[j + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Some((j + 1 + hashes, s[body_start..j].iter().collect()));
        }
        j += 1;
    }
    Some((s.len(), s[body_start..].iter().collect()))
}

/// The index just past the group that opens at `open`.
fn group_end(toks: &[Token], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Open(_) => depth += 1,
            Tok::Close(_) => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// The fingerprint of a body: its tokens, one space apart, without a comma
/// just before a closing bracket (rustfmt adds and removes those).
fn fingerprint(toks: &[Token]) -> u64 {
    let mut text = String::new();
    for (k, t) in toks.iter().enumerate() {
        if t.tok == Tok::Punct(',')
            && matches!(toks.get(k + 1).map(|t| &t.tok), Some(Tok::Close(_)))
        {
            continue;
        }
        match &t.tok {
            Tok::Ident(s) | Tok::Other(s) => text.push_str(s),
            Tok::Str(s) => {
                text.push('"');
                text.push_str(s);
                text.push('"');
            }
            Tok::Punct(c) | Tok::Open(c) | Tok::Close(c) => text.push(*c),
        }
        text.push(' ');
    }
    xxhash_rust::xxh3::xxh3_64(text.as_bytes())
}

/// Every `permacached!` function in `src`.
pub fn scan(src: &str) -> Vec<Found> {
    let toks = tokenize(src);
    let mut found = Vec::new();
    let mut k = 0;
    while k + 2 < toks.len() {
        let invocation = toks[k].tok == Tok::Ident("permacached".into())
            && toks[k + 1].tok == Tok::Punct('!')
            && matches!(toks[k + 2].tok, Tok::Open(_));
        if !invocation {
            k += 1;
            continue;
        }
        let end = group_end(&toks, k + 2);
        found.extend(functions(&toks[k + 3..end.saturating_sub(1)]));
        k = end;
    }
    found
}

/// The names (identifiers that are not keywords) in `toks`, each once.
fn names(toks: &[Token]) -> Vec<String> {
    let mut out: Vec<String> = toks
        .iter()
        .filter_map(|t| match &t.tok {
            Tok::Ident(name) if !is_keyword(name) => Some(name.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn is_keyword(word: &str) -> bool {
    matches!(
        word,
        "as" | "async"
            | "await"
            | "break"
            | "const"
            | "continue"
            | "crate"
            | "dyn"
            | "else"
            | "enum"
            | "extern"
            | "false"
            | "fn"
            | "for"
            | "if"
            | "impl"
            | "in"
            | "let"
            | "loop"
            | "match"
            | "mod"
            | "move"
            | "mut"
            | "pub"
            | "ref"
            | "return"
            | "self"
            | "Self"
            | "static"
            | "struct"
            | "super"
            | "trait"
            | "true"
            | "type"
            | "unsafe"
            | "use"
            | "where"
            | "while"
    )
}

/// Every function, method, constant and static defined in `src` (inside
/// `impl` blocks, modules and macro invocations too), with the names each
/// uses.
pub fn items(src: &str) -> Vec<Item> {
    let toks = tokenize(src);
    let mut out = Vec::new();
    let mut k = 0;
    while k + 1 < toks.len() {
        let kind = match &toks[k].tok {
            Tok::Ident(word) if word == "fn" || word == "const" || word == "static" => {
                word.as_str()
            }
            _ => {
                k += 1;
                continue;
            }
        };
        // `const fn f` is a function; `static mut X` a static.
        let mut at = k + 1;
        if kind == "static" && toks[at].tok == Tok::Ident("mut".into()) {
            at += 1;
        }
        let Some(Tok::Ident(name)) = toks.get(at).map(|t| &t.tok) else {
            k += 1;
            continue;
        };
        if name == "fn" || name == "_" {
            k += 1;
            continue;
        }
        // A function ends with its body (or `;` for a declaration); a
        // constant or static with its `;`.
        let mut end = at + 1;
        while end < toks.len() {
            match toks[end].tok {
                Tok::Open('{') if kind == "fn" => {
                    end = group_end(&toks, end);
                    break;
                }
                Tok::Open(_) => end = group_end(&toks, end),
                Tok::Punct(';') => {
                    end += 1;
                    break;
                }
                _ => end += 1,
            }
        }
        let end = end.min(toks.len());
        out.push(Item {
            name: name.clone(),
            line: toks[at].line,
            fingerprint: fingerprint(&toks[k..end]),
            uses: names(&toks[at + 1..end]),
        });
        // Items nested in a body are items too: go on just past the name.
        k = at + 1;
    }
    out
}

/// The functions inside one invocation's brackets.
fn functions(toks: &[Token]) -> Vec<Found> {
    let mut found = Vec::new();
    let mut k = 0;
    while k < toks.len() {
        let is_path = matches!(toks[k].tok, Tok::Str(_))
            && toks.get(k + 1).map(|t| &t.tok) == Some(&Tok::Punct('='))
            && toks.get(k + 2).map(|t| &t.tok) == Some(&Tok::Punct('>'));
        if !is_path {
            k = match toks[k].tok {
                Tok::Open(_) => group_end(toks, k),
                _ => k + 1,
            };
            continue;
        }
        let Tok::Str(path) = &toks[k].tok else {
            unreachable!()
        };
        let mut f = Found {
            path: path.clone(),
            line: toks[k].line,
            function: None,
            body_fingerprint: None,
            uses: Vec::new(),
        };
        // `fn name (params) -> ret { body }`: skip attributes, find `fn`.
        let mut j = k + 3;
        while j < toks.len() && toks[j].tok != Tok::Ident("fn".into()) {
            j = match toks[j].tok {
                Tok::Open(_) => group_end(toks, j),
                _ => j + 1,
            };
        }
        if let Some(Tok::Ident(name)) = toks.get(j + 1).map(|t| &t.tok) {
            f.function = Some(name.clone());
        }
        // The parameters, then the first brace group is the body.
        let params = j + 2;
        j += 2;
        if matches!(toks.get(j).map(|t| &t.tok), Some(Tok::Open('('))) {
            j = group_end(toks, j);
        }
        while j < toks.len() && toks[j].tok != Tok::Open('{') {
            j += 1;
        }
        if j < toks.len() {
            let end = group_end(toks, j);
            f.body_fingerprint = Some(fingerprint(&toks[j..end]));
            f.uses = names(&toks[params.min(end)..end]);
            k = end;
        } else {
            k = j;
        }
        found.push(f);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(src: &str) -> Vec<(String, usize)> {
        scan(src).into_iter().map(|f| (f.path, f.line)).collect()
    }

    #[test]
    fn paths_are_found_with_their_lines() {
        let src = r#"
use permacache::permacached;
permacached! {
    "a/f" =>
    /// docs with "quotes" => and a path
    pub fn f(x: i32 = 2) -> Vec<i32> { vec![x] }

    "a/g" => fn g(s: &str) -> String { format!("{s} => {{") }
}
"#;
        assert_eq!(paths(src), vec![("a/f".into(), 4), ("a/g".into(), 8)]);
        assert_eq!(scan(src)[1].function.as_deref(), Some("g"));
    }

    #[test]
    fn comments_strings_and_raw_strings_do_not_count() {
        let src = r####"
// permacached! { "c/line" => fn a() -> i32 { 1 } }
/* permacached! { "c/block" => fn b() -> i32 { 1 } /* nested */ } */
const S: &str = "permacached! { \"c/string\" => fn c() -> i32 { 1 } }";
const R: &str = r#"permacached! { "c/raw" => fn d() -> i32 { 1 } }"#;
const L: char = '"';
fn lifetimes<'a>(x: &'a str) -> &'a str { x }
permacached! { "c/real" => fn e() -> i32 { 1 } }
"####;
        assert_eq!(paths(src), vec![("c/real".into(), 8)]);
    }

    #[test]
    fn reformatting_keeps_the_body_fingerprint_and_editing_changes_it() {
        let a = scan(r#"permacached! { "p" => fn f(x: i32) -> Vec<i32> { vec![x, x * 2] } }"#);
        let b = scan(
            "permacached! {\n    \"p\" =>\n    fn f(x: i32) -> Vec<i32> {\n        // a comment\n        vec![\n            x,\n            x * 2,\n        ]\n    }\n}",
        );
        let c = scan(r#"permacached! { "p" => fn f(x: i32) -> Vec<i32> { vec![x, x * 3] } }"#);
        assert_eq!(a[0].body_fingerprint, b[0].body_fingerprint);
        assert_ne!(a[0].body_fingerprint, c[0].body_fingerprint);
        assert!(a[0].body_fingerprint.is_some());
    }
}
