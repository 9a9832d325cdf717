//! `dimua games`: the game registry.

use clap::Args;

/// Flags of `dimua games`.
#[derive(Debug, Args)]
pub struct GamesArgs {
    /// Only AtariARI games (the 24 with RAM annotations).
    #[arg(long)]
    pub atariari: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Prints every supported game; AtariARI games are marked `*` with their label names.
pub fn run(args: GamesArgs) -> anyhow::Result<()> {
    let mut rows = Vec::new();
    for game in dimua_atari::all_games() {
        let labels = dimua_atari::labels(game);
        if args.atariari && labels.is_none() {
            continue;
        }
        rows.push((game, labels));
    }
    if args.json {
        let list: Vec<_> = rows
            .iter()
            .map(|(g, labels)| {
                serde_json::json!({
                    "name": g.name,
                    "atariari": labels.is_some(),
                    "atariari_key": g.atariari_key(),
                    "gym_id": g.gym_id(),
                    "canonical_md5": g.canonical_md5,
                    "labels": labels.map(|l| l.iter().map(|x| x.name.to_string()).collect::<Vec<_>>()),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    println!("{} games ('*' = AtariARI, with RAM labels)", rows.len());
    for (game, labels) in rows {
        match labels {
            Some(labels) => {
                let names: Vec<_> = labels.iter().map(|l| l.name.to_string()).collect();
                println!(
                    "* {:<20} {} labels: {}",
                    game.name,
                    labels.len(),
                    names.join(", ")
                );
            }
            None => println!("  {}", game.name),
        }
    }
    Ok(())
}
