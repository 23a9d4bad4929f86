//! Random identifiers (`anom_…`, `batch_…`, job and key ids, request ids): the
//! operating system's generator, hex-encoded. At the bottom of the graph so that
//! every layer can name things without importing the one that authenticates.

use rand::TryRng;
use rand::rngs::SysRng;

/// `n` random bytes from the OS generator, hex-encoded.
pub fn random_hex(n: usize) -> String {
    let mut buf = vec![0u8; n];
    SysRng
        .try_fill_bytes(&mut buf)
        .expect("the operating system's random generator failed");
    hex::encode(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_lowercase_hex_of_the_asked_length_and_differ() {
        let a = random_hex(8);
        assert_eq!(a.len(), 16);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_ne!(a, random_hex(8));
    }
}
