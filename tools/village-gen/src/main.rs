//! `village-gen --households N --villages M --seed S --output FILE.csv`

use clap::Parser;
use village_gen::{COLUMNS, Config, Village};

#[derive(Parser)]
#[command(
    name = "village-gen",
    about = "Synthetic farmer households (CSV), deterministic for a seed"
)]
struct Cli {
    #[arg(long)]
    households: u64,
    #[arg(long, default_value_t = 1)]
    villages: u64,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// A CSV file to write (`-` for stdout).
    #[arg(long)]
    output: std::path::PathBuf,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let out: Box<dyn std::io::Write> = if cli.output.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&cli.output)?)
    };
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(out));
    writer.write_record(COLUMNS)?;
    for row in Village::new(Config {
        households: cli.households,
        villages: cli.villages,
        seed: cli.seed,
    }) {
        writer.write_record(&row)?;
    }
    writer.flush()?;
    Ok(())
}
