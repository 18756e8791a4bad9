//! Secrets at rest and random tokens.
//!
//! Vendor credentials and project signing secrets are sealed with ChaCha20-Poly1305 under the
//! `MASTER_KEY`, a fresh random nonce per value, and the owning row's identity as associated data
//! so a ciphertext copied onto another row does not decrypt. API keys and callback tokens are only
//! ever stored as SHA-256 digests.

use chacha20poly1305::{
    aead::{Aead, KeyInit, Payload},
    ChaCha20Poly1305, Key, Nonce,
};
use rand::{distributions::Alphanumeric, Rng, RngCore};
use sha2::{Digest, Sha256};

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("a sealed value could not be opened (wrong MASTER_KEY or corrupted data)")]
    Open,
    #[error("a sealed value is not valid UTF-8 JSON")]
    Decode,
}

/// Seals and opens values with the master key.
#[derive(Clone)]
pub struct Cipher {
    aead: ChaCha20Poly1305,
}

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher([redacted])")
    }
}

impl Cipher {
    pub fn new(master_key: &[u8; 32]) -> Self {
        Self {
            aead: ChaCha20Poly1305::new(Key::from_slice(master_key)),
        }
    }

    /// `nonce || ciphertext+tag`, bound to `context` (e.g. `account:<id>`).
    pub fn seal(&self, plaintext: &[u8], context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::thread_rng().fill_bytes(&mut nonce);
        let payload = Payload {
            msg: plaintext,
            aad: context.as_bytes(),
        };
        // Encryption with a valid key and in-memory buffer cannot fail.
        let ciphertext = self
            .aead
            .encrypt(Nonce::from_slice(&nonce), payload)
            .unwrap_or_default();
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Open);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad: context.as_bytes(),
        };
        self.aead
            .decrypt(Nonce::from_slice(nonce), payload)
            .map_err(|_| CryptoError::Open)
    }

    pub fn seal_json(&self, value: &serde_json::Value, context: &str) -> Vec<u8> {
        self.seal(value.to_string().as_bytes(), context)
    }

    pub fn open_json(
        &self,
        sealed: &[u8],
        context: &str,
    ) -> Result<serde_json::Value, CryptoError> {
        let plain = self.open(sealed, context)?;
        serde_json::from_slice(&plain).map_err(|_| CryptoError::Decode)
    }

    pub fn open_string(&self, sealed: &[u8], context: &str) -> Result<String, CryptoError> {
        String::from_utf8(self.open(sealed, context)?).map_err(|_| CryptoError::Decode)
    }
}

pub fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut key);
    key
}

/// `prefix` followed by `len` random alphanumeric characters (~5.95 bits each).
pub fn random_token(prefix: &str, len: usize) -> String {
    let body: String = rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect();
    format!("{prefix}{body}")
}

/// A Standard Webhooks signing secret: `whsec_` + base64 of 32 random bytes.
pub fn new_signing_secret() -> String {
    use base64::{engine::general_purpose::STANDARD, Engine};
    format!("whsec_{}", STANDARD.encode(random_key()))
}

/// A token derived from the master key for `purpose`: unguessable without the key, and the same
/// every time, so it can be handed out again without being stored.
pub fn derive_token(master_key: &[u8; 32], purpose: &str) -> String {
    use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(master_key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(purpose.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

pub fn sha256_hex(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// Equality whose time does not depend on where the inputs differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(a), Sha256::digest(b));
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let cipher = Cipher::new(&[1u8; 32]);
        let sealed = cipher.seal(b"token-123", "account:a");
        assert!(!sealed.windows(9).any(|w| w == b"token-123"));
        assert_eq!(cipher.open(&sealed, "account:a").unwrap(), b"token-123");
        assert!(cipher.open(&sealed, "account:b").is_err());
        assert!(Cipher::new(&[2u8; 32]).open(&sealed, "account:a").is_err());
        assert_ne!(
            sealed,
            cipher.seal(b"token-123", "account:a"),
            "fresh nonce per value"
        );
    }

    #[test]
    fn tokens_are_random_and_prefixed() {
        let a = random_token("sk_", 40);
        assert!(a.starts_with("sk_") && a.len() == 43);
        assert_ne!(a, random_token("sk_", 40));
        assert!(new_signing_secret().starts_with("whsec_"));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        let key = [3u8; 32];
        assert_eq!(
            derive_token(&key, "callback:a"),
            derive_token(&key, "callback:a")
        );
        assert_ne!(
            derive_token(&key, "callback:a"),
            derive_token(&key, "callback:b")
        );
        assert_ne!(
            derive_token(&key, "callback:a"),
            derive_token(&[4u8; 32], "callback:a")
        );
        assert_eq!(derive_token(&key, "x").len(), 43);
    }
}
