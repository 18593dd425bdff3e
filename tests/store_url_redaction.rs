//! A password in a store URL is in no message: generated URLs put one in the userinfo or in
//! a `password` parameter (any position, any case, percent-encoded names), and every
//! message the library writes about them — the redacted form, a URL the client cannot
//! parse, a server that is not there — is searched for it, source chain and `Debug`
//! included. The CLI's and the example app's paths are checked in `cli_store_edges.rs`.
#![cfg(all(feature = "sqlite", feature = "redis", feature = "postgres"))]

use proptest::prelude::*;

/// Everything an error says: display, debug and every source.
fn said(e: &tok::Error) -> String {
    let mut all = format!("{e} {e:?}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        all.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    all
}

/// A parameter name meaning `password`: any case, any letter percent-encoded.
fn password_name() -> impl Strategy<Value = String> {
    prop::collection::vec((any::<bool>(), any::<bool>()), 8).prop_map(|choices| {
        "password"
            .chars()
            .zip(choices)
            .map(|(c, (upper, encoded))| {
                let c = if upper { c.to_ascii_uppercase() } else { c };
                if encoded {
                    format!("%{:02X}", u32::from(c))
                } else {
                    c.to_string()
                }
            })
            .collect()
    })
}

/// A store URL holding `secret`, and the secret.
fn url_with_secret() -> impl Strategy<Value = (String, String)> {
    (
        prop::sample::select(vec![
            "postgres",
            "postgresql",
            "redis",
            "rediss",
            "redis+cluster",
        ]),
        "[A-Za-z0-9]{10,20}",
        any::<bool>(),
        password_name(),
        prop::collection::vec(
            prop::sample::select(vec![
                "sslmode=bogus",
                "sslmode=disable",
                "timeout_ms=200",
                "application_name=x",
                "prefix=p",
                "connect_timeout=x",
            ]),
            0..4,
        ),
        any::<prop::sample::Index>(),
    )
        .prop_map(|(scheme, secret, in_userinfo, name, mut params, at)| {
            let secret = format!("Zq{secret}");
            let userinfo = if in_userinfo {
                format!("tok:{secret}@")
            } else {
                "tok@".to_owned()
            };
            if !in_userinfo {
                let position = at.index(params.len() + 1);
                params.insert(position, "");
            }
            let params: Vec<String> = params
                .iter()
                .map(|p| {
                    if p.is_empty() {
                        format!("{name}={secret}")
                    } else {
                        (*p).to_owned()
                    }
                })
                .collect();
            let query = if params.is_empty() {
                String::new()
            } else {
                format!("?{}", params.join("&"))
            };
            (format!("{scheme}://{userinfo}127.0.0.1:1/x{query}"), secret)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn no_message_holds_the_password((url, secret) in url_with_secret()) {
        prop_assert!(!tok::store::redact_url(&url).contains(&secret), "{url}");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        // Nothing listens on port 1: the open fails to parse the URL or to connect.
        let opened = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(20), tok::store::open(&url)).await
        });
        if let Ok(Err(e)) = opened {
            let all = said(&e);
            prop_assert!(!all.contains(&secret), "{url}: {all}");
        }
    }
}
