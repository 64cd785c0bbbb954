//! The crypto half of `isakmpd._core` over the `isakmp-crypto` crate.
//!
//! No reference to Python memory outlives a call: secret arguments are
//! copied into buffers zeroized after use, and whatever is used with the GIL
//! released (modular exponentiation, ECDH, KEYMAT) is copied first.

// The argument lists are the Python signatures of the contract.
#![allow(clippy::too_many_arguments)]

use std::sync::Arc;

use isakmp_crypto::cipher::CipherAlg;
use isakmp_crypto::dh::workers::{Job, Output, Workers};
use isakmp_crypto::dh::GroupKind;
use isakmp_crypto::{DhKey, Error, HashAlg, IkeCipher, Phase1Keys};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use zeroize::Zeroizing;

use crate::errors::{crypto_error, message_error};

/// NOTIFY PAYLOAD-MALFORMED.
const PAYLOAD_MALFORMED: u16 = 16;

fn err(py: Python<'_>, e: Error) -> PyErr {
    crypto_error(py, &e.to_string(), e.notify())
}

fn hash_arg(py: Python<'_>, id: i64) -> PyResult<HashAlg> {
    let id = u16::try_from(id)
        .map_err(|_| crypto_error(py, &format!("unsupported hash algorithm {id}"), 0))?;
    HashAlg::from_id(id).map_err(|e| err(py, e))
}

fn cipher_arg(py: Python<'_>, id: i64) -> PyResult<CipherAlg> {
    let id = u16::try_from(id)
        .map_err(|_| crypto_error(py, &format!("unsupported encryption algorithm {id}"), 0))?;
    CipherAlg::from_id(id).map_err(|e| err(py, e))
}

fn group_arg(py: Python<'_>, id: i64) -> PyResult<u16> {
    u16::try_from(id).map_err(|_| crypto_error(py, &format!("unsupported Oakley group {id}"), 0))
}

fn exp_bits_arg(py: Python<'_>, bits: Option<i64>) -> PyResult<Option<u32>> {
    bits.map(|b| {
        u32::try_from(b).map_err(|_| crypto_error(py, &format!("invalid exponent length {b}"), 0))
    })
    .transpose()
}

fn len_arg(py: Python<'_>, what: &str, len: i64) -> PyResult<usize> {
    usize::try_from(len).map_err(|_| crypto_error(py, &format!("invalid {what} {len}"), 0))
}

fn message_id_arg(py: Python<'_>, id: i64) -> PyResult<u32> {
    u32::try_from(id).map_err(|_| crypto_error(py, &format!("invalid message ID {id}"), 0))
}

#[pyfunction(name = "hash")]
fn py_hash<'py>(py: Python<'py>, hash_alg: i64, data: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
    let alg = hash_arg(py, hash_alg)?;
    Ok(PyBytes::new(py, &alg.hash(&[data])))
}

/// HMAC with the hash `hash_alg` (the IKEv1 PRF).
#[pyfunction]
fn prf<'py>(
    py: Python<'py>,
    hash_alg: i64,
    key: &[u8],
    data: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let alg = hash_arg(py, hash_alg)?;
    let key = Zeroizing::new(key.to_vec());
    Ok(PyBytes::new(py, &Zeroizing::new(alg.prf(&key, &[data]))))
}

#[pyfunction]
fn hash_len(py: Python<'_>, hash_alg: i64) -> PyResult<usize> {
    Ok(hash_arg(py, hash_alg)?.output_len())
}

/// How many random bytes DhKey needs for `group` at `exp_bits`.
#[pyfunction]
#[pyo3(signature = (group, exp_bits=None))]
fn random_bytes_needed(py: Python<'_>, group: i64, exp_bits: Option<i64>) -> PyResult<usize> {
    let group = group_arg(py, group)?;
    let bits = exp_bits_arg(py, exp_bits)?;
    isakmp_crypto::random_bytes_needed(group, bits).map_err(|e| err(py, e))
}

