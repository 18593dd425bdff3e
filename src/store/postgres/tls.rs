//! How the store's connections reach the server: in the clear, or over TLS with the
//! client's own connector (`postgres-native-tls`, feature `postgres-tls`).
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
    Tls(postgres_native_tls::MakeTlsConnector),
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
        let mut builder = native_tls::TlsConnector::builder();
        if let Some(path) = &options.root_certificate {
            let pem = std::fs::read(path).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("sslrootcert {}: {e}", path.display()),
                )
            })?;
            let certificate = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                Error::new(
                    ErrorKind::Config,
                    format!("sslrootcert {}: not a PEM certificate: {e}", path.display()),
                )
            })?;
            builder.add_root_certificate(certificate);
        }
        let connector = builder
            .build()
            .map_err(|e| Error::new(ErrorKind::Config, format!("PostgreSQL TLS: {e}")))?;
        Ok(Connector::Tls(postgres_native_tls::MakeTlsConnector::new(
            connector,
        )))
    }
}
