//! The registry of the 76 games ALE 0.6 supports: names, canonical ROM md5s, AtariARI
//! membership and name resolution (ROM names, AtariARI keys, gym ids).

use crate::error::AtariError;

/// One game ALE 0.6 supports.
///
/// `name` is the ROM name (snake case): ALE 0.6 picks the game's settings from the ROM *file
/// name*, so a ROM is only ever loaded from a file called `<name>.bin`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Game {
    /// ROM name, e.g. `ms_pacman`.
    pub name: &'static str,
    /// Gym's camel-case name, e.g. `MsPacman` (gym ids are `<gym_name>NoFrameskip-v4`).
    pub gym_name: &'static str,
    /// md5 (lower-case hex) of the canonical dump, as shipped in the `ale-py` wheels and used
    /// by AtariARI.
    pub canonical_md5: &'static str,
    /// Whether AtariARI annotates this game's RAM (24 games).
    pub atariari: bool,
}

impl Game {
    /// AtariARI's key for the game: the ROM name without underscores (`ms_pacman` ->
    /// `mspacman`), which equals AtariARI's key rule applied to the gym id.
    pub fn atariari_key(&self) -> String {
        self.name.replace('_', "")
    }

    /// The gym id AtariARI used for this game, e.g. `MsPacmanNoFrameskip-v4`.
    pub fn gym_id(&self) -> String {
        format!("{}NoFrameskip-v4", self.gym_name)
    }

    /// The file name ALE 0.6 needs for this game's ROM: `<name>.bin`.
    pub fn rom_file_name(&self) -> String {
        format!("{}.bin", self.name)
    }
}

