//! DKIM signing with mail-auth (RSA through AWS-LC, constant time; or Ed25519), not
//! lettre's RSA path, which carries an unfixed timing advisory (RUSTSEC-2023-0071).

use crate::error::{Error, Result};
use mail_auth::common::crypto::{Ed25519Key, RsaKey, Sha256};
use mail_auth::common::headers::HeaderWriter;
use mail_auth::dkim::{DkimSigner, Done};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// The headers DKIM covers (issue #3), plus the ones that identify the message.
const SIGNED: [&str; 9] = [
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
    "MIME-Version",
];

/// A configured signing key.
pub enum DkimKey {
    Rsa(DkimSigner<RsaKey<Sha256>, Done>),
    Ed25519(DkimSigner<Ed25519Key, Done>),
}

impl DkimKey {
    /// `pem`: a PKCS#8 private key (RSA or Ed25519), from the environment.
    pub fn from_pem(domain: &str, selector: &str, algorithm: &str, pem: &str) -> Result<DkimKey> {
        let bad = |e: String| Error::Invalid(format!("DKIM key: {e}"));
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| bad(e.to_string()))?;
        Ok(match algorithm {
            "rsa-sha256" => {
                let key = RsaKey::<Sha256>::from_key_der(PrivateKeyDer::Pkcs8(der)).map_err(|e| bad(e.to_string()))?;
                DkimKey::Rsa(DkimSigner::from_key(key).domain(domain).selector(selector).headers(SIGNED))
            }
            "ed25519-sha256" => {
                let key = Ed25519Key::from_pkcs8_der(der.secret_pkcs8_der()).map_err(|e| bad(e.to_string()))?;
                DkimKey::Ed25519(DkimSigner::from_key(key).domain(domain).selector(selector).headers(SIGNED))
            }
            other => return Err(bad(format!("unknown algorithm '{other}' (expected rsa-sha256 or ed25519-sha256)"))),
        })
    }

    /// The `DKIM-Signature:` header line(s) for `message`.
    pub fn sign(&self, message: &[u8]) -> Result<String> {
        let fail = |e: mail_auth::Error| Error::Internal(anyhow::anyhow!("DKIM signing failed: {e}"));
        let signature = match self {
            DkimKey::Rsa(signer) => signer.sign(message),
            DkimKey::Ed25519(signer) => signer.sign(message),
        }
        .map_err(fail)?;
        Ok(signature.to_header())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    fn pem(der: &[u8]) -> String {
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
    }

    #[test]
    fn signs_the_one_click_headers_with_ed25519() {
        let der = Ed25519Key::generate_pkcs8().unwrap();
        let key = DkimKey::from_pem("acme.example", "herald", "ed25519-sha256", &pem(&der)).unwrap();
        let message = b"From: a@acme.example\r\nTo: b@example.com\r\nSubject: Hi\r\nDate: Thu, 1 Jan 2026 00:00:00 +0000\r\nList-Unsubscribe: <https://x/u/T>\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n\r\nHello\r\n";
        let header = key.sign(message).unwrap();
        assert!(header.starts_with("DKIM-Signature:"), "{header}");
        let unfolded = header.replace("\r\n", "").replace(['\t', ' '], "").to_ascii_lowercase();
        assert!(
            unfolded.contains("a=ed25519-sha256")
                && unfolded.contains("d=acme.example")
                && unfolded.contains("s=herald")
        );
        for h in ["from", "subject", "date", "to", "list-unsubscribe", "list-unsubscribe-post"] {
            assert!(
                unfolded.split("h=").nth(1).unwrap().split(';').next().unwrap().split(':').any(|x| x == h),
                "h= lacks {h}: {header}"
            );
        }
    }

    #[test]
    fn a_bad_key_or_algorithm_is_a_clear_error() {
        assert!(DkimKey::from_pem("a.example", "s", "rsa-sha256", "not a pem").is_err());
        let der = Ed25519Key::generate_pkcs8().unwrap();
        let err = DkimKey::from_pem("a.example", "s", "rsa-sha1", &pem(&der)).err().unwrap().to_string();
        assert!(err.contains("rsa-sha1"), "{err}");
    }
}
