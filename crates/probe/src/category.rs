//! The five AtariARI summary categories and `LabelSpec` (a label name plus its categories).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{ProbeError, Result};

/// An AtariARI summary category (`categorization.summary_key_dict`). Categories are not
/// exclusive: a label may be in 0, 1 or 2 of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// `agent_localization`: position of the player.
    AgentLocalization,
    /// `small_object_localization`: balls and missiles.
    SmallObjectLocalization,
    /// `other_localization`: other positions (enemies, obstacles).
    OtherLocalization,
    /// `score_clock_lives_display`.
    ScoreClockLivesDisplay,
    /// `misc_keys`: counts, bit maps, levels, rooms, directions.
    MiscKeys,
}

impl Category {
    /// All categories in the canonical (report) order.
    pub const ALL: [Category; 5] = [
        Category::AgentLocalization,
        Category::SmallObjectLocalization,
        Category::OtherLocalization,
        Category::ScoreClockLivesDisplay,
        Category::MiscKeys,
    ];

    /// The snake_case name used in AtariARI and in the JSON output.
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
    type Err = ProbeError;

    fn from_str(s: &str) -> Result<Self> {
        Category::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ProbeError::UnknownCategory {
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
    pub fn new<S: AsRef<str>>(name: impl Into<String>, categories: &[S]) -> Result<Self> {
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
    pub fn from_names<S: AsRef<str>>(names: &[String], categories: &[Vec<S>]) -> Result<Vec<Self>> {
        if names.len() != categories.len() {
            return Err(ProbeError::LengthMismatch {
                what: "label names vs label categories".into(),
                left: names.len(),
                right: categories.len(),
            });
        }
        let specs = names
            .iter()
            .zip(categories)
            .map(|(n, c)| LabelSpec::new(n.clone(), c))
            .collect::<Result<Vec<_>>>()?;
        check_unique(&specs)?;
        Ok(specs)
    }
}

/// Fails with `DuplicateLabel` if two specs share a name.
pub(crate) fn check_unique(specs: &[LabelSpec]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for s in specs {
        if !seen.insert(s.name.as_str()) {
            return Err(ProbeError::DuplicateLabel {
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
            Err(ProbeError::DuplicateLabel { .. })
        ));
    }
}