/// ("modp"|"ecp", public value bytes, default private exponent bits).
#[pyfunction]
fn group_info(py: Python<'_>, group: i64) -> PyResult<(&'static str, usize, u32)> {
    let info = isakmp_crypto::group_info(group_arg(py, group)?).map_err(|e| err(py, e))?;
    let kind = match info.kind {
        GroupKind::Modp => "modp",
        GroupKind::Ecp => "ecp",
    };
    Ok((kind, info.public_len, info.default_exp_bits))
}

/// An Oakley DH private value with its public value.
#[pyclass(module = "isakmpd._core", name = "DhKey", frozen)]
struct PyDhKey {
    inner: Arc<DhKey>,
}

#[pymethods]
impl PyDhKey {
    #[new]
    #[pyo3(signature = (group, random, exp_bits=None))]
    fn new(py: Python<'_>, group: i64, random: &[u8], exp_bits: Option<i64>) -> PyResult<Self> {
        let group = group_arg(py, group)?;
        let bits = exp_bits_arg(py, exp_bits)?;
        let random = Zeroizing::new(random.to_vec());
        let inner = py
            .detach(|| DhKey::new(group, &random, bits))
            .map_err(|e| err(py, e))?;
        Ok(PyDhKey {
            inner: Arc::new(inner),
        })
    }

    #[getter]
    fn group(&self) -> u16 {
        self.inner.group()
    }

    #[getter]
    fn public<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.public())
    }

    /// The shared secret g^xy with the peer's public value.
    fn compute<'py>(&self, py: Python<'py>, peer_public: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        let peer = peer_public.to_vec();
        let inner = &self.inner;
        let shared = py.detach(|| inner.compute(&peer)).map_err(|e| err(py, e))?;
        Ok(PyBytes::new(py, &shared))
    }

    /// Checks a peer's public value as `compute` would (length, range,
    /// curve); raises CryptoError like it.
    fn check_peer(&self, py: Python<'_>, peer_public: &[u8]) -> PyResult<()> {
        self.inner.check_peer(peer_public).map_err(|e| err(py, e))
    }

    fn __repr__(&self) -> String {
        format!("<DhKey group {}>", self.inner.group())
    }
}

/// A shared secret or a key pair to be computed once, by a `DhWorkers`
/// thread or by whoever asks for the result first (see
/// `isakmp_crypto::dh::workers`).
#[pyclass(module = "isakmpd._core", name = "DhJob", frozen)]
struct PyDhJob {
    job: Arc<Job>,
}

#[pymethods]
impl PyDhJob {
    /// g^xy of `key` with the peer's public value.
    #[staticmethod]
    fn shared(key: &PyDhKey, peer_public: &[u8]) -> Self {
        PyDhJob {
            job: Job::shared(Arc::clone(&key.inner), peer_public.to_vec()),
        }
    }

    /// A key pair, as DhKey(group, random, exp_bits) makes it.
    #[staticmethod]
    #[pyo3(signature = (group, random, exp_bits=None))]
    fn key_pair(py: Python<'_>, group: i64, random: &[u8], exp_bits: Option<i64>) -> PyResult<Self> {
        let group = group_arg(py, group)?;
        let bits = exp_bits_arg(py, exp_bits)?;
        Ok(PyDhJob {
            job: Job::key_pair(group, Zeroizing::new(random.to_vec()), bits),
        })
    }

    /// Whether the result is there (result() will not compute or wait).
    #[getter]
    fn ready(&self) -> bool {
        self.job.is_done()
    }

    /// Whether a worker thread computed it.
    #[getter]
    fn by_worker(&self) -> bool {
        self.job.by_worker()
    }

    /// Drop the work unless someone has begun it (nobody will ask for the
    /// result); True if it was dropped. result() then raises CryptoError.
    fn cancel(&self) -> bool {
        self.job.cancel()
    }

    /// The shared secret (bytes) or key pair (DhKey): computed now if no
    /// worker has begun it, else waited for; raises CryptoError as
    /// DhKey.compute / DhKey() would.
    fn result<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let job = &self.job;
        match py.detach(|| job.wait()).map_err(|e| err(py, e))? {
            Output::Secret(s) => Ok(PyBytes::new(py, &s).into_any()),
            Output::KeyPair(k) => Ok(Bound::new(py, PyDhKey { inner: k })?.into_any()),
        }
    }

    fn __repr__(&self) -> String {
        format!("<DhJob {}>", if self.job.is_done() { "done" } else { "pending" })
    }
}

