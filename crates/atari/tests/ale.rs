//! The raw emulator handle: settings, palette agreement with `getScreenRGB`, bad input.

mod common;

use dimua_atari::{all_games, Ale, AtariError, SCREEN_PIXELS};

use rand::{Rng, SeedableRng};

/// Our palette lookup (used for observations) must agree with ALE's own `getScreenRGB` on
/// every game: a PAL/SECAM game or a palette typo would show up here.
#[test]
fn palette_lookup_matches_get_screen_rgb_for_every_game() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut palettes = Vec::new();
    for game in all_games() {
        let rom = common::rom(game.name);
        let mut ale = Ale::new(&rom, 123).unwrap();
        let mut idx = vec![0u8; ale.screen_pixels()];
        let mut rgb = vec![0u8; 3 * ale.screen_pixels()];
        if game.atariari {
            assert_eq!((ale.height(), ale.width()), (210, 160), "{}", game.name);
        }
        let actions = ale.minimal_action_set().to_vec();
        let mut seen = [false; 256];
        for frame in 0..600 {
            let a = actions[rng.gen_range(0..actions.len())];
            ale.act(a).unwrap();
            if ale.game_over() {
                ale.reset_game();
            }
            if frame % 50 == 49 {
                ale.screen(&mut idx).unwrap();
                ale.screen_rgb(&mut rgb).unwrap();
                let palette = ale.palette();
                for (i, &p) in idx.iter().enumerate() {
                    seen[p as usize] = true;
                    assert_eq!(
                        palette.rgb(p),
                        rgb[3 * i..3 * i + 3],
                        "{}: pixel {i} index {p}",
                        game.name
                    );
                }
            }
        }
        assert!(seen.iter().filter(|&&s| s).count() >= 2, "{}", game.name);
        assert!(ale.palette_resolved(), "{}", game.name);
        palettes.push(format!("{}={:?}", game.name, ale.palette()));
    }
    eprintln!("{}", palettes.join(" "));
}

#[test]
fn seed_zero_and_oversized_seeds_are_refused() {
    let rom = common::rom("pong");
    assert!(matches!(
        Ale::new(&rom, 0),
        Err(AtariError::InvalidSeed { seed: 0 })
    ));
    assert!(matches!(
        Ale::new(&rom, i32::MAX as u32 + 1),
        Err(AtariError::InvalidSeed { .. })
    ));
    assert!(Ale::new(&rom, i32::MAX as u32).is_ok());
}

#[test]
fn bad_actions_and_buffers_are_errors_not_panics() {
    let rom = common::rom("breakout");
    let mut ale = Ale::new(&rom, 1).unwrap();
    assert!(matches!(ale.act(18), Err(AtariError::InvalidAction { .. })));
    assert!(matches!(ale.act(-1), Err(AtariError::InvalidAction { .. })));
    assert!(matches!(
        ale.screen(&mut [0u8; 10]),
        Err(AtariError::BufferSize { .. })
    ));
    assert!(matches!(
        ale.screen_rgb(&mut vec![0u8; SCREEN_PIXELS]),
        Err(AtariError::BufferSize { .. })
    ));
    assert_eq!(ale.minimal_action_set(), &[0, 1, 3, 4]);
    assert_eq!(ale.lives(), 5);
}

/// The emulator is deterministic for a fixed non-zero seed, also with instances on
/// several threads at once (one per thread, built concurrently).
#[test]
fn instances_on_threads_are_deterministic() {
    let rom = common::rom("seaquest");
    let run = |rom: dimua_atari::Rom| {
        std::thread::spawn(move || {
            let mut ale = Ale::new(&rom, 99).unwrap();
            let actions = ale.minimal_action_set().to_vec();
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
            let mut ram = [0u8; 128];
            let mut trace = Vec::new();
            for _ in 0..500 {
                ale.act(actions[rng.gen_range(0..actions.len())]).unwrap();
                ale.ram(&mut ram);
                trace.extend_from_slice(&ram);
            }
            trace
        })
    };
    let handles: Vec<_> = (0..4).map(|_| run(rom.clone())).collect();
    let traces: Vec<Vec<u8>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(traces.windows(2).all(|w| w[0] == w[1]));
}
