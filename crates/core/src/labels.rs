//! AtariARI's five summary categories and [`LabelSpec`] (a label name plus its
//! categories), shared by the annotations (atari) and the probes.

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Invalid label specifications.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// A category string is not one of the five AtariARI summary categories.
    #[error("unknown category {name:?} (known: {known})")]
    UnknownCategory {
        /// The string given.
        name: String,
        /// The known names, comma-separated.
        known: String,
    },
    /// The same label name occurs twice.
    #[error("label {name:?} appears more than once")]
    DuplicateLabel {
        /// The repeated name.
        name: String,
    },
    /// Parallel lists of names and categories differ in length.
    #[error("length mismatch in label names vs label categories: {names} vs {categories}")]
    NamesVsCategories {
        /// Label names given.
        names: usize,
        /// Category lists given.
        categories: usize,
    },
}

/// An AtariARI summary category (`categorization.summary_key_dict`), used to average probe
/// scores. Categories are not exclusive: a label may be in 0, 1 or 2 of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// `agent_localization`: position of the player/agent.
    AgentLocalization,
    /// `small_object_localization`: position of balls and missiles.
    SmallObjectLocalization,
    /// `other_localization`: position of every other object (enemies, obstacles).
    OtherLocalization,
    /// `score_clock_lives_display`: score, clock, lives, meters and displays.
    ScoreClockLivesDisplay,
    /// `misc_keys`: counts, bit maps, levels/rooms and directions.
    MiscKeys,
}

impl Category {
    /// All five categories, in AtariARI's (and the reports') order.
    pub const ALL: [Category; 5] = [
        Category::AgentLocalization,
        Category::SmallObjectLocalization,
        Category::OtherLocalization,
        Category::ScoreClockLivesDisplay,
        Category::MiscKeys,
    ];

    /// AtariARI's snake_case name: the JSON name and the metric prefix
    /// (`agent_localization_avg_f1`).
    pub fn as_str(self) -> &'static str {
        match self {
            Category::AgentLocalization => "agent_localization",
            Category::SmallObjectLocalization => "small_object_localization",
            Category::OtherLocalization => "other_localization",
            Category::ScoreClockLivesDisplay => "score_clock_lives_display",
            Category::MiscKeys => "misc_keys",
        }
    }

    /// A short column heading for Markdown tables.
    pub fn short(self) -> &'static str {
        match self {
            Category::AgentLocalization => "agent",
            Category::SmallObjectLocalization => "small obj",
            Category::OtherLocalization => "other",
            Category::ScoreClockLivesDisplay => "score/clock/lives",
            Category::MiscKeys => "misc",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = LabelError;

    fn from_str(s: &str) -> Result<Self, LabelError> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| LabelError::UnknownCategory {
                name: s.to_string(),
                known: Category::ALL.map(Category::as_str).join(", "),
            })
    }
}

/// One probed label: its name (e.g. `player_x`) and the categories it counts in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabelSpec {
    /// Label name, unique within a game.
    pub name: String,
    /// Summary categories (0, 1 or 2 of them); an empty list means "overall mean only".
    pub categories: Vec<Category>,
}

impl LabelSpec {
    /// Builds a spec from category strings, rejecting unknown ones and dropping repeats.
    pub fn new<S: AsRef<str>>(
        name: impl Into<String>,
        categories: &[S],
    ) -> Result<Self, LabelError> {
        let mut cats: Vec<Category> = Vec::with_capacity(categories.len());
        for c in categories {
            let c: Category = c.as_ref().parse()?;
            if !cats.contains(&c) {
                cats.push(c);
            }
        }
        Ok(LabelSpec {
            name: name.into(),
            categories: cats,
        })
    }

    /// Builds specs from parallel lists of names and category-string lists.
    pub fn from_names<S: AsRef<str>>(
        names: &[String],
        categories: &[Vec<S>],
    ) -> Result<Vec<Self>, LabelError> {
        if names.len() != categories.len() {
            return Err(LabelError::NamesVsCategories {
                names: names.len(),
                categories: categories.len(),
            });
        }
        let specs = names
            .iter()
            .zip(categories)
            .map(|(n, c)| LabelSpec::new(n.clone(), c))
            .collect::<Result<Vec<_>, _>>()?;
        check_unique(&specs)?;
        Ok(specs)
    }
}

/// Fails with [`LabelError::DuplicateLabel`] if two specs share a name.
pub fn check_unique(specs: &[LabelSpec]) -> Result<(), LabelError> {
    let mut seen = HashSet::new();
    for s in specs {
        if !seen.insert(s.name.as_str()) {
            return Err(LabelError::DuplicateLabel {
                name: s.name.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_roundtrip_and_unknown() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
            assert_eq!(c.to_string(), c.as_str());
            assert_eq!(
                serde_json::to_string(&c).unwrap(),
                format!("\"{}\"", c.as_str())
            );
        }
        let err = "agent".parse::<Category>().unwrap_err();
        assert!(err.to_string().contains("unknown category \"agent\""));
    }

    #[test]
    fn spec_dedups_categories_and_rejects_duplicate_names() {
        let s = LabelSpec::new("x", &["misc_keys", "misc_keys"]).unwrap();
        assert_eq!(s.categories, vec![Category::MiscKeys]);
        let names = vec!["a".to_string(), "a".to_string()];
        let cats: Vec<Vec<&str>> = vec![vec![], vec![]];
        assert!(matches!(
            LabelSpec::from_names(&names, &cats),
            Err(LabelError::DuplicateLabel { .. })
        ));
        let e = LabelSpec::from_names(&names, &cats[..1]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "length mismatch in label names vs label categories: 2 vs 1"
        );
    }

    #[test]
    fn spec_json_field_names() {
        let s = LabelSpec::new("player_x", &["agent_localization"]).unwrap();
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"name":"player_x","categories":["agent_localization"]}"#
        );
    }
}
