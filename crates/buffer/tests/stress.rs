//! Concurrency stress: writer threads append episodes of random lengths while reader threads
//! sample frames and pairs and verify every byte; afterwards nothing may be lost or torn.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Barrier};
use std::thread;

use common::{check_frame, check_labels, fill_frame, fill_labels, spec, Tag};
use dimua_buffer::{BufferError, EpisodeFilter, EpisodeInfo, EpisodeView, FrameStore, Split};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `(length, discard?)` of each episode attempt of `stream`; deterministic per stream.
fn plan(stream: u32, attempts: u32, max_len: u32) -> Vec<(u32, bool)> {
    let mut rng = ChaCha8Rng::seed_from_u64(1000 + stream as u64);
    (0..attempts)
        .map(|a| (rng.gen_range(1..=max_len), a % 7 == 3))
        .collect()
}

/// One published episode as recorded by its writer.
struct Record {
    attempt: u32,
    info: EpisodeInfo,
}

/// Drives `streams` round-robin (one step per stream per round, like a vector env) until
/// every plan is done or the store is full; returns what each stream published.
fn run_writer(
    store: &Arc<FrameStore>,
    streams: &[u32],
    attempts: u32,
    max_len: u32,
    stop_when_full: bool,
) -> Vec<Record> {
    let fb = store.spec().frame_bytes;
    let lb = store.spec().label_bytes;
    let mut frame = vec![0u8; fb];
    let mut labels = vec![0u8; lb];
    let mut state: Vec<_> = streams
        .iter()
        .map(|&s| (store.writer(s), plan(s, attempts, max_len), 0u32, 0u32))
        .collect();
    let mut out = Vec::new();
    loop {
        let mut active = false;
        for (w, plan, attempt, t) in state.iter_mut() {
            let Some(&(len, discard)) = plan.get(*attempt as usize) else {
                continue;
            };
            active = true;
            let tag = Tag {
                stream: w.stream(),
                attempt: *attempt,
                t: *t,
            };
            fill_frame(tag, &mut frame);
            fill_labels(tag, &mut labels);
            match w.push(&frame, &labels) {
                Ok(()) => *t += 1,
                Err(BufferError::Full { .. }) if stop_when_full => {
                    // Publish the partial episode and stop this stream.
                    if let Some(info) = w.end_episode() {
                        out.push(Record {
                            attempt: *attempt,
                            info,
                        });
                    }
                    plan.clear();
                    continue;
                }
                Err(e) => panic!("push failed: {e}"),
            }
            if *t == len {
                if discard {
                    w.discard_episode();
                } else {
                    let info = w.end_episode().expect("non-empty episode");
                    assert_eq!(info.len(), len as usize);
                    out.push(Record {
                        attempt: *attempt,
                        info,
                    });
                }
                *attempt += 1;
                *t = 0;
            }
        }
        if !active {
            return out;
        }
        // Give readers (and other writers) a chance to interleave on small machines.
        thread::yield_now();
    }
}

/// Reads sampled pairs and frames until the store is closed; returns the number of sampling
/// rounds done while collection was still running.
fn run_reader(store: &FrameStore, filter: EpisodeFilter, seed: u64) -> usize {
    let mut view = EpisodeView::new(store, filter);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut rounds_while_open = 0;
    let mut seen_episodes = 0;
    loop {
        // Read `closed` before refreshing: the last round then sees every episode.
        let closed = store.is_closed();
        view.refresh(store);
        for ep in &view.episodes()[seen_episodes..] {
            assert!(filter.matches(ep));
        }
        seen_episodes = view.num_episodes();
        if let Some(pairs) = view.sample_pairs(64, &mut rng) {
            for (a, b) in pairs {
                let ta = check_frame(a, store.frame(a));
                check_labels(a, ta, store.labels(a));
                let tb = check_frame(b, store.frame(b));
                check_labels(b, tb, store.labels(b));
                assert_eq!((ta.stream, ta.attempt), (tb.stream, tb.attempt));
                assert_eq!(ta.t + 1, tb.t, "pair ({a}, {b}) is not consecutive");
            }
            if !closed {
                rounds_while_open += 1;
            }
        }
        if let Some(frames) = view.sample_frames(16, &mut rng) {
            for s in frames {
                let tag = check_frame(s, store.frame(s));
                check_labels(s, tag, store.labels(s));
            }
        }
        if closed {
            return rounds_while_open;
        }
        thread::yield_now();
    }
}

/// Checks the store against the writers' records after all threads are joined.
fn verify_final(store: &FrameStore, records: &[Record]) {
    let eps = store.episodes();
    assert_eq!(eps.len(), records.len());
    assert_eq!(store.num_episodes(), records.len());

    let by_key: BTreeMap<(u32, u32), &Record> = records
        .iter()
        .map(|r| ((r.info.stream, r.info.index_in_stream), r))
        .collect();
    assert_eq!(
        by_key.len(),
        records.len(),
        "duplicate (stream, index_in_stream)"
    );

    let spec = store.spec();
    let mut slots_seen = HashSet::new();
    let mut next_index: BTreeMap<u32, u32> = BTreeMap::new();
    for ep in &eps {
        let rec = by_key[&(ep.stream, ep.index_in_stream)];
        assert_eq!(&rec.info, ep);
        // Indices of a stream are 0, 1, 2, ... (sorted order), discards take none.
        let want = next_index.entry(ep.stream).or_insert(0);
        assert_eq!(ep.index_in_stream, *want);
        *want += 1;
        assert_eq!(
            ep.split,
            spec.split
                .split_of(spec.seed, ep.stream, ep.index_in_stream)
        );
        for (t, &slot) in ep.slots.iter().enumerate() {
            assert!((slot as usize) < store.capacity());
            assert!(slots_seen.insert(slot), "slot {slot} in two episodes");
            let tag = check_frame(slot, store.frame(slot));
            check_labels(slot, tag, store.labels(slot));
            assert_eq!(
                tag,
                Tag {
                    stream: ep.stream,
                    attempt: rec.attempt,
                    t: t as u32
                }
            );
        }
    }
    assert_eq!(slots_seen.len(), store.frames_written());
    // Slots of discarded (or open) episodes exist but are never readable.
    for slot in 0..store.capacity() as u32 {
        assert_eq!(store.is_published(slot), slots_seen.contains(&slot));
    }

    let view = EpisodeView::new(store, EpisodeFilter::all());
    let mut from_view: Vec<u32> = view.iter_slots().collect();
    assert_eq!(from_view.len(), store.frames_written());
    assert_eq!(view.len_frames(), store.frames_written());
    from_view.sort_unstable();
    from_view.dedup();
    assert_eq!(from_view.len(), slots_seen.len());
}

