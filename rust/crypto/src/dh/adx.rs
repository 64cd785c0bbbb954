//! The inner loop of the Montgomery arithmetic on x86-64 CPUs with BMI2 and
//! ADX: `t += a * b` over a row of limbs with MULX and two carry chains
//! (ADCX for the carries of adding `t`, ADOX for those of adding the high
//! halves of the products), so that the additions of one limb do not wait
//! for the previous limb's. Portable Rust on `u128` products carries one
//! chain through ADD/ADC pairs and takes about twice the cycles per limb.
//!
//! The only unsafe code of this crate: one `asm!` block whose memory
//! accesses are the `n` limbs of the two slices it is given, with `n` a
//! non-zero multiple of four checked before entry. The instructions have no
//! data-dependent timing (MULX, ADCX, ADOX, MOV, LEA), so the constant-time
//! properties of the callers hold. Used only where the CPU says it has both
//! extensions; everywhere else the portable code runs.

#![allow(unsafe_code)]

/// Whether this CPU has BMI2 (MULX) and ADX (ADCX/ADOX); asked once.
#[cfg(target_arch = "x86_64")]
pub(crate) fn available() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| {
        std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("adx")
    })
}

#[cfg(not(target_arch = "x86_64"))]
pub(crate) fn available() -> bool {
    false
}

/// `t[i] += a[i] * b` with the carries, over `t.len()` limbs; returns the
/// carry out. None (nothing done) unless the CPU has BMI2 and ADX and
/// `t` and `a` have the same non-zero length divisible by four.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn mul_add_row(t: &mut [u64], a: &[u64], b: u64) -> Option<u64> {
    let n = t.len();
    if n == 0 || !n.is_multiple_of(4) || a.len() != n || !available() {
        return None;
    }
    let blocks = n / 4;
    let carry: u64;
    // SAFETY: the loop reads a[0..n] and reads and writes t[0..n], four
    // limbs per block for `blocks` = n / 4 >= 1 blocks (checked above), through
    // pointers taken from the slices; the slices are distinct (one is &mut)
    // and outlive the block. MULX, ADCX and ADOX exist (checked at run time
    // by available()). No stack use; the flags are clobbered, which asm!
    // assumes unless told otherwise.
    unsafe {
        core::arch::asm!(
            // hi = 0 and CF = OF = 0
            "xor {hi:e}, {hi:e}",
            "2:",
            "mulx {h2}, {lo}, qword ptr [{a}]",
            "adcx {lo}, qword ptr [{t}]",
            "adox {lo}, {hi}",
            "mov qword ptr [{t}], {lo}",
            "mulx {hi}, {lo}, qword ptr [{a} + 8]",
            "adcx {lo}, qword ptr [{t} + 8]",
            "adox {lo}, {h2}",
            "mov qword ptr [{t} + 8], {lo}",
            "mulx {h2}, {lo}, qword ptr [{a} + 16]",
            "adcx {lo}, qword ptr [{t} + 16]",
            "adox {lo}, {hi}",
            "mov qword ptr [{t} + 16], {lo}",
            "mulx {hi}, {lo}, qword ptr [{a} + 24]",
            "adcx {lo}, qword ptr [{t} + 24]",
            "adox {lo}, {h2}",
            "mov qword ptr [{t} + 24], {lo}",
            // LEA and JRCXZ leave CF and OF alone
            "lea {a}, [{a} + 32]",
            "lea {t}, [{t} + 32]",
            "lea rcx, [rcx - 1]",
            "jrcxz 3f",
            "jmp 2b",
            "3:",
            // the carry out: the last high half plus both chains' carries
            "mov {lo}, 0",
            "adcx {hi}, {lo}",
            "adox {hi}, {lo}",
            a = inout(reg) a.as_ptr() => _,
            t = inout(reg) t.as_mut_ptr() => _,
            inout("rcx") blocks => _,
            in("rdx") b,
            hi = out(reg) carry,
            h2 = out(reg) _,
            lo = out(reg) _,
            options(nostack),
        );
    }
    Some(carry)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn mul_add_row(_t: &mut [u64], _a: &[u64], _b: u64) -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn portable(t: &mut [u64], a: &[u64], b: u64) -> u64 {
        let mut carry = 0u64;
        for (ti, &ai) in t.iter_mut().zip(a) {
            let s = u128::from(*ti) + u128::from(ai) * u128::from(b) + u128::from(carry);
            *ti = s as u64;
            carry = (s >> 64) as u64;
        }
        carry
    }

    /// xorshift64*, for reproducible limbs
    fn limbs(n: usize, seed: &mut u64) -> Vec<u64> {
        (0..n)
            .map(|_| {
                *seed ^= *seed >> 12;
                *seed ^= *seed << 25;
                *seed ^= *seed >> 27;
                seed.wrapping_mul(0x2545_f491_4f6c_dd1d)
            })
            .collect()
    }

    #[test]
    fn matches_the_portable_row() {
        if !available() {
            eprintln!("no BMI2/ADX on this CPU: nothing to compare");
            return;
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15;
        for n in [4usize, 8, 12, 16, 32, 64, 128] {
            for round in 0..200 {
                let (mut t, a) = match round {
                    // the extremes: every carry taken
                    0 => (vec![u64::MAX; n], vec![u64::MAX; n]),
                    1 => (vec![0; n], vec![u64::MAX; n]),
                    _ => (limbs(n, &mut seed), limbs(n, &mut seed)),
                };
                let b = match round {
                    0 | 1 => u64::MAX,
                    2 => 0,
                    _ => limbs(1, &mut seed)[0],
                };
                let mut want = t.clone();
                let c_want = portable(&mut want, &a, b);
                let c = mul_add_row(&mut t, &a, b);
                assert_eq!(c, Some(c_want), "n={n} round={round}");
                assert_eq!(t, want, "n={n} round={round}");
            }
        }
    }

    #[test]
    fn other_shapes_are_left_to_the_caller() {
        let mut t = vec![1u64; 6];
        assert_eq!(mul_add_row(&mut t, &[2; 6], 3), None);
        assert_eq!(mul_add_row(&mut t[..4], &[2; 8], 3), None);
        assert_eq!(mul_add_row(&mut [], &[], 3), None);
        assert_eq!(t, vec![1u64; 6]);
    }
}
