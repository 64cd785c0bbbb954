//! Diffie-Hellman work on threads of its own.
//!
//! A responder's Main Mode + Quick Mode with PFS needs two key pairs and two
//! shared secrets. A [`Job`] is one of them; [`Workers`] run jobs on their
//! own threads, which hold nothing of the caller's (no interpreter lock), so
//! a caller busy with other work keeps its core while the jobs take the
//! others. Shared secrets are queued ahead of key pairs (a key pair is made
//! ahead of need; a shared secret is awaited).
//!
//! A job is never waited for behind the queue: [`Job::wait`] computes a job
//! no worker has begun on the caller's thread, and waits only for one that
//! is being computed. Jobs still queued when the workers close are left to
//! their askers in the same way.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use zeroize::Zeroizing;

use super::DhKey;
use crate::error::{Error, Result};

/// What a job computes.
enum Work {
    Shared {
        key: Arc<DhKey>,
        peer: Vec<u8>,
    },
    KeyPair {
        group: u16,
        random: Zeroizing<Vec<u8>>,
        exp_bits: Option<u32>,
    },
}

impl Work {
    fn run(self) -> Result<Output> {
        match self {
            Work::Shared { key, peer } => key.compute(&peer).map(Output::Secret),
            Work::KeyPair {
                group,
                random,
                exp_bits,
            } => DhKey::new(group, &random, exp_bits).map(|k| Output::KeyPair(Arc::new(k))),
        }
    }
}

/// A job's result.
#[derive(Clone)]
pub enum Output {
    /// g^xy (zeroized when the last copy goes).
    Secret(Zeroizing<Vec<u8>>),
    /// A new key pair.
    KeyPair(Arc<DhKey>),
}

enum State {
    Queued(Work),
    Running,
    Done(Result<Output>),
}

/// One shared secret or key pair, to be computed once.
pub struct Job {
    state: Mutex<State>,
    done: Condvar,
    by_worker: AtomicBool,
}

