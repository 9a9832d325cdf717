//! Single-threaded behaviour of the public API: errors as values, episode bookkeeping,
//! filters and samplers.

mod common;

use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{check_frame, fill_frame, fill_labels, spec, Tag};
use dimua_buffer::{
    BufferError, EpisodeFilter, EpisodeInfo, EpisodeView, EpisodeWriter, FrameStore, Split,
    SplitRule, StoreSpec,
};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

const FB: usize = 16;
const LB: usize = 3;

fn push_tagged(w: &mut EpisodeWriter, attempt: u32, t: u32) -> Result<(), BufferError> {
    let tag = Tag {
        stream: w.stream(),
        attempt,
        t,
    };
    let (mut f, mut l) = (vec![0u8; w.store().spec().frame_bytes], vec![0u8; LB]);
    fill_frame(tag, &mut f);
    fill_labels(tag, &mut l);
    w.push(&f, &l)
}

/// Pushes and publishes an episode of `len` frames.
fn episode(w: &mut EpisodeWriter, attempt: u32, len: u32) -> EpisodeInfo {
    for t in 0..len {
        push_tagged(w, attempt, t).unwrap();
    }
    w.end_episode().unwrap()
}

fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

#[test]
fn full_is_returned_at_capacity_and_the_open_episode_survives() {
    let store = FrameStore::new(spec(5, FB, LB)).unwrap();
    let mut w = store.writer(0);
    for t in 0..5 {
        push_tagged(&mut w, 0, t).unwrap();
    }
    let err = push_tagged(&mut w, 0, 5).unwrap_err();
    assert_eq!(err, BufferError::Full { capacity_frames: 5 });
    assert!(err.is_full());
    assert_eq!(w.open_len(), 5);
    assert_eq!(store.slots_used(), 5);
    let ep = w.end_episode().unwrap();
    assert_eq!(ep.len(), 5);
    for (t, &s) in ep.slots.iter().enumerate() {
        assert_eq!(check_frame(s, store.frame(s)).t, t as u32);
    }
    let mut other = store.writer(1);
    assert!(push_tagged(&mut other, 0, 0).unwrap_err().is_full());
    assert_eq!(store.frames_written(), 5);
}

#[test]
fn wrong_sizes_are_rejected_and_consume_nothing() {
    let store = FrameStore::new(spec(4, FB, LB)).unwrap();
    let mut w = store.writer(0);
    assert_eq!(
        w.push(&[0; FB + 1], &[0; LB]).unwrap_err(),
        BufferError::WrongSize {
            what: "frame",
            expected: FB,
            got: FB + 1
        }
    );
    assert_eq!(
        w.push(&[0; FB], &[0; LB - 1]).unwrap_err(),
        BufferError::WrongSize {
            what: "labels",
            expected: LB,
            got: LB - 1
        }
    );
    assert_eq!(store.slots_used(), 0);
    assert_eq!(w.open_len(), 0);
    assert!(w.end_episode().is_none());
}

#[test]
fn invalid_specs_are_errors() {
    let bad = |f: fn(&mut StoreSpec)| {
        let mut s = spec(10, FB, LB);
        f(&mut s);
        FrameStore::new(s).unwrap_err()
    };
    assert!(matches!(
        bad(|s| s.capacity_frames = 0),
        BufferError::InvalidSpec { .. }
    ));
    assert!(matches!(
        bad(|s| s.frame_bytes = 0),
        BufferError::InvalidSpec { .. }
    ));
    assert!(matches!(
        bad(|s| s.frame_bytes = usize::MAX),
        BufferError::InvalidSpec { .. }
    ));
    assert!(matches!(
        bad(|s| s.split = SplitRule {
            train: 0,
            val: 0,
            test: 0
        }),
        BufferError::InvalidSpec { .. }
    ));
}

