use super::*;

#[test]
fn file_names_are_safe_and_injective() {
    assert_eq!(
        file_stem("client_credentials:app:0af3"),
        "client_credentials%3Aapp%3A0af3"
    );
    assert_eq!(file_stem("A"), "%41");
    assert_ne!(file_stem("A"), file_stem("a"));
    assert_eq!(file_stem("%41"), "%2541");
    assert_eq!(file_stem("../x/y"), "..%2Fx%2Fy");
    assert_eq!(file_stem(""), "");
    let long = "k".repeat(300);
    let stem = file_stem(&long);
    assert_eq!(stem.len(), 100 + 1 + 64);
    assert_ne!(stem, file_stem(&"k".repeat(301)));
    for s in [file_stem("a/b\\c:d*e?f\"g<h>i|j\u{e9}"), stem] {
        assert!(
            s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.@%~".contains(&b)),
            "{s}"
        );
    }
}
