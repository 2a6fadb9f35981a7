//! xxh3 (seed 0) over big inputs with AVX2 when the processor has it: the
//! record checksum computed while a value is copied out (one pass over
//! memory instead of two), and fingerprints of arrays given as a short head,
//! the elements in place, and a short tail (no copy to make them one).
//!
//! For inputs longer than 240 bytes xxh3 reads 64-byte stripes; this module
//! runs that loop itself (xxhash-rust picks its loop when it is compiled,
//! SSE2 on a plain x86-64 build) and gives xxh3's digits: the tests compare
//! them with xxhash-rust's for every length up to 2,000 bytes and many more,
//! at every alignment. Without AVX2, or for short inputs, xxhash-rust does
//! the work.

use xxhash_rust::xxh3::{Xxh3, xxh3_64};

/// An input in three parts: `head ++ body ++ tail`.
#[derive(Clone, Copy)]
pub(crate) struct Parts<'a> {
    pub(crate) head: &'a [u8],
    pub(crate) body: &'a [u8],
    pub(crate) tail: &'a [u8],
}

impl Parts<'_> {
    #[cfg(target_arch = "x86_64")]
    fn len(&self) -> usize {
        self.head.len() + self.body.len() + self.tail.len()
    }
}

/// Copies `input[from..]` to `dest` and returns xxh3-64 of `input`.
///
/// # Safety
///
/// `dest` is valid for `input.len() - from` bytes of writes and does not
/// overlap `input`.
pub(crate) unsafe fn xxh3_64_copying(input: &[u8], from: usize, dest: *mut u8) -> u64 {
    assert!(from <= input.len());
    #[cfg(target_arch = "x86_64")]
    if input.len() > 240 && std::arch::is_x86_feature_detected!("avx2") {
        let parts = Parts {
            head: &[],
            body: input,
            tail: &[],
        };
        // SAFETY: the processor has AVX2; the caller vouches for `dest`.
        return unsafe { avx2::hash(parts, Some((from, dest))).digest64() };
    }
    // SAFETY: the caller vouches for `dest`.
    unsafe { std::ptr::copy_nonoverlapping(input.as_ptr().add(from), dest, input.len() - from) };
    xxh3_64(input)
}

