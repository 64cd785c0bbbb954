//! Constant-time Montgomery arithmetic for the MODP groups.
//!
//! Numbers are little-endian vectors of 64-bit limbs, all of the modulus'
//! length. Multiplication is CIOS (coarsely integrated operand scanning);
//! squaring computes each cross product once, doubles them, adds the
//! squares and then reduces (about 1.5 n^2 word products against 2 n^2),
//! which is where an exponentiation spends most of its time. Every
//! operation does the same work whatever the values: the final subtraction
//! of the modulus and the table lookups are done with masks, and the loops
//! depend on lengths only (the modulus' and the exponent's bit length,
//! which are public).
//!
//! The public value g^x is computed with the generator 2 as one squaring
//! and one modular doubling (a shift, not a multiplication) per exponent
//! bit, with no table; y^x uses a fixed window of 4 to 6 bits.
//!
//! Constant time with respect to the secret exponent: the exponent enters
//! only as (1) the mask that keeps or drops the doubled value in `pow2`
//! and (2) the table index in `pow`, which reads every entry and keeps one
//! by mask; the number of squarings and multiplications depends on the
//! exponent's bit length alone, and no branch or memory address depends on
//! an exponent bit.
//!
//! Rows of products (`t += a * b` over the limbs) go through the
//! MULX/ADCX/ADOX kernel of `adx.rs` on CPUs with BMI2 and ADX, and through
//! unrolled portable Rust elsewhere; both give the same limbs (tested).
//!
//! TODO(perf): with full-length exponents MODP-768 to 1536 take 1.2-1.4x
//! OpenSSL's time (README, Performance): the squaring's row tails (up to
//! three limbs per row), its doubling and its diagonal are portable loops,
//! a larger share of the work in the small groups.

use zeroize::Zeroize;

use super::adx;

/// Limbs of a number.
type Limbs = Vec<u64>;

/// A modulus with its Montgomery constants (R = 2^(64 n)).
pub(crate) struct Montgomery {
    /// The modulus, odd, little-endian.
    m: Limbs,
    /// -m^-1 mod 2^64.
    m_inv: u64,
    /// R mod m (one in Montgomery form).
    one: Limbs,
    /// R^2 mod m (to enter Montgomery form).
    r2: Limbs,
    /// Whether rows go through the BMI2/ADX kernel (the CPU has it).
    adx: bool,
}

/// `t[i] += a[i] * b + carry` over `N` limbs, unrolled by the compiler.
#[inline(always)]
fn mul_add_fixed<const N: usize>(t: &mut [u64; N], a: &[u64; N], b: u64) -> u64 {
    let mut carry = 0u64;
    for i in 0..N {
        let s = u128::from(t[i]) + u128::from(a[i]) * u128::from(b) + u128::from(carry);
        t[i] = s as u64;
        carry = (s >> 64) as u64;
    }
    carry
}

/// `t[i] += a[i] * b + carry` over the shorter of `t` and `a`; the carry out.
/// On CPUs with BMI2 and ADX the limbs in groups of four go through the
/// two-carry-chain kernel of [`super::adx`] and the rest (at most three
/// limbs) through the portable loop; elsewhere the lengths of the MODP
/// moduli take an unrolled path.
#[inline(always)]
fn mul_add_row(t: &mut [u64], a: &[u64], b: u64, use_adx: bool) -> u64 {
    let k = t.len().min(a.len());
    let q = k & !3;
    if use_adx && q > 0 {
        if let (Some((t4, t_rest)), Some((a4, a_rest))) =
            (t.get_mut(..k).map(|t| t.split_at_mut(q)), a.get(..k).map(|a| a.split_at(q)))
        {
            if let Some(carry) = adx::mul_add_row(t4, a4, b) {
                return mul_add_tail(t_rest, a_rest, b, carry);
            }
        }
    }
    mul_add_portable(t, a, b)
}

