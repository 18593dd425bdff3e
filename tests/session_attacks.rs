//! What a stolen store dump, a stolen key, or both can do with refresh tokens, tested the
//! way an attacker would try it, with the token format README documents.
#![cfg(feature = "sqlite")]

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Map;
use sha2::Sha256;
use tok::refresh::{RefreshPolicy, Sessions};
use tok::store::{MemoryStore, SqliteStore, Store};
use tok::{ErrorKind, HmacKey, KeySet};

const SECRET: [u8; 32] = [7; 32];
const FINGERPRINT: &[u8] = b"fp-6d2b1c9e-raw-cookie-value";

fn sessions<S: Store>(store: S) -> Sessions<S> {
    let keys = KeySet::new(HmacKey::from_bytes(&SECRET).unwrap());
    Sessions::new(store, keys, RefreshPolicy::default())
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// A token built from the documented format: `FAMILY.GENERATION.TAG` with
/// `TAG = HMAC(HMAC(key, "tok/refresh/key/v1"), "tok/refresh/tag/v1\0" || FAMILY ||
/// GENERATION (u64 BE) || nonce)`.
fn forge(key: &[u8], family: &str, generation: u64, nonce: &[u8; 32]) -> String {
    let refresh_key = hmac(key, &[b"tok/refresh/key/v1"]);
    let tag = hmac(
        &refresh_key,
        &[
            b"tok/refresh/tag/v1\0",
            family.as_bytes(),
            &generation.to_be_bytes(),
            nonce,
        ],
    );
    format!("{family}.{generation}.{}", tok::base64url::encode(&tag))
}

#[tokio::test]
async fn a_dump_alone_or_a_key_alone_cannot_mint_both_together_can() {
    let s = sessions(MemoryStore::new());
    let pair = s.issue("alice", &Map::new(), None).await.unwrap();
    let sid = pair.session_id.clone();
    // What a dump shows: the nonce, the generation, the public family id.
    let dump = s.store().family(&sid).await.unwrap().unwrap();

    // Dump alone: the attacker must guess the key.
    for guess in [[0u8; 32], [8; 32], *b"tok test key: 32 bytes exactly!!"] {
        let forged = forge(&guess, &sid, dump.generation, &dump.secret.nonce);
        assert_eq!(
            s.rotate(&forged, None).await.unwrap_err().kind(),
            ErrorKind::RefreshUnknown
        );
    }
    // Key alone (with the public sid): the attacker must guess the nonce.
    for nonce in [[0u8; 32], [0xff; 32]] {
        let forged = forge(&SECRET, &sid, 0, &nonce);
        assert_eq!(
            s.rotate(&forged, None).await.unwrap_err().kind(),
            ErrorKind::RefreshUnknown
        );
    }
    // Nothing above changed the family.
    assert_eq!(s.store().family(&sid).await.unwrap().unwrap(), dump);
    // Key and dump together are the whole secret: the format is exactly as documented.
    let minted = forge(&SECRET, &sid, 0, &dump.secret.nonce);
    assert_eq!(minted, pair.refresh_token.as_str());
}

/// A dump of any store holds no refresh token, no tag and no raw fingerprint: it logs no
/// one in. The memory store is inspected through its records, the SQLite store through
/// its files (database, WAL, shared memory).
#[tokio::test]
async fn stores_hold_no_token_and_no_raw_fingerprint() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = sessions(SqliteStore::open(dir.path().join("dump.db")).await.unwrap());
    let memory = sessions(MemoryStore::new());
    let mut tokens = Vec::new();
    for i in 0..20 {
        for s in [&sqlite as &dyn Issuer, &memory] {
            let (a, b) = s.issue_and_rotate(&format!("user{i}")).await;
            tokens.push(a);
            tokens.push(b);
        }
    }
    // Read while the store is open, as from a live server: every commit is in the
    // database or its WAL. (After the last connection closes SQLite checkpoints and
    // deletes the WAL, which the writer thread does on its own time after a drop, so a
    // listing taken then can name a file that is gone by the time it is read.)
    let mut dump = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        dump.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    drop(sqlite);
    assert!(dump.len() > 4096, "the files were read");
    let records = memory.store().families();
    assert_eq!(records.len(), 20);
    let mut memory_dump = Vec::new();
    for r in &records {
        for field in [
            r.family_id.as_bytes(),
            r.subject.as_bytes(),
            r.claims.as_bytes(),
            r.secret.key_id.as_bytes(),
            &r.secret.nonce[..],
            r.fingerprint.as_ref().map_or(&[][..], |f| &f[..]),
        ] {
            memory_dump.extend_from_slice(field);
            memory_dump.push(0);
        }
    }
    for token in &tokens {
        let tag = token.rsplit_once('.').unwrap().1;
        let raw = tok::base64url::decode(tag.as_bytes()).unwrap();
        for haystack in [&dump, &memory_dump] {
            for needle in [tag.as_bytes(), &raw[..], token.as_bytes()] {
                assert!(
                    !haystack.windows(needle.len()).any(|w| w == needle),
                    "a token or tag is in a store dump"
                );
            }
        }
    }
    for haystack in [&dump, &memory_dump] {
        assert!(
            !haystack
                .windows(FINGERPRINT.len())
                .any(|w| w == FINGERPRINT),
            "raw fingerprint stored"
        );
    }
}

/// Issues a fingerprint-bound session and rotates it once; returns both refresh tokens.
trait Issuer {
    fn issue_and_rotate<'a>(
        &'a self,
        subject: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (String, String)> + 'a>>;
}

impl<S: Store> Issuer for Sessions<S> {
    fn issue_and_rotate<'a>(
        &'a self,
        subject: &'a str,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = (String, String)> + 'a>> {
        Box::pin(async move {
            let a = self
                .issue(subject, &Map::new(), Some(&FINGERPRINT))
                .await
                .unwrap();
            let b = self
                .rotate(&a.refresh_token, Some(&FINGERPRINT))
                .await
                .unwrap();
            (a.refresh_token.to_string(), b.refresh_token.to_string())
        })
    }
}

/// The SQLite store's size does not grow with rotations: one row per family, and the same
/// page count after 10,000 rotations as after one; reuse of generation 0 is still caught.
#[tokio::test]
async fn sqlite_storage_is_constant_per_session() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("size.db");
    let store = SqliteStore::open_with(&path, tok::store::Durability::Normal)
        .await
        .unwrap();
    let s = sessions(store);
    let t0 = s.issue("alice", &Map::new(), None).await.unwrap();
    let mut t = s.rotate(&t0.refresh_token, None).await.unwrap();
    let measure = || {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
            .unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM tok_families", [], |r| r.get(0))
            .unwrap();
        let pages: i64 = conn
            .query_row("PRAGMA page_count", [], |r| r.get(0))
            .unwrap();
        (rows, pages)
    };
    let after_one = measure();
    for _ in 1..10_000 {
        t = s.rotate(&t.refresh_token, None).await.unwrap();
    }
    assert_eq!(
        measure(),
        after_one,
        "(rows, pages) after 1 and 10,000 rotations"
    );
    assert_eq!(after_one.0, 1);
    assert_eq!(
        s.rotate(&t0.refresh_token, None).await.unwrap_err().kind(),
        ErrorKind::RefreshReused
    );
}