/// xxh3-128 of `head ++ body ++ tail`.
pub(crate) fn xxh3_128_of(parts: Parts<'_>) -> u128 {
    #[cfg(target_arch = "x86_64")]
    if parts.len() > 240 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2; nothing is copied.
        return unsafe { avx2::hash(parts, None).digest128() };
    }
    let mut hash = Xxh3::new();
    hash.update(parts.head);
    hash.update(parts.body);
    hash.update(parts.tail);
    hash.digest128()
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    use super::Parts;

    const STRIPE: usize = 64;
    const SECRET_SIZE: usize = 192;
    const STRIPES_PER_BLOCK: usize = (SECRET_SIZE - STRIPE) / 8;

    /// The default secret of XXH3 (the specification's `kSecret`).
    const SECRET: [u8; SECRET_SIZE] = [
        0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad,
        0x1c, 0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3,
        0x67, 0x1f, 0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc,
        0xff, 0x72, 0x21, 0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6,
        0x81, 0x3a, 0x26, 0x4c, 0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65,
        0x8b, 0x1b, 0x53, 0x2e, 0xa3, 0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19,
        0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8, 0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9,
        0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d, 0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31,
        0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64, 0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb,
        0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb, 0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0,
        0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e, 0x2b, 0x16, 0xbe, 0x58, 0x7d,
        0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce, 0x45, 0xcb, 0x3a, 0x8f,
        0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
    ];

    const P32_1: u64 = 0x9E37_79B1;
    const P32_2: u64 = 0x85EB_CA77;
    const P32_3: u64 = 0xC2B2_AE3D;
    const P64_1: u64 = 0x9E37_79B1_85EB_CA87;
    const P64_2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const P64_3: u64 = 0x1656_67B1_9E37_79F9;
    const P64_4: u64 = 0x85EB_CA77_C2B2_AE63;
    const P64_5: u64 = 0x27D4_EB2F_1656_67C5;

    /// The accumulators after the stripes of `len` bytes.
    pub(super) struct Accumulated {
        lanes: [u64; 8],
        len: usize,
    }

    impl Accumulated {
        fn merge(&self, secret_at: usize, start: u64) -> u64 {
            let mut result = start;
            for i in 0..4 {
                result = result.wrapping_add(fold(
                    self.lanes[2 * i] ^ read64(&SECRET, secret_at + 16 * i),
                    self.lanes[2 * i + 1] ^ read64(&SECRET, secret_at + 16 * i + 8),
                ));
            }
            avalanche(result)
        }

        pub(super) fn digest64(&self) -> u64 {
            self.merge(11, (self.len as u64).wrapping_mul(P64_1))
        }

        pub(super) fn digest128(&self) -> u128 {
            let lo = self.digest64();
            let hi = self.merge(
                SECRET_SIZE - STRIPE - 11,
                !(self.len as u64).wrapping_mul(P64_2),
            );
            u128::from(lo) | (u128::from(hi) << 64)
        }
    }

    fn read64(b: &[u8], at: usize) -> u64 {
        u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
    }

    fn fold(a: u64, b: u64) -> u64 {
        let p = u128::from(a) * u128::from(b);
        (p as u64) ^ ((p >> 64) as u64)
    }

    fn avalanche(mut h: u64) -> u64 {
        h ^= h >> 37;
        h = h.wrapping_mul(0x1656_6791_9E37_79F9);
        h ^ (h >> 32)
    }

    /// Accumulates the stripe at `p` with the secret at `secret`, and stores
    /// it at `out` when given.
    ///
    /// # Safety
    ///
    /// 64 readable bytes at `p` and `secret`, 64 writable ones at `out`.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn stripe(
        acc: &mut [__m256i; 2],
        p: *const u8,
        secret: *const u8,
        out: Option<*mut u8>,
    ) {
        for (i, lane) in acc.iter_mut().enumerate() {
            // SAFETY: as the caller promises.
            unsafe {
                let data = _mm256_loadu_si256(p.add(32 * i).cast());
                if let Some(out) = out {
                    _mm256_storeu_si256(out.add(32 * i).cast(), data);
                }
                let key = _mm256_loadu_si256(secret.add(32 * i).cast());
                let data_key = _mm256_xor_si256(data, key);
                let product = _mm256_mul_epu32(data_key, _mm256_srli_epi64(data_key, 32));
                let swapped = _mm256_shuffle_epi32(data, 0b01_00_11_10);
                *lane = _mm256_add_epi64(product, _mm256_add_epi64(*lane, swapped));
            }
        }
    }

    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn scramble(acc: &mut [__m256i; 2]) {
        let prime = _mm256_set1_epi32(P32_1 as i32);
        for (i, lane) in acc.iter_mut().enumerate() {
            // SAFETY: the secret's last 64 bytes.
            unsafe {
                let a = _mm256_xor_si256(*lane, _mm256_srli_epi64(*lane, 47));
                let at = SECRET_SIZE - STRIPE + 32 * i;
                let k = _mm256_xor_si256(a, _mm256_loadu_si256(SECRET.as_ptr().add(at).cast()));
                let lo = _mm256_mul_epu32(k, prime);
                let hi = _mm256_mul_epu32(_mm256_srli_epi64(k, 32), prime);
                *lane = _mm256_add_epi64(lo, _mm256_slli_epi64(hi, 32));
            }
        }
    }

    /// Where the stripe at a logical offset is: in the body (no copy), or
    /// gathered across the parts into `gathered`.
    #[inline(always)]
    fn locate(parts: &Parts<'_>, at: usize, gathered: &mut [u8; STRIPE]) -> *const u8 {
        let h = parts.head.len();
        if at >= h && at + STRIPE <= h + parts.body.len() {
            // SAFETY: within the body.
            return unsafe { parts.body.as_ptr().add(at - h) };
        }
        gather(parts, at, gathered)
    }

    /// A stripe that crosses the parts, gathered into one buffer.
    #[cold]
    fn gather(parts: &Parts<'_>, at: usize, gathered: &mut [u8; STRIPE]) -> *const u8 {
        let h = parts.head.len();
        let b = parts.body.len();
        for (i, byte) in gathered.iter_mut().enumerate() {
            let o = at + i;
            *byte = if o < h {
                parts.head[o]
            } else if o < h + b {
                parts.body[o - h]
            } else {
                parts.tail[o - h - b]
            };
        }
        gathered.as_ptr()
    }

    /// The state of one pass over the stripes.
    struct Run<'a> {
        parts: Parts<'a>,
        copy: Option<(usize, *mut u8)>,
        first_whole: usize,
        stored_until: usize,
        gathered: [u8; STRIPE],
    }

    impl Run<'_> {
        /// Hashes the stripe at `at` with the secret at `secret_at`, and
        /// stores it when it lies in the copied range.
        #[target_feature(enable = "avx2")]
        #[inline]
        fn take(&mut self, acc: &mut [__m256i; 2], at: usize, secret_at: usize) {
            let p = locate(&self.parts, at, &mut self.gathered);
            let out = match self.copy {
                Some((from, dest)) if at >= self.first_whole => {
                    self.stored_until = at + STRIPE;
                    // SAFETY: the stripe lies in the copied range, which
                    // `dest` holds (the caller of `hash` promised).
                    Some(unsafe { dest.add(at - from) })
                }
                _ => None,
            };
            // SAFETY: 64 bytes at `p`; the secret has 64 bytes at
            // `secret_at` (at most 120 + 64 < 192).
            unsafe { stripe(acc, p, SECRET.as_ptr().add(secret_at), out) };
        }
    }

    /// Runs xxh3's long loop over `parts` (more than 240 bytes), copying the
    /// body from `from` to `dest` when asked (then head and tail are empty).
    ///
    /// # Safety
    ///
    /// The processor has AVX2; `dest` holds `body.len() - from` bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn hash(parts: Parts<'_>, copy: Option<(usize, *mut u8)>) -> Accumulated {
        let len = parts.len();
        debug_assert!(len > 240);
        debug_assert!(copy.is_none() || parts.head.is_empty() && parts.tail.is_empty());
        let init = [P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1];
        // SAFETY: eight u64s are two vectors.
        let mut acc = unsafe {
            [
                _mm256_loadu_si256(init.as_ptr().cast()),
                _mm256_loadu_si256(init.as_ptr().add(4).cast()),
            ]
        };
        // A stripe wholly inside the copied range is stored as it is hashed;
        // the bytes around the stored stripes are copied at the end.
        let first_whole = copy.map_or(usize::MAX, |(from, _)| from.next_multiple_of(STRIPE));
        let mut at = 0;
        let mut run = Run {
            parts,
            copy,
            first_whole,
            stored_until: first_whole,
            gathered: [0u8; STRIPE],
        };
        let block = STRIPE * STRIPES_PER_BLOCK;
        let blocks = (len - 1) / block;
        for _ in 0..blocks {
            for s in 0..STRIPES_PER_BLOCK {
                run.take(&mut acc, at, 8 * s);
                at += STRIPE;
            }
            // SAFETY: AVX2 is enabled here.
            unsafe { scramble(&mut acc) };
        }
        for s in 0..((len - 1) - block * blocks) / STRIPE {
            run.take(&mut acc, at, 8 * s);
            at += STRIPE;
        }
        let stored_until = run.stored_until;
        // The last stripe ends at the end (it may overlap the one before).
        let p = locate(&parts, len - STRIPE, &mut run.gathered);
        // SAFETY: 64 bytes at `p`; the secret's bytes 121..185.
        unsafe {
            stripe(
                &mut acc,
                p,
                SECRET.as_ptr().add(SECRET_SIZE - STRIPE - 7),
                None,
            )
        };
        if let Some((from, dest)) = copy {
            let body = parts.body.as_ptr();
            // SAFETY: both ranges are within `body[from..]` and its copy.
            unsafe {
                if stored_until <= first_whole {
                    std::ptr::copy_nonoverlapping(body.add(from), dest, len - from);
                } else {
                    std::ptr::copy_nonoverlapping(body.add(from), dest, first_whole - from);
                    let rest = len - stored_until;
                    let at = stored_until - from;
                    std::ptr::copy_nonoverlapping(body.add(stored_until), dest.add(at), rest);
                }
            }
        }
        let mut lanes = [0u64; 8];
        // SAFETY: two vectors are eight u64s.
        unsafe {
            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc[0]);
            _mm256_storeu_si256(lanes.as_mut_ptr().add(4).cast(), acc[1]);
        }
        Accumulated { lanes, len }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Vec<u8> {
        let mut rng = 0x1234_5678_u64;
        (0..300_000)
            .map(|_| {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                rng as u8
            })
            .collect()
    }

    fn lengths() -> Vec<usize> {
        let mut lens: Vec<usize> = (0..2000).collect();
        lens.extend([4095, 4096, 4097, 65_536, 65_537, 299_999, 300_000]);
        lens.extend((0..60).map(|i| 2001 + i * 4973));
        lens
    }

    #[test]
    fn the_checksum_is_xxh3s_and_the_copy_exact_for_every_length_and_offset() {
        let data = data();
        for len in lengths() {
            let input = &data[..len];
            for from in [
                0,
                1,
                60,
                63,
                64,
                65,
                67,
                len / 2,
                len.saturating_sub(1),
                len,
            ] {
                let from = from.min(len);
                let mut dest = vec![0u8; len - from];
                // SAFETY: `dest` holds the copied bytes.
                let h = unsafe { xxh3_64_copying(input, from, dest.as_mut_ptr()) };
                assert_eq!(h, xxh3_64(input), "len {len} from {from}");
                assert_eq!(dest, &input[from..], "len {len} from {from}");
            }
        }
    }

    #[test]
    fn the_fingerprint_hash_is_xxh3_128_of_the_parts_joined() {
        let data = data();
        for len in lengths() {
            let whole = &data[..len];
            for head in [0, 1, 11, 63, 64, 65, 130] {
                for tail in [0, 1, 70] {
                    if head + tail > len {
                        continue;
                    }
                    let parts = Parts {
                        head: &whole[..head],
                        body: &whole[head..len - tail],
                        tail: &whole[len - tail..],
                    };
                    let want = xxhash_rust::xxh3::xxh3_128(whole);
                    assert_eq!(
                        xxh3_128_of(parts),
                        want,
                        "len {len} head {head} tail {tail}"
                    );
                }
            }
        }
    }
}
