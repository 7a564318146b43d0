//! One household row: its cells turned into the request an online caller
//! would send, evaluated by the same engine path (`evaluate_recorded`), and
//! its row of the trace file: the request and the compact decision record.

use rust_decimal::Decimal;

use decision_core::Policy;
use decision_core::Request;
use decision_core::record::Record;
use decision_core::validate::feature_from_cell;
use decision_core::{Decision, Outcome};
use decision_core::{EvaluateError, FieldError};
use decision_core::{Options, evaluate_recorded};

use decision_store::traces::FrameBuilder;

use super::columns::{HOUSEHOLD_ID, VILLAGE_CODE};

/// One input row, borrowed from the chunk it came in.
pub struct RowCells<'a> {
    /// 1-based: the first household of the file is row 1.
    pub row: u64,
    pub household_id: Option<&'a str>,
    pub village_code: Option<&'a str>,
    /// (feature index in the schema, cell).
    pub features: Vec<(usize, Option<&'a str>)>,
    /// Set when an earlier row carried the same household id.
    pub duplicate_of: Option<u64>,
    /// Why the line cannot be read as a row at all (see
    /// [`super::input::line_problems`]).
    pub unreadable: Option<FieldError>,
}

/// What the output, the summary and the report need of a decided row.
#[derive(Clone, Debug, PartialEq)]
pub struct Decided {
    pub decision_id: String,
    pub outcome: Outcome,
    pub score: Decimal,
    pub grade: String,
    pub limit: Decimal,
    pub annual_rate: Option<Decimal>,
    /// Ranked codes, `;`-joined.
    pub reason_codes: String,
    /// The first-ranked reason (what decided a decline).
    pub primary_reason: Option<(String, String)>,
}

/// A row's result, in input order.
#[derive(Clone, Debug, PartialEq)]
pub struct RowResult {
    pub row: u64,
    pub household_id: String,
    pub village_code: String,
    pub result: Result<Decided, Vec<FieldError>>,
}

pub use decision_service::find::batch_decision_id;

/// What a row asks for.
pub struct Context<'a> {
    pub policy: &'a Policy,
    pub institution: &'a str,
    pub product: &'a str,
    pub batch_hex: &'a str,
}

/// Evaluates one row; adds its request and record to the trace `frame`.
/// Fails only when the row cannot be written to the trace (a value no
/// batch cell turns into).
pub fn evaluate_row(
    cx: &Context,
    cells: &RowCells,
    frame: &mut FrameBuilder,
) -> Result<RowResult, String> {
    let household_id = cells.household_id.unwrap_or("").trim().to_string();
    let village_code = cells.village_code.unwrap_or("").trim().to_string();
    let (request, result) = decide(cx, cells, &household_id, &village_code);
    let (record, result) = match result {
        Ok((decision, record)) => (Some(record), Ok(decided(&decision))),
        Err(errors) => (None, Err(errors)),
    };
    frame.push(
        cells.row,
        &household_id,
        &village_code,
        request.as_ref().map(|r| &r.features),
        record.as_ref(),
        result.as_ref().err().map_or(&[], Vec::as_slice),
    )?;
    Ok(RowResult {
        row: cells.row,
        household_id,
        village_code,
        result,
    })
}

/// A row's decision and compact record, or why it was refused.
type Evaluated = Result<(Decision, Record), Vec<FieldError>>;

fn decide(
    cx: &Context,
    cells: &RowCells,
    household_id: &str,
    village_code: &str,
) -> (Option<Request>, Evaluated) {
    let mut errors = Vec::new();
    if let Some(problem) = &cells.unreadable {
        // Which value belongs to which column is unknown: nothing is read.
        return (None, Err(vec![problem.clone()]));
    }
    if village_code.is_empty() {
        errors.push(FieldError {
            field: VILLAGE_CODE.to_string(),
            message: "must not be empty: expected the household's village code".to_string(),
        });
    }
    if let Some(first) = cells.duplicate_of {
        errors.push(FieldError {
            field: HOUSEHOLD_ID.to_string(),
            message: format!(
                "household id {household_id:?} already appears in row {first}; expected each household once"
            ),
        });
    }
    let schema = &cx.policy.schema;
    let mut features = serde_json::Map::with_capacity(cells.features.len());
    for &(index, cell) in &cells.features {
        let feature = &schema.features[index];
        match cell.map(|c| feature_from_cell(feature, c)) {
            None | Some(Ok(None)) => {}
            Some(Ok(Some(value))) => {
                features.insert(feature.name.clone(), value);
            }
            Some(Err(message)) => errors.push(FieldError {
                field: feature.name.clone(),
                message,
            }),
        }
    }
    let request = Request {
        request_id: household_id.to_string(),
        institution: cx.institution.to_string(),
        product: cx.product.to_string(),
        features,
    };
    // The trace is rendered from the record when someone asks for it.
    let result = match evaluate_recorded(cx.policy, &request, Options { trace: false }) {
        Ok((mut decision, record)) if errors.is_empty() => {
            decision.decision_id = batch_decision_id(cx.batch_hex, cells.row);
            Ok((decision, record))
        }
        Ok(_) => Err(errors),
        Err(EvaluateError::Input(input)) => {
            // The schema's findings, named by column; a cell that did not
            // parse is reported once, by its parse error.
            for e in input.errors {
                let field = column_of(&e.field);
                if !errors.iter().any(|known| known.field == field) {
                    errors.push(FieldError {
                        field,
                        message: e.message,
                    });
                }
            }
            Err(errors)
        }
        Err(EvaluateError::Policy { place, message }) => {
            errors.push(FieldError {
                field: place,
                message: format!("the policy cannot be applied to this household: {message}"),
            });
            Err(errors)
        }
    };
    (Some(request), result)
}

/// The column a request field came from.
fn column_of(field: &str) -> String {
    match field {
        "request_id" => HOUSEHOLD_ID.to_string(),
        f => f.strip_prefix("features.").unwrap_or(f).to_string(),
    }
}

fn decided(d: &Decision) -> Decided {
    Decided {
        decision_id: d.decision_id.clone(),
        outcome: d.decision,
        score: d.score,
        grade: d.grade.clone(),
        limit: d.limit,
        annual_rate: d.annual_rate,
        reason_codes: d
            .reasons
            .iter()
            .map(|r| r.code.as_str())
            .collect::<Vec<_>>()
            .join(";"),
        primary_reason: d
            .reasons
            .first()
            .map(|r| (r.code.clone(), r.message_en.clone())),
    }
}
