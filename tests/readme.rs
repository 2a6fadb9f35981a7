//! The README's quickstart is the example CI runs, word for word, so that
//! what a newcomer copies is what is tested.

#[test]
fn the_readme_quickstart_is_the_quickstart_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/quickstart.rs");
    let section = readme.find("## Quickstart").expect("a quickstart section");
    let start = section
        + readme[section..]
            .find("```rust,no_run\n")
            .expect("the quickstart has a code block")
        + "```rust,no_run\n".len();
    let end = start + readme[start..].find("```").expect("the block ends");
    assert_eq!(&readme[start..end], example);
}