/// Threads that compute DhJobs without the interpreter lock.
#[pyclass(module = "isakmpd._core", name = "DhWorkers", frozen)]
struct PyDhWorkers {
    workers: Workers,
}

#[pymethods]
impl PyDhWorkers {
    #[new]
    fn new(py: Python<'_>, threads: usize) -> PyResult<Self> {
        let workers = Workers::new(threads)
            .map_err(|e| crypto_error(py, &format!("cannot start DH threads: {e}"), 0))?;
        Ok(PyDhWorkers { workers })
    }

    /// Queues `job`; `urgent` ones (shared secrets) go first.
    #[pyo3(signature = (job, urgent=false))]
    fn submit(&self, job: &PyDhJob, urgent: bool) {
        self.workers.submit(Arc::clone(&job.job), urgent);
    }

    /// Jobs waiting for a thread.
    #[getter]
    fn queued(&self) -> usize {
        self.workers.queued()
    }

    /// Stops the threads once their current jobs are done; queued jobs are
    /// left to whoever asks for their results.
    fn close(&self, py: Python<'_>) {
        let workers = &self.workers;
        py.detach(|| workers.close());
    }
}

/// SKEYID and its derived keys of one ISAKMP SA.
#[pyclass(module = "isakmpd._core", name = "Phase1Keys", frozen)]
struct PyPhase1Keys {
    inner: Phase1Keys,
}

#[pymethods]
impl PyPhase1Keys {
    #[staticmethod]
    fn for_psk(
        py: Python<'_>,
        hash_alg: i64,
        psk: &[u8],
        ni_b: &[u8],
        nr_b: &[u8],
        gxy: &[u8],
        cky_i: &[u8],
        cky_r: &[u8],
    ) -> PyResult<Self> {
        let hash = hash_arg(py, hash_alg)?;
        let (psk, gxy) = (Zeroizing::new(psk.to_vec()), Zeroizing::new(gxy.to_vec()));
        Phase1Keys::for_psk(hash, &psk, ni_b, nr_b, &gxy, cky_i, cky_r)
            .map(|inner| PyPhase1Keys { inner })
            .map_err(|e| err(py, e))
    }

    #[staticmethod]
    fn for_signatures(
        py: Python<'_>,
        hash_alg: i64,
        ni_b: &[u8],
        nr_b: &[u8],
        gxy: &[u8],
        cky_i: &[u8],
        cky_r: &[u8],
    ) -> PyResult<Self> {
        let hash = hash_arg(py, hash_alg)?;
        let gxy = Zeroizing::new(gxy.to_vec());
        Phase1Keys::for_signatures(hash, ni_b, nr_b, &gxy, cky_i, cky_r)
            .map(|inner| PyPhase1Keys { inner })
            .map_err(|e| err(py, e))
    }

    #[staticmethod]
    fn from_skeyid(
        py: Python<'_>,
        hash_alg: i64,
        skeyid: &[u8],
        gxy: &[u8],
        cky_i: &[u8],
        cky_r: &[u8],
    ) -> PyResult<Self> {
        let hash = hash_arg(py, hash_alg)?;
        let (skeyid, gxy) = (
            Zeroizing::new(skeyid.to_vec()),
            Zeroizing::new(gxy.to_vec()),
        );
        Phase1Keys::from_skeyid(hash, &skeyid, &gxy, cky_i, cky_r)
            .map(|inner| PyPhase1Keys { inner })
            .map_err(|e| err(py, e))
    }

    #[getter]
    fn hash_alg(&self) -> u16 {
        self.inner.hash().id()
    }

