//! A plain socket on this host that leads to an engine over TLS
//! (`DOCKER_HOST=tcp://...:2376` with `DOCKER_TLS_VERIFY`), for the tools envctl runs.
//!
//! envctl itself speaks TLS to the engine (bollard's `ssl`). The Docker connection of
//! Debian 12's Ansible (community.docker 3.4.7) does not survive it: it connects, then
//! fails on its first exec (`ssl.SSLWantWriteError` in the collection's socket handling).
//! So ansible-playbook is given `unix://` of a socket of envctl's ([`ToolSocket`]), and
//! every connection to it is one TLS session of envctl's to the engine, verified against
//! `ca.pem` and presenting `cert.pem` and `key.pem` as the docker CLI does.

use super::tool_socket::ToolSocket;
use crate::backend::EngineError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::Path;
use std::sync::Arc;

/// A running forwarder: the socket, served while it lives.
pub struct Forward {
    socket: ToolSocket,
}

/// Where the engine listens, read from `tcp://HOST:PORT`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Address {
    host: String,
    port: u16,
}

impl Address {
    fn parse(endpoint: &str) -> Result<Address, String> {
        let (url, host) = super::tool_socket::endpoint_host(endpoint)?;
        // The docker CLI's default port for a TLS engine.
        let port = url.port().unwrap_or(2376);
        Ok(Address { host, port })
    }
}

impl Forward {
    /// Starts serving a socket that leads to the TLS engine at `endpoint`, with the
    /// client certificates in `certs` (`ca.pem`, `cert.pem`, `key.pem`).
    ///
    /// # Errors
    /// [`EngineError::Unreachable`] naming the file when a certificate or the key cannot
    /// be read, or the socket cannot be made.
    pub fn open(endpoint: &str, certs: &Path) -> Result<Forward, EngineError> {
        let unreachable = |reason: String| EngineError::Unreachable {
            endpoint: endpoint.to_string(),
            reason,
        };
        let address = Address::parse(endpoint).map_err(&unreachable)?;
        let name = ServerName::try_from(address.host.clone())
            .map_err(|e| unreachable(format!("`{}` as a TLS server name: {e}", address.host)))?;
        let config = client_config(certs).map_err(&unreachable)?;
        let dir = tempfile::Builder::new()
            .prefix("envctl-tls-")
            .tempdir()
            .map_err(|e| unreachable(format!("cannot make a directory for the socket: {e}")))?;
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let socket = ToolSocket::serve(dir, |listener| serve(listener, address, name, connector))
            .map_err(unreachable)?;
        Ok(Forward { socket })
    }

    /// `DOCKER_HOST` for the tools envctl runs.
    pub fn endpoint(&self) -> String {
        self.socket.endpoint()
    }
}

/// The TLS client of the docker CLI: the engine's certificate verified against
/// `ca.pem`, this client known by `cert.pem` and `key.pem`.
fn client_config(certs: &Path) -> Result<rustls::ClientConfig, String> {
    let read_certs = |file: &str| -> Result<Vec<CertificateDer<'static>>, String> {
        let path = certs.join(file);
        let found = CertificateDer::pem_file_iter(&path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if found.is_empty() {
            return Err(format!("{}: no certificate in it", path.display()));
        }
        Ok(found)
    };
    let mut roots = rustls::RootCertStore::empty();
    for ca in read_certs("ca.pem")? {
        roots
            .add(ca)
            .map_err(|e| format!("{}: {e}", certs.join("ca.pem").display()))?;
    }
    let chain = read_certs("cert.pem")?;
    let key_path = certs.join("key.pem");
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| format!("{}: {e}", key_path.display()))
}

/// Carries every connection to the socket over a TLS session of its own.
async fn serve(
    listener: tokio::net::UnixListener,
    address: Address,
    name: ServerName<'static>,
    connector: tokio_rustls::TlsConnector,
) {
    while let Ok((stream, _)) = listener.accept().await {
        let (address, name, connector) = (address.clone(), name.clone(), connector.clone());
        tokio::spawn(async move {
            let Ok(tcp) =
                tokio::net::TcpStream::connect((address.host.as_str(), address.port)).await
            else {
                return;
            };
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = connector.connect(name, tcp).await else {
                return;
            };
            let (mut engine_read, mut engine_write) = tokio::io::split(tls);
            let (mut read, mut write) = stream.into_split();
            use tokio::io::AsyncWriteExt;
            let up = async {
                let _ = tokio::io::copy(&mut read, &mut engine_write).await;
                // The tool is done sending: the engine sees the end of its request
                // (close_notify), as an exec's stdin needs.
                let _ = engine_write.shutdown().await;
            };
            let down = async {
                let _ = tokio::io::copy(&mut engine_read, &mut write).await;
                let _ = write.shutdown().await;
            };
            tokio::join!(up, down);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::{client_config, Address};

    #[test]
    fn endpoints_name_the_engine_and_default_to_the_tls_port() {
        assert_eq!(
            Address::parse("tcp://10.0.0.7:2376").unwrap(),
            Address {
                host: "10.0.0.7".into(),
                port: 2376
            }
        );
        assert_eq!(Address::parse("tcp://build-host").unwrap().port, 2376);
        assert_eq!(Address::parse("tcp://[fd00::7]:9").unwrap().host, "fd00::7");
        assert!(Address::parse("tcp://").is_err());
    }

    #[test]
    fn missing_or_empty_certificates_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = client_config(dir.path()).unwrap_err();
        assert!(err.contains("ca.pem"), "{err}");
        std::fs::write(dir.path().join("ca.pem"), "not a certificate\n").unwrap();
        let err = client_config(dir.path()).unwrap_err();
        assert!(
            err.contains("ca.pem") && err.contains("no certificate"),
            "{err}"
        );
    }
}
