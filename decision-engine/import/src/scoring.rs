//! Scores the rows of a CSV file with one scorecard alone, so an analyst can
//! check an imported card against the originating tool's own scores. An
//! empty cell is a missing value; a row that cannot be scored gets its
//! reason in the `error` column and the run goes on.

use std::io::{Read, Write};

use rust_decimal::Decimal;

use decision_core::compile::LoneScorecard;
use decision_core::evaluate::score::score_card;
use decision_core::expr::{EValue, Num, VarKind, VarType};

/// What a scoring run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScoreSummary {
    pub rows: usize,
    pub errors: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error("input: {0}")]
    Input(String),
    #[error("output: {0}")]
    Output(String),
}

/// Scores every row of `input` (CSV with a header) into `output`: the id
/// column when given, `score`, `<characteristic>_points` for each
/// characteristic, `reason_code_1` .. `reason_code_N`, and `error`.
pub fn score_csv(
    card: &LoneScorecard,
    input: impl Read,
    output: impl Write,
    id_column: Option<&str>,
    reason_codes: usize,
) -> Result<ScoreSummary, ScoreError> {
    let mut reader = csv::ReaderBuilder::new().from_reader(input);
    let headers = reader
        .headers()
        .map_err(|e| ScoreError::Input(e.to_string()))?
        .clone();
    let column = |name: &str| headers.iter().position(|h| h == name);
    let id_index = match id_column {
        Some(name) => Some(
            column(name)
                .ok_or_else(|| ScoreError::Input(format!("no column `{name}` (--id-column)")))?,
        ),
        None => None,
    };
    // (slot, column, type) for every feature the card reads.
    let mut inputs = Vec::new();
    let mut absent = Vec::new();
    for var in card
        .layout
        .vars()
        .iter()
        .filter(|v| v.kind == VarKind::Feature)
    {
        match column(&var.name) {
            Some(i) => inputs.push((card.layout.slot(&var.name).unwrap_or_default(), i, var.ty)),
            None => absent.push(var.name.to_string()),
        }
    }
    if !absent.is_empty() {
        return Err(ScoreError::Input(format!(
            "the scorecard reads column{} {} that the input does not have",
            if absent.len() == 1 { "" } else { "s" },
            absent
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut writer = csv::Writer::from_writer(output);
    let mut header: Vec<String> = Vec::new();
    if let Some(name) = id_column {
        header.push(name.to_string());
    }
    header.push("score".into());
    header.extend(
        card.card
            .characteristics
            .iter()
            .map(|c| format!("{}_points", c.name)),
    );
    header.extend((1..=reason_codes).map(|i| format!("reason_code_{i}")));
    header.push("error".into());
    writer
        .write_record(&header)
        .map_err(|e| ScoreError::Output(e.to_string()))?;

    let mut card_for_reasons = card.card.clone();
    card_for_reasons.max_reason_codes = reason_codes;
    let mut summary = ScoreSummary::default();
    for (n, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ScoreError::Input(format!("row {}: {e}", n + 2)))?;
        summary.rows += 1;
        let mut row: Vec<String> = Vec::with_capacity(header.len());
        if let Some(i) = id_index {
            row.push(record.get(i).unwrap_or_default().to_string());
        }
        let mut slots = decision_core::expr::Slots::new(card.layout.len());
        let mut error = None;
        for &(slot, col, ty) in &inputs {
            let cell = record.get(col).unwrap_or_default().trim();
            if cell.is_empty() {
                continue;
            }
            let value = match ty {
                VarType::Decimal | VarType::Int => match Decimal::from_str_exact(cell)
                    .or_else(|_| Decimal::from_scientific(cell))
                {
                    Ok(d) => EValue::Float(Num(d)),
                    Err(_) => {
                        error = Some(format!(
                            "column `{}`: expected a number, found `{cell}`",
                            headers.get(col).unwrap_or_default()
                        ));
                        break;
                    }
                },
                _ => EValue::String(cell.to_string()),
            };
            slots.set(slot, value);
        }
        let scored = match error {
            Some(e) => Err(e),
            None => score_card(&card_for_reasons, &slots, None).map_err(|e| e.to_string()),
        };
        match scored {
            Ok(s) => {
                row.push(s.score.normalize().to_string());
                row.extend(s.points.iter().map(|p| p.normalize().to_string()));
                for i in 0..reason_codes {
                    row.push(s.reasons.get(i).map(|r| r.code.clone()).unwrap_or_default());
                }
                row.push(String::new());
            }
            Err(e) => {
                summary.errors += 1;
                row.extend(std::iter::repeat_n(
                    String::new(),
                    1 + card.card.characteristics.len() + reason_codes,
                ));
                row.push(e);
            }
        }
        writer
            .write_record(&row)
            .map_err(|e| ScoreError::Output(e.to_string()))?;
    }
    writer
        .flush()
        .map_err(|e| ScoreError::Output(e.to_string()))?;
    Ok(summary)
}
