//! National ID numbers (居民身份证号码) kept only as a keyed hash: HMAC-SHA256
//! under a key from the server's configuration, never the store. Look-ups
//! hash the number asked for with the same key; a stolen database holds no
//! number, and without the key the 18-digit space cannot be hashed through.

use std::path::Path;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::ServiceError;

/// The key of national ID hashes.
pub struct IdKey {
    key: Vec<u8>,
}

/// Bytes a key must have at least.
const MIN_KEY_BYTES: usize = 32;

impl IdKey {
    /// Reads the key file (its bytes, surrounding whitespace trimmed).
    pub fn load(path: &Path) -> Result<IdKey, String> {
        let bytes = std::fs::read(path)
            .map_err(|e| format!("cannot read the ID key file {}: {e}", path.display()))?;
        IdKey::new(bytes.trim_ascii().to_vec())
            .map_err(|e| format!("the ID key file {}: {e}", path.display()))
    }

    pub fn new(key: Vec<u8>) -> Result<IdKey, String> {
        if key.len() < MIN_KEY_BYTES {
            return Err(format!(
                "a key needs at least {MIN_KEY_BYTES} bytes, found {}",
                key.len()
            ));
        }
        Ok(IdKey { key })
    }

    /// A short name of the key (not the key): publications record it, so a
    /// server started with another key is noticed.
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(&self.key);
        format!("sha256:{}", &hex::encode(digest)[..16])
    }

    /// The keyed hash of a national ID number, after checking it (`field`
    /// names it in the error).
    pub fn hash(&self, field: &str, national_id: &str) -> Result<String, ServiceError> {
        self.hash_number(national_id)
            .map_err(|m| ServiceError::field(field, m))
    }

    /// [`IdKey::hash`], the error a sentence about the number.
    pub fn hash_number(&self, national_id: &str) -> Result<String, String> {
        let id = normalize(national_id)?;
        // HMAC takes a key of any length.
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).map_err(|e| format!("the ID key: {e}"))?;
        mac.update(id.as_bytes());
        Ok(hex::encode(mac.finalize().into_bytes()))
    }
}

/// An 18-character national ID number (GB 11643-1999): 17 digits and a
/// check character (a digit or X), checked; returned with an upper-case X.
pub fn normalize(text: &str) -> Result<String, String> {
    let id = text.trim().to_ascii_uppercase();
    let bytes = id.as_bytes();
    if bytes.len() != 18 {
        return Err(format!(
            "expected an 18-character national ID number, found {} characters",
            id.chars().count()
        ));
    }
    if let Some(i) = bytes[..17].iter().position(|b| !b.is_ascii_digit()) {
        return Err(format!(
            "expected 17 digits then a check digit or X; character {} is not a digit",
            i + 1
        ));
    }
    let expected = check_character(&bytes[..17]);
    if bytes[17] != expected {
        return Err(format!(
            "the check character is `{}` but the first 17 digits give `{}`: a mistyped number",
            bytes[17] as char, expected as char
        ));
    }
    Ok(id)
}

/// A valid national ID number for tests and generators: the 17 digits
/// given and their check character.
pub fn with_check_character(first17: &str) -> Option<String> {
    if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!(
        "{first17}{}",
        check_character(first17.as_bytes()) as char
    ))
}

/// The GB 11643 check character of 17 ASCII digits.
fn check_character(digits: &[u8]) -> u8 {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = digits
        .iter()
        .zip(WEIGHTS)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    b"10X98765432"[(sum % 11) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_characters_follow_gb_11643() {
        // The standard's own example.
        assert_eq!(
            normalize("11010519491231002x").unwrap(),
            "11010519491231002X"
        );
        assert_eq!(
            with_check_character("11010519491231002").unwrap(),
            "11010519491231002X"
        );
        assert!(
            normalize("110105194912310021")
                .unwrap_err()
                .contains("check character is `1` but the first 17 digits give `X`")
        );
        assert!(normalize("1101051949").unwrap_err().contains("found 10"));
        assert!(
            normalize("11010519491231002A")
                .unwrap_err()
                .contains("check character")
        );
        assert!(
            normalize("1101051949123100AX")
                .unwrap_err()
                .contains("character 17")
        );
    }

    #[test]
    fn hashes_depend_on_the_key_and_not_on_case() {
        let a = IdKey::new(vec![1; 32]).unwrap();
        let b = IdKey::new(vec![2; 32]).unwrap();
        let id = "11010519491231002X";
        assert_eq!(
            a.hash("n", id).unwrap(),
            a.hash("n", &id.to_lowercase()).unwrap()
        );
        assert_ne!(a.hash("n", id).unwrap(), b.hash("n", id).unwrap());
        assert_eq!(a.hash("n", id).unwrap().len(), 64);
        assert!(IdKey::new(vec![1; 31]).is_err());
    }
}