/// A lock whose holder panicked still guards consistent data here (every
/// state change is a single assignment), so poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Job {
    fn new(work: Work) -> Arc<Job> {
        Arc::new(Job {
            state: Mutex::new(State::Queued(work)),
            done: Condvar::new(),
            by_worker: AtomicBool::new(false),
        })
    }

    /// g^xy of `key` with the peer's public value (see [`DhKey::compute`]).
    pub fn shared(key: Arc<DhKey>, peer: Vec<u8>) -> Arc<Job> {
        Job::new(Work::Shared { key, peer })
    }

    /// A key pair (see [`DhKey::new`]).
    pub fn key_pair(group: u16, random: Zeroizing<Vec<u8>>, exp_bits: Option<u32>) -> Arc<Job> {
        Job::new(Work::KeyPair {
            group,
            random,
            exp_bits,
        })
    }

    /// The work, if nobody has taken it yet; the job is then running.
    fn take(&self) -> Option<Work> {
        let mut state = lock(&self.state);
        if !matches!(*state, State::Queued(_)) {
            return None;
        }
        match std::mem::replace(&mut *state, State::Running) {
            State::Queued(work) => Some(work),
            _ => None,
        }
    }

    fn finish(&self, result: Result<Output>) {
        *lock(&self.state) = State::Done(result);
        self.done.notify_all();
    }

    /// Computes the job on this thread unless someone has begun it.
    fn run_here(&self) -> bool {
        match self.take() {
            Some(work) => {
                let result = work.run();
                self.finish(result);
                true
            }
            None => false,
        }
    }

    /// Drops the work if nobody has begun it (its asker is gone); a later
    /// [`Job::wait`] gets an error. Returns whether it was dropped.
    pub fn cancel(&self) -> bool {
        if self.take().is_none() {
            return false;
        }
        self.finish(Err(Error::Internal("DH job cancelled")));
        true
    }

    /// Whether the result is there.
    pub fn is_done(&self) -> bool {
        matches!(*lock(&self.state), State::Done(_))
    }

    /// Whether a worker computed it.
    pub fn by_worker(&self) -> bool {
        self.by_worker.load(Ordering::Relaxed)
    }

    /// The result: computed on this thread if no worker has begun it,
    /// waited for if one has.
    pub fn wait(&self) -> Result<Output> {
        self.run_here();
        let mut state = lock(&self.state);
        loop {
            if let State::Done(result) = &*state {
                return result.clone();
            }
            state = self
                .done
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

struct Queue {
    urgent: VecDeque<Arc<Job>>,
    background: VecDeque<Arc<Job>>,
    closed: bool,
}

struct Inner {
    queue: Mutex<Queue>,
    wake: Condvar,
}

/// Worker threads for [`Job`]s.
pub struct Workers {
    inner: Arc<Inner>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl Workers {
    /// `threads` workers (at least one). Fails only if the system refuses
    /// a thread.
    pub fn new(threads: usize) -> std::io::Result<Workers> {
        let inner = Arc::new(Inner {
            queue: Mutex::new(Queue {
                urgent: VecDeque::new(),
                background: VecDeque::new(),
                closed: false,
            }),
            wake: Condvar::new(),
        });
        let workers = Workers {
            inner,
            threads: Mutex::new(Vec::new()),
        };
        for i in 0..threads.max(1) {
            let inner = Arc::clone(&workers.inner);
            let handle = std::thread::Builder::new()
                .name(format!("isakmpd-dh-{i}"))
                .spawn(move || work(&inner))?;
            lock(&workers.threads).push(handle);
        }
        Ok(workers)
    }

    /// Queues `job`: `urgent` ones (shared secrets) before the others. A
    /// job submitted after [`Workers::close`] stays with its asker.
    pub fn submit(&self, job: Arc<Job>, urgent: bool) {
        let mut q = lock(&self.inner.queue);
        if q.closed {
            return;
        }
        if urgent {
            q.urgent.push_back(job);
        } else {
            q.background.push_back(job);
        }
        drop(q);
        self.inner.wake.notify_one();
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        let q = lock(&self.inner.queue);
        q.urgent.len() + q.background.len()
    }

    /// Stops the workers (after the jobs they are computing) and drops the
    /// queue; returns once they have stopped.
    pub fn close(&self) {
        {
            let mut q = lock(&self.inner.queue);
            q.closed = true;
            q.urgent.clear();
            q.background.clear();
        }
        self.inner.wake.notify_all();
        let handles: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
        for h in handles {
            // a worker that panicked has nothing left to clean up
            let _ = h.join();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.close();
    }
}

fn work(inner: &Inner) {
    loop {
        let job = {
            let mut q = lock(&inner.queue);
            loop {
                if q.closed {
                    return;
                }
                if let Some(job) = q.urgent.pop_front().or_else(|| q.background.pop_front()) {
                    break job;
                }
                q = inner.wake.wait(q).unwrap_or_else(PoisonError::into_inner);
            }
        };
        if let Some(work) = job.take() {
            job.by_worker.store(true, Ordering::Relaxed);
            let result = work.run();
            job.finish(result);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(group: u16, seed: u8) -> Arc<DhKey> {
        Arc::new(DhKey::new(group, &[seed; 80], None).expect("key"))
    }

    fn isakmp_random(group: u16) -> usize {
        crate::dh::random_bytes_needed(group, Some(0)).expect("group")
    }

    fn secret(out: Result<Output>) -> Vec<u8> {
        match out.expect("computed") {
            Output::Secret(s) => s.to_vec(),
            Output::KeyPair(_) => panic!("a key pair"),
        }
    }

    #[test]
    fn workers_compute_what_the_key_does() {
        let w = Workers::new(2).expect("threads");
        let (a, b) = (key(14, 1), key(14, 2));
        let job = Job::shared(Arc::clone(&a), b.public().to_vec());
        w.submit(Arc::clone(&job), true);
        let got = secret(job.wait());
        assert_eq!(got, b.compute(a.public()).expect("b").to_vec());
        assert_eq!(secret(job.wait()), got, "asked again");
        let pair = Job::key_pair(19, Zeroizing::new(vec![7; 80]), None);
        w.submit(Arc::clone(&pair), false);
        match pair.wait().expect("pair") {
            Output::KeyPair(k) => {
                let same = DhKey::new(19, &[7; 80], None).expect("key");
                assert_eq!(k.public(), same.public());
            }
            Output::Secret(_) => panic!("a secret"),
        }
    }

    #[test]
    fn a_job_nobody_took_is_computed_by_its_asker() {
        let (a, b) = (key(2, 3), key(2, 4));
        let job = Job::shared(Arc::clone(&a), b.public().to_vec());
        assert!(!job.is_done());
        let got = secret(job.wait());
        assert!(job.is_done() && !job.by_worker());
        assert_eq!(got, b.compute(a.public()).expect("b").to_vec());
    }

    #[test]
    fn an_asker_waits_for_a_worker_that_began() {
        let (a, b) = (key(14, 5), key(14, 6));
        let job = Job::shared(Arc::clone(&a), b.public().to_vec());
        let work = job.take().expect("queued");
        let runner = Arc::clone(&job);
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            runner.finish(work.run());
        });
        // the work is taken: wait() cannot compute it, it must wait
        let got = secret(job.wait());
        t.join().expect("thread");
        assert_eq!(got, b.compute(a.public()).expect("b").to_vec());
    }

    #[test]
    fn a_cancelled_job_is_not_computed() {
        let (a, b) = (key(14, 11), key(14, 12));
        let job = Job::shared(Arc::clone(&a), b.public().to_vec());
        assert!(job.cancel());
        assert!(job.is_done() && job.wait().is_err());
        assert!(!job.cancel(), "once");
        // a worker that pops it later leaves it alone
        let w = Workers::new(1).expect("threads");
        w.submit(Arc::clone(&job), true);
        let other = Job::shared(a, b.public().to_vec());
        w.submit(Arc::clone(&other), true);
        assert!(secret(other.wait()).len() == 256);
        assert!(!job.by_worker());
        // a finished job keeps its result
        assert!(!other.cancel() && other.wait().is_ok());
    }

    #[test]
    fn errors_come_back_to_the_asker() {
        let w = Workers::new(1).expect("threads");
        let a = key(14, 8);
        let job = Job::shared(a, vec![0xff; 256]);
        w.submit(Arc::clone(&job), true);
        assert!(job.wait().is_err());
        let job = Job::key_pair(99, Zeroizing::new(vec![1; 80]), None);
        w.submit(Arc::clone(&job), false);
        assert!(job.wait().is_err());
    }

    #[test]
    fn shared_secrets_go_first_and_close_leaves_jobs_to_askers() {
        let w = Workers::new(1).expect("threads");
        // full-length exponents: slow enough that the queue cannot empty
        // before the shared secret comes
        let random = isakmp_random(14);
        let pairs: Vec<Arc<Job>> = (0..32u8)
            .map(|i| Job::key_pair(14, Zeroizing::new(vec![i; random]), Some(0)))
            .collect();
        for p in &pairs {
            w.submit(Arc::clone(p), false);
        }
        let (a, b) = (key(14, 9), key(14, 10));
        let job = Job::shared(Arc::clone(&a), b.public().to_vec());
        w.submit(Arc::clone(&job), true);
        while !job.is_done() {
            std::thread::yield_now();
        }
        assert!(job.by_worker());
        let behind = pairs.iter().filter(|p| !p.is_done()).count();
        assert!(behind > 0, "the shared secret waited for every key pair");
        w.close();
        assert_eq!(w.queued(), 0);
        // the pairs no worker took are made by whoever asks
        for p in &pairs {
            assert!(p.wait().is_ok());
        }
        let late = Job::shared(a, b.public().to_vec());
        w.submit(Arc::clone(&late), true);
        assert!(secret(late.wait()).len() == 256 && !late.by_worker());
    }
}
