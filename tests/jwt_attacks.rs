//! Hostile tokens: each must fail with its specific error kind, and none may panic.

mod common;

use common::attacks::{self, Against};
use tok::{ErrorKind, Validation};

#[test]
fn every_attack_fails_with_its_kind() {
    let table = attacks::table();
    assert!(table.len() > 100, "the table has {} attacks", table.len());
    let mut wrong = Vec::new();
    for attack in &table {
        match attacks::run(attack) {
            None => wrong.push(format!("{}: ACCEPTED", attack.name)),
            Some(e) if e.kind() != attack.expected => wrong.push(format!(
                "{}: expected {}, got {e}",
                attack.name,
                attack.expected.code()
            )),
            Some(e) => assert!(!e.to_string().is_empty()),
        }
    }
    assert!(
        wrong.is_empty(),
        "{} attacks misjudged:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn attack_names_are_unique() {
    let table = attacks::table();
    let mut names: Vec<_> = table.iter().map(|a| a.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), table.len());
}

#[test]
fn hundred_megabytes_are_rejected_without_decoding() {
    let token = attacks::hundred_megabytes();
    let e = tok::verify_at::<()>(&common::key(), &token, &Validation::new(), attacks::now())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
    let e = tok::insecure::decode_unverified(&token, 8192).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge);
}

/// The kid attacks are only meaningful against a set; against a single key with no kid
/// the same tokens verify (the kid names no other key), which is intended.
#[test]
fn kid_attacks_need_a_set() {
    for attack in attacks::table()
        .iter()
        .filter(|a| a.against == Against::Set)
    {
        assert_eq!(
            attacks::run(attack).map(|e| e.kind()),
            Some(ErrorKind::UnknownKey),
            "{}",
            attack.name
        );
    }
}

/// Every attack, also through the unverified decoder: an error with a kind or a decode,
/// never a panic.
#[test]
fn inspection_survives_every_attack() {
    for attack in attacks::table() {
        let result = std::panic::catch_unwind(|| {
            tok::insecure::decode_unverified(&attack.token, 64 * 1024).map(|_| ())
        });
        match result {
            Ok(Ok(())) | Ok(Err(_)) => {}
            Err(_) => panic!("decode_unverified panicked on {}", attack.name),
        }
    }
}
