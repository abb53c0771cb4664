//! A team of threads for batch-1 inference that *spin* between jobs.
//!
//! A batch-1 plan runs a parallel section every few tens of microseconds. Rayon parks idle workers
//! and wakes them through the kernel, which on a virtual machine costs about as much as a small
//! layer takes: splitting such a layer over rayon measured slower than running it on one thread.
//! [`Team::run`] instead hands each helper its share through a flag it is polling, runs the first
//! share on the calling thread, and waits (spinning) for the others. Helpers poll for
//! [`SPIN`] after their last job, then park until the next one.
//!
//! Shares are contiguous and static: the jobs of a plan are even by construction. A share its
//! helper has not started soon after the caller is done with its own, the caller runs itself: on a
//! machine whose cores are busy with other work a descheduled helper then costs the job at most
//! that share, instead of the caller spinning until the OS runs the helper again (a time slice,
//! several milliseconds, on every layer).
//! The global team ([`Team::global`]) has one helper fewer than the current rayon pool's threads;
//! a thread that finds it busy (another thread running a plan) runs its job alone.
//!
//! ```
//! use fasterai_runtime::kernels::team::Team;
//! use std::sync::atomic::{AtomicUsize, Ordering};
//! let sum = AtomicUsize::new(0);
//! Team::global().run(10, &|tasks| {
//!     sum.fetch_add(tasks.sum::<usize>(), Ordering::Relaxed);
//! });
//! assert_eq!(sum.into_inner(), 45);
//! ```

use std::cell::UnsafeCell;
use std::ops::Range;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

/// How long a helper keeps polling after its last job before it parks.
pub const SPIN: Duration = Duration::from_millis(2);

/// How long the caller, done with its own share, waits for a helper to start its share before it
/// runs that share itself. A polling helper starts within a microsecond; a parked one within tens;
/// one the OS has descheduled not before its next time slice (milliseconds).
const GRACE: Duration = Duration::from_micros(50);

const IDLE: u8 = 0;
/// A share is waiting for its helper (or for the caller to take it back).
const READY: u8 = 1;
const DONE: u8 = 2;
const STOP: u8 = 3;
/// The share is being run, by its helper or by the caller that took it back.
const RUNNING: u8 = 4;

/// A job borrowed for the duration of one [`Team::run`]; the lifetime is erased while a helper
/// holds it, and `run` does not return before every helper has reported `DONE`.
type Job = *const (dyn Fn(Range<usize>) + Sync + 'static);

/// One helper's mailbox.
struct Mailbox {
    state: AtomicU8,
    parked: AtomicBool,
    job: UnsafeCell<Option<(Job, Range<usize>)>>,
    thread: OnceLock<Thread>,
}

// SAFETY: `job` is written by the owner only while `state` is IDLE or DONE (the helper does not read
// it then) and read by the helper only between its own READY → RUNNING exchange and its store of
// DONE (when the caller wins that exchange, the helper does not read it at all); the Release/Acquire
// pairs on `state` order those accesses. The job it points to is `Sync`.
unsafe impl Sync for Mailbox {}
unsafe impl Send for Mailbox {}

/// Threads that share batch-1 work with the caller. See the module docs.
pub struct Team {
    helpers: Vec<Arc<Mailbox>>,
    busy: Mutex<()>,
}

impl std::fmt::Debug for Team {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Team").field("threads", &self.threads()).finish()
    }
}

impl Team {
    /// A team of the caller plus `helpers` threads (started now, parked until the first job).
    pub fn new(helpers: usize) -> Self {
        let helpers: Vec<Arc<Mailbox>> = (0..helpers)
            .map(|_| {
                let mailbox = Arc::new(Mailbox {
                    state: AtomicU8::new(IDLE),
                    parked: AtomicBool::new(false),
                    job: UnsafeCell::new(None),
                    thread: OnceLock::new(),
                });
                let own = Arc::clone(&mailbox);
                let handle = thread::Builder::new()
                    .name("fasterai-team".into())
                    .spawn(move || helper_loop(&own))
                    .expect("the OS could not start a helper thread");
                let _ = mailbox.thread.set(handle.thread().clone());
                mailbox
            })
            .collect();
        Self { helpers, busy: Mutex::new(()) }
    }

