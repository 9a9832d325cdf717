//! Split assignment through the store: deterministic from (seed, stream, index_in_stream),
//! whatever the number of threads or the order episodes complete in; exact per block.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::thread;

use common::spec;
use dimua_buffer::{FrameStore, Split, SplitRule, StoreSpec};

const STREAMS: u32 = 16;

/// Episode lengths of `stream`: 1..=5, between 8 and 37 episodes per stream.
fn lengths(stream: u32) -> Vec<usize> {
    let n = 8 + (stream * 7) % 30;
    (0..n)
        .map(|k| 1 + ((stream + k) * 13 % 5) as usize)
        .collect()
}

fn total_frames() -> usize {
    (0..STREAMS).flat_map(lengths).sum()
}

/// Collects every stream with `threads` threads (streams dealt round-robin, each thread
/// interleaving its streams episode by episode, streams taken in `reverse` order if asked).
fn collect(
    rule: SplitRule,
    seed: u64,
    threads: u32,
    reverse: bool,
) -> BTreeMap<(u32, u32), (Split, usize)> {
    let store = FrameStore::new(StoreSpec {
        split: rule,
        seed,
        ..spec(total_frames(), 4, 1)
    })
    .unwrap();
    let handles: Vec<_> = (0..threads)
        .map(|i| {
            let store = Arc::clone(&store);
            thread::spawn(move || {
                let mut streams: Vec<u32> = (0..STREAMS).filter(|s| s % threads == i).collect();
                if reverse {
                    streams.reverse();
                }
                let mut ws: Vec<_> = streams
                    .iter()
                    .map(|&s| (store.writer(s), lengths(s)))
                    .collect();
                let longest = ws.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
                for k in 0..longest {
                    for (w, lens) in ws.iter_mut() {
                        if let Some(&len) = lens.get(k) {
                            for _ in 0..len {
                                w.push(&[k as u8; 4], &[0]).unwrap();
                            }
                            w.end_episode().unwrap();
                        }
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    store
        .episodes()
        .into_iter()
        .map(|e| ((e.stream, e.index_in_stream), (e.split, e.len())))
        .collect()
}

#[test]
fn same_seed_same_split_whatever_the_thread_count_or_order() {
    let rule = SplitRule::PROBE;
    let reference = collect(rule, 42, 1, false);
    assert_eq!(
        reference.len(),
        (0..STREAMS).map(|s| lengths(s).len()).sum::<usize>()
    );
    for (threads, reverse) in [(1, true), (4, false), (4, true), (3, false), (16, false)] {
        assert_eq!(
            collect(rule, 42, threads, reverse),
            reference,
            "threads {threads}, reverse {reverse}"
        );
    }
    for (&(stream, k), &(split, len)) in &reference {
        assert_eq!(split, rule.split_of(42, stream, k));
        assert_eq!(len, lengths(stream)[k as usize]);
    }
    // Another seed gives another assignment.
    let other = collect(rule, 43, 2, false);
    assert!(other.iter().zip(&reference).any(|(a, b)| a.1 .0 != b.1 .0));
}

#[test]
fn every_full_block_of_a_stream_has_exact_proportions() {
    for rule in [SplitRule::PROBE, SplitRule::PRETRAIN] {
        let eps = collect(rule, 5, 2, false);
        let b = rule.block_len();
        for stream in 0..STREAMS {
            let splits: Vec<Split> = eps
                .range((stream, 0)..(stream + 1, 0))
                .map(|(_, &(s, _))| s)
                .collect();
            for block in splits.chunks_exact(b as usize) {
                let count = |x| block.iter().filter(|&&s| s == x).count() as u32;
                assert_eq!(
                    [count(Split::Train), count(Split::Val), count(Split::Test)],
                    [rule.train, rule.val, rule.test],
                    "stream {stream}"
                );
            }
        }
        if rule.test == 0 {
            assert!(eps.values().all(|&(s, _)| s != Split::Test));
        }
    }
}

#[test]
fn one_episode_per_stream_still_yields_val_and_test() {
    // Ten streams with a single episode each: the per-stream rotation spreads one block
    // over the streams, so the split is exactly 7/1/2 (a per-stream-only rule could give
    // ten train episodes).
    let rule = SplitRule::PROBE;
    for seed in 0..20 {
        let store = FrameStore::new(StoreSpec {
            split: rule,
            seed,
            ..spec(10, 4, 0)
        })
        .unwrap();
        for s in 0..10 {
            let mut w = store.writer(s);
            w.push(&[0; 4], &[]).unwrap();
            w.end_episode().unwrap();
        }
        let eps = store.episodes();
        let count = |x| eps.iter().filter(|e| e.split == x).count();
        assert_eq!(
            [count(Split::Train), count(Split::Val), count(Split::Test)],
            [7, 1, 2]
        );
    }
}
