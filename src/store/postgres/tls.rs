//! How the store's connections reach the server: in the clear, or over TLS on rustls
//! (feature `postgres-tls`; pure Rust, so no build needs OpenSSL).
//!
//! Strict by default: with TLS the server's certificate chain and host name are always
//! checked (against the system's roots and, when given, `sslrootcert=`), which is libpq's
//! `verify-full`; tok has no mode that encrypts without knowing whom it talks to.

use tokio_postgres::config::SslMode;

use crate::error::{Error, ErrorKind};
use crate::store::postgres::PostgresOptions;

/// The connector every connection of a store uses.
#[derive(Clone)]
pub(super) enum Connector {
    /// No TLS (`sslmode=disable`, or `prefer` in a build without TLS, against a server
    /// that offers none).
    Plain,
    /// TLS, with the server's certificate and name checked.
    #[cfg(feature = "postgres-tls")]
    Tls(tokio_postgres_rustls::MakeRustlsConnect),
}

/// The connector for `config` and `options`.
///
/// # Errors
/// [`Config`](ErrorKind::Config) when the URL asks for TLS (`sslmode=require`,
/// `sslrootcert=`) and this build has none, or the root certificate cannot be read.
pub(super) fn connector(
    config: &tokio_postgres::Config,
    options: &PostgresOptions,
) -> Result<Connector, Error> {
    let wants_tls = config.get_ssl_mode() == SslMode::Require || options.root_certificate.is_some();
    #[cfg(not(feature = "postgres-tls"))]
    {
        if wants_tls {
            return Err(Error::new(
                ErrorKind::Config,
                "the PostgreSQL URL asks for TLS, and this tok was built without it \
                 (feature postgres-tls)",
            ));
        }
        Ok(Connector::Plain)
    }
    #[cfg(feature = "postgres-tls")]
    {
        if config.get_ssl_mode() == SslMode::Disable && !wants_tls {
            return Ok(Connector::Plain);
        }
        let mut roots = rustls::RootCertStore::empty();
        // The platform's roots, as libpq uses them with `sslrootcert=system`. A platform
        // without any leaves the set empty: then only `sslrootcert=` can name a server
        // tok trusts, and every other server is unknown and refused.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        if let Some(path) = &options.root_certificate {
            for certificate in root_certificates(path)? {
                roots.add(certificate).map_err(|e| {
                    Error::new(
                        ErrorKind::Config,
                        format!("sslrootcert {}: {e}", path.display()),
                    )
                })?;
            }
        }
        // tok's own provider, not a process-wide default the application may not have
        // installed (or may have chosen otherwise).
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::new(ErrorKind::Config, format!("PostgreSQL TLS: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Connector::Tls(
            tokio_postgres_rustls::MakeRustlsConnect::new(config),
        ))
    }
}

/// The certificates of the PEM file `path` (`sslrootcert=`): at least one, every one
/// readable.
#[cfg(feature = "postgres-tls")]
fn root_certificates(
    path: &std::path::Path,
) -> Result<Vec<rustls::pki_types::CertificateDer<'static>>, Error> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let pem = std::fs::read(path).map_err(|e| {
        Error::new(
            ErrorKind::Config,
            format!("sslrootcert {}: {e}", path.display()),
        )
    })?;
    let not_pem = |detail: String| {
        Error::new(
            ErrorKind::Config,
            format!(
                "sslrootcert {}: not a PEM certificate: {detail}",
                path.display()
            ),
        )
    };
    let certificates = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| not_pem(e.to_string()))?;
    if certificates.is_empty() {
        return Err(not_pem("no CERTIFICATE block".into()));
    }
    Ok(certificates)
}