    /// The process-wide team: as many threads as the current rayon pool (when first called).
    pub fn global() -> &'static Team {
        static TEAM: OnceLock<Team> = OnceLock::new();
        TEAM.get_or_init(|| Team::new(rayon::current_num_threads().saturating_sub(1)))
    }

    /// Threads that run a job: the caller and the helpers.
    pub fn threads(&self) -> usize {
        self.helpers.len() + 1
    }

    /// Runs `job` over the task indices `0..tasks`, split into one contiguous share per thread
    /// (the caller takes the first); returns when every share is done. Runs everything on the
    /// caller when the team is in use by another thread or there is at most one task.
    pub fn run(&self, tasks: usize, job: &(dyn Fn(Range<usize>) + Sync)) {
        let guard = if tasks > 1 && !self.helpers.is_empty() { self.busy.try_lock().ok() } else { None };
        let Some(_guard) = guard else {
            job(0..tasks);
            return;
        };
        let threads = self.threads().min(tasks);
        let share = |t: usize| t * tasks / threads..(t + 1) * tasks / threads;
        // SAFETY (lifetime erasure): every helper given this pointer stores DONE after its last use
        // of it, and this function waits for all of them below before returning, so the job outlives
        // every use.
        let erased: Job = unsafe { std::mem::transmute::<*const (dyn Fn(Range<usize>) + Sync + '_), Job>(job) };
        let used = &self.helpers[..threads - 1];
        for (t, mailbox) in used.iter().enumerate() {
            // SAFETY: the mailbox is IDLE or DONE (we hold `busy` and waited for the last job), so
            // its helper is not reading `job`.
            unsafe { *mailbox.job.get() = Some((erased, share(t + 1))) };
            mailbox.state.store(READY, Ordering::SeqCst);
            if mailbox.parked.load(Ordering::SeqCst) {
                if let Some(thread) = mailbox.thread.get() {
                    thread.unpark();
                }
            }
        }
        job(share(0));
        // A share its helper has not started within [`GRACE`] runs here; then wait for the others.
        let done_at = Instant::now();
        for (t, mailbox) in used.iter().enumerate() {
            let mut polls = 0u32;
            while mailbox.state.load(Ordering::Acquire) == READY {
                polls = polls.wrapping_add(1);
                if polls.is_multiple_of(64) && done_at.elapsed() >= GRACE {
                    if mailbox.state.compare_exchange(READY, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                        job(share(t + 1));
                        mailbox.state.store(DONE, Ordering::Release);
                    }
                    break;
                }
                std::hint::spin_loop();
            }
        }
        for mailbox in used {
            while mailbox.state.load(Ordering::Acquire) != DONE {
                std::hint::spin_loop();
            }
        }
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        for mailbox in &self.helpers {
            mailbox.state.store(STOP, Ordering::SeqCst);
            if let Some(thread) = mailbox.thread.get() {
                thread.unpark();
            }
        }
    }
}

/// A helper: poll for READY (for [`SPIN`] after the last job, then park), run the share, report DONE.
fn helper_loop(mailbox: &Mailbox) {
    let mut idle_since = Instant::now();
    let mut polls = 0u32;
    loop {
        let state = mailbox.state.load(Ordering::Acquire);
        if state == STOP {
            return;
        }
        if state == READY {
            if mailbox.state.compare_exchange(READY, RUNNING, Ordering::AcqRel, Ordering::Acquire).is_err() {
                continue; // the caller took the share back
            }
            // SAFETY: the owner wrote `job` before storing READY (Release, read above with Acquire)
            // and waits for DONE before touching it again or letting the job go.
            let (job, tasks) = unsafe { (*mailbox.job.get()).clone() }.expect("a READY mailbox holds a job");
            // SAFETY: the job is alive until we store DONE (see `Team::run`).
            unsafe { (*job)(tasks) };
            mailbox.state.store(DONE, Ordering::Release);
            idle_since = Instant::now();
            continue;
        }
        polls = polls.wrapping_add(1);
        if !polls.is_multiple_of(256) || idle_since.elapsed() < SPIN {
            std::hint::spin_loop();
            continue;
        }
        mailbox.parked.store(true, Ordering::SeqCst);
        // Re-check after announcing the park: a job stored before the announcement is seen here,
        // one stored after it finds `parked` set and unparks us (an early unpark makes park return).
        if !matches!(mailbox.state.load(Ordering::SeqCst), READY | STOP) {
            thread::park();
        }
        mailbox.parked.store(false, Ordering::SeqCst);
        idle_since = Instant::now();
    }
}

/// `f(i, chunk)` for every `chunk`-sized piece of `data` (the last one shorter): on the global team
/// when `parallel`, else in order on the caller.
pub(crate) fn for_each_chunk<T: Send>(data: &mut [T], chunk: usize, parallel: bool, f: impl Fn(usize, &mut [T]) + Sync) {
    if !parallel {
        data.chunks_mut(chunk.max(1)).enumerate().for_each(|(i, c)| f(i, c));
        return;
    }
    let chunks = Chunks::new(data, chunk);
    Team::global().run(chunks.count(), &|tasks| {
        for i in tasks {
            // SAFETY: `Team::run` hands each task index to one thread once.
            f(i, unsafe { chunks.get(i) });
        }
    });
}

/// [`for_each_chunk`] for a fallible `f`: returns the first error a task reported (in order on the
/// caller, the sequential run stops there), else `Ok`.
pub(crate) fn try_for_each_chunk<T: Send, E: Send>(
    data: &mut [T],
    chunk: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [T]) -> Result<(), E> + Sync,
) -> Result<(), E> {
    if !parallel {
        return data.chunks_mut(chunk.max(1)).enumerate().try_for_each(|(i, c)| f(i, c));
    }
    let first_error = Mutex::new(None);
    for_each_chunk(data, chunk, true, |i, c| {
        if let Err(e) = f(i, c) {
            first_error.lock().unwrap_or_else(|poison| poison.into_inner()).get_or_insert(e);
        }
    });
    match first_error.into_inner().unwrap_or_else(|poison| poison.into_inner()) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Mutable chunks of one slice handed to the tasks of a [`Team::run`], each chunk to one task.
pub(crate) struct Chunks<'a, T> {
    ptr: *mut T,
    len: usize,
    chunk: usize,
    marker: std::marker::PhantomData<&'a mut [T]>,
}