#[test]
fn empty_episodes_return_none_and_take_no_index() {
    let store = FrameStore::new(spec(10, FB, LB)).unwrap();
    let mut w = store.writer(3);
    assert!(w.end_episode().is_none());
    assert!(w.end_episode().is_none());
    let ep = episode(&mut w, 0, 2);
    assert_eq!((ep.stream, ep.index_in_stream), (3, 0));
    assert!(w.end_episode().is_none());
    assert_eq!(episode(&mut w, 1, 1).index_in_stream, 1);
    assert_eq!(store.num_episodes(), 2);
}

#[test]
fn discarded_episodes_keep_their_slots_but_are_never_visible() {
    let store = FrameStore::new(spec(10, FB, LB)).unwrap();
    let mut w = store.writer(0);
    for t in 0..3 {
        push_tagged(&mut w, 0, t).unwrap();
    }
    w.discard_episode();
    assert_eq!(w.open_len(), 0);
    let ep = episode(&mut w, 1, 2);
    assert_eq!(ep.index_in_stream, 0, "a discarded episode takes no index");
    assert_eq!(&*ep.slots, &[3, 4]);
    assert_eq!(store.slots_used(), 5);
    assert_eq!(store.frames_written(), 2);
    for s in 0..3 {
        assert!(!store.is_published(s));
        assert!(store.try_frame(s).is_none());
        assert!(store.try_labels(s).is_none());
    }
    let view = EpisodeView::new(&store, EpisodeFilter::all());
    assert_eq!(view.iter_slots().collect::<Vec<_>>(), vec![3, 4]);
}

#[test]
fn dropping_a_writer_discards_its_open_episode() {
    let store = FrameStore::new(spec(10, FB, LB)).unwrap();
    {
        let mut w = store.writer(0);
        push_tagged(&mut w, 0, 0).unwrap();
    }
    assert_eq!(store.num_episodes(), 0);
    assert_eq!(store.slots_used(), 1);
    assert!(!store.is_published(0));
}

#[test]
fn one_live_writer_per_stream_and_indices_continue_across_writers() {
    let store = FrameStore::new(spec(10, FB, LB)).unwrap();
    let mut w = store.writer(5);
    assert_eq!(
        store.try_writer(5).unwrap_err(),
        BufferError::StreamBusy { stream: 5 }
    );
    assert!(store.try_writer(6).is_ok());
    episode(&mut w, 0, 1);
    episode(&mut w, 1, 1);
    drop(w);
    let mut w = store.writer(5);
    assert_eq!(w.next_index(), 2);
    assert_eq!(episode(&mut w, 2, 1).index_in_stream, 2);
}

#[test]
#[should_panic(expected = "already has a live EpisodeWriter")]
fn two_live_writers_for_one_stream_panic() {
    let store = FrameStore::new(spec(10, FB, LB)).unwrap();
    let _a = store.writer(1);
    let _b = store.writer(1);
}

#[test]
fn closed_store_refuses_pushes_but_publishes_open_episodes() {
    let store = FrameStore::new(spec(10, FB, LB)).unwrap();
    let mut w = store.writer(0);
    push_tagged(&mut w, 0, 0).unwrap();
    assert!(!store.is_closed());
    store.close();
    assert!(store.is_closed());
    assert_eq!(push_tagged(&mut w, 0, 1).unwrap_err(), BufferError::Closed);
    assert_eq!(store.slots_used(), 1);
    assert_eq!(w.end_episode().unwrap().len(), 1);
    assert_eq!(store.frames_written(), 1);
}

#[test]
fn zero_label_bytes_are_supported() {
    let store = FrameStore::new(spec(4, FB, 0)).unwrap();
    let mut w = store.writer(0);
    w.push(&[7; FB], &[]).unwrap();
    let ep = w.end_episode().unwrap();
    assert_eq!(store.frame(ep.slots[0]), &[7; FB]);
    assert_eq!(store.labels(ep.slots[0]), &[] as &[u8]);
}

