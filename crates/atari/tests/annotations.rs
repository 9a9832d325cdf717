//! AtariARI's label table: names, RAM indices, order and categories, checked against the
//! expanded table of docs RAM_ANNOTATIONS.md (generated from ram_annotations.py and
//! categorization.py), where tags mean A = agent, S = small object, O = other localization,
//! D = score/clock/lives/display, M = misc, DM = both, `-` = none.

use dimua_atari::{all_games, all_labels, categories_of, labels, resolve_game, Category};

#[test]
fn table_matches_atariari_exactly() {
    let mut total = 0;
    for (key, expected) in EXPECTED {
        let game = resolve_game(key).unwrap();
        assert_eq!(&game.atariari_key(), key);
        let got = labels(game).unwrap_or_else(|| panic!("{key} has labels"));
        assert_eq!(got.len(), expected.len(), "{key}");
        for (label, (name, idx, tag)) in got.iter().zip(expected.iter()) {
            assert_eq!(label.name, *name, "{key}");
            assert_eq!(label.ram_index, *idx, "{key} {name}");
            assert_eq!(label.categories, categories_of(name), "{key} {name}");
            assert_eq!(
                label.categories,
                parse_tag(tag),
                "{key} {name}: rule vs table tag"
            );
        }
        total += got.len();
    }
    assert_eq!(total, 362);
    assert_eq!(EXPECTED.len(), 24);
    assert_eq!(all_labels().count(), 24);
    // Only the 24 AtariARI games have labels, and the registry flag agrees.
    for g in all_games() {
        assert_eq!(labels(g).is_some(), g.atariari, "{}", g.name);
    }
}

#[test]
fn category_rules_cover_the_documented_edge_cases() {
    use Category::*;
    assert_eq!(
        categories_of("num_lives_direction"),
        vec![ScoreClockLivesDisplay, MiscKeys]
    );
    assert_eq!(
        categories_of("player_missile_x1"),
        vec![SmallObjectLocalization]
    );
    assert_eq!(categories_of("player_column"), vec![AgentLocalization]);
    assert_eq!(categories_of("blue_tank_size_y"), vec![OtherLocalization]);
    assert_eq!(
        categories_of("player_left_paddle_y"),
        vec![AgentLocalization]
    );
    assert!(categories_of("tile_color_3").is_empty());
    assert!(categories_of("angle_of_tank").is_empty());
    assert_eq!(categories_of("lifes"), vec![ScoreClockLivesDisplay]);
    assert_eq!(categories_of("game_state"), vec![MiscKeys]);
    assert_eq!(categories_of("agent_z"), vec![AgentLocalization]);
    let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(
        names,
        [
            "agent_localization",
            "small_object_localization",
            "other_localization",
            "score_clock_lives_display",
            "misc_keys"
        ]
    );
}

fn parse_tag(tag: &str) -> Vec<Category> {
    tag.chars()
        .filter_map(|c| match c {
            'A' => Some(Category::AgentLocalization),
            'S' => Some(Category::SmallObjectLocalization),
            'O' => Some(Category::OtherLocalization),
            'D' => Some(Category::ScoreClockLivesDisplay),
            'M' => Some(Category::MiscKeys),
            '-' => None,
            other => panic!("bad tag {other}"),
        })
        .collect()
}

