//! Which thumbnail jobs run: the queue in the gallery's latest priority order, the running jobs
//! and what was delivered. Pure bookkeeping; the loader spawns and aborts, `H` is its handle.

use std::collections::{HashMap, HashSet, VecDeque};

use super::ThumbRequest;

/// An asset id and a size: what a request and a cache file are about.
pub(crate) type Key = (String, u32);

/// The queue, running jobs and delivered answers of one loader.
#[derive(Debug)]
pub(crate) struct Schedule<H> {
    /// Wanted, not started, most urgent first.
    queue: VecDeque<ThumbRequest>,
    /// Started and not finished; the job number tells a cancelled run from a later one.
    running: HashMap<Key, Running<H>>,
    /// Answered and still wanted: not asked for again while they stay wanted.
    delivered: HashSet<Key>,
    next_job: u64,
}

#[derive(Debug)]
struct Running<H> {
    job: u64,
    handle: H,
}

impl<H> Default for Schedule<H> {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            running: HashMap::new(),
            delivered: HashSet::new(),
            next_job: 0,
        }
    }
}

impl<H> Schedule<H> {
    /// Replaces the wanted set (most urgent first). Returns the handles of running jobs that are
    /// no longer wanted, for the caller to abort. Running and delivered requests that stay
    /// wanted are left alone, so an unchanged set changes nothing.
    pub(crate) fn want(&mut self, requests: Vec<ThumbRequest>) -> Vec<H> {
        let mut wanted = HashSet::with_capacity(requests.len());
        let mut queue = VecDeque::new();
        for request in requests {
            let key = request.key();
            if self.running.contains_key(&key) || self.delivered.contains(&key) {
                wanted.insert(key);
            } else if wanted.insert(key) {
                queue.push_back(request);
            }
        }
        self.queue = queue;
        self.delivered.retain(|key| wanted.contains(key));
        self.running
            .extract_if(|key, _| !wanted.contains(key))
            .map(|(_, running)| running.handle)
            .collect()
    }

    /// The most urgent queued request and its job number, if fewer than `limit` jobs run. The
    /// caller starts it and reports its handle with [`Schedule::started`].
    pub(crate) fn next(&mut self, limit: usize) -> Option<(u64, ThumbRequest)> {
        if self.running.len() >= limit {
            return None;
        }
        let request = self.queue.pop_front()?;
        self.next_job += 1;
        Some((self.next_job, request))
    }

    /// Records a started job.
    pub(crate) fn started(&mut self, key: Key, job: u64, handle: H) {
        self.running.insert(key, Running { job, handle });
    }

    /// Records a finished job. `true` when its answer is still wanted and must be delivered;
    /// `false` for a job that was cancelled meanwhile.
    pub(crate) fn finish(&mut self, key: &Key, job: u64) -> bool {
        if self.running.get(key).is_some_and(|r| r.job == job) {
            self.running.remove(key);
            self.delivered.insert(key.clone());
            true
        } else {
            false
        }
    }

    /// Drops everything about an asset; returns the handles of its running jobs.
    pub(crate) fn forget(&mut self, asset_id: &str) -> Vec<H> {
        self.queue.retain(|r| r.asset_id != asset_id);
        self.delivered.retain(|(id, _)| id != asset_id);
        self.running
            .extract_if(|(id, _), _| id == asset_id)
            .map(|(_, running)| running.handle)
            .collect()
    }

    /// Jobs running now.
    pub(crate) fn running_count(&self) -> usize {
        self.running.len()
    }

    /// Requests waiting for a slot.
    pub(crate) fn queued_count(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(id: &str, size_px: u32) -> ThumbRequest {
        ThumbRequest {
            asset_id: id.to_owned(),
            thumbnail_url: None,
            url: Some(format!("http://s/{id}?sig=1")),
            mime_type: Some("image/png".to_owned()),
            size_bytes: None,
            size_px,
        }
    }

    /// Starts every job the limit allows; returns their ids in start order.
    fn start_all(schedule: &mut Schedule<String>, limit: usize) -> Vec<(String, u64)> {
        let mut started = Vec::new();
        while let Some((job, r)) = schedule.next(limit) {
            schedule.started(r.key(), job, format!("{}#{job}", r.asset_id));
            started.push((r.asset_id, job));
        }
        started
    }

    #[test]
    fn runs_in_priority_order_within_the_limit() {
        let mut schedule = Schedule::default();
        let cancelled = schedule.want(vec![request("a", 64), request("b", 64), request("c", 64)]);
        assert!(cancelled.is_empty());
        let started = start_all(&mut schedule, 2);
        assert_eq!(
            started
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(schedule.queued_count(), 1);
        assert!(schedule.finish(&("a".to_owned(), 64), started[0].1));
        assert_eq!(start_all(&mut schedule, 2)[0].0, "c");
    }

    #[test]
    fn a_new_set_cancels_what_left_and_reorders_the_queue() {
        let mut schedule = Schedule::default();
        schedule.want(vec![request("a", 64), request("b", 64), request("c", 64)]);
        let started = start_all(&mut schedule, 1);
        assert_eq!(started[0].0, "a");
        let cancelled = schedule.want(vec![request("c", 64), request("b", 64)]);
        assert_eq!(cancelled, ["a#1"]);
        // A cancelled job's late finish is not delivered.
        assert!(!schedule.finish(&("a".to_owned(), 64), started[0].1));
        let order: Vec<_> = start_all(&mut schedule, 1);
        assert_eq!(order[0].0, "c");
    }

    #[test]
    fn the_same_set_again_changes_nothing() {
        let mut schedule = Schedule::default();
        let set = vec![request("a", 64), request("b", 64), request("a", 64)];
        schedule.want(set.clone());
        assert_eq!(schedule.queued_count(), 2, "duplicates are merged");
        let started = start_all(&mut schedule, 1);
        assert!(schedule.want(set.clone()).is_empty());
        assert_eq!(
            schedule.running_count(),
            1,
            "the running job is not restarted"
        );
        assert_eq!(schedule.queued_count(), 1);
        assert!(schedule.finish(&("a".to_owned(), 64), started[0].1));
        schedule.want(set.clone());
        assert_eq!(
            schedule.queued_count(),
            1,
            "delivered ones are not asked again"
        );
        // Leaving the set and coming back asks again.
        schedule.want(vec![request("b", 64)]);
        schedule.want(set);
        assert_eq!(schedule.queued_count(), 2);
    }

    #[test]
    fn sizes_are_separate_requests() {
        let mut schedule: Schedule<String> = Schedule::default();
        schedule.want(vec![request("a", 64), request("a", 128)]);
        assert_eq!(schedule.queued_count(), 2);
    }

    #[test]
    fn a_restarted_job_is_told_from_the_cancelled_one() {
        let mut schedule = Schedule::default();
        schedule.want(vec![request("a", 64)]);
        let first = start_all(&mut schedule, 4)[0].1;
        schedule.want(Vec::new());
        schedule.want(vec![request("a", 64)]);
        let second = start_all(&mut schedule, 4)[0].1;
        assert!(!schedule.finish(&("a".to_owned(), 64), first));
        assert!(schedule.finish(&("a".to_owned(), 64), second));
    }

    #[test]
    fn forget_drops_every_size_of_an_asset() {
        let mut schedule = Schedule::default();
        schedule.want(vec![request("a", 64), request("a", 128), request("b", 64)]);
        start_all(&mut schedule, 1);
        let cancelled = schedule.forget("a");
        assert_eq!(cancelled, ["a#1"]);
        assert_eq!(schedule.queued_count(), 1);
        assert_eq!(schedule.running_count(), 0);
    }
}