#[test]
fn unpublished_or_out_of_range_slots_are_not_readable() {
    let store = FrameStore::new(spec(4, FB, LB)).unwrap();
    let mut w = store.writer(0);
    push_tagged(&mut w, 0, 0).unwrap();
    assert!(store.try_frame(0).is_none(), "open episode is not readable");
    assert!(store.try_frame(4).is_none());
    assert!(store.try_frame(u32::MAX).is_none());
    assert!(!store.is_published(u32::MAX));
    w.end_episode().unwrap();
    assert!(store.try_frame(0).is_some());
}

#[test]
#[should_panic(expected = "not part of a completed episode")]
fn reading_an_unpublished_slot_panics() {
    let store = FrameStore::new(spec(4, FB, LB)).unwrap();
    store.frame(0);
}

#[test]
fn contiguous_ranges_and_gather() {
    let store = FrameStore::new(spec(8, FB, LB)).unwrap();
    let mut w = store.writer(0);
    let ep = episode(&mut w, 0, 4);
    assert_eq!(&*ep.slots, &[0, 1, 2, 3]);
    let range = store.frames_range(0..4).unwrap();
    let mut gathered = Vec::new();
    store.gather_frames(&ep.slots, &mut gathered);
    assert_eq!(range, &gathered[..]);
    assert_eq!(range.len(), 4 * FB);
    let mut labels = Vec::new();
    store.gather_labels(&ep.slots, &mut labels);
    assert_eq!(store.labels_range(0..4).unwrap(), &labels[..]);
    assert_eq!(store.frames_range(2..2).unwrap().len(), 0);
    push_tagged(&mut w, 1, 0).unwrap();
    assert!(store.frames_range(0..5).is_none(), "slot 4 is still open");
    assert!(store.frames_range(0..9).is_none());
}

#[test]
fn samplers_return_none_when_nothing_is_available() {
    let store = FrameStore::new(spec(10, FB, LB)).unwrap();
    let mut view = EpisodeView::new(&store, EpisodeFilter::all());
    assert!(view.is_empty());
    assert!(view.sample_frames(4, &mut rng(0)).is_none());
    assert!(view.sample_pairs(4, &mut rng(0)).is_none());

    // Only single-frame episodes: frames yes, pairs no.
    let mut w = store.writer(0);
    episode(&mut w, 0, 1);
    episode(&mut w, 1, 1);
    assert_eq!(view.refresh(&store), 2);
    assert_eq!(view.sample_frames(4, &mut rng(0)).unwrap().len(), 4);
    assert!(view.sample_pairs(4, &mut rng(0)).is_none());
    assert_eq!(view.num_pair_episodes(), 0);
    assert_eq!(view.len_pairs(), 0);
    assert_eq!(view.sample_frames(0, &mut rng(0)), Some(vec![]));
}

#[test]
fn pairs_never_wrap_to_the_last_frame() {
    // Regression for the reference's t = 0 -> ep[-1] pairing (PROTOCOL.md §4).
    let store = FrameStore::new(spec(20, FB, LB)).unwrap();
    let mut w = store.writer(0);
    let short = episode(&mut w, 0, 2);
    let view = EpisodeView::new(&store, EpisodeFilter::all());
    for p in view.sample_pairs(200, &mut rng(1)).unwrap() {
        assert_eq!(p, (short.slots[0], short.slots[1]));
    }

    let long = episode(&mut w, 1, 5);
    let view = EpisodeView::new(&store, EpisodeFilter::all().with_min_len(3));
    let mut seen = std::collections::HashSet::new();
    for (a, b) in view.sample_pairs(2000, &mut rng(2)).unwrap() {
        let t = long.slots.iter().position(|&s| s == a).unwrap();
        assert_eq!(long.slots[t + 1], b);
        seen.insert(t);
    }
    assert_eq!(seen.len(), 4, "every t in [0, len - 1) is drawn");
}

