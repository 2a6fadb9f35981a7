//! Generated code reaches std only through `$crate::__private` and `::core`
//! paths: these functions are defined where there is no prelude and where
//! `core`, `std` and the prelude's names mean something else. Compiling is
//! the test; the calls check the functions still work.

mod hygienic {
    #![no_implicit_prelude]
    #![allow(dead_code, non_camel_case_types)]

    mod core {}
    mod std {}
    pub struct Option;
    pub struct Some;
    pub struct None;
    pub struct Ok;
    pub struct Err;
    pub struct Result;
    pub struct String;
    pub struct Vec;
    pub struct ToString;
    pub struct usize_;

    use ::permacache::permacached;

    permacached! {
        "tests/hygiene/plain" =>
        pub fn plain(x: i32, y: i32 = 2, #[drop_if_eq(0)] t: i32 = 0, #[display] name: ::std::string::String = ::std::string::String::new()) -> ::std::vec::Vec<i32> {
            ::std::vec![x, y, t, name.len() as i32]
        }

        "tests/hygiene/fallible" =>
        pub fn fallible(x: i32) -> ::std::result::Result<i32, ::std::string::String> {
            if x < 0 { ::std::result::Result::Err(::std::string::String::new()) } else { ::std::result::Result::Ok(x) }
        }

        "tests/hygiene/batch" =>
        pub fn batch(#[parallel] xs: ::std::vec::Vec<u8>, #[hash] salt: ::std::vec::Vec<u8>) -> ::std::vec::Vec<u16> {
            let n = salt.len() as u16;
            ::std::iter::Iterator::collect(::std::iter::Iterator::map(xs.iter(), |x| *x as u16 + n))
        }

        "tests/hygiene/out" =>
        pub fn out(x: u8, #[out_file] to: ::std::path::PathBuf) -> u8 {
            ::std::fs::write(&to, [x]).unwrap();
            x
        }

        "tests/hygiene/later" =>
        pub async fn later(x: u8) -> u8 { x }
    }

    pub fn calls() -> ::std::vec::Vec<i32> {
        let mut name = ::std::string::String::new();
        name.push_str("ab");
        plain!(1, name = name)
    }
}

#[test]
fn generated_code_needs_no_prelude_and_survives_shadowed_names() {
    permacache::set_store_dir(tempfile::tempdir().unwrap().keep()).unwrap();
    assert_eq!(hygienic::calls(), vec![1, 2, 0, 2]);
    assert_eq!(hygienic::fallible(3), Ok(3));
    assert!(hygienic::fallible(-1).is_err());
    assert_eq!(hygienic::batch(vec![1, 2], vec![9]), vec![2, 3]);
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(hygienic::out(7, dir.path().join("o")), 7);
    assert_eq!(hygienic::later::key(5).unwrap(), r#"{"x":5}"#);
}
