//! Certificate pinning: pins are SHA-256 hashes of a certificate's SubjectPublicKeyInfo, written
//! `sha256/<base64>` as OkHttp's `CertificatePinner` and HPKP do. Pure: parsing, hashing, showing.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls::pki_types::CertificateDer;

/// A pin: the SHA-256 of a DER SubjectPublicKeyInfo.
pub type Pin = [u8; 32];

const PREFIX: &str = "sha256/";

/// Parses `sha256/<base64 of 32 bytes>`.
pub fn parse(text: &[u8]) -> Result<Pin, String> {
    let shown = String::from_utf8_lossy(text);
    let bad = |why: &str| format!("\"{}\" is not a pin ({}; expected sha256/ and the base64 of 32 bytes)", shown, why);
    let text = std::str::from_utf8(text).map_err(|_| bad("not UTF-8"))?;
    let b64 = text.strip_prefix(PREFIX).ok_or_else(|| bad("no sha256/ prefix"))?;
    let bytes = STANDARD.decode(b64).map_err(|_| bad("bad base64"))?;
    bytes.try_into().map_err(|b: Vec<u8>| bad(&format!("{} bytes", b.len())))
}

/// The pin in its `sha256/<base64>` form.
pub fn show(pin: &Pin) -> String {
    format!("{}{}", PREFIX, STANDARD.encode(pin))
}

/// The pin of a DER SubjectPublicKeyInfo.
pub fn of_spki(spki: &[u8]) -> Pin {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
}

/// The pin of a certificate's public key; `None` if the certificate does not parse.
pub fn of_certificate(cert: &CertificateDer<'_>) -> Option<Pin> {
    let anchor = webpki::anchor_from_trusted_cert(cert).ok()?;
    Some(of_spki(&webpki::spki_for_anchor(&anchor)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shows() {
        let pin = of_spki(b"key");
        let text = show(&pin);
        assert!(text.starts_with("sha256/") && text.len() == 7 + 44, "{}", text);
        assert_eq!(parse(text.as_bytes()), Ok(pin));
        // The SHA-256 of the empty string, as OkHttp would print it.
        assert_eq!(show(&of_spki(b"")), "sha256/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    }

    #[test]
    fn refuses_bad_pins() {
        for (text, why) in [
            ("47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "no sha256/ prefix"),
            ("sha1/47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "no sha256/ prefix"),
            ("sha256/not base64!", "bad base64"),
            ("sha256/AAAA", "3 bytes"),
            ("sha256/", "0 bytes"),
        ] {
            let e = parse(text.as_bytes()).unwrap_err();
            assert!(e.contains(why) && e.contains(text), "{}: {}", text, e);
        }
        assert!(parse(b"\xff").unwrap_err().contains("not UTF-8"));
    }

    #[test]
    fn garbage_is_no_certificate() {
        assert_eq!(of_certificate(&CertificateDer::from(&b"junk"[..])), None);
    }
}