#[test]
fn sampling_is_episode_uniform_not_length_weighted() {
    // PROTOCOL.md §4: episodes are drawn uniformly with replacement, so a 2-frame episode
    // gets as many draws as a 200-frame one.
    let store = FrameStore::new(spec(300, FB, LB)).unwrap();
    let mut w = store.writer(0);
    let short = episode(&mut w, 0, 2);
    episode(&mut w, 1, 200);
    let view = EpisodeView::new(&store, EpisodeFilter::all());
    let n = 20_000;
    let from_short = view
        .sample_pairs(n, &mut rng(3))
        .unwrap()
        .iter()
        .filter(|(a, _)| *a == short.slots[0])
        .count();
    // Binomial(20000, 0.5): sd ~ 71, allow ~ 7 sd.
    assert!((from_short as i64 - 10_000).abs() < 500, "{from_short}");
    let frames_short = view
        .sample_frames(n, &mut rng(4))
        .unwrap()
        .iter()
        .filter(|s| short.slots.contains(s))
        .count();
    assert!((frames_short as i64 - 10_000).abs() < 500, "{frames_short}");
}

#[test]
fn filters_select_by_split_and_inclusive_min_len() {
    let store = FrameStore::new(StoreSpec {
        split: SplitRule::PROBE,
        ..spec(1000, FB, LB)
    })
    .unwrap();
    let mut w = store.writer(0);
    let eps: Vec<EpisodeInfo> = (0..20).map(|k| episode(&mut w, k, 1 + k % 6)).collect();
    for split in Split::ALL {
        for min_len in [0, 1, 3, 6, 7] {
            let view = EpisodeView::new(&store, EpisodeFilter::split(split).with_min_len(min_len));
            let want: Vec<&EpisodeInfo> = eps
                .iter()
                .filter(|e| e.split == split && e.len() >= min_len)
                .collect();
            assert_eq!(view.num_episodes(), want.len());
            assert_eq!(
                view.len_frames(),
                want.iter().map(|e| e.len()).sum::<usize>()
            );
            assert_eq!(
                view.len_pairs(),
                want.iter().map(|e| e.len() - 1).sum::<usize>()
            );
        }
    }
}

#[test]
fn iter_slots_covers_every_frame_once_and_refresh_is_incremental() {
    let store = FrameStore::new(spec(200, FB, LB)).unwrap();
    let mut view = EpisodeView::new(&store, EpisodeFilter::all());
    let mut writers: Vec<_> = (0..3).map(|s| store.writer(s)).collect();
    let mut total = 0;
    for round in 0..5u32 {
        for w in writers.iter_mut() {
            total += episode(w, round, 1 + round * 2).len();
        }
        assert_eq!(view.refresh(&store), 3);
        assert_eq!(view.refresh(&store), 0);
    }
    let mut slots: Vec<u32> = view.iter_slots().collect();
    assert_eq!(slots.len(), total);
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), total);
    assert_eq!(view.len_frames(), total);
    assert_eq!(store.frames_written(), total);
}

#[test]
#[should_panic(expected = "not built from")]
fn refreshing_with_another_store_panics() {
    let a = FrameStore::new(spec(4, FB, LB)).unwrap();
    let b = FrameStore::new(spec(4, FB, LB)).unwrap();
    let mut view = EpisodeView::new(&a, EpisodeFilter::all());
    view.refresh(&b);
}

#[test]
fn detached_views_sample_from_a_fixed_list() {
    let store = FrameStore::new(spec(20, FB, LB)).unwrap();
    let mut w = store.writer(0);
    let ep = episode(&mut w, 0, 6);
    // e.g. a deduplicated test episode: keep every other frame
    let thinned = EpisodeInfo {
        slots: ep.slots.iter().copied().step_by(2).collect(),
        ..ep.clone()
    };
    let view =
        EpisodeView::from_episodes([thinned.clone(), ep], EpisodeFilter::all().with_min_len(4));
    assert_eq!(view.num_episodes(), 1);
    assert_eq!(view.len_frames(), 6);
    let view = EpisodeView::from_episodes([thinned], EpisodeFilter::all());
    assert_eq!(view.len_frames(), 3);
}