#[test]
fn concurrent_writers_and_readers_lose_and_tear_nothing() {
    const WRITERS: u32 = 4;
    const STREAMS_PER_WRITER: u32 = 3;
    const ATTEMPTS: u32 = 200;
    const MAX_LEN: u32 = 80;
    const FRAME: usize = 263; // odd on purpose: no word-aligned stride
    let total_pushes: usize = (0..WRITERS * STREAMS_PER_WRITER)
        .flat_map(|s| plan(s, ATTEMPTS, MAX_LEN))
        .map(|(len, _)| len as usize)
        .sum();
    let published_frames: usize = (0..WRITERS * STREAMS_PER_WRITER)
        .flat_map(|s| plan(s, ATTEMPTS, MAX_LEN))
        .filter(|&(_, discard)| !discard)
        .map(|(len, _)| len as usize)
        .sum();
    // Exactly enough room: the capacity bound is hit precisely at the end.
    let store = FrameStore::new(spec(total_pushes, FRAME, 7)).unwrap();

    let filters = [
        EpisodeFilter::all(),
        EpisodeFilter::split(Split::Train).with_min_len(10),
        EpisodeFilter::split(Split::Test),
    ];
    let barrier = Arc::new(Barrier::new(WRITERS as usize + filters.len()));
    let readers: Vec<_> = filters
        .iter()
        .enumerate()
        .map(|(i, &filter)| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                run_reader(&store, filter, i as u64)
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            thread::spawn(move || {
                let streams: Vec<u32> = (0..STREAMS_PER_WRITER)
                    .map(|j| w * STREAMS_PER_WRITER + j)
                    .collect();
                barrier.wait();
                run_writer(&store, &streams, ATTEMPTS, MAX_LEN, false)
            })
        })
        .collect();
    let records: Vec<Record> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    // The store is exactly full now.
    assert_eq!(store.slots_used(), total_pushes);
    assert_eq!(store.remaining(), 0);
    let mut extra = store.writer(999);
    let err = extra.push(&[0; FRAME], &[0; 7]).unwrap_err();
    assert_eq!(
        err,
        BufferError::Full {
            capacity_frames: total_pushes
        }
    );
    assert_eq!(extra.end_episode(), None);
    assert_eq!(store.slots_used(), total_pushes);

    store.close();
    let rounds: Vec<usize> = readers.into_iter().map(|h| h.join().unwrap()).collect();
    eprintln!("reader rounds while writers ran: {rounds:?}");
    assert!(
        rounds[0] > 0,
        "the unfiltered reader never sampled while writers ran: {rounds:?}"
    );

    assert_eq!(store.frames_written(), published_frames);
    verify_final(&store, &records);
}

#[test]
fn writers_racing_for_the_last_slots_get_full_and_keep_everything_consistent() {
    const WRITERS: u32 = 4;
    let capacity = 3000; // far less than the plans ask for
    let store = FrameStore::new(spec(capacity, 64, 3)).unwrap();
    let barrier = Arc::new(Barrier::new(WRITERS as usize + 1));
    let reader = {
        let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
        thread::spawn(move || {
            barrier.wait();
            run_reader(&store, EpisodeFilter::all(), 9)
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, barrier) = (Arc::clone(&store), Arc::clone(&barrier));
            thread::spawn(move || {
                barrier.wait();
                run_writer(&store, &[2 * w, 2 * w + 1], 1000, 50, true)
            })
        })
        .collect();
    let records: Vec<Record> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    store.close();
    reader.join().unwrap();

    assert_eq!(store.slots_used(), capacity);
    // Every slot went to a published or a discarded episode; partial episodes were published.
    let discarded = capacity - store.frames_written();
    assert!(discarded < capacity);
    verify_final(&store, &records);
}

#[test]
fn full_size_atari_frames_round_trip_under_concurrency() {
    // 210 x 160 grayscale frames and a realistic label count.
    const FRAME: usize = 210 * 160;
    let store = FrameStore::new(spec(400, FRAME, 25)).unwrap();
    let reader = {
        let store = Arc::clone(&store);
        thread::spawn(move || run_reader(&store, EpisodeFilter::all(), 5))
    };
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let store = Arc::clone(&store);
            thread::spawn(move || run_writer(&store, &[w * 2, w * 2 + 1], 1000, 40, true))
        })
        .collect();
    let records: Vec<Record> = writers
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    store.close();
    reader.join().unwrap();
    assert_eq!(store.slots_used(), 400);
    verify_final(&store, &records);
}