/// `t[i] += a[i] * b` starting with `carry`; the carry out.
#[inline(always)]
fn mul_add_tail(t: &mut [u64], a: &[u64], b: u64, mut carry: u64) -> u64 {
    for (ti, &ai) in t.iter_mut().zip(a) {
        let s = u128::from(*ti) + u128::from(ai) * u128::from(b) + u128::from(carry);
        *ti = s as u64;
        carry = (s >> 64) as u64;
    }
    carry
}

/// [`mul_add_row`] in portable Rust.
#[inline(always)]
fn mul_add_portable(t: &mut [u64], a: &[u64], b: u64) -> u64 {
    macro_rules! fixed {
        ($($n:literal)*) => {
            if t.len() == a.len() {
                $(
                    if let (Ok(tf), Ok(af)) =
                        (<&mut [u64; $n]>::try_from(&mut *t), <&[u64; $n]>::try_from(a))
                    {
                        return mul_add_fixed::<$n>(tf, af, b);
                    }
                )*
            }
        };
    }
    fixed!(12 16 24 32 48 64 96 128);
    mul_add_tail(t, a, b, 0)
}

/// `a - b` into `out`; the borrow (0 or 1).
#[inline(always)]
fn sub_into(out: &mut [u64], a: &[u64], b: &[u64]) -> u64 {
    let mut borrow = 0u64;
    for ((o, &x), &y) in out.iter_mut().zip(a).zip(b) {
        let (d1, b1) = x.overflowing_sub(y);
        let (d2, b2) = d1.overflowing_sub(borrow);
        *o = d2;
        borrow = u64::from(b1 | b2);
    }
    borrow
}

/// `dst = mask ? src : dst` with `mask` all ones or all zeros.
#[inline(always)]
fn select_into(dst: &mut [u64], src: &[u64], mask: u64) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d ^= (*d ^ s) & mask;
    }
}

/// All ones if `a == b`, else zero, without a branch.
#[inline(always)]
fn eq_mask(a: u64, b: u64) -> u64 {
    let x = a ^ b;
    // the top bit of (x | -x) is set exactly when x != 0
    ((x | x.wrapping_neg()) >> 63).wrapping_sub(1)
}

impl Montgomery {
    /// The constants of an odd modulus given big-endian (public data: the
    /// set-up is not constant time). None for an even or empty modulus.
    pub(crate) fn new(modulus_be: &[u8]) -> Option<Montgomery> {
        Montgomery::with_kernel(modulus_be, adx::available())
    }

    /// [`Montgomery::new`], with the ADX kernel only if `adx` (and the CPU
    /// has it): the tests compare both paths.
    pub(crate) fn with_kernel(modulus_be: &[u8], adx: bool) -> Option<Montgomery> {
        let m = limbs_from_be(modulus_be, modulus_be.len().div_ceil(8));
        let low = *m.first()?;
        if low & 1 == 0 || m.last().copied().unwrap_or(0) == 0 {
            return None;
        }
        // Newton's iteration for low^-1 mod 2^64: each step doubles the
        // correct low bits (3 to start with, for any odd number).
        let mut inv = low;
        for _ in 0..5 {
            inv = inv.wrapping_mul(2u64.wrapping_sub(low.wrapping_mul(inv)));
        }
        let mut mont = Montgomery {
            m_inv: inv.wrapping_neg(),
            one: vec![0; m.len()],
            r2: vec![0; m.len()],
            m,
            adx: adx && adx::available(),
        };
        // R mod m by doubling 1 (64 n times), then R^2 mod m by doubling on.
        let mut x = vec![0u64; mont.m.len()];
        if let Some(first) = x.first_mut() {
            *first = 1;
        }
        let bits = 64 * mont.m.len();
        for _ in 0..bits {
            mont.double(&mut x);
        }
        mont.one.copy_from_slice(&x);
        for _ in 0..bits {
            mont.double(&mut x);
        }
        mont.r2.copy_from_slice(&x);
        Some(mont)
    }

    /// Limbs of the modulus.
    pub(crate) fn len(&self) -> usize {
        self.m.len()
    }