// SAFETY: the chunks are disjoint; each is handed out at most once (see `Chunks::get`).
unsafe impl<T: Send> Sync for Chunks<'_, T> {}

impl<'a, T> Chunks<'a, T> {
    /// `data` cut into chunks of `chunk` elements (the last one shorter).
    pub(crate) fn new(data: &'a mut [T], chunk: usize) -> Self {
        Self { ptr: data.as_mut_ptr(), len: data.len(), chunk: chunk.max(1), marker: std::marker::PhantomData }
    }

    /// Number of chunks.
    pub(crate) fn count(&self) -> usize {
        self.len.div_ceil(self.chunk)
    }

    /// Chunk `i`.
    ///
    /// # Safety
    /// Each `i` must be taken at most once while the chunks live (one task per chunk).
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get(&self, i: usize) -> &'a mut [T] {
        let start = (i * self.chunk).min(self.len);
        let end = (start + self.chunk).min(self.len);
        // SAFETY: [start, end) is inside the slice and disjoint from every other chunk; the caller
        // takes it once.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.add(start), end - start) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_task_runs_once_in_contiguous_shares() {
        let team = Team::new(3);
        for tasks in [0, 1, 2, 3, 4, 7, 100] {
            let hits: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            team.run(tasks, &|range| {
                for i in range {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "{tasks} tasks");
        }
    }

    #[test]
    fn parked_helpers_wake_for_the_next_job() {
        let team = Team::new(1);
        let sum = AtomicUsize::new(0);
        team.run(2, &|r| {
            sum.fetch_add(r.sum::<usize>() + 1, Ordering::Relaxed);
        });
        thread::sleep(SPIN * 3); // the helper parks
        team.run(2, &|r| {
            sum.fetch_add(r.sum::<usize>() + 1, Ordering::Relaxed);
        });
        assert_eq!(sum.into_inner(), 2 * (1 + 2));
    }

    #[test]
    fn chunks_write_disjoint_parts() {
        let mut data = vec![0usize; 10];
        let chunks = Chunks::new(&mut data, 4);
        assert_eq!(chunks.count(), 3);
        Team::new(2).run(chunks.count(), &|range| {
            for i in range {
                // SAFETY: one task per chunk.
                for v in unsafe { chunks.get(i) } {
                    *v = i;
                }
            }
        });
        assert_eq!(data, [0, 0, 0, 0, 1, 1, 1, 1, 2, 2]);
    }

    #[test]
    fn try_for_each_chunk_returns_a_chunks_error() {
        for parallel in [false, true] {
            let mut data = vec![0usize; 10];
            let fails_on_chunk_one = |i: usize, c: &mut [usize]| {
                c.fill(i);
                if i == 1 { Err(format!("chunk {i}")) } else { Ok(()) }
            };
            assert_eq!(try_for_each_chunk(&mut data, 4, parallel, fails_on_chunk_one), Err("chunk 1".to_string()));
            let ok = try_for_each_chunk(&mut data, 4, parallel, |i, c: &mut [usize]| {
                c.fill(i + 1);
                Ok::<(), String>(())
            });
            assert_eq!(ok, Ok(()));
            assert_eq!(data, [1, 1, 1, 1, 2, 2, 2, 2, 3, 3], "parallel: {parallel}");
        }
    }

    #[test]
    fn shares_run_once_whether_their_helper_or_the_caller_takes_them() {
        // Helpers polling, parking and waking race the caller for their shares; whoever wins,
        // every task runs exactly once and the run returns only when all have. Which side wins
        // depends on the scheduler, so the test does not assert that both did.
        let team = Team::new(2);
        for round in 0..300 {
            if round % 50 == 0 {
                thread::sleep(SPIN * 3); // the helpers park
            }
            let hits: Vec<AtomicUsize> = (0..3).map(|_| AtomicUsize::new(0)).collect();
            team.run(3, &|range| {
                for i in range {
                    hits[i].fetch_add(1, Ordering::Relaxed);
                }
            });
            assert!(hits.iter().all(|h| h.load(Ordering::Relaxed) == 1), "round {round}");
        }
    }

    #[test]
    fn a_busy_team_runs_the_job_on_the_caller() {
        let team = Team::new(1);
        let _held = team.busy.lock().unwrap();
        let caller = thread::current().id();
        let ran_here = AtomicUsize::new(0);
        team.run(8, &|r| {
            if thread::current().id() == caller {
                ran_here.fetch_add(r.len(), Ordering::Relaxed);
            }
        });
        assert_eq!(ran_here.into_inner(), 8);
    }
}
