//! `village-gen --households N --villages M --seed S --output FILE.csv`
//! (households), or with `--loans-as-of DATE` a loan book of the village's
//! approved households on that date, with drift (see `village_gen::loans`).

use clap::Parser;
use village_gen::{COLUMNS, Config, Village, loans};

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
    /// Write a loan book as of this date (YYYY-MM-DD) instead: one loan per
    /// household the shipped policy approves, features refreshed with drift.
    #[arg(long)]
    loans_as_of: Option<String>,
    /// The lending institution of the loan book.
    #[arg(long, default_value = "HB-JINGSHAN")]
    institution: String,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let out: Box<dyn std::io::Write> = if cli.output.as_os_str() == "-" {
        Box::new(std::io::stdout().lock())
    } else {
        Box::new(std::fs::File::create(&cli.output)?)
    };
    let mut writer = csv::Writer::from_writer(std::io::BufWriter::new(out));
    let village = Config {
        households: cli.households,
        villages: cli.villages,
        seed: cli.seed,
    };
    if let Some(as_of) = &cli.loans_as_of {
        let as_of = chrono::NaiveDate::parse_from_str(as_of, "%Y-%m-%d")
            .map_err(|_| anyhow::anyhow!("--loans-as-of {as_of:?}: expected YYYY-MM-DD"))?;
        writer.write_record(loans::loan_columns())?;
        let book = loans::LoanBook::new(loans::LoanBookConfig {
            village,
            as_of,
            institution: cli.institution.clone(),
        })
        .map_err(anyhow::Error::msg)?;
        for row in book {
            writer.write_record(&row)?;
        }
    } else {
        writer.write_record(COLUMNS)?;
        for row in Village::new(village) {
            writer.write_record(&row)?;
        }
    }
    writer.flush()?;
    Ok(())
}
