//! 26-character uppercase Crockford-base32 ULIDs, as OrbStack uses for machine ids.

use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A new ULID: 48 bits of milliseconds, 80 random bits.
pub fn new() -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    let mut random = [0u8; 10];
    fill_random(&mut random);
    let mut value: u128 = ms << 80;
    for (i, b) in random.iter().enumerate() {
        value |= u128::from(*b) << (8 * (9 - i));
    }
    (0..26)
        .rev()
        .map(|i| ALPHABET[((value >> (5 * i)) & 31) as usize] as char)
        .collect()
}

fn fill_random(buf: &mut [u8]) {
    use std::io::Read;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(buf).is_ok() {
            return;
        }
    }
    // No /dev/urandom: fall back to time and pid; ids stay unique per state home by the
    // timestamp part and the lock around creation.
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        ^ u128::from(std::process::id());
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (seed >> (i * 7)) as u8;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ulids_are_26_crockford_chars_and_unique() {
        let a = super::new();
        let b = super::new();
        assert_eq!(a.len(), 26);
        assert!(a.chars().all(|c| super::ALPHABET.contains(&(c as u8))));
        assert_ne!(a, b);
    }
}
