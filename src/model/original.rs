//! A rejected dropped file's bytes, kept in its task's `original` field.
//!
//! Text that is UTF-8 is kept as it is, so a person reads it in the task
//! file; other bytes are kept exactly, as base64, with
//! `original_encoding: "base64"` beside them. Files written before the
//! encoding existed hold text only and read as before.

use super::Task;

/// The value of `original_encoding` for base64-encoded bytes.
pub(super) const BASE64: &str = "base64";

impl Task {
    /// Keeps `bytes` in `original`, faithfully (see the module doc).
    pub fn keep_original(&mut self, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                self.original = Some(text.to_owned());
                self.original_encoding = None;
            }
            Err(_) => {
                self.original = Some(base64(bytes));
                self.original_encoding = Some(BASE64.to_owned());
            }
        }
    }
}

/// Standard base64 with padding (RFC 4648).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::base64;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }
}