// The "Table" section of docs RAM_ANNOTATIONS.md, one (name, RAM index, tag) per label.
type Table = &'static [(&'static str, &'static [(&'static str, u8, &'static str)])];
#[rustfmt::skip]
static EXPECTED: Table = &[
     (
         "asteroids",
         &[
             ("player_x", 73, "A"),
             ("player_y", 74, "A"),
             ("num_lives_direction", 60, "DM"),
             ("player_score_high", 61, "D"),
             ("player_score_low", 62, "D"),
             ("player_missile_x1", 83, "S"),
             ("player_missile_x2", 84, "S"),
             ("player_missile_y1", 86, "S"),
             ("player_missile_y2", 87, "S"),
             ("player_missile1_direction", 89, "M"),
             ("player_missile2_direction", 90, "M"),
             ("enemy_asteroids_y_0", 3, "O"),
             ("enemy_asteroids_y_1", 4, "O"),
             ("enemy_asteroids_y_2", 5, "O"),
             ("enemy_asteroids_y_3", 6, "O"),
             ("enemy_asteroids_y_4", 7, "O"),
             ("enemy_asteroids_y_5", 8, "O"),
             ("enemy_asteroids_y_6", 9, "O"),
             ("enemy_asteroids_y_7", 12, "O"),
             ("enemy_asteroids_y_8", 13, "O"),
             ("enemy_asteroids_y_9", 14, "O"),
             ("enemy_asteroids_y_10", 15, "O"),
             ("enemy_asteroids_y_11", 16, "O"),
             ("enemy_asteroids_y_12", 17, "O"),
             ("enemy_asteroids_y_13", 18, "O"),
             ("enemy_asteroids_y_14", 19, "O"),
             ("enemy_asteroids_x_0", 21, "O"),
             ("enemy_asteroids_x_1", 22, "O"),
             ("enemy_asteroids_x_2", 23, "O"),
             ("enemy_asteroids_x_3", 24, "O"),
             ("enemy_asteroids_x_4", 25, "O"),
             ("enemy_asteroids_x_5", 26, "O"),
             ("enemy_asteroids_x_6", 27, "O"),
             ("enemy_asteroids_x_7", 30, "O"),
             ("enemy_asteroids_x_8", 31, "O"),
             ("enemy_asteroids_x_9", 32, "O"),
             ("enemy_asteroids_x_10", 33, "O"),
             ("enemy_asteroids_x_11", 34, "O"),
             ("enemy_asteroids_x_12", 35, "O"),
             ("enemy_asteroids_x_13", 36, "O"),
             ("enemy_asteroids_x_14", 37, "O"),
         ],
     ),
     (
         "battlezone",
         &[
             ("blue_tank_facing_direction", 46, "M"),
             ("blue_tank_size_y", 47, "O"),
             ("blue_tank_x", 48, "O"),
             ("blue_tank2_facing_direction", 52, "M"),
             ("blue_tank2_size_y", 53, "O"),
             ("blue_tank2_x", 54, "O"),
             ("num_lives", 58, "D"),
             ("missile_y", 105, "S"),
             ("compass_needles_angle", 84, "-"),
             ("angle_of_tank", 4, "-"),
             ("left_tread_position", 59, "-"),
             ("right_tread_position", 60, "-"),
             ("crosshairs_color", 108, "-"),
             ("score", 29, "D"),
         ],
     ),
     (
         "berzerk",
         &[
             ("player_x", 19, "A"),
             ("player_y", 11, "A"),
             ("player_direction", 14, "M"),
             ("player_missile_x", 22, "S"),
             ("player_missile_y", 23, "S"),
             ("player_missile_direction", 21, "M"),
             ("robot_missile_direction", 26, "M"),
             ("robot_missile_x", 29, "S"),
             ("robot_missile_y", 30, "S"),
             ("num_lives", 90, "D"),
             ("robots_killed_count", 91, "M"),
             ("game_level", 92, "M"),
             ("enemy_evilOtto_x", 46, "O"),
             ("enemy_evilOtto_y", 89, "O"),
             ("enemy_robots_x_0", 65, "O"),
             ("enemy_robots_x_1", 66, "O"),
             ("enemy_robots_x_2", 67, "O"),
             ("enemy_robots_x_3", 68, "O"),
             ("enemy_robots_x_4", 69, "O"),
             ("enemy_robots_x_5", 70, "O"),
             ("enemy_robots_x_6", 71, "O"),
             ("enemy_robots_x_7", 72, "O"),
             ("enemy_robots_y_0", 56, "O"),
             ("enemy_robots_y_1", 57, "O"),
             ("enemy_robots_y_2", 58, "O"),
             ("enemy_robots_y_3", 59, "O"),
             ("enemy_robots_y_4", 60, "O"),
             ("enemy_robots_y_5", 61, "O"),
             ("enemy_robots_y_6", 62, "O"),
             ("enemy_robots_y_7", 63, "O"),
             ("enemy_robots_y_8", 64, "O"),
             ("player_score_0", 93, "D"),
             ("player_score_1", 94, "D"),
             ("player_score_2", 95, "D"),
         ],
     ),
     (
         "bowling",
         &[
             ("ball_x", 30, "S"),
             ("ball_y", 41, "S"),
             ("player_x", 29, "A"),
             ("player_y", 40, "A"),
             ("frame_number_display", 36, "D"),
             ("score", 33, "D"),
             ("pin_existence_0", 57, "M"),
             ("pin_existence_1", 58, "M"),
             ("pin_existence_2", 59, "M"),
             ("pin_existence_3", 60, "M"),
             ("pin_existence_4", 61, "M"),
             ("pin_existence_5", 62, "M"),
             ("pin_existence_6", 63, "M"),
             ("pin_existence_7", 64, "M"),
             ("pin_existence_8", 65, "M"),
             ("pin_existence_9", 66, "M"),
         ],
     ),
     (
         "boxing",
         &[
             ("player_x", 32, "A"),
             ("player_y", 34, "A"),
             ("enemy_x", 33, "O"),
             ("enemy_y", 35, "O"),
             ("enemy_score", 19, "D"),
             ("clock", 17, "D"),
             ("player_score", 18, "D"),
         ],
     ),
     (
         "breakout",
         &[
             ("ball_x", 99, "S"),
             ("ball_y", 101, "S"),
             ("player_x", 72, "A"),
             ("blocks_hit_count", 77, "M"),
             ("score", 84, "D"),
             ("block_bit_map_0", 0, "M"),
             ("block_bit_map_1", 1, "M"),
             ("block_bit_map_2", 2, "M"),
             ("block_bit_map_3", 3, "M"),
             ("block_bit_map_4", 4, "M"),
             ("block_bit_map_5", 5, "M"),
             ("block_bit_map_6", 6, "M"),
             ("block_bit_map_7", 7, "M"),
             ("block_bit_map_8", 8, "M"),
             ("block_bit_map_9", 9, "M"),
             ("block_bit_map_10", 10, "M"),
             ("block_bit_map_11", 11, "M"),
             ("block_bit_map_12", 12, "M"),
             ("block_bit_map_13", 13, "M"),
             ("block_bit_map_14", 14, "M"),
             ("block_bit_map_15", 15, "M"),
             ("block_bit_map_16", 16, "M"),
             ("block_bit_map_17", 17, "M"),
             ("block_bit_map_18", 18, "M"),
             ("block_bit_map_19", 19, "M"),
             ("block_bit_map_20", 20, "M"),
             ("block_bit_map_21", 21, "M"),
             ("block_bit_map_22", 22, "M"),
             ("block_bit_map_23", 23, "M"),
             ("block_bit_map_24", 24, "M"),
             ("block_bit_map_25", 25, "M"),
             ("block_bit_map_26", 26, "M"),
             ("block_bit_map_27", 27, "M"),
             ("block_bit_map_28", 28, "M"),
             ("block_bit_map_29", 29, "M"),
         ],
     ),
     (
         "demonattack",
         &[
             ("level", 62, "M"),
             ("player_x", 22, "A"),
             ("enemy_x1", 17, "O"),
             ("enemy_x2", 18, "O"),
             ("enemy_x3", 19, "O"),
             ("missile_y", 21, "S"),
             ("enemy_y1", 69, "O"),
             ("enemy_y2", 70, "O"),
             ("enemy_y3", 71, "O"),
             ("num_lives", 114, "D"),
         ],
     ),
     (
         "freeway",
         &[
             ("player_y", 14, "A"),
             ("score", 103, "D"),
             ("enemy_car_x_0", 108, "O"),
             ("enemy_car_x_1", 109, "O"),
             ("enemy_car_x_2", 110, "O"),
             ("enemy_car_x_3", 111, "O"),
             ("enemy_car_x_4", 112, "O"),
             ("enemy_car_x_5", 113, "O"),
             ("enemy_car_x_6", 114, "O"),
             ("enemy_car_x_7", 115, "O"),
             ("enemy_car_x_8", 116, "O"),
             ("enemy_car_x_9", 117, "O"),
         ],
     ),
     (
         "frostbite",
         &[
             ("top_row_iceflow_x", 34, "O"),
             ("second_row_iceflow_x", 33, "O"),
             ("third_row_iceflow_x", 32, "O"),
             ("fourth_row_iceflow_x", 31, "O"),
             ("enemy_bear_x", 104, "O"),
             ("num_lives", 76, "D"),
             ("igloo_blocks_count", 77, "M"),
             ("player_x", 102, "A"),
             ("player_y", 100, "A"),
             ("player_direction", 4, "M"),
             ("enemy_x_0", 84, "O"),
             ("enemy_x_1", 85, "O"),
             ("enemy_x_2", 86, "O"),
             ("enemy_x_3", 87, "O"),
             ("score_0", 72, "D"),
             ("score_1", 73, "D"),
             ("score_2", 74, "D"),
         ],
     ),
     (
         "hero",
         &[
             ("player_x", 27, "A"),
             ("player_y", 31, "A"),
             ("power_meter", 43, "D"),
             ("room_number", 28, "M"),
             ("level_number", 117, "M"),
             ("dynamite_count", 50, "M"),
             ("score_0", 56, "D"),
             ("score_1", 57, "D"),
         ],
     ),
     (
         "montezumarevenge",
         &[
             ("room_number", 3, "M"),
             ("player_x", 42, "A"),
             ("player_y", 43, "A"),
             ("player_direction", 52, "M"),
             ("enemy_skull_x", 47, "O"),
             ("enemy_skull_y", 46, "O"),
             ("key_monster_x", 44, "O"),
             ("key_monster_y", 45, "O"),
             ("level", 57, "M"),
             ("num_lives", 58, "D"),
             ("items_in_inventory_count", 61, "M"),
             ("room_state", 62, "M"),
             ("score_0", 19, "D"),
             ("score_1", 20, "D"),
             ("score_2", 21, "D"),
         ],
     ),
     (
         "mspacman",
         &[
             ("enemy_sue_x", 6, "O"),
             ("enemy_inky_x", 7, "O"),
             ("enemy_pinky_x", 8, "O"),
             ("enemy_blinky_x", 9, "O"),
             ("enemy_sue_y", 12, "O"),
             ("enemy_inky_y", 13, "O"),
             ("enemy_pinky_y", 14, "O"),
             ("enemy_blinky_y", 15, "O"),
             ("player_x", 10, "A"),
             ("player_y", 16, "A"),
             ("fruit_x", 11, "O"),
             ("fruit_y", 17, "O"),
             ("ghosts_count", 19, "M"),
             ("player_direction", 56, "M"),
             ("dots_eaten_count", 119, "M"),
             ("player_score", 120, "D"),
             ("num_lives", 123, "D"),
         ],
     ),
     (
         "pitfall",
         &[
             ("player_x", 97, "A"),
             ("player_y", 105, "A"),
             ("enemy_logs_x", 98, "O"),
             ("enemy_scorpion_x", 99, "O"),
             ("bottom_of_rope_y", 18, "O"),
             ("clock_sec", 89, "D"),
             ("clock_min", 88, "D"),
         ],
     ),
     (
         "pong",
         &[
             ("player_y", 51, "A"),
             ("player_x", 46, "A"),
             ("enemy_y", 50, "O"),
             ("enemy_x", 45, "O"),
             ("ball_x", 49, "S"),
             ("ball_y", 54, "S"),
             ("enemy_score", 13, "D"),
             ("player_score", 14, "D"),
         ],
     ),
     (
         "privateeye",
         &[
             ("player_x", 63, "A"),
             ("player_y", 86, "A"),
             ("room_number", 92, "M"),
             ("player_direction", 58, "M"),
             ("dove_x", 48, "O"),
             ("dove_y", 39, "O"),
             ("clock_0", 67, "D"),
             ("clock_1", 69, "D"),
             ("score_0", 73, "D"),
             ("score_1", 74, "D"),
         ],
     ),
     (
         "qbert",
         &[
             ("player_x", 43, "A"),
             ("player_y", 67, "A"),
             ("player_column", 35, "A"),
             ("red_enemy_column", 69, "O"),
             ("green_enemy_column", 105, "O"),
             ("score_0", 89, "D"),
             ("score_1", 90, "D"),
             ("score_2", 91, "D"),
             ("tile_color_0", 21, "-"),
             ("tile_color_1", 52, "-"),
             ("tile_color_2", 54, "-"),
             ("tile_color_3", 83, "-"),
             ("tile_color_4", 85, "-"),
             ("tile_color_5", 87, "-"),
             ("tile_color_6", 98, "-"),
             ("tile_color_7", 100, "-"),
             ("tile_color_8", 102, "-"),
             ("tile_color_9", 104, "-"),
             ("tile_color_10", 1, "-"),
             ("tile_color_11", 3, "-"),
             ("tile_color_12", 5, "-"),
             ("tile_color_13", 7, "-"),
             ("tile_color_14", 9, "-"),
             ("tile_color_15", 32, "-"),
             ("tile_color_16", 34, "-"),
             ("tile_color_17", 36, "-"),
             ("tile_color_18", 38, "-"),
             ("tile_color_19", 40, "-"),
             ("tile_color_20", 42, "-"),
         ],
     ),
     (
         "riverraid",
         &[
             ("player_x", 51, "A"),
             ("missile_x", 117, "S"),
             ("missile_y", 50, "S"),
             ("fuel_meter_high", 55, "D"),
             ("fuel_meter_low", 56, "D"),
         ],
     ),
     (
         "seaquest",
         &[
             ("player_x", 70, "A"),
             ("player_y", 97, "A"),
             ("player_direction", 86, "M"),
             ("player_missile_direction", 87, "M"),
             ("oxygen_meter_value", 102, "D"),
             ("player_missile_x", 103, "S"),
             ("num_lives", 59, "D"),
             ("divers_collected_count", 62, "M"),
             ("enemy_obstacle_x_0", 30, "O"),
             ("enemy_obstacle_x_1", 31, "O"),
             ("enemy_obstacle_x_2", 32, "O"),
             ("enemy_obstacle_x_3", 33, "O"),
             ("diver_or_enemy_missile_x_0", 71, "S"),
             ("diver_or_enemy_missile_x_1", 72, "S"),
             ("diver_or_enemy_missile_x_2", 73, "S"),
             ("diver_or_enemy_missile_x_3", 74, "S"),
             ("score_0", 57, "D"),
             ("score_1", 58, "D"),
         ],
     ),
     (
         "skiing",
         &[
             ("player_x", 25, "A"),
             ("clock_m", 104, "D"),
             ("clock_s", 105, "D"),
             ("clock_ms", 106, "D"),
             ("score", 107, "D"),
             ("object_y_0", 87, "O"),
             ("object_y_1", 88, "O"),
             ("object_y_2", 89, "O"),
             ("object_y_3", 90, "O"),
             ("object_y_4", 91, "O"),
             ("object_y_5", 92, "O"),
             ("object_y_6", 93, "O"),
         ],
     ),
     (
         "spaceinvaders",
         &[
             ("invaders_left_count", 17, "M"),
             ("player_score", 104, "D"),
             ("num_lives", 73, "D"),
             ("player_x", 28, "A"),
             ("enemies_x", 26, "O"),
             ("missiles_y", 9, "S"),
             ("enemies_y", 24, "O"),
         ],
     ),
     (
         "tennis",
         &[
             ("enemy_x", 27, "O"),
             ("enemy_y", 25, "O"),
             ("enemy_score", 70, "D"),
             ("ball_x", 16, "S"),
             ("ball_y", 17, "S"),
             ("player_x", 26, "A"),
             ("player_y", 24, "A"),
             ("player_score", 69, "D"),
         ],
     ),
     (
         "venture",
         &[
             ("sprite0_y", 20, "O"),
             ("sprite1_y", 21, "O"),
             ("sprite2_y", 22, "O"),
             ("sprite3_y", 23, "O"),
             ("sprite4_y", 24, "O"),
             ("sprite5_y", 25, "O"),
             ("sprite0_x", 79, "O"),
             ("sprite1_x", 80, "O"),
             ("sprite2_x", 81, "O"),
             ("sprite3_x", 82, "O"),
             ("sprite4_x", 83, "O"),
             ("sprite5_x", 84, "O"),
             ("player_x", 85, "A"),
             ("player_y", 26, "A"),
             ("current_room", 90, "M"),
             ("num_lives", 70, "D"),
             ("score_1_2", 71, "D"),
             ("score_3_4", 72, "D"),
         ],
     ),
     (
         "videopinball",
         &[
             ("ball_x", 67, "S"),
             ("ball_y", 68, "S"),
             ("player_left_paddle_y", 98, "A"),
             ("player_right_paddle_y", 102, "A"),
             ("score_1", 48, "D"),
             ("score_2", 50, "D"),
         ],
     ),
     (
         "yarsrevenge",
         &[
             ("player_x", 32, "A"),
             ("player_y", 31, "A"),
             ("player_missile_x", 38, "S"),
             ("player_missile_y", 37, "S"),
             ("enemy_x", 43, "O"),
             ("enemy_y", 42, "O"),
             ("enemy_missile_x", 47, "S"),
             ("enemy_missile_y", 46, "S"),
         ],
     ),
];