    /// `x = 2 x mod m` for `x < m`.
    #[inline(always)]
    fn double(&self, x: &mut [u64]) {
        let mut top = 0u64;
        for limb in x.iter_mut() {
            let next = *limb >> 63;
            *limb = (*limb << 1) | top;
            top = next;
        }
        self.reduce_once(x, top);
    }

    /// `x - m` if `top:x >= m` (x < 2 m), else x; constant time.
    #[inline(always)]
    fn reduce_once(&self, x: &mut [u64], top: u64) {
        let mut d = [0u64; 128];
        let n = x.len().min(d.len());
        let Some(d) = d.get_mut(..n) else { return };
        let borrow = sub_into(d, x, &self.m);
        // keep the difference when there was no borrow, or a carry above x
        let keep = (borrow ^ 1) | top;
        select_into(x, d, keep.wrapping_neg());
        d.zeroize();
    }

    /// `out = a b / R mod m` (a, b < m); `t` has room for 2 n limbs. The
    /// schoolbook product, then the reduction.
    fn mul(&self, out: &mut [u64], a: &[u64], b: &[u64], t: &mut [u64]) {
        let n = self.m.len();
        let Some(t) = t.get_mut(..2 * n) else { return };
        t.fill(0);
        for (i, &bi) in b.iter().enumerate().take(n) {
            let Some(row) = t.get_mut(i..i + n) else { break };
            let c = mul_add_row(row, a, bi, self.adx);
            if let Some(dst) = t.get_mut(i + n) {
                *dst = c;
            }
        }
        self.redc(out, t);
    }

    /// `out = a^2 / R mod m` (a < m); `t` has room for 2 n limbs.
    fn sqr(&self, out: &mut [u64], a: &[u64], t: &mut [u64]) {
        let n = self.m.len();
        let Some(t) = t.get_mut(..2 * n) else { return };
        t.fill(0);
        // cross products a[i] a[j], i < j
        for i in 0..n {
            let (Some(&ai), Some(rest)) = (a.get(i), a.get(i + 1..)) else { break };
            let Some(row) = t.get_mut(2 * i + 1..i + n + 1) else { break };
            let c = mul_add_row(row, rest, ai, self.adx);
            if let Some(dst) = t.get_mut(i + n) {
                *dst = c;
            }
        }
        // doubled, plus the squares a[i]^2 on the diagonal
        let mut top = 0u64;
        for limb in t.iter_mut() {
            let next = *limb >> 63;
            *limb = (*limb << 1) | top;
            top = next;
        }
        let mut carry = 0u64;
        for (i, &ai) in a.iter().enumerate().take(n) {
            let sq = u128::from(ai) * u128::from(ai);
            let (Some(&lo), Some(&hi)) = (t.get(2 * i), t.get(2 * i + 1)) else { break };
            let s = u128::from(lo) + (sq & u128::from(u64::MAX)) + u128::from(carry);
            let s2 = u128::from(hi) + (sq >> 64) + (s >> 64);
            if let Some(dst) = t.get_mut(2 * i) {
                *dst = s as u64;
            }
            if let Some(dst) = t.get_mut(2 * i + 1) {
                *dst = s2 as u64;
            }
            carry = (s2 >> 64) as u64;
        }
        self.redc(out, t);
    }

    /// Montgomery reduction of the 2 n limbs of `t` (t < m R) into `out`.
    fn redc(&self, out: &mut [u64], t: &mut [u64]) {
        let n = self.m.len();
        let mut top = 0u64;
        for i in 0..n {
            let q = t.get(i).copied().unwrap_or(0).wrapping_mul(self.m_inv);
            let Some(row) = t.get_mut(i..i + n) else { break };
            let c = mul_add_row(row, &self.m, q, self.adx);
            if let Some(dst) = t.get_mut(i + n) {
                let s = u128::from(*dst) + u128::from(c) + u128::from(top);
                *dst = s as u64;
                top = (s >> 64) as u64;
            }
        }
        let Some(hi) = t.get_mut(n..2 * n) else { return };
        self.reduce_once(hi, top);
        out.copy_from_slice(hi);
    }

