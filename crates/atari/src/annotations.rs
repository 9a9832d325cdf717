//! AtariARI's RAM annotations (`ram_annotations.py`) and label categories
//! (`categorization.py`): which RAM bytes are probe targets for each of the 24 games.

use std::sync::OnceLock;

pub use dimua_core::labels::Category;

use crate::games::{all_games, Game};

/// One probe target: a named RAM byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    /// AtariARI's name (list entries expanded to `<name>_<i>`).
    pub name: String,
    /// Index into the 128-byte RAM.
    pub ram_index: u8,
    /// Summary categories, from [`categories_of`]; empty for uncategorised labels.
    pub categories: Vec<Category>,
}

/// AtariARI's category rules applied to a label name (not exclusive; may be empty).
///
/// - localization: contains `_x`, `_y`, `_z` or `_column`;
/// - agent: localization, contains `agent` or `player`, and neither `ball` nor `missile`;
/// - small object: localization and contains `ball` or `missile`;
/// - other: localization and neither of the above;
/// - score/clock/lives/display: `score`, `clock`, `lives`, `lifes`, `meter` or `display`;
/// - misc: `count`, `bit_map`, `existence`, `level`, `room`, `game_state` or `direction`.
pub fn categories_of(name: &str) -> Vec<Category> {
    let has = |pats: &[&str]| pats.iter().any(|p| name.contains(p));
    let mut out = Vec::new();
    let localization = has(&["_x", "_y", "_z", "_column"]);
    let small = localization && has(&["ball", "missile"]);
    let agent = localization && has(&["agent", "player"]) && !has(&["ball", "missile"]);
    if agent {
        out.push(Category::AgentLocalization);
    }
    if small {
        out.push(Category::SmallObjectLocalization);
    }
    if localization && !agent && !small {
        out.push(Category::OtherLocalization);
    }
    if has(&["score", "clock", "lives", "lifes", "meter", "display"]) {
        out.push(Category::ScoreClockLivesDisplay);
    }
    if has(&[
        "count",
        "bit_map",
        "existence",
        "level",
        "room",
        "game_state",
        "direction",
    ]) {
        out.push(Category::MiscKeys);
    }
    out
}

/// One entry of `ram_annotations.py`, before list expansion.
enum Entry {
    Scalar(&'static str, u8),
    List(&'static str, &'static [u8]),
}

struct GameAnnotations {
    key: &'static str,
    entries: &'static [Entry],
}

/// The labels of an AtariARI game in AtariARI's dict order (scalars first, then each list
/// expanded to `<name>_<i>`), or `None` for a game AtariARI does not annotate.
pub fn labels(game: &Game) -> Option<&'static [Label]> {
    static EXPANDED: OnceLock<Vec<(&'static str, Vec<Label>)>> = OnceLock::new();
    let table = EXPANDED.get_or_init(|| TABLE.iter().map(|g| (g.key, expand(g.entries))).collect());
    let key = game.atariari_key();
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, l)| l.as_slice())
}

/// The RAM indices of [`labels`], in label order, or `None` for a non-AtariARI game.
pub fn label_ram_indices(game: &Game) -> Option<Vec<u8>> {
    labels(game).map(|ls| ls.iter().map(|l| l.ram_index).collect())
}

/// Every AtariARI game with its labels, in ROM-name order.
pub fn all_labels() -> impl Iterator<Item = (&'static Game, &'static [Label])> {
    all_games().iter().filter_map(|g| labels(g).map(|l| (g, l)))
}

fn expand(entries: &[Entry]) -> Vec<Label> {
    let label = |name: String, ram_index: u8| Label {
        categories: categories_of(&name),
        name,
        ram_index,
    };
    let mut out = Vec::new();
    for e in entries {
        if let Entry::Scalar(name, idx) = e {
            out.push(label(name.to_string(), *idx));
        }
    }
    for e in entries {
        if let Entry::List(name, idxs) = e {
            for (i, idx) in idxs.iter().enumerate() {
                out.push(label(format!("{name}_{i}"), *idx));
            }
        }
    }
    out
}