    fn hash_i<'py>(
        &self,
        py: Python<'py>,
        gxi: &[u8],
        gxr: &[u8],
        cky_i: &[u8],
        cky_r: &[u8],
        sai_b: &[u8],
        idii_b: &[u8],
    ) -> Bound<'py, PyBytes> {
        PyBytes::new(
            py,
            &self.inner.hash_i(gxi, gxr, cky_i, cky_r, sai_b, idii_b),
        )
    }

    fn hash_r<'py>(
        &self,
        py: Python<'py>,
        gxr: &[u8],
        gxi: &[u8],
        cky_r: &[u8],
        cky_i: &[u8],
        sai_b: &[u8],
        idir_b: &[u8],
    ) -> Bound<'py, PyBytes> {
        PyBytes::new(
            py,
            &self.inner.hash_r(gxr, gxi, cky_r, cky_i, sai_b, idir_b),
        )
    }

    fn prf_a<'py>(&self, py: Python<'py>, data: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.prf_a(data))
    }

    #[pyo3(signature = (protocol, spi, ni_b, nr_b, gxy, length))]
    fn keymat<'py>(
        &self,
        py: Python<'py>,
        protocol: i64,
        spi: &[u8],
        ni_b: &[u8],
        nr_b: &[u8],
        gxy: Option<&[u8]>,
        length: i64,
    ) -> PyResult<Bound<'py, PyBytes>> {
        let protocol = u8::try_from(protocol)
            .map_err(|_| crypto_error(py, &format!("invalid protocol {protocol}"), 0))?;
        let length = len_arg(py, "KEYMAT length", length)?;
        let (spi, ni, nr) = (spi.to_vec(), ni_b.to_vec(), nr_b.to_vec());
        let gxy = gxy.map(|g| Zeroizing::new(g.to_vec()));
        let inner = &self.inner;
        let out = py
            .detach(|| {
                inner.keymat(
                    protocol,
                    &spi,
                    &ni,
                    &nr,
                    gxy.as_deref().map(|g| &g[..]),
                    length,
                )
            })
            .map_err(|e| err(py, e))?;
        Ok(PyBytes::new(py, &out))
    }

    fn cipher(
        &self,
        py: Python<'_>,
        enc_alg: i64,
        key_len: i64,
        gxi: &[u8],
        gxr: &[u8],
    ) -> PyResult<PyIkeCipher> {
        let alg = cipher_arg(py, enc_alg)?;
        let key_len = len_arg(py, "key length", key_len)?;
        self.inner
            .cipher(alg, key_len, gxi, gxr)
            .map(|inner| PyIkeCipher { inner })
            .map_err(|e| err(py, e))
    }

    /// {"skeyid", "skeyid_d", "skeyid_a", "skeyid_e"} (crypto debugging and
    /// key export only).
    fn export<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("skeyid", PyBytes::new(py, self.inner.skeyid()))?;
        d.set_item("skeyid_d", PyBytes::new(py, self.inner.skeyid_d()))?;
        d.set_item("skeyid_a", PyBytes::new(py, self.inner.skeyid_a()))?;
        d.set_item("skeyid_e", PyBytes::new(py, self.inner.skeyid_e()))?;
        Ok(d)
    }

    fn __repr__(&self) -> String {
        format!("<Phase1Keys hash {}>", self.inner.hash().id())
    }
}

/// CBC encryption of IKE message bodies with RFC 2409 IV handling.
#[pyclass(module = "isakmpd._core", name = "IkeCipher")]
struct PyIkeCipher {
    inner: IkeCipher,
}

#[pymethods]
impl PyIkeCipher {
    /// A cipher from a given key and phase-1 IV; `hash_alg` derives the IVs
    /// of other message IDs.
    #[new]
    fn new(py: Python<'_>, enc_alg: i64, hash_alg: i64, key: &[u8], iv: &[u8]) -> PyResult<Self> {
        let alg = cipher_arg(py, enc_alg)?;
        let hash = hash_arg(py, hash_alg)?;
        let key = Zeroizing::new(key.to_vec());
        IkeCipher::new(alg, hash, &key, iv)
            .map(|inner| PyIkeCipher { inner })
            .map_err(|e| err(py, e))
    }

    #[getter]
    fn enc_alg(&self) -> u16 {
        self.inner.alg().id()
    }

