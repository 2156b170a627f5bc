//! wss://: the rustls client configuration (which roots are trusted) and a non-blocking TLS stream
//! over the loop's mio socket. rustls is pure Rust with the ring provider, so it cross-compiles
//! to Android and iOS without OpenSSL.

use std::io::{self, IoSlice, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, OtherError, RootCertStore, SignatureScheme,
};

use crate::error::{Code, Failure};
use crate::pin::{self, Pin};
use crate::socket;

/// Which servers to trust. The default trusts the Mozilla roots shipped in the library.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct TlsOptions {
    /// Extra trusted CA certificates, PEM.
    pub extra_ca_pem: Vec<u8>,
    /// Also trust the operating system's store, where it can be read.
    pub system_roots: bool,
    /// Accept any certificate. For development servers only.
    pub skip_verification: bool,
    /// Public key pins (see `pin`): when not empty, a certificate of the chain must match one.
    /// Sorted and without duplicates, so equal sets compare equal (the runtime caches
    /// configurations by these options).
    pub pins: Vec<Pin>,
    /// The client certificate chain (PEM), end entity first, for servers that ask for one.
    pub client_cert_pem: Vec<u8>,
    /// Its private key (PEM: PKCS#8, SEC1 or PKCS#1).
    pub client_key_pem: Vec<u8>,
}

impl TlsOptions {
    /// Adds pins, keeping the set sorted and without duplicates.
    pub fn add_pins(&mut self, pins: impl IntoIterator<Item = Pin>) {
        self.pins.extend(pins);
        self.pins.sort_unstable();
        self.pins.dedup();
    }
}

/// A TLS failure carried inside an `io::Error`, so the task can tell it from a network failure.
#[derive(Debug)]
pub struct TlsError(pub String);

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TlsError {}

fn tls_io_error(detail: String) -> io::Error {
    io::Error::other(TlsError(detail))
}

/// The TLS detail inside an I/O error, if it is one.
pub fn tls_detail(e: &io::Error) -> Option<&str> {
    e.get_ref().and_then(|inner| inner.downcast_ref::<TlsError>()).map(|t| t.0.as_str())
}

/// Says what a rustls error means for the host, in words that name the cause.
pub fn describe(e: &rustls::Error) -> String {
    use rustls::Error as E;
    match e {
        E::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => "certificate: unknown issuer (not signed by a trusted CA)".into(),
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                "certificate: hostname mismatch (not valid for this host)".into()
            }
            CertificateError::Expired | CertificateError::ExpiredContext { .. } => "certificate: expired".into(),
            CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
                "certificate: not valid yet".into()
            }
            CertificateError::Revoked => "certificate: revoked".into(),
            CertificateError::BadEncoding => "certificate: bad encoding".into(),
            CertificateError::BadSignature => "certificate: bad signature".into(),
            CertificateError::Other(other) => format!("certificate: {}", other),
            other => format!("certificate: {:?}", other),
        },
        E::InvalidMessage(m) => format!("TLS handshake failed: server did not speak TLS ({:?})", m),
        E::AlertReceived(a) => format!("TLS handshake failed: server sent alert {:?}", a),
        E::PeerIncompatible(p) => format!("TLS handshake failed: incompatible server ({:?})", p),
        other => format!("TLS failed: {}", other),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn setup_failure(e: impl std::fmt::Display) -> Failure {
    Failure::new(Code::Tls, format!("TLS set-up failed: {}", e))
}

