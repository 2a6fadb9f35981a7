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
    /// Files its body reads at compile time (as [`Item::files`]).
    pub files: Vec<String>,
}

/// An item defined in a file, by one name it can be reached by: a function,
/// method, constant, static, `macro_rules!` macro, type alias, struct, enum,
/// union or trait by its own name; an `impl` block by each name in its
/// header (its type's and its trait's: an impl runs wherever its type is
/// used, unnamed); a `use` by each name in it (an alias leads to what it
/// renames); a macro invocation outside function bodies by each name in its
/// arguments (it may define items of those names).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The name it is reached by.
    pub name: String,
    /// What it is: `fn`, `const`, `static`, `macro`, `type`, `struct`,
    /// `enum`, `union`, `trait`, `impl`, `use` or `macro call`.
    pub kind: &'static str,
    /// 1-based line of its name.
    pub line: usize,
    /// xxh3-64 of its tokens (formatting and comments do not count).
    pub fingerprint: u64,
    /// The names it uses (identifiers, and words inside its string
    /// literals: format strings and attributes name code too).
    pub uses: Vec<String>,
    /// Files it reads at compile time (`include_str!`, `include_bytes!`,
    /// `include!`), as written; `$OUT_DIR/` stands for `env!("OUT_DIR")`.
    pub files: Vec<String>,
    /// For a macro invocation, the macro's name: it is followed only where
    /// the crate defines that macro (a std macro defines nothing unseen).
    pub invokes: Option<String>,
    /// The names it sets (`X.store(..)`, `X.set(..)`, `X = ..`): a static
    /// is followed into every item that sets it.
    pub writes: Vec<String>,
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
                // `1..2` is a range, `pair.0.area()` and `2u64.triple()`
                // call methods: none of them is one number.
                if s[i] == '.'
                    && s.get(i + 1)
                        .is_none_or(|&c| c == '.' || c.is_alphabetic() || c == '_')
                {
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

/// Whether the comma at `k`, just before a closing bracket, is one rustfmt
/// may add or drop: before `]` and `}` always; before `)` unless it makes a
/// one-element tuple `(x,)`: the parentheses follow no name (a call or a
/// signature), and hold no other comma and no `<`.
fn trailing_comma(toks: &[Token], k: usize) -> bool {
    match toks.get(k + 1).map(|t| &t.tok) {
        Some(Tok::Close(']' | '}')) => true,
        Some(Tok::Close(')')) => {
            let mut depth = 0usize;
            for (at, t) in toks[..k].iter().enumerate().rev() {
                match t.tok {
                    Tok::Close(_) => depth += 1,
                    Tok::Open(_) if depth == 0 => {
                        return at > 0
                            && matches!(&toks[at - 1].tok, Tok::Ident(w) if !is_keyword(w));
                    }
                    Tok::Open(_) => depth -= 1,
                    Tok::Punct('<') if depth == 0 => return false,
                    Tok::Punct(',') if depth == 0 => return true,
                    _ => {}
                }
            }
            false
        }
        _ => false,
    }
}

/// The fingerprint of a body: its tokens, one space apart, without a
/// trailing comma rustfmt may add or drop.
fn fingerprint(toks: &[Token]) -> u64 {
    let mut text = String::new();
    for (k, t) in toks.iter().enumerate() {
        if t.tok == Tok::Punct(',') && trailing_comma(toks, k) {
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

/// The names in `toks`, each once: identifiers that are not keywords, and
/// the names string literals hold as code: a format string's `{name}` and
/// `{name:?}`, and a string that is a path (`#[serde(with = "m")]`,
/// `default = "m::f"`).
fn names(toks: &[Token]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in toks {
        match &t.tok {
            Tok::Ident(name) if !is_keyword(name) => out.push(name.clone()),
            Tok::Str(text) => out.extend(names_in_string(text)),
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}

fn is_ident(word: &str) -> bool {
    word.starts_with(|c: char| c.is_alphabetic() || c == '_')
        && word.chars().all(|c| c.is_alphanumeric() || c == '_')
}

/// The names a string literal holds as code (see [`names`]).
fn names_in_string(text: &str) -> Vec<String> {
    let segments: Vec<&str> = text.split("::").collect();
    if segments.iter().all(|s| is_ident(s)) {
        return segments
            .into_iter()
            .filter(|s| !is_keyword(s))
            .map(str::to_string)
            .collect();
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('{') {
        rest = &rest[at + 1..];
        if rest.starts_with('{') {
            rest = &rest[1..]; // `{{` is a brace
            continue;
        }
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if is_ident(&rest[..end]) && !is_keyword(&rest[..end]) {
            out.push(rest[..end].to_string());
        }
    }
    out
}

/// The names `toks` set: `X = ..`, `X += ..`, or a method that changes
/// what `X` holds (`store`, `set`, `swap`, `fetch_*`, `get_or_init`,
/// `lock`, `write`, `borrow_mut`, `replace`, `take`, `insert`, `push`).
fn writes(toks: &[Token]) -> Vec<String> {
    const SETTERS: [&str; 12] = [
        "store",
        "set",
        "swap",
        "get_or_init",
        "lock",
        "write",
        "borrow_mut",
        "replace",
        "take",
        "insert",
        "push",
        "with",
    ];
    let mut out = Vec::new();
    for (k, t) in toks.iter().enumerate() {
        let Tok::Ident(name) = &t.tok else { continue };
        let next = |j: usize| toks.get(k + j).map(|t| &t.tok);
        let assigned = next(1) == Some(&Tok::Punct('='))
            && next(2) != Some(&Tok::Punct('='))
            && k > 0
            && !matches!(&toks[k - 1].tok, Tok::Ident(w) if w == "let" || w == "mut" || w == "const" || w == "static");
        let compound = matches!(
            next(1),
            Some(Tok::Punct('+' | '-' | '*' | '/' | '|' | '&' | '^'))
        ) && next(2) == Some(&Tok::Punct('='));
        let method = next(1) == Some(&Tok::Punct('.'))
            && matches!(next(2), Some(Tok::Ident(m)) if SETTERS.contains(&m.as_str()) || m.starts_with("fetch_") || m.starts_with("compare_exchange"));
        if assigned || compound || method {
            out.push(name.clone());
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The names an `impl` header implements for: the last segment of its
/// trait's path and of its type's, outside generic arguments (`impl<T>
/// ops::Add<T> for Num<T>` is reached by `Add` and `Num`).
fn impl_names(header: &[Token]) -> Vec<String> {
    let mut k = 0;
    // The impl's own generic parameters.
    if header.first().map(|t| &t.tok) == Some(&Tok::Punct('<')) {
        let mut depth = 0i32;
        while k < header.len() {
            match header[k].tok {
                Tok::Punct('<') => depth += 1,
                Tok::Punct('>') => {
                    depth -= 1;
                    if depth == 0 {
                        k += 1;
                        break;
                    }
                }
                _ => {}
            }
            k += 1;
        }
    }
    let mut out = Vec::new();
    let mut last = None;
    let mut depth = 0i32;
    for t in &header[k..] {
        match &t.tok {
            Tok::Punct('<') => depth += 1,
            Tok::Punct('>') => depth -= 1,
            Tok::Ident(w) if depth == 0 && (w == "for" || w == "where") => {
                out.extend(last.take());
                if w == "where" {
                    break;
                }
            }
            Tok::Ident(w) if depth == 0 && !is_keyword(w) => last = Some(w.clone()),
            _ => {}
        }
    }
    out.extend(last);
    out.sort();
    out.dedup();
    out
}

/// The files `include_str!`, `include_bytes!` and `include!` read in `toks`,
/// as written (`concat!(env!("OUT_DIR"), "/x.rs")` as `$OUT_DIR/x.rs`).
fn included_files(toks: &[Token]) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..toks.len().saturating_sub(2) {
        let include = matches!(&toks[k].tok, Tok::Ident(w) if w == "include_str" || w == "include_bytes" || w == "include")
            && toks[k + 1].tok == Tok::Punct('!')
            && matches!(toks[k + 2].tok, Tok::Open(_));
        if !include {
            continue;
        }
        let args = &toks[k + 3..group_end(toks, k + 2).saturating_sub(1)];
        let mut path = String::new();
        for t in args {
            match &t.tok {
                Tok::Str(s) if s == "OUT_DIR" => path.push_str("$OUT_DIR"),
                Tok::Str(s) => path.push_str(s),
                _ => {}
            }
        }
        if !path.is_empty() {
            out.push(path);
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The files `#[path = "..."]` attributes in `src` name, as written.
pub fn path_attributes(src: &str) -> Vec<String> {
    let toks = tokenize(src);
    toks.windows(6)
        .filter_map(|w| {
            match (
                &w[0].tok, &w[1].tok, &w[2].tok, &w[3].tok, &w[4].tok, &w[5].tok,
            ) {
                (
                    Tok::Punct('#'),
                    Tok::Open('['),
                    Tok::Ident(p),
                    Tok::Punct('='),
                    Tok::Str(file),
                    Tok::Close(']'),
                ) if p == "path" => Some(file.clone()),
                _ => None,
            }
        })
        .collect()
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

/// Where the item whose keyword is at `k` starts: before its attributes
/// (`#[derive(..)]`, `#[serde(..)]`) and visibility.
fn item_start(toks: &[Token], k: usize) -> usize {
    let mut start = k;
    loop {
        match start.checked_sub(1).map(|p| &toks[p].tok) {
            Some(Tok::Ident(w)) if w == "pub" || w == "unsafe" || w == "default" => start -= 1,
            // `pub(crate)`, or an attribute's `[..]` after its `#`
            Some(Tok::Close(c @ (')' | ']'))) => {
                let open = group_start(toks, start - 1);
                let attribute = *c == ']' && open > 0 && toks[open - 1].tok == Tok::Punct('#');
                let restricted =
                    *c == ')' && open > 0 && toks[open - 1].tok == Tok::Ident("pub".into());
                if attribute || restricted {
                    start = open - 1;
                } else {
                    return start;
                }
            }
            _ => return start,
        }
    }
}

/// The index of the group's opening bracket that closes at `close`.
fn group_start(toks: &[Token], close: usize) -> usize {
    let mut depth = 0usize;
    for k in (0..=close).rev() {
        match toks[k].tok {
            Tok::Close(_) => depth += 1,
            Tok::Open(_) => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    0
}

/// Where an item that ends with a `{..}` group, or with `;` after its
/// other groups, ends (one past it), starting the search at `from`.
fn braced_or_semi_end(toks: &[Token], from: usize) -> usize {
    let mut end = from;
    while end < toks.len() {
        match toks[end].tok {
            Tok::Open('{') => return group_end(toks, end),
            Tok::Open(_) => end = group_end(toks, end),
            Tok::Punct(';') => return end + 1,
            _ => end += 1,
        }
    }
    toks.len()
}

/// Whether the token before `k` lets an item start at `k` (not `-> impl
/// Trait`, `x: impl Trait`).
fn at_item_position(toks: &[Token], k: usize) -> bool {
    match k.checked_sub(1).map(|p| &toks[p].tok) {
        None => true,
        Some(Tok::Close('}' | ']' | ')') | Tok::Open('{') | Tok::Punct(';')) => true,
        Some(Tok::Ident(w)) => w == "unsafe" || w == "default" || w == "pub",
        _ => false,
    }
}

/// Every item defined in `src` (inside `impl` blocks, modules and macro
/// invocations too), once for each name it can be reached by (see [`Item`]).
pub fn items(src: &str) -> Vec<Item> {
    let toks = tokenize(src);
    let mut out = Vec::new();
    let mut fn_bodies: Vec<(usize, usize)> = Vec::new();
    let ident = |k: usize| match toks.get(k).map(|t| &t.tok) {
        Some(Tok::Ident(w)) => Some(w.as_str()),
        _ => None,
    };
    let push = |out: &mut Vec<Item>, kind, name: &str, line, span: &[Token]| {
        out.push(Item {
            name: name.to_string(),
            kind,
            line,
            fingerprint: fingerprint(span),
            uses: names(span),
            files: included_files(span),
            invokes: None,
            writes: writes(span),
        });
    };
    let mut k = 0;
    while k < toks.len() {
        let Some(word) = ident(k) else {
            k += 1;
            continue;
        };
        match word {
            "fn" | "const" | "static" => {
                // `const fn f` is a function; `static mut X` a static.
                let mut at = k + 1;
                if word == "static" && ident(at) == Some("mut") {
                    at += 1;
                }
                let Some(name) = ident(at) else {
                    k += 1;
                    continue;
                };
                if name == "fn" || name == "_" {
                    k += 1;
                    continue;
                }
                // A function ends with its body (or `;` for a declaration);
                // a constant or static with its `;`.
                let mut end = at + 1;
                while end < toks.len() {
                    match toks[end].tok {
                        Tok::Open('{') if word == "fn" => {
                            let body_end = group_end(&toks, end);
                            fn_bodies.push((end, body_end));
                            end = body_end;
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
                let start = item_start(&toks, k);
                let kind = match word {
                    "fn" => "fn",
                    "const" => "const",
                    _ => "static",
                };
                push(&mut out, kind, name, toks[at].line, &toks[start..end]);
                // Items nested in a body are items too: go on past the name.
                k = at + 1;
            }
            "macro_rules" if toks.get(k + 1).map(|t| &t.tok) == Some(&Tok::Punct('!')) => {
                let Some(name) = ident(k + 2) else {
                    k += 1;
                    continue;
                };
                let end = braced_or_semi_end(&toks, k + 3);
                let start = item_start(&toks, k);
                push(&mut out, "macro", name, toks[k + 2].line, &toks[start..end]);
                k = end;
            }
            "type" | "struct" | "enum" | "union" | "trait"
                if ident(k + 1).is_some() && at_item_position(&toks, item_start(&toks, k)) =>
            {
                let name = ident(k + 1).expect("checked");
                let end = braced_or_semi_end(&toks, k + 2);
                let start = item_start(&toks, k);
                let kind = match word {
                    "type" => "type",
                    "struct" => "struct",
                    "enum" => "enum",
                    "union" => "union",
                    _ => "trait",
                };
                push(&mut out, kind, name, toks[k + 1].line, &toks[start..end]);
                // A trait's default methods are items of their own.
                k += 2;
            }
            "impl" if at_item_position(&toks, item_start(&toks, k)) => {
                let end = braced_or_semi_end(&toks, k + 1);
                let header_end = (k + 1..end)
                    .find(|&j| toks[j].tok == Tok::Open('{'))
                    .unwrap_or(end);
                let start = item_start(&toks, k);
                for name in impl_names(&toks[k + 1..header_end]) {
                    push(&mut out, "impl", &name, toks[k].line, &toks[start..end]);
                }
                // Its methods are items of their own.
                k += 1;
            }
            "use"
                if matches!(
                    toks.get(k + 1).map(|t| &t.tok),
                    Some(Tok::Ident(_) | Tok::Punct(':') | Tok::Open('{'))
                ) =>
            {
                // An alias leads to what it renames; other names are the
                // same names.
                let end = braced_or_semi_end(&toks, k + 1);
                for j in k + 1..end.saturating_sub(2) {
                    if let (Tok::Ident(from), Tok::Ident(w), Tok::Ident(to)) =
                        (&toks[j].tok, &toks[j + 1].tok, &toks[j + 2].tok)
                        && w == "as"
                        && to != "_"
                    {
                        out.push(Item {
                            name: to.clone(),
                            kind: "use",
                            line: toks[j].line,
                            fingerprint: fingerprint(&toks[j..j + 3]),
                            uses: vec![from.clone()],
                            files: Vec::new(),
                            invokes: None,
                            writes: Vec::new(),
                        });
                    }
                }
                k = end;
            }
            name if name != "permacached"
                && toks.get(k + 1).map(|t| &t.tok) == Some(&Tok::Punct('!'))
                && matches!(toks.get(k + 2).map(|t| &t.tok), Some(Tok::Open(_)))
                && !fn_bodies.iter().any(|&(s, e)| s < k && k < e) =>
            {
                // A macro invoked where items stand may define items named
                // by its arguments.
                let end = group_end(&toks, k + 2);
                let span = &toks[k..end];
                for arg in names(&toks[k + 3..end.saturating_sub(1)]) {
                    if arg != name {
                        push(&mut out, "macro call", &arg, toks[k].line, span);
                        out.last_mut().expect("just pushed").invokes = Some(name.to_string());
                    }
                }
                // Items written plainly inside it are items too.
                k += 3;
            }
            _ => k += 1,
        }
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
            files: Vec::new(),
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
            f.files = included_files(&toks[j..end]);
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
