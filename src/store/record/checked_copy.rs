//! A record's checksum computed while its value is copied out: one pass
//! over memory for a big array instead of two (a copy, then a hash).
//!
//! The checksum is xxh3-64 (seed 0) of the record before it. For records
//! longer than 240 bytes xxh3 reads its input in 64-byte stripes; this
//! module runs that loop itself with AVX2 (when the processor has it) and
//! stores each stripe of the value as it is loaded. The digits are
//! xxh3-64's: the tests compare them with `xxhash_rust` for every length
//! and offset mix. Without AVX2 the value is copied, then hashed.

/// Copies `body[from..]` to `dest` and returns xxh3-64 of the whole `body`.
///
/// # Safety
///
/// `dest` is valid for `body.len() - from` bytes of writes and does not
/// overlap `body`.
pub(crate) unsafe fn copy_and_hash(body: &[u8], from: usize, dest: *mut u8) -> u64 {
    assert!(from <= body.len());
    #[cfg(target_arch = "x86_64")]
    if body.len() > 240 && std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the processor has AVX2; the caller vouches for `dest`.
        return unsafe { avx2::copy_and_hash(body, from, dest) };
    }
    // SAFETY: the caller vouches for `dest`.
    unsafe { std::ptr::copy_nonoverlapping(body.as_ptr().add(from), dest, body.len() - from) };
    xxhash_rust::xxh3::xxh3_64(body)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    const STRIPE: usize = 64;
    const SECRET_SIZE: usize = 192;
    const STRIPES_PER_BLOCK: usize = (SECRET_SIZE - STRIPE) / 8;
    const BLOCK: usize = STRIPE * STRIPES_PER_BLOCK;

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

    /// The accumulators, as two vectors of four lanes.
    struct Acc([__m256i; 2]);

    /// Accumulates the stripe at `p` with the secret at `secret`, and stores
    /// it at `out` when given.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn stripe(acc: &mut Acc, p: *const u8, secret: *const u8, out: Option<*mut u8>) {
        for (i, lane) in acc.0.iter_mut().enumerate() {
            // SAFETY: the caller gives 64 readable bytes at `p` and
            // `secret`, and 64 writable ones at `out`.
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
    unsafe fn scramble(acc: &mut Acc) {
        let prime = _mm256_set1_epi32(P32_1 as i32);
        for (i, lane) in acc.0.iter_mut().enumerate() {
            // SAFETY: the secret's last 64 bytes.
            unsafe {
                let a = _mm256_xor_si256(*lane, _mm256_srli_epi64(*lane, 47));
                let key =
                    _mm256_loadu_si256(SECRET.as_ptr().add(SECRET_SIZE - STRIPE + 32 * i).cast());
                let k = _mm256_xor_si256(a, key);
                let lo = _mm256_mul_epu32(k, prime);
                let hi = _mm256_mul_epu32(_mm256_srli_epi64(k, 32), prime);
                *lane = _mm256_add_epi64(lo, _mm256_slli_epi64(hi, 32));
            }
        }
    }

    /// Where the value's stripes go.
    struct Copy {
        dest: *mut u8,
        /// Where the value starts in the record.
        from: usize,
        /// The first stripe wholly inside the value.
        first_whole: usize,
    }

    impl Copy {
        /// Hashes the stripe at `at` with the secret at `secret_at`, and
        /// stores it when it lies in the value.
        ///
        /// # Safety
        ///
        /// `p + at` has 64 readable bytes; `at + 64` is within the record, and
        /// so within the value's copy when `at` is past `first_whole`.
        #[target_feature(enable = "avx2")]
        #[inline]
        unsafe fn take(
            &self,
            acc: &mut Acc,
            p: *const u8,
            at: usize,
            secret_at: usize,
            stored_until: &mut usize,
        ) {
            let out = if at >= self.first_whole {
                *stored_until = at + STRIPE;
                // SAFETY: the value's copy holds the stripe (see above).
                Some(unsafe { self.dest.add(at - self.from) })
            } else {
                None
            };
            // SAFETY: 64 bytes at `p + at`; the secret has 64 bytes at
            // `secret_at` (at most 120).
            unsafe { stripe(acc, p.add(at), SECRET.as_ptr().add(secret_at), out) };
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

    /// See [`super::copy_and_hash`]; `body` is longer than 240 bytes.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn copy_and_hash(body: &[u8], from: usize, dest: *mut u8) -> u64 {
        let len = body.len();
        let p = body.as_ptr();
        let mut acc = {
            let init = [P32_3, P64_1, P64_2, P64_3, P64_4, P32_2, P64_5, P32_1];
            // SAFETY: eight u64s are two vectors.
            unsafe {
                Acc([
                    _mm256_loadu_si256(init.as_ptr().cast()),
                    _mm256_loadu_si256(init.as_ptr().add(4).cast()),
                ])
            }
        };
        // A stripe wholly inside the value is stored as it is hashed; the
        // value's first and last bytes around them are copied at the end.
        let first_whole = from.next_multiple_of(STRIPE);
        let mut stored_until = first_whole;
        let mut at = 0;
        let copy = Copy {
            dest,
            from,
            first_whole,
        };
        let blocks = (len - 1) / BLOCK;
        for _ in 0..blocks {
            for s in 0..STRIPES_PER_BLOCK {
                // SAFETY: a whole stripe of `body` at `at`.
                unsafe { copy.take(&mut acc, p, at, 8 * s, &mut stored_until) };
                at += STRIPE;
            }
            // SAFETY: AVX2 is enabled here.
            unsafe { scramble(&mut acc) };
        }
        let stripes = ((len - 1) - BLOCK * blocks) / STRIPE;
        for s in 0..stripes {
            // SAFETY: as above.
            unsafe { copy.take(&mut acc, p, at, 8 * s, &mut stored_until) };
            at += STRIPE;
        }
        // The last stripe ends at the end (it may overlap the one before).
        // SAFETY: `len > 240`, so 64 bytes end at `len`.
        unsafe {
            stripe(
                &mut acc,
                p.add(len - STRIPE),
                SECRET.as_ptr().add(SECRET_SIZE - STRIPE - 7),
                None,
            )
        };
        // What the stored stripes did not cover.
        let stored_from = first_whole.min(stored_until);
        // SAFETY: both ranges are within `body[from..]` and its copy.
        unsafe {
            if stored_until <= first_whole {
                std::ptr::copy_nonoverlapping(p.add(from), dest, len - from);
            } else {
                std::ptr::copy_nonoverlapping(p.add(from), dest, stored_from - from);
                std::ptr::copy_nonoverlapping(
                    p.add(stored_until),
                    dest.add(stored_until - from),
                    len - stored_until,
                );
            }
        }
        let mut lanes = [0u64; 8];
        // SAFETY: two vectors are eight u64s.
        unsafe {
            _mm256_storeu_si256(lanes.as_mut_ptr().cast(), acc.0[0]);
            _mm256_storeu_si256(lanes.as_mut_ptr().add(4).cast(), acc.0[1]);
        }
        let mut result = (len as u64).wrapping_mul(P64_1);
        for i in 0..4 {
            result = result.wrapping_add(fold(
                lanes[2 * i] ^ read64(&SECRET, 11 + 16 * i),
                lanes[2 * i + 1] ^ read64(&SECRET, 11 + 16 * i + 8),
            ));
        }
        avalanche(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digits_are_xxh3s_and_the_copy_is_exact_for_every_length_and_offset() {
        let mut rng = 0x1234_5678_u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let data: Vec<u8> = (0..300_000).map(|_| next() as u8).collect();
        let mut lens: Vec<usize> = (0..2000).collect();
        lens.extend([
            1023, 1024, 1025, 2047, 2048, 2049, 4096, 65_536, 299_999, 300_000,
        ]);
        for _ in 0..60 {
            lens.push(241 + (next() % 299_000) as usize);
        }
        for len in lens {
            let body = &data[..len];
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
                // SAFETY: `dest` holds the value's bytes.
                let h = unsafe { copy_and_hash(body, from, dest.as_mut_ptr()) };
                assert_eq!(h, xxhash_rust::xxh3::xxh3_64(body), "len {len} from {from}");
                assert_eq!(dest, &body[from..], "len {len} from {from}");
            }
        }
    }
}