    #[getter]
    fn hash_alg(&self) -> u16 {
        self.inner.hash().id()
    }

    #[getter]
    fn block_size(&self) -> usize {
        self.inner.block_size()
    }

    #[getter]
    fn key_len(&self) -> usize {
        self.inner.key().len()
    }

    fn encrypt<'py>(
        &mut self,
        py: Python<'py>,
        message_id: i64,
        plaintext: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mid = message_id_arg(py, message_id)?;
        let ct = self.inner.encrypt(mid, plaintext).map_err(|e| err(py, e))?;
        Ok(PyBytes::new(py, &ct))
    }

    fn decrypt<'py>(
        &mut self,
        py: Python<'py>,
        message_id: i64,
        ciphertext: &[u8],
    ) -> PyResult<Bound<'py, PyBytes>> {
        let mid = message_id_arg(py, message_id)?;
        match self.inner.decrypt(mid, ciphertext) {
            Ok(pt) => Ok(PyBytes::new(py, &pt)),
            Err(e) => Err(message_error(py, PAYLOAD_MALFORMED, &e.to_string(), -1)),
        }
    }

    fn commit(&mut self, py: Python<'_>, message_id: i64) -> PyResult<()> {
        let mid = message_id_arg(py, message_id)?;
        self.inner.commit(mid).map_err(|e| err(py, e))
    }

    fn forget(&mut self, py: Python<'_>, message_id: i64) -> PyResult<()> {
        let mid = message_id_arg(py, message_id)?;
        self.inner.forget(mid);
        Ok(())
    }

    fn iv<'py>(&self, py: Python<'py>, message_id: i64) -> PyResult<Bound<'py, PyBytes>> {
        let mid = message_id_arg(py, message_id)?;
        Ok(PyBytes::new(py, &self.inner.iv(mid)))
    }

    fn key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, self.inner.key())
    }

    fn __repr__(&self) -> String {
        format!(
            "<IkeCipher alg {} key {} bytes>",
            self.inner.alg().id(),
            self.inner.key().len()
        )
    }
}

/// Raw CBC, no padding (len(data) a multiple of the block size).
#[pyfunction]
fn cbc_encrypt<'py>(
    py: Python<'py>,
    enc_alg: i64,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let alg = cipher_arg(py, enc_alg)?;
    let key = Zeroizing::new(key.to_vec());
    let out = isakmp_crypto::cbc_encrypt(alg, &key, iv, data).map_err(|e| err(py, e))?;
    Ok(PyBytes::new(py, &out))
}

/// Raw CBC decryption, padding kept.
#[pyfunction]
fn cbc_decrypt<'py>(
    py: Python<'py>,
    enc_alg: i64,
    key: &[u8],
    iv: &[u8],
    data: &[u8],
) -> PyResult<Bound<'py, PyBytes>> {
    let alg = cipher_arg(py, enc_alg)?;
    let key = Zeroizing::new(key.to_vec());
    let out =
        Zeroizing::new(isakmp_crypto::cbc_decrypt(alg, &key, iv, data).map_err(|e| err(py, e))?);
    Ok(PyBytes::new(py, &out))
}

/// Constant-time comparison of MACs and hashes.
#[pyfunction]
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    isakmp_crypto::ct_eq(a, b)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(py_hash, m)?)?;
    m.add_function(wrap_pyfunction!(prf, m)?)?;
    m.add_function(wrap_pyfunction!(hash_len, m)?)?;
    m.add_function(wrap_pyfunction!(random_bytes_needed, m)?)?;
    m.add_function(wrap_pyfunction!(group_info, m)?)?;
    m.add_function(wrap_pyfunction!(cbc_encrypt, m)?)?;
    m.add_function(wrap_pyfunction!(cbc_decrypt, m)?)?;
    m.add_function(wrap_pyfunction!(ct_eq, m)?)?;
    m.add_class::<PyDhKey>()?;
    m.add_class::<PyDhJob>()?;
    m.add_class::<PyDhWorkers>()?;
    m.add_class::<PyPhase1Keys>()?;
    m.add_class::<PyIkeCipher>()?;
    Ok(())
}