impl std::fmt::Display for Game {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

const fn game(
    name: &'static str,
    gym_name: &'static str,
    canonical_md5: &'static str,
    atariari: bool,
) -> Game {
    Game {
        name,
        gym_name,
        canonical_md5,
        atariari,
    }
}

// ROM names and md5s: the ale-py 0.12.1 wheel's dumps for every game ALE 0.6 supports.
static GAMES: [Game; 76] = [
    game(
        "adventure",
        "Adventure",
        "4b27f5397c442d25f0c418ccdacf1926",
        false,
    ),
    game(
        "air_raid",
        "AirRaid",
        "35be55426c1fec32dfb503b4f0651572",
        false,
    ),
    game("alien", "Alien", "f1a0a23e6464d954e3a9579c4ccd01c8", false),
    game(
        "amidar",
        "Amidar",
        "acb7750b4d0c4bd34969802a7deb2990",
        false,
    ),
    game(
        "assault",
        "Assault",
        "de78b3a064d374390ac0710f95edde92",
        false,
    ),
    game(
        "asterix",
        "Asterix",
        "89a68746eff7f266bbf08de2483abe55",
        false,
    ),
    game(
        "asteroids",
        "Asteroids",
        "ccbd36746ed4525821a8083b0d6d2c2c",
        true,
    ),
    game(
        "atlantis",
        "Atlantis",
        "9ad36e699ef6f45d9eb6c4cf90475c9f",
        false,
    ),
    game(
        "bank_heist",
        "BankHeist",
        "00ce0bdd43aed84a983bef38fe7f5ee3",
        false,
    ),
    game(
        "battle_zone",
        "BattleZone",
        "41f252a66c6301f1e8ab3612c19bc5d4",
        true,
    ),
    game(
        "beam_rider",
        "BeamRider",
        "79ab4123a83dc11d468fb2108ea09e2e",
        false,
    ),
    game(
        "berzerk",
        "Berzerk",
        "136f75c4dd02c29283752b7e5799f978",
        true,
    ),
    game(
        "bowling",
        "Bowling",
        "c9b7afad3bfd922e006a6bfc1d4f3fe7",
        true,
    ),
    game("boxing", "Boxing", "c3ef5c4653212088eda54dc91d787870", true),
    game(
        "breakout",
        "Breakout",
        "f34f08e5eb96e500e851a80be3277a56",
        true,
    ),
    game(
        "carnival",
        "Carnival",
        "028024fb8e5e5f18ea586652f9799c96",
        false,
    ),
    game(
        "centipede",
        "Centipede",
        "91c2098e88a6b13f977af8c003e0bca5",
        false,
    ),
    game(
        "chopper_command",
        "ChopperCommand",
        "c1cb228470a87beb5f36e90ac745da26",
        false,
    ),
    game(
        "crazy_climber",
        "CrazyClimber",
        "55ef7b65066428367844342ed59f956c",
        false,
    ),
    game(
        "defender",
        "Defender",
        "0f643c34e40e3f1daafd9c524d3ffe64",
        false,
    ),
    game(
        "demon_attack",
        "DemonAttack",
        "f0e0addc07971561ab80d9abe1b8d333",
        true,
    ),
    game(
        "donkey_kong",
        "DonkeyKong",
        "36b20c427975760cb9cf4a47e41369e4",
        false,
    ),
    game(
        "double_dunk",
        "DoubleDunk",
        "368d88a6c071caba60b4f778615aae94",
        false,
    ),
    game(
        "elevator_action",
        "ElevatorAction",
        "71f8bacfbdca019113f3f0801849057e",
        false,
    ),
    game(
        "enduro",
        "Enduro",
        "94b92a882f6dbaa6993a46e2dcc58402",
        false,
    ),
    game(
        "fishing_derby",
        "FishingDerby",
        "b8865f05676e64f3bec72b9defdacfa7",
        false,
    ),
    game(
        "freeway",
        "Freeway",
        "8e0ab801b1705a740b476b7f588c6d16",
        true,
    ),
    game(
        "frogger",
        "Frogger",
        "081e2c114c9c20b61acf25fc95c71bf4",
        false,
    ),
    game(
        "frostbite",
        "Frostbite",
        "4ca73eb959299471788f0b685c3ba0b5",
        true,
    ),
    game(
        "galaxian",
        "Galaxian",
        "211774f4c5739042618be8ff67351177",
        false,
    ),
    game(
        "gopher",
        "Gopher",
        "c16c79aad6272baffb8aae9a7fff0864",
        false,
    ),
    game(
        "gravitar",
        "Gravitar",
        "8ac18076d01a6b63acf6e2cab4968940",
        false,
    ),
    game("hero", "Hero", "fca4a5be1251927027f2c24774a02160", true),
    game(
        "ice_hockey",
        "IceHockey",
        "a4c08c4994eb9d24fb78be1793e82e26",
        false,
    ),
    game(
        "jamesbond",
        "Jamesbond",
        "e51030251e440cffaab1ac63438b44ae",
        false,
    ),
    game(
        "journey_escape",
        "JourneyEscape",
        "718ae62c70af4e5fd8e932fee216948a",
        false,
    ),
    game(
        "kaboom",
        "Kaboom",
        "5428cdfada281c569c74c7308c7f2c26",
        false,
    ),
    game(
        "kangaroo",
        "Kangaroo",
        "4326edb70ff20d0ee5ba58fa5cb09d60",
        false,
    ),
    game(
        "keystone_kapers",
        "KeystoneKapers",
        "6c1f3f2e359dbf55df462ccbcdd2f6bf",
        false,
    ),
    game(
        "king_kong",
        "KingKong",
        "0dd4c69b5f9a7ae96a7a08329496779a",
        false,
    ),
    game(
        "koolaid",
        "Koolaid",
        "534e23210dd1993c828d944c6ac4d9fb",
        false,
    ),
    game("krull", "Krull", "4baada22435320d185c95b7dd2bcdb24", false),
    game(
        "kung_fu_master",
        "KungFuMaster",
        "5b92a93b23523ff16e2789b820e2a4c5",
        false,
    ),
    game(
        "laser_gates",
        "LaserGates",
        "8e4cd60d93fcde8065c1a2b972a26377",
        false,
    ),
    game(
        "lost_luggage",
        "LostLuggage",
        "2d76c5d1aad506442b9e9fb67765e051",
        false,
    ),
    game(
        "montezuma_revenge",
        "MontezumaRevenge",
        "3347a6dd59049b15a38394aa2dafa585",
        true,
    ),
    game("mr_do", "MrDo", "aa7bb54d2c189a31bb1fa20099e42859", false),
    game(
        "ms_pacman",
        "MsPacman",
        "87e79cd41ce136fd4f72cc6e2c161bee",
        true,
    ),
    game(
        "name_this_game",
        "NameThisGame",
        "36306070f0c90a72461551a7a4f3a209",
        false,
    ),
    game(
        "phoenix",
        "Phoenix",
        "7e52a95074a66640fcfde124fffd491a",
        false,
    ),
    game(
        "pitfall",
        "Pitfall",
        "3e90cf23106f2e08b2781e41299de556",
        true,
    ),
    game("pong", "Pong", "60e0ea3cbe0913d39803477945e9e5ec", true),
    game(
        "pooyan",
        "Pooyan",
        "4799a40b6e889370b7ee55c17ba65141",
        false,
    ),
    game(
        "private_eye",
        "PrivateEye",
        "ef3a4f64b6494ba770862768caf04b86",
        true,
    ),
    game("qbert", "Qbert", "484b0076816a104875e00467d431c2d2", true),
    game(
        "riverraid",
        "Riverraid",
        "393948436d1f4cc3192410bb918f9724",
        true,
    ),
    game(
        "road_runner",
        "RoadRunner",
        "ce5cc62608be2cd3ed8abd844efb8919",
        false,
    ),
    game(
        "robotank",
        "Robotank",
        "4f618c2429138e0280969193ed6c107e",
        false,
    ),
    game(
        "seaquest",
        "Seaquest",
        "240bfbac5163af4df5ae713985386f92",
        true,
    ),
    game(
        "sir_lancelot",
        "SirLancelot",
        "dd0cbe5351551a538414fb9e37fc56e8",
        false,
    ),
    game("skiing", "Skiing", "b76fbadc8ffb1f83e2ca08b6fb4d6c9f", true),
    game(
        "solaris",
        "Solaris",
        "e72eb8d4410152bdcb69e7fba327b420",
        false,
    ),
    game(
        "space_invaders",
        "SpaceInvaders",
        "72ffbef6504b75e69ee1045af9075f66",
        true,
    ),
    game(
        "star_gunner",
        "StarGunner",
        "a3c1c70024d7aabb41381adbfb6d3b25",
        false,
    ),
    game("tennis", "Tennis", "42cdd6a9e42a3639e190722b8ea3fc51", true),
    game(
        "tetris",
        "Tetris",
        "b0e1ee07fbc73493eac5651a52f90f00",
        false,
    ),
    game(
        "time_pilot",
        "TimePilot",
        "fc2104dd2dadf9a6176c1c1c8f87ced9",
        false,
    ),
    game(
        "trondead",
        "Trondead",
        "fb27afe896e7c928089307b32e5642ee",
        false,
    ),
    game(
        "turmoil",
        "Turmoil",
        "7a5463545dfb2dcfdafa6074b2f2c15e",
        false,
    ),
    game(
        "tutankham",
        "Tutankham",
        "085322bae40d904f53bdcc56df0593fc",
        false,
    ),
    game(
        "up_n_down",
        "UpNDown",
        "a499d720e7ee35c62424de882a3351b6",
        false,
    ),
    game(
        "venture",
        "Venture",
        "3e899eba0ca8cd2972da1ae5479b4f0d",
        true,
    ),
    game(
        "video_pinball",
        "VideoPinball",
        "107cc025334211e6d29da0b6be46aec7",
        true,
    ),
    game(
        "wizard_of_wor",
        "WizardOfWor",
        "7e8aa18bc9502eb57daaf5e7c1e94da7",
        false,
    ),
    game(
        "yars_revenge",
        "YarsRevenge",
        "c5930d0e8cdae3e037349bfa08e871be",
        true,
    ),
    game(
        "zaxxon",
        "Zaxxon",
        "eea0da9b987d661264cce69a7c13c3bd",
        false,
    ),
];

/// All 76 games ALE 0.6 supports, sorted by ROM name.
pub fn all_games() -> &'static [Game] {
    &GAMES
}