    /// `x` (< m, limbs) into Montgomery form.
    fn to_mont(&self, x: &[u64], scratch: &mut [u64]) -> Limbs {
        let mut out = vec![0u64; self.m.len()];
        self.mul(&mut out, x, &self.r2, scratch);
        out
    }

    /// Out of Montgomery form.
    fn from_mont(&self, x: &[u64], scratch: &mut [u64]) -> Limbs {
        let n = self.m.len();
        let mut out = vec![0u64; n];
        if let Some(t) = scratch.get_mut(..2 * n) {
            t.fill(0);
            if let Some(lo) = t.get_mut(..n) {
                lo.copy_from_slice(x);
            }
            self.redc(&mut out, t);
        }
        out
    }

    /// `2^e mod m` for the low `bits` bits of the exponent `e` (little-endian
    /// limbs): a squaring and a modular doubling per bit; the doubled value
    /// is kept or not by mask, so the time depends on `bits` only.
    pub(crate) fn pow2(&self, e: &[u64], bits: u32) -> Limbs {
        let n = self.m.len();
        let mut scratch = vec![0u64; 2 * n];
        let mut acc = self.one.clone();
        let mut dbl = vec![0u64; n];
        for i in (0..bits as usize).rev() {
            self.sqr_in_place(&mut acc, &mut scratch);
            dbl.copy_from_slice(&acc);
            self.double(&mut dbl);
            let bit = (e.get(i / 64).copied().unwrap_or(0) >> (i % 64)) & 1;
            select_into(&mut acc, &dbl, bit.wrapping_neg());
        }
        let out = self.from_mont(&acc, &mut scratch);
        acc.zeroize();
        dbl.zeroize();
        scratch.zeroize();
        out
    }

    fn sqr_in_place(&self, acc: &mut Limbs, scratch: &mut [u64]) {
        let a = std::mem::take(acc);
        let mut out = a.clone();
        self.sqr(&mut out, &a, scratch);
        let mut a = a;
        a.zeroize();
        *acc = out;
    }

    /// `b^e mod m` for a base `b < m` and the low `bits` bits of `e`
    /// (little-endian limbs), with a fixed window and a lookup that reads
    /// every table entry.
    pub(crate) fn pow(&self, b: &[u64], e: &[u64], bits: u32) -> Limbs {
        let n = self.m.len();
        let w: u32 = match bits {
            0..=320 => 4,
            321..=2100 => 5,
            _ => 6,
        };
        let mut scratch = vec![0u64; 2 * n];
        // table[k] = b^k in Montgomery form
        let size = 1usize << w;
        let mut table = vec![0u64; size * n];
        let base = self.to_mont(b, &mut scratch);
        {
            let (first, rest) = table.split_at_mut(n);
            first.copy_from_slice(&self.one);
            if let Some(second) = rest.get_mut(..n) {
                second.copy_from_slice(&base);
            }
        }
        for k in 2..size {
            let (done, rest) = table.split_at_mut(k * n);
            let Some(prev) = done.get((k - 1) * n..) else { break };
            let Some(dst) = rest.get_mut(..n) else { break };
            self.mul(dst, prev, &base, &mut scratch);
        }
        let window = |end: u32, len: u32| -> u64 {
            // bits [end - len, end) of e
            let mut v = 0u64;
            for j in (end - len..end).rev() {
                let limb = e.get(j as usize / 64).copied().unwrap_or(0);
                v = (v << 1) | ((limb >> (j % 64)) & 1);
            }
            v
        };
        let mut acc = vec![0u64; n];
        let mut entry = vec![0u64; n];
        let lookup = |idx: u64, entry: &mut Limbs| {
            entry.fill(0);
            for (k, chunk) in table.chunks_exact(n).enumerate() {
                let mask = eq_mask(k as u64, idx);
                for (d, &s) in entry.iter_mut().zip(chunk) {
                    *d |= s & mask;
                }
            }
        };
        let mut pos = bits;
        let first = if bits % w == 0 { w } else { bits % w };
        let first = first.min(bits);
        if bits == 0 {
            acc.copy_from_slice(&self.one);
        } else {
            lookup(window(pos, first), &mut acc);
            pos -= first;
        }
        let mut tmp = vec![0u64; n];
        while pos > 0 {
            for _ in 0..w {
                self.sqr(&mut tmp, &acc, &mut scratch);
                std::mem::swap(&mut acc, &mut tmp);
            }
            pos -= w;
            lookup(window(pos + w, w), &mut entry);
            self.mul(&mut tmp, &acc, &entry, &mut scratch);
            std::mem::swap(&mut acc, &mut tmp);
        }
        let out = self.from_mont(&acc, &mut scratch);
        for v in [&mut acc, &mut tmp, &mut entry, &mut table, &mut scratch] {
            v.zeroize();
        }
        let mut base = base;
        base.zeroize();
        out
    }
}