// Transcribed from atariari/benchmark/ram_annotations.py (scalar entries in source order; list
// and range entries kept as lists; see docs RAM_ANNOTATIONS.md).
static TABLE: &[GameAnnotations] = &[
    GameAnnotations {
        key: "asteroids",
        entries: &[
            Entry::Scalar("player_x", 73),
            Entry::Scalar("player_y", 74),
            Entry::Scalar("num_lives_direction", 60),
            Entry::Scalar("player_score_high", 61),
            Entry::Scalar("player_score_low", 62),
            Entry::Scalar("player_missile_x1", 83),
            Entry::Scalar("player_missile_x2", 84),
            Entry::Scalar("player_missile_y1", 86),
            Entry::Scalar("player_missile_y2", 87),
            Entry::Scalar("player_missile1_direction", 89),
            Entry::Scalar("player_missile2_direction", 90),
            Entry::List(
                "enemy_asteroids_y",
                &[3, 4, 5, 6, 7, 8, 9, 12, 13, 14, 15, 16, 17, 18, 19],
            ),
            Entry::List(
                "enemy_asteroids_x",
                &[21, 22, 23, 24, 25, 26, 27, 30, 31, 32, 33, 34, 35, 36, 37],
            ),
        ],
    },
    GameAnnotations {
        key: "battlezone",
        entries: &[
            Entry::Scalar("blue_tank_facing_direction", 46),
            Entry::Scalar("blue_tank_size_y", 47),
            Entry::Scalar("blue_tank_x", 48),
            Entry::Scalar("blue_tank2_facing_direction", 52),
            Entry::Scalar("blue_tank2_size_y", 53),
            Entry::Scalar("blue_tank2_x", 54),
            Entry::Scalar("num_lives", 58),
            Entry::Scalar("missile_y", 105),
            Entry::Scalar("compass_needles_angle", 84),
            Entry::Scalar("angle_of_tank", 4),
            Entry::Scalar("left_tread_position", 59),
            Entry::Scalar("right_tread_position", 60),
            Entry::Scalar("crosshairs_color", 108),
            Entry::Scalar("score", 29),
        ],
    },
    GameAnnotations {
        key: "berzerk",
        entries: &[
            Entry::Scalar("player_x", 19),
            Entry::Scalar("player_y", 11),
            Entry::Scalar("player_direction", 14),
            Entry::Scalar("player_missile_x", 22),
            Entry::Scalar("player_missile_y", 23),
            Entry::Scalar("player_missile_direction", 21),
            Entry::Scalar("robot_missile_direction", 26),
            Entry::Scalar("robot_missile_x", 29),
            Entry::Scalar("robot_missile_y", 30),
            Entry::Scalar("num_lives", 90),
            Entry::Scalar("robots_killed_count", 91),
            Entry::Scalar("game_level", 92),
            Entry::Scalar("enemy_evilOtto_x", 46),
            Entry::Scalar("enemy_evilOtto_y", 89),
            Entry::List("enemy_robots_x", &[65, 66, 67, 68, 69, 70, 71, 72]),
            Entry::List("enemy_robots_y", &[56, 57, 58, 59, 60, 61, 62, 63, 64]),
            Entry::List("player_score", &[93, 94, 95]),
        ],
    },
    GameAnnotations {
        key: "bowling",
        entries: &[
            Entry::Scalar("ball_x", 30),
            Entry::Scalar("ball_y", 41),
            Entry::Scalar("player_x", 29),
            Entry::Scalar("player_y", 40),
            Entry::Scalar("frame_number_display", 36),
            Entry::Scalar("score", 33),
            Entry::List("pin_existence", &[57, 58, 59, 60, 61, 62, 63, 64, 65, 66]),
        ],
    },
    GameAnnotations {
        key: "boxing",
        entries: &[
            Entry::Scalar("player_x", 32),
            Entry::Scalar("player_y", 34),
            Entry::Scalar("enemy_x", 33),
            Entry::Scalar("enemy_y", 35),
            Entry::Scalar("enemy_score", 19),
            Entry::Scalar("clock", 17),
            Entry::Scalar("player_score", 18),
        ],
    },
    GameAnnotations {
        key: "breakout",
        entries: &[
            Entry::Scalar("ball_x", 99),
            Entry::Scalar("ball_y", 101),
            Entry::Scalar("player_x", 72),
            Entry::Scalar("blocks_hit_count", 77),
            Entry::Scalar("score", 84),
            Entry::List(
                "block_bit_map",
                &[
                    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21,
                    22, 23, 24, 25, 26, 27, 28, 29,
                ],
            ),
        ],
    },
    GameAnnotations {
        key: "demonattack",
        entries: &[
            Entry::Scalar("level", 62),
            Entry::Scalar("player_x", 22),
            Entry::Scalar("enemy_x1", 17),
            Entry::Scalar("enemy_x2", 18),
            Entry::Scalar("enemy_x3", 19),
            Entry::Scalar("missile_y", 21),
            Entry::Scalar("enemy_y1", 69),
            Entry::Scalar("enemy_y2", 70),
            Entry::Scalar("enemy_y3", 71),
            Entry::Scalar("num_lives", 114),
        ],
    },
    GameAnnotations {
        key: "freeway",
        entries: &[
            Entry::Scalar("player_y", 14),
            Entry::Scalar("score", 103),
            Entry::List(
                "enemy_car_x",
                &[108, 109, 110, 111, 112, 113, 114, 115, 116, 117],
            ),
        ],
    },
    GameAnnotations {
        key: "frostbite",
        entries: &[
            Entry::Scalar("top_row_iceflow_x", 34),
            Entry::Scalar("second_row_iceflow_x", 33),
            Entry::Scalar("third_row_iceflow_x", 32),
            Entry::Scalar("fourth_row_iceflow_x", 31),
            Entry::Scalar("enemy_bear_x", 104),
            Entry::Scalar("num_lives", 76),
            Entry::Scalar("igloo_blocks_count", 77),
            Entry::Scalar("player_x", 102),
            Entry::Scalar("player_y", 100),
            Entry::Scalar("player_direction", 4),
            Entry::List("enemy_x", &[84, 85, 86, 87]),
            Entry::List("score", &[72, 73, 74]),
        ],
    },
    GameAnnotations {
        key: "hero",
        entries: &[
            Entry::Scalar("player_x", 27),
            Entry::Scalar("player_y", 31),
            Entry::Scalar("power_meter", 43),
            Entry::Scalar("room_number", 28),
            Entry::Scalar("level_number", 117),
            Entry::Scalar("dynamite_count", 50),
            Entry::List("score", &[56, 57]),
        ],
    },
    GameAnnotations {
        key: "montezumarevenge",
        entries: &[
            Entry::Scalar("room_number", 3),
            Entry::Scalar("player_x", 42),
            Entry::Scalar("player_y", 43),
            Entry::Scalar("player_direction", 52),
            Entry::Scalar("enemy_skull_x", 47),
            Entry::Scalar("enemy_skull_y", 46),
            Entry::Scalar("key_monster_x", 44),
            Entry::Scalar("key_monster_y", 45),
            Entry::Scalar("level", 57),
            Entry::Scalar("num_lives", 58),
            Entry::Scalar("items_in_inventory_count", 61),
            Entry::Scalar("room_state", 62),
            Entry::Scalar("score_0", 19),
            Entry::Scalar("score_1", 20),
            Entry::Scalar("score_2", 21),
        ],
    },
    GameAnnotations {
        key: "mspacman",
        entries: &[
            Entry::Scalar("enemy_sue_x", 6),
            Entry::Scalar("enemy_inky_x", 7),
            Entry::Scalar("enemy_pinky_x", 8),
            Entry::Scalar("enemy_blinky_x", 9),
            Entry::Scalar("enemy_sue_y", 12),
            Entry::Scalar("enemy_inky_y", 13),
            Entry::Scalar("enemy_pinky_y", 14),
            Entry::Scalar("enemy_blinky_y", 15),
            Entry::Scalar("player_x", 10),
            Entry::Scalar("player_y", 16),
            Entry::Scalar("fruit_x", 11),
            Entry::Scalar("fruit_y", 17),
            Entry::Scalar("ghosts_count", 19),
            Entry::Scalar("player_direction", 56),
            Entry::Scalar("dots_eaten_count", 119),
            Entry::Scalar("player_score", 120),
            Entry::Scalar("num_lives", 123),
        ],
    },
    GameAnnotations {
        key: "pitfall",
        entries: &[
            Entry::Scalar("player_x", 97),
            Entry::Scalar("player_y", 105),
            Entry::Scalar("enemy_logs_x", 98),
            Entry::Scalar("enemy_scorpion_x", 99),
            Entry::Scalar("bottom_of_rope_y", 18),
            Entry::Scalar("clock_sec", 89),
            Entry::Scalar("clock_min", 88),
        ],
    },
    GameAnnotations {
        key: "pong",
        entries: &[
            Entry::Scalar("player_y", 51),
            Entry::Scalar("player_x", 46),
            Entry::Scalar("enemy_y", 50),
            Entry::Scalar("enemy_x", 45),
            Entry::Scalar("ball_x", 49),
            Entry::Scalar("ball_y", 54),
            Entry::Scalar("enemy_score", 13),
            Entry::Scalar("player_score", 14),
        ],
    },
    GameAnnotations {
        key: "privateeye",
        entries: &[
            Entry::Scalar("player_x", 63),
            Entry::Scalar("player_y", 86),
            Entry::Scalar("room_number", 92),
            Entry::Scalar("player_direction", 58),
            Entry::Scalar("dove_x", 48),
            Entry::Scalar("dove_y", 39),
            Entry::List("clock", &[67, 69]),
            Entry::List("score", &[73, 74]),
        ],
    },
    GameAnnotations {
        key: "qbert",
        entries: &[
            Entry::Scalar("player_x", 43),
            Entry::Scalar("player_y", 67),
            Entry::Scalar("player_column", 35),
            Entry::Scalar("red_enemy_column", 69),
            Entry::Scalar("green_enemy_column", 105),
            Entry::List("score", &[89, 90, 91]),
            Entry::List(
                "tile_color",
                &[
                    21, 52, 54, 83, 85, 87, 98, 100, 102, 104, 1, 3, 5, 7, 9, 32, 34, 36, 38, 40,
                    42,
                ],
            ),
        ],
    },
    GameAnnotations {
        key: "riverraid",
        entries: &[
            Entry::Scalar("player_x", 51),
            Entry::Scalar("missile_x", 117),
            Entry::Scalar("missile_y", 50),
            Entry::Scalar("fuel_meter_high", 55),
            Entry::Scalar("fuel_meter_low", 56),
        ],
    },
    GameAnnotations {
        key: "seaquest",
        entries: &[
            Entry::Scalar("player_x", 70),
            Entry::Scalar("player_y", 97),
            Entry::Scalar("player_direction", 86),
            Entry::Scalar("player_missile_direction", 87),
            Entry::Scalar("oxygen_meter_value", 102),
            Entry::Scalar("player_missile_x", 103),
            Entry::Scalar("num_lives", 59),
            Entry::Scalar("divers_collected_count", 62),
            Entry::List("enemy_obstacle_x", &[30, 31, 32, 33]),
            Entry::List("diver_or_enemy_missile_x", &[71, 72, 73, 74]),
            Entry::List("score", &[57, 58]),
        ],
    },
    GameAnnotations {
        key: "skiing",
        entries: &[
            Entry::Scalar("player_x", 25),
            Entry::Scalar("clock_m", 104),
            Entry::Scalar("clock_s", 105),
            Entry::Scalar("clock_ms", 106),
            Entry::Scalar("score", 107),
            Entry::List("object_y", &[87, 88, 89, 90, 91, 92, 93]),
        ],
    },
    GameAnnotations {
        key: "spaceinvaders",
        entries: &[
            Entry::Scalar("invaders_left_count", 17),
            Entry::Scalar("player_score", 104),
            Entry::Scalar("num_lives", 73),
            Entry::Scalar("player_x", 28),
            Entry::Scalar("enemies_x", 26),
            Entry::Scalar("missiles_y", 9),
            Entry::Scalar("enemies_y", 24),
        ],
    },
    GameAnnotations {
        key: "tennis",
        entries: &[
            Entry::Scalar("enemy_x", 27),
            Entry::Scalar("enemy_y", 25),
            Entry::Scalar("enemy_score", 70),
            Entry::Scalar("ball_x", 16),
            Entry::Scalar("ball_y", 17),
            Entry::Scalar("player_x", 26),
            Entry::Scalar("player_y", 24),
            Entry::Scalar("player_score", 69),
        ],
    },
    GameAnnotations {
        key: "venture",
        entries: &[
            Entry::Scalar("sprite0_y", 20),
            Entry::Scalar("sprite1_y", 21),
            Entry::Scalar("sprite2_y", 22),
            Entry::Scalar("sprite3_y", 23),
            Entry::Scalar("sprite4_y", 24),
            Entry::Scalar("sprite5_y", 25),
            Entry::Scalar("sprite0_x", 79),
            Entry::Scalar("sprite1_x", 80),
            Entry::Scalar("sprite2_x", 81),
            Entry::Scalar("sprite3_x", 82),
            Entry::Scalar("sprite4_x", 83),
            Entry::Scalar("sprite5_x", 84),
            Entry::Scalar("player_x", 85),
            Entry::Scalar("player_y", 26),
            Entry::Scalar("current_room", 90),
            Entry::Scalar("num_lives", 70),
            Entry::Scalar("score_1_2", 71),
            Entry::Scalar("score_3_4", 72),
        ],
    },
    GameAnnotations {
        key: "videopinball",
        entries: &[
            Entry::Scalar("ball_x", 67),
            Entry::Scalar("ball_y", 68),
            Entry::Scalar("player_left_paddle_y", 98),
            Entry::Scalar("player_right_paddle_y", 102),
            Entry::Scalar("score_1", 48),
            Entry::Scalar("score_2", 50),
        ],
    },
    GameAnnotations {
        key: "yarsrevenge",
        entries: &[
            Entry::Scalar("player_x", 32),
            Entry::Scalar("player_y", 31),
            Entry::Scalar("player_missile_x", 38),
            Entry::Scalar("player_missile_y", 37),
            Entry::Scalar("enemy_x", 43),
            Entry::Scalar("enemy_y", 42),
            Entry::Scalar("enemy_missile_x", 47),
            Entry::Scalar("enemy_missile_y", 46),
        ],
    },
];