/// Builds the client configuration for `options`. ALPN offers http/1.1.
pub fn client_config(options: &TlsOptions) -> Result<Arc<ClientConfig>, Failure> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions().map_err(setup_failure)?;
    let (verifier, roots): (Arc<dyn ServerCertVerifier>, _) = if options.skip_verification {
        (Arc::new(AcceptAnyCertificate(provider())), None)
    } else {
        let roots = Arc::new(root_store(options)?);
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::clone(&roots), provider())
            .build()
            .map_err(setup_failure)?;
        (verifier, Some(roots))
    };
    let verifier = match options.pins.is_empty() {
        true => verifier,
        false => Arc::new(PinnedVerifier {
            inner: verifier,
            roots,
            pins: options.pins.clone(),
            algorithms: provider().signature_verification_algorithms,
        }),
    };
    let builder = builder.dangerous().with_custom_certificate_verifier(verifier);
    let mut config = match client_identity(options)? {
        None => builder.with_no_client_auth(),
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).map_err(|e| {
            let why = match e {
                rustls::Error::InconsistentKeys(_) => "the private key does not match the certificate".to_string(),
                other => other.to_string(),
            };
            Failure::new(Code::InvalidArgument, format!("client certificate: {}", why))
        })?,
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The client certificate chain and key, if given; both or neither.
fn client_identity(
    options: &TlsOptions,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, Failure> {
    let bad = |detail: String| Failure::new(Code::InvalidArgument, detail);
    match (options.client_cert_pem.is_empty(), options.client_key_pem.is_empty()) {
        (true, true) => return Ok(None),
        (false, false) => {}
        _ => return Err(bad("client_cert_pem and client_key_pem must be given together".into())),
    }
    let chain = CertificateDer::pem_slice_iter(&options.client_cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(format!("client_cert_pem: bad PEM: {:?}", e)))?;
    if chain.is_empty() {
        return Err(bad("client_cert_pem: no CERTIFICATE found in the PEM".into()));
    }
    if chain.iter().any(|c| webpki::EndEntityCert::try_from(c).is_err()) {
        return Err(bad("client_cert_pem: a certificate does not parse".into()));
    }
    let key = PrivateKeyDer::from_pem_slice(&options.client_key_pem).map_err(|e| {
        bad(format!("client_key_pem: no usable private key (PKCS#8, SEC1 or PKCS#1 PEM, not encrypted): {:?}", e))
    })?;
    Ok(Some((chain, key)))
}

/// The trusted roots: the Mozilla set, the system's if asked, and the extra CAs.
fn root_store(options: &TlsOptions) -> Result<RootCertStore, Failure> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if options.system_roots {
        // Unreadable system certificates are skipped: the shipped roots still apply.
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    }
    if !options.extra_ca_pem.is_empty() {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(&options.extra_ca_pem) {
            let cert = cert.map_err(|e| Failure::new(Code::InvalidArgument, format!("ca_pem: bad PEM: {:?}", e)))?;
            roots
                .add(cert)
                .map_err(|e| Failure::new(Code::InvalidArgument, format!("ca_pem: bad certificate: {}", e)))?;
            added += 1;
        }
        if added == 0 {
            return Err(Failure::new(Code::InvalidArgument, "ca_pem: no CERTIFICATE found in the PEM"));
        }
    }
    Ok(roots)
}

/// Pinning on top of a verifier: the chain is verified first, as without pins; then one
/// certificate of it must have a pinned public key. The chain is the path the verifier built, up
/// to the trusted root (which the server need not send); with verification skipped, the
/// certificates the server sent.
#[derive(Debug)]
struct PinnedVerifier {
    inner: Arc<dyn ServerCertVerifier>,
    /// The roots `inner` trusts, to rebuild its path; `None` when verification is skipped.
    roots: Option<Arc<RootCertStore>>,
    pins: Vec<Pin>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// Why a chain was refused by its pins; shown in the errMsg.
#[derive(Debug)]
struct PinMismatch(String);

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PinMismatch {}

impl PinnedVerifier {
    /// The pins of the chain, end entity first.
    fn chain_pins(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Vec<Pin> {
        let path = self.roots.as_ref().and_then(|roots| {
            let cert = webpki::EndEntityCert::try_from(end_entity).ok()?;
            let path = cert
                .verify_for_usage(
                    self.algorithms.all,
                    &roots.roots,
                    intermediates,
                    now,
                    webpki::KeyUsage::server_auth(),
                    None,
                    None,
                )
                .ok()?;
            let mut pins = vec![pin::of_spki(&cert.subject_public_key_info())];
            pins.extend(path.intermediate_certificates().map(|c| pin::of_spki(&c.subject_public_key_info())));
            pins.push(pin::of_spki(&webpki::spki_for_anchor(path.anchor())));
            Some(pins)
        });
        path.unwrap_or_else(|| {
            std::iter::once(end_entity).chain(intermediates).filter_map(pin::of_certificate).collect()
        })
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified = self.inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        let chain = self.chain_pins(end_entity, intermediates, now);
        if chain.iter().any(|p| self.pins.contains(p)) {
            return Ok(verified);
        }
        let shown = |pins: &[Pin]| pins.iter().map(pin::show).collect::<Vec<_>>().join(", ");
        let why = format!(
            "pinning failed: no public key of the chain matches a pin; the chain's pins (server first): {}; pinned: {}",
            shown(&chain),
            shown(&self.pins)
        );
        Err(rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(PinMismatch(why))))))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The switch for development servers: every certificate is accepted, signatures still checked.
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The most plaintext rustls takes in one write, and so the most it holds as records: a send is
/// only reported once its records left rustls (see `TlsStream::write_vectored`), and what rustls
/// holds is counted in the task's send queue through the frames it belongs to.
const BUFFER_LIMIT: usize = 256 * 1024;

/// A client TLS connection over a non-blocking socket. `WouldBlock` surfaces to the caller,
/// which retries on the next readiness event, exactly as with plain TCP.
pub struct TlsStream {
    conn: ClientConnection,
    sock: TcpStream,
}

impl TlsStream {
    pub fn new(config: Arc<ClientConfig>, host: &str, sock: TcpStream) -> Result<TlsStream, Failure> {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| Failure::new(Code::Tls, format!("TLS failed: \"{}\" is not a valid server name", host)))?;
        let mut conn = ClientConnection::new(config, name).map_err(|e| Failure::new(Code::Tls, describe(&e)))?;
        conn.set_buffer_limit(Some(BUFFER_LIMIT));
        Ok(TlsStream { conn, sock })
    }