#[test]
fn wait_for_returns_when_enough_frames_arrive() {
    let store = FrameStore::new(spec(100, FB, LB)).unwrap();
    let writer = {
        let store = Arc::clone(&store);
        thread::spawn(move || {
            let mut w = store.writer(0);
            for k in 0..5 {
                thread::sleep(Duration::from_millis(5));
                episode(&mut w, k, 4);
            }
        })
    };
    let mut view = EpisodeView::new(&store, EpisodeFilter::all());
    assert!(view.wait_for(&store, 12));
    assert!(view.len_frames() >= 12);
    writer.join().unwrap();
    assert!(view.wait_for_pairs(&store, 15));
    assert_eq!(view.len_pairs(), 15);
}

#[test]
fn wait_for_gives_up_when_the_store_is_closed_or_the_timeout_passes() {
    let store = FrameStore::new(spec(100, FB, LB)).unwrap();
    let mut view = EpisodeView::new(&store, EpisodeFilter::all());
    assert!(
        !view.wait_until(&store, Some(Duration::from_millis(20)), |v| v.len_frames()
            > 0)
    );

    let closer = {
        let store = Arc::clone(&store);
        thread::spawn(move || {
            let mut w = store.writer(0);
            episode(&mut w, 0, 3);
            thread::sleep(Duration::from_millis(10));
            store.close();
        })
    };
    assert!(!view.wait_for(&store, 50));
    closer.join().unwrap();
    assert_eq!(
        view.len_frames(),
        3,
        "episodes published before close are seen"
    );
}

#[test]
fn sort_canonical_makes_sampling_reproducible() {
    // Two stores with the same content published in different orders.
    let build = |order: &[u32]| {
        let store = FrameStore::new(spec(100, FB, LB)).unwrap();
        for &s in order {
            let mut w = store.writer(s);
            episode(&mut w, 0, 3 + s);
            episode(&mut w, 1, 2);
        }
        store
    };
    let tags = |store: &Arc<FrameStore>| {
        let mut view = EpisodeView::new(store, EpisodeFilter::all());
        view.sort_canonical();
        view.sample_pairs(50, &mut rng(9))
            .unwrap()
            .into_iter()
            .map(|(a, b)| {
                (
                    check_frame(a, store.frame(a)),
                    check_frame(b, store.frame(b)),
                )
            })
            .collect::<Vec<_>>()
    };
    let a = build(&[0, 1, 2, 3]);
    let b = build(&[3, 1, 0, 2]);
    assert_eq!(tags(&a), tags(&b));
    assert_eq!(a.episodes().len(), 8);
    let keys = |s: &Arc<FrameStore>| {
        s.episodes()
            .iter()
            .map(|e| (e.stream, e.index_in_stream, e.split, e.len()))
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&a), keys(&b));
}

#[test]
fn windows_are_consecutive_within_one_episode_and_position_major() {
    let store = FrameStore::new(spec(20, FB, LB)).unwrap();
    let mut w = store.writer(0);
    let short = episode(&mut w, 0, 2);
    let long = episode(&mut w, 1, 6);
    let view = EpisodeView::new(&store, EpisodeFilter::all());
    // Hand-counted: windows of 3 exist only in the 6-frame episode (6 - 3 + 1 = 4).
    assert_eq!(view.len_windows(3), 4);
    assert_eq!(view.len_windows(2), view.len_pairs());
    assert_eq!(view.len_windows(1), view.len_frames());
    assert_eq!(view.len_windows(7), 0);
    assert!(view.sample_windows(4, 7, &mut rng(0)).is_none());
    assert!(view.sample_windows(4, 0, &mut rng(0)).is_none());
    let n = 500;
    let slots = view.sample_windows(n, 3, &mut rng(3)).unwrap();
    assert_eq!(slots.len(), 3 * n);
    let mut starts = std::collections::HashSet::new();
    for j in 0..n {
        let t = long.slots.iter().position(|&s| s == slots[j]).unwrap();
        assert!(!short.slots.contains(&slots[j]));
        assert_eq!(slots[n + j], long.slots[t + 1]);
        assert_eq!(slots[2 * n + j], long.slots[t + 2]);
        starts.insert(t);
    }
    assert_eq!(starts.len(), 4, "every start 0..=3 is drawn");
}