/// The 24 games AtariARI annotates, in ROM-name order.
pub fn atariari_games() -> impl Iterator<Item = &'static Game> {
    GAMES.iter().filter(|g| g.atariari)
}

/// The game whose canonical dump has this md5 (lower-case hex), if any.
pub fn game_by_md5(md5: &str) -> Option<&'static Game> {
    GAMES
        .iter()
        .find(|g| g.canonical_md5.eq_ignore_ascii_case(md5))
}

/// AtariARI's key rule on a gym id: cut at the first '-', then at the first "No", then at the
/// first "Deterministic", then lower-case (`MsPacmanNoFrameskip-v4` -> `mspacman`).
pub fn atariari_key_of_env_id(env_id: &str) -> String {
    let cut = |s: &str, pat: &str| s.split(pat).next().unwrap_or("").to_string();
    let s = cut(env_id, "-");
    let s = cut(&s, "No");
    let s = cut(&s, "Deterministic");
    s.to_lowercase()
}

/// Resolves a user-given game name, case-insensitively.
///
/// Accepted forms: the ROM name (`ms_pacman`), the AtariARI key (`mspacman`), gym ids
/// (`MsPacmanNoFrameskip-v4`, `MsPacman-v5`, `MsPacmanDeterministic-v4`, `ALE/MsPacman-v5`,
/// `Pong-ram-v4`), and the camel-case name (`MsPacman`). Everything is reduced with AtariARI's
/// key rule and compared with the ROM name without underscores.
pub fn resolve_game(name: &str) -> Result<&'static Game, AtariError> {
    let unknown = || AtariError::UnknownGame {
        name: name.to_string(),
        known: GAMES.iter().map(|g| g.name).collect(),
    };
    let trimmed = name.trim();
    // A namespace such as `ALE/` comes before the game.
    let base = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if base.is_empty() {
        return Err(unknown());
    }
    let normalise = |s: &str| s.replace('_', "").to_lowercase();
    let mut candidates = vec![normalise(base), normalise(&atariari_key_of_env_id(base))];
    // Lower-cased gym ids (`mspacmannoframeskip-v4`) defeat the case-sensitive "No" cut.
    let mut lower = normalise(base.split('-').next().unwrap_or(""));
    for suffix in ["noframeskip", "deterministic"] {
        if let Some(stripped) = lower.strip_suffix(suffix) {
            lower = stripped.to_string();
        }
    }
    candidates.push(lower);
    for c in &candidates {
        if let Some(g) = GAMES.iter().find(|g| g.name.replace('_', "") == *c) {
            return Ok(g);
        }
    }
    Err(unknown())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_unique_and_sorted() {
        let keys: Vec<String> = GAMES.iter().map(|g| g.atariari_key()).collect();
        let mut dedup = keys.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), 76);
        assert!(GAMES.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(atariari_games().count(), 24);
    }

    #[test]
    fn key_rule_matches_atariari() {
        assert_eq!(atariari_key_of_env_id("MsPacmanNoFrameskip-v4"), "mspacman");
        assert_eq!(
            atariari_key_of_env_id("VideoPinballNoFrameskip-v4"),
            "videopinball"
        );
        assert_eq!(atariari_key_of_env_id("PongDeterministic-v4"), "pong");
        assert_eq!(atariari_key_of_env_id("Pong-v5"), "pong");
    }

    #[test]
    fn every_game_resolves_from_all_its_names() {
        for g in all_games() {
            for n in [
                g.name.to_string(),
                g.atariari_key(),
                g.gym_id(),
                g.gym_id().to_lowercase(),
                format!("{}-v5", g.gym_name),
                format!("ALE/{}-v5", g.gym_name),
                format!("{}Deterministic-v4", g.gym_name),
                g.gym_name.to_string(),
                g.name.to_uppercase(),
            ] {
                assert_eq!(resolve_game(&n).unwrap().name, g.name, "{n}");
            }
        }
    }

    #[test]
    fn unknown_and_empty_names_are_errors() {
        for n in ["", "ALE/", "-v4", "NoFrameskip-v4", "pacman2", "/"] {
            assert!(
                matches!(resolve_game(n), Err(AtariError::UnknownGame { .. })),
                "{n}"
            );
        }
    }
}
