//! Standard Webhooks signatures (<https://www.standardwebhooks.com>): every delivery carries
//! `webhook-id` (the event's id, the same at every attempt: the receiver's idempotency key),
//! `webhook-timestamp` (Unix seconds of *this* attempt) and `webhook-signature`
//! (`v1,` + base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}` with the subscription's
//! secret), so a municipal developer verifies it with the published `standardwebhooks`
//! libraries. Signed again at each attempt, since the timestamp changes.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A subscription's signing key. Shown only as `whsec_***`.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret {
    key: Vec<u8>,
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("whsec_***")
    }
}

/// A secret that is not `whsec_` followed by base64 of 24 to 64 bytes.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("a webhook secret starts with \"whsec_\"")]
    Prefix,
    #[error("the part after \"whsec_\" is not base64")]
    Base64,
    #[error("a webhook secret holds 24 to 64 bytes, this one {0}")]
    Length(usize),
}

impl WebhookSecret {
    /// Parse `whsec_<base64>`, as Standard Webhooks libraries and receivers write it.
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let encoded = text.trim().strip_prefix(PREFIX).ok_or(SecretError::Prefix)?;
        let key = STANDARD.decode(encoded).map_err(|_| SecretError::Base64)?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError::Length(key.len()));
        }
        Ok(Self { key })
    }

    /// A new random secret (32 bytes).
    pub fn generate() -> Self {
        Self { key: rand::random::<[u8; 32]>().to_vec() }
    }

    /// The `whsec_…` text to give the receiver (once, when the subscription is created).
    pub fn expose(&self) -> String {
        format!("{PREFIX}{}", STANDARD.encode(&self.key))
    }

    /// The `webhook-signature` header value for one attempt.
    pub fn sign(&self, id: &str, timestamp: i64, body: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes keys of any length");
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_specification_test_vector() {
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        let body = br#"{"email":"test@example.com","username":"test_user"}"#;
        assert_eq!(secret.sign("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk", 1649367553, body), "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    }

    #[test]
    fn secrets_are_checked_generated_and_never_shown() {
        assert!(matches!(WebhookSecret::parse("C2FVsBQIhrscChlQIMV+b5sSYspob7oD"), Err(SecretError::Prefix)));
        assert!(matches!(WebhookSecret::parse("whsec_not base64!"), Err(SecretError::Base64)));
        assert!(matches!(WebhookSecret::parse("whsec_c2hvcnQ="), Err(SecretError::Length(5))));
        let secret = WebhookSecret::generate();
        assert_eq!(WebhookSecret::parse(&secret.expose()).unwrap(), secret);
        assert_eq!(format!("{secret:?}"), "whsec_***");
    }
}