    /// What the handshake settled on, once it is over (for the connection profile).
    pub fn handshake_done(&self) -> Option<crate::profile::TlsInfo> {
        if self.conn.is_handshaking() {
            return None;
        }
        let resumed = self.conn.handshake_kind() == Some(rustls::HandshakeKind::Resumed);
        Some(crate::profile::tls_info(self.conn.protocol_version(), self.conn.negotiated_cipher_suite(), resumed))
    }

    /// rustls holds records not yet written to the socket.
    pub fn holds_records(&self) -> bool {
        self.conn.wants_write()
    }

    /// Writes pending TLS records until the socket would block.
    fn write_pending(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            match self.conn.write_tls(&mut socket::Writer(&self.sock)) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                // TCP closed without close_notify: WebSocket framing detects truncation itself.
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(0),
                Err(e) => return Err(e),
            }
            // Records we could not send earlier (the ClientHello, say) must go before we wait.
            self.write_pending()?;
            match self.conn.read_tls(&mut self.sock) {
                Ok(0) if self.conn.is_handshaking() => {
                    return Err(tls_io_error("TLS handshake failed: connection closed by server".into()))
                }
                Ok(0) => return Ok(0),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
            if let Err(e) = self.conn.process_new_packets() {
                let _ = self.write_pending(); // tell the server why, if we can
                return Err(tls_io_error(describe(&e)));
            }
            self.write_pending()?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    /// Takes plaintext only when rustls holds no records: the records of earlier writes go out
    /// first (WouldBlock while the socket takes no more). So once `holds_records` is false
    /// after a write, every byte it took has reached the socket, and the caller can report the
    /// sends it carried; until then they stay queued, and fail if the connection dies.
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_pending()?;
        if self.conn.wants_write() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.conn.writer().write_vectored(bufs)?;
        self.write_pending()?;
        if n == 0 && !bufs.iter().all(|b| b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut socket::Writer(&self.sock))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_has_roots_and_alpn() {
        let c = client_config(&TlsOptions::default()).unwrap();
        assert_eq!(c.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn bad_pem_is_refused() {
        let opts = TlsOptions { extra_ca_pem: b"not a pem".to_vec(), ..Default::default() };
        assert_eq!(client_config(&opts).unwrap_err().code, Code::InvalidArgument);
        let opts = TlsOptions {
            extra_ca_pem: b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".to_vec(),
            ..Default::default()
        };
        assert!(client_config(&opts).is_err());
    }

    #[test]
    fn describes_certificate_errors() {
        let e = rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer);
        assert!(describe(&e).contains("unknown issuer"));
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForName);
        assert!(describe(&e).contains("hostname mismatch"));
        let e = rustls::Error::InvalidCertificate(CertificateError::Expired);
        assert!(describe(&e).contains("expired"));
        assert!(tls_detail(&tls_io_error("x".into())).is_some());
        assert!(tls_detail(&io::Error::other("y")).is_none());
    }
}
