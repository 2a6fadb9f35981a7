//! "A hit is never wrong" across builds: fixture crates built by cargo, their
//! returned struct or a parameter's type edited between two builds, and two
//! crates that use one namespace path on one store root.

mod common;

use common::fixture::Fixture;

// Code tracking is off: these builds test what the value's shape alone
// decides (with it on, the edits below are misses for the code too).
const EVOLVE_TOML: &str = r#"
[namespace."ev/postcard"]
track_body = false
[namespace."ev/json"]
codec = "json"
track_body = false
[namespace."ev/cbor"]
codec = "cbor"
track_body = false
"#;

/// The fixture's main.rs: a struct, an enum and a parameter type, as each
/// step of the evolution writes them.
fn evolve_main(types: &str, param: &str) -> String {
    format!(
        r#"use permacache::permacached;
use serde::{{Deserialize, Serialize}};

{types}

permacached! {{
    "ev/postcard" =>
    fn p(x: {param}) -> Pair {{
        println!("computed p");
        Pair::make(x as u32)
    }}

    "ev/json" =>
    fn j(x: {param}) -> Pair {{
        println!("computed j");
        Pair::make(x as u32)
    }}

    "ev/cbor" =>
    fn c(x: {param}) -> Pair {{
        println!("computed c");
        Pair::make(x as u32)
    }}
}}

fn main() {{
    for v in [p(1 as {param}), j(1 as {param}), c(1 as {param})] {{
        println!("value {{}}", v.show());
    }}
}}
"#
    )
}

/// The first shape: fields `a, b`, variants `Small, Large`.
const PAIR: &str = r#"
#[derive(Serialize, Deserialize)]
pub struct Pair { a: u32, b: u32, kind: Kind }
#[derive(Serialize, Deserialize)]
pub enum Kind { Small, Large }
impl Pair {
    fn make(x: u32) -> Pair { Pair { a: x, b: x + 10, kind: Kind::Large } }
    fn show(&self) -> String {
        format!("a={} b={} {}", self.a, self.b, match self.kind { Kind::Small => "small", Kind::Large => "large" })
    }
}
"#;

fn computed(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("computed")).collect()
}

fn values(out: &str) -> Vec<&str> {
    out.lines().filter(|l| l.starts_with("value")).collect()
}

#[test]
fn an_edited_return_type_is_a_miss_and_a_renamed_one_keeps_its_entries() {
    let f = Fixture::with_deps("fx_evolve", EVOLVE_TOML, &evolve_main(PAIR, "u32"));
    let right = ["value a=1 b=11 large"; 3];
    let all = ["computed p", "computed j", "computed c"];
    let out = f.run();
    assert_eq!(computed(&out), all);
    assert_eq!(values(&out), right);
    assert_eq!(computed(&f.run()), Vec::<&str>::new(), "served from disk");

    // Two fields swapped: postcard would read `a` as `b`.
    let swapped = PAIR.replace(
        "{ a: u32, b: u32, kind: Kind }",
        "{ b: u32, a: u32, kind: Kind }",
    );
    f.write("src/main.rs", &evolve_main(&swapped, "u32"));
    let out = f.run();
    assert_eq!(values(&out), right, "{out}");
    assert_eq!(computed(&out), all, "a changed shape is a miss");
    assert_eq!(computed(&f.run()), Vec::<&str>::new());

    // Variants reordered: postcard would read `Large` as `Small`.
    let reordered = swapped.replace("{ Small, Large }", "{ Large, Small }");
    f.write("src/main.rs", &evolve_main(&reordered, "u32"));
    let out = f.run();
    assert_eq!(values(&out), right, "{out}");
    assert_eq!(computed(&out), all);

    // A field's type changed.
    let signed = reordered
        .replace("{ b: u32, a: u32,", "{ b: u32, a: i64,")
        .replace("Pair { a: x,", "Pair { a: x as i64,");
    f.write("src/main.rs", &evolve_main(&signed, "u32"));
    let out = f.run();
    assert_eq!(values(&out), right, "{out}");
    assert_eq!(computed(&out), all);

    // Renamed types with the same shape keep their entries.
    let renamed = signed
        .replace("Pair", "Couple")
        .replace("Kind", "Size")
        .replace("impl Couple", "type Pair = Couple;\nimpl Couple");
    f.write("src/main.rs", &evolve_main(&renamed, "u32"));
    let out = f.run();
    assert_eq!(values(&out), right, "{out}");
    assert_eq!(computed(&out), Vec::<&str>::new(), "a rename keeps entries");

    // A parameter's type changed: `{"x":1}` in both builds, but a miss.
    f.write("src/main.rs", &evolve_main(&renamed, "u64"));
    let out = f.run();
    assert_eq!(values(&out), right, "{out}");
    assert_eq!(computed(&out), all, "a parameter type change is a miss");
}

const OWNER_MAIN: &str = r#"use permacache::permacached;

permacached! {
    "shared/path" =>
    fn f(x: u32) -> String {
        println!("computed");
        format!("from WHO {x}")
    }
}

fn main() {
    println!("value {}", f(1));
}
"#;

#[test]
fn two_crates_on_one_path_never_see_each_others_entries_unless_they_share_an_owner() {
    let toml = "[namespace.\"shared/path\"]\n";
    let a = Fixture::new("fx_owner_a", toml, &OWNER_MAIN.replace("WHO", "a"));
    let b = Fixture::new("fx_owner_b", toml, &OWNER_MAIN.replace("WHO", "b"));
    let root = a.store.path().to_str().unwrap().to_string();
    let on_a = [("PERMACACHE_DIR", root.as_str())];

    assert_eq!(values(&a.run()), ["value from a 1"]);
    let out = b.run_with(&on_a);
    assert_eq!(values(&out), ["value from b 1"], "b was served a's entry");
    assert_eq!(computed(&out), ["computed"]);
    // Side by side: each is still served its own.
    assert_eq!(a.run(), "value from a 1\n");
    assert_eq!(b.run_with(&on_a), "value from b 1\n");

    // Naming one owner shares the namespace on purpose (their bodies differ
    // here, so their code is not tracked either).
    let shared = "[namespace.\"shared/path\"]\nowner = \"team\"\ntrack_body = false\n";
    a.write("permacache.toml", shared);
    b.write("permacache.toml", shared);
    let out = a.run();
    assert_eq!(
        computed(&out),
        ["computed"],
        "a new owner is a new identity"
    );
    assert_eq!(b.run_with(&on_a), "value from a 1\n", "b shares a's entry");
}