/// Big-endian bytes to `n` little-endian limbs (the bytes must fit).
pub(crate) fn limbs_from_be(bytes: &[u8], n: usize) -> Limbs {
    let mut out = vec![0u64; n];
    for (i, &byte) in bytes.iter().rev().enumerate() {
        if let Some(limb) = out.get_mut(i / 8) {
            *limb |= u64::from(byte) << (8 * (i % 8));
        }
    }
    out
}

/// Little-endian limbs to `len` big-endian bytes.
pub(crate) fn limbs_to_be(limbs: &[u64], len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    for (i, byte) in out.iter_mut().rev().enumerate() {
        *byte = (limbs.get(i / 8).copied().unwrap_or(0) >> (8 * (i % 8))) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small reference: square-and-multiply on u128 for a 61-bit prime
    /// embedded in one limb.
    fn pow_ref(b: u128, e: u128, m: u128) -> u128 {
        let (mut r, mut b, mut e) = (1u128, b % m, e);
        while e > 0 {
            if e & 1 == 1 {
                r = r * b % m;
            }
            b = b * b % m;
            e >>= 1;
        }
        r
    }

    #[test]
    fn one_limb_matches_reference() {
        let m: u64 = (1 << 61) - 1;
        let mont = Montgomery::new(&m.to_be_bytes()).expect("odd");
        for (b, e) in [(3u64, 5u64), (2, 1 << 40), (123_456_789, 987_654_321), (2, 0x1234)] {
            let got = mont.pow(&[b], &[e], 64);
            assert_eq!(u128::from(got[0]), pow_ref(b.into(), e.into(), m.into()));
            let got2 = mont.pow2(&[e], 64);
            assert_eq!(u128::from(got2[0]), pow_ref(2, e.into(), m.into()));
        }
    }

    /// The MODP primes: both kernels give the same powers (the published
    /// vectors check whichever this CPU runs).
    #[test]
    fn adx_and_portable_kernels_agree() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for group in [1u16, 2, 5, 14, 15, 16] {
            let g = crate::dh::ModpGroup::find(group).expect("group");
            let p = g.prime();
            let fast = Montgomery::with_kernel(&p, true).expect("odd");
            let slow = Montgomery::with_kernel(&p, false).expect("odd");
            assert!(!slow.adx);
            let n = fast.len();
            for bits in [160u32, 224, 64 * n as u32 - 1] {
                let mut b: Vec<u64> = (0..n).map(|_| next()).collect();
                if let Some(top) = b.last_mut() {
                    *top >>= 2; // below the prime
                }
                let e: Vec<u64> = (0..n).map(|_| next()).collect();
                assert_eq!(fast.pow(&b, &e, bits), slow.pow(&b, &e, bits), "group {group}");
                assert_eq!(fast.pow2(&e, bits), slow.pow2(&e, bits), "group {group}");
            }
        }
    }

    #[test]
    fn even_modulus_is_refused() {
        assert!(Montgomery::new(&[0x10, 0x00]).is_none());
        assert!(Montgomery::new(&[]).is_none());
    }

    #[test]
    fn limb_conversions_round_trip() {
        let be: Vec<u8> = (1..=20).collect();
        let l = limbs_from_be(&be, 3);
        assert_eq!(limbs_to_be(&l, 20), be);
        assert_eq!(l[0], 0x0d0e_0f10_1112_1314);
    }
}
