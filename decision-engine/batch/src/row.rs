//! One household row: its cells turned into the request an online caller
//! would send, evaluated by the same engine path (`evaluate_recorded`), and
//! its row of the trace file: the request and the compact decision record.

use rust_decimal::Decimal;

use decision_core::record::Record;
use decision_core::validate::feature_from_cell;
use decision_core::{Binder, Input, Outcome, Outline, Policy};
use decision_core::{EvaluateError, FieldError};
use decision_core::{decide_bound, outline};

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
    let household_id = cells.household_id.unwrap_or("").trim();
    let village_code = cells.village_code.unwrap_or("").trim();
    // The request's features as the cells give them, in column order.
    let mut features: Vec<(&str, Input)> = Vec::with_capacity(cells.features.len());
    let result = decide(cx, cells, household_id, village_code, &mut features);
    let (record, result) = match result {
        Ok((record, decided)) => (Some(record), Ok(decided)),
        Err(errors) => (None, Err(errors)),
    };
    frame.push(
        cells.row,
        household_id,
        village_code,
        cells.unreadable.is_none().then_some(features.as_slice()),
        record.as_ref(),
        result.as_ref().err().map_or(&[], Vec::as_slice),
    )?;
    Ok(RowResult {
        row: cells.row,
        household_id: household_id.to_string(),
        village_code: village_code.to_string(),
        result,
    })
}

/// Decides one row into its compact record and output columns, without a
/// trace frame (an impact analysis decides each row under two policies and
/// keeps neither trace): the same checks and engine path as
/// [`evaluate_row`].
pub fn decide_row(cx: &Context, cells: &RowCells) -> Result<(Record, Decided), Vec<FieldError>> {
    let household_id = cells.household_id.unwrap_or("").trim();
    let village_code = cells.village_code.unwrap_or("").trim();
    let mut features = Vec::with_capacity(cells.features.len());
    decide(cx, cells, household_id, village_code, &mut features)
}

/// The cells bound straight into the policy's slots (no request object is
/// built: the trace row keeps the features, from which a look-up rebuilds
/// the request) and decided into the compact record and the output
/// columns; or why the row was refused.
fn decide<'p, 'c>(
    cx: &Context<'p>,
    cells: &RowCells<'c>,
    household_id: &str,
    village_code: &str,
    features: &mut Vec<(&'p str, Input<'c>)>,
) -> Result<(Record, Decided), Vec<FieldError>> {
    let mut errors = Vec::new();
    if let Some(problem) = &cells.unreadable {
        // Which value belongs to which column is unknown: nothing is read.
        return Err(vec![problem.clone()]);
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
    let mut binder = Binder::new(cx.policy, household_id, cx.institution, cx.product);
    for &(index, cell) in &cells.features {
        let feature = &schema.features[index];
        match cell.map(|c| feature_from_cell(feature, c)) {
            None | Some(Ok(None)) => {}
            Some(Ok(Some(value))) => {
                binder.set_at(index, value);
                features.push((feature.name.as_str(), value));
            }
            Some(Err(message)) => errors.push(FieldError {
                field: feature.name.clone(),
                message,
            }),
        }
    }
    // The trace is rendered from the record when someone asks for it.
    let evaluated = binder
        .finish()
        .map_err(EvaluateError::Input)
        .and_then(|slots| decide_bound(cx.policy, slots))
        .and_then(|record| {
            let outline = outline(cx.policy, &record).map_err(|e| EvaluateError::Policy {
                place: "decision record".to_string(),
                message: e.to_string(),
            })?;
            Ok((decided(cx, cells.row, &outline), record))
        });
    match evaluated {
        Ok((decided, record)) if errors.is_empty() => return Ok((record, decided)),
        Ok(_) => {}
        Err(EvaluateError::Input(input)) => add_schema_errors(&mut errors, input.errors),
        Err(EvaluateError::Policy { place, message }) => errors.push(FieldError {
            field: place,
            message: format!("the policy cannot be applied to this household: {message}"),
        }),
    }
    Err(errors)
}

/// The schema's findings, named by column; a cell that did not parse is
/// reported once, by its parse error.
fn add_schema_errors(errors: &mut Vec<FieldError>, found: Vec<FieldError>) {
    for e in found {
        let field = column_of(&e.field);
        if !errors.iter().any(|known| known.field == field) {
            errors.push(FieldError {
                field,
                message: e.message,
            });
        }
    }
}

/// The column a request field came from.
fn column_of(field: &str) -> String {
    match field {
        "request_id" => HOUSEHOLD_ID.to_string(),
        f => f.strip_prefix("features.").unwrap_or(f).to_string(),
    }
}

pub(crate) fn decided(cx: &Context, row: u64, o: &Outline) -> Decided {
    let mut reason_codes = String::new();
    for (i, r) in o.reasons.iter().enumerate() {
        if i > 0 {
            reason_codes.push(';');
        }
        reason_codes.push_str(r.code);
    }
    Decided {
        decision_id: batch_decision_id(cx.batch_hex, row),
        outcome: o.outcome,
        score: o.score,
        grade: o.grade.to_string(),
        limit: o.limit,
        annual_rate: o.annual_rate,
        reason_codes,
        primary_reason: o
            .reasons
            .first()
            .map(|r| (r.code.to_string(), r.message_en.to_string())),
    }
}
