//! Post-loan monitoring (贷后管理): one loan of the book, with its refreshed
//! features, evaluated against a compiled monitoring policy as of a date.
//!
//! The pipeline, in one pass and pure like the decision's:
//! bind the loan's columns (checked against the loan schema) and its
//! refreshed features (checked against the feature schema, exactly as a
//! pre-review request is), re-score them with the product policy in force
//! (score, grade and what it would decide today, with the grade migration
//! since origination), run every warning rule (each a signal when it
//! holds), count the signals by severity, place the loan at its post-loan
//! level, and list the follow-up tasks the task rules ask for with their
//! due dates. Every rule is traced with the values it read, so a signal is
//! explainable and the evaluation replayable.
//!
//! Signal and task ids are content ids (institution, loan, date or
//! period, rule): the same loan evaluated online or in a book run gives the
//! same ids, and a second run of a cycle the same tasks.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::compile::ruleset::parameter_value;
use crate::compile::{Loaded, Policy, VersionRef};
use crate::decision::{Values, trace_value};
use crate::error::{FieldError, Issues, PolicyError};
use crate::expr::{EValue, Expect, Expr, Layout, Num, Slots, Var, VarKind, VarType};
use crate::model::monitoring::{
    Cycle, DueFrom, LoanFieldType, LoanSchemaDoc, MonitoringDoc, Severity, TaskKind,
};
use crate::validate::{Binder, Input};

pub use crate::model::monitoring::{Cycle as TaskCycle, Severity as SignalSeverity};

/// The shipped loan schema: the loan book's columns.
pub const LOAN_SCHEMA: &str = include_str!("../../../rulesets/loan-schema.json");

/// The version of the evaluation record this release writes (stored with
/// every signal, read back by `explain`).
pub const EVALUATION_FORMAT: u32 = 1;

/// The loan columns the engine itself reads, with their type.
const KEY_FIELDS: &[(&str, LoanFieldType)] = &[
    ("loan_id", LoanFieldType::String),
    ("household_id", LoanFieldType::String),
    ("institution", LoanFieldType::String),
    ("branch", LoanFieldType::String),
    ("product", LoanFieldType::String),
    ("amount", LoanFieldType::Decimal),
    ("balance", LoanFieldType::Decimal),
    ("disbursed_on", LoanFieldType::Date),
    ("maturity_on", LoanFieldType::Date),
    ("days_past_due", LoanFieldType::Integer),
    ("origination_score", LoanFieldType::Decimal),
    ("origination_grade", LoanFieldType::String),
];

/// Values the engine computes for the rules, with their type, whether they
/// may be absent, and what they are.
pub const COMPUTED: &[(&str, VarType, bool, &str)] = &[
    (
        "days_since_disbursement",
        VarType::Int,
        false,
        "days from the disbursement to the monitoring date",
    ),
    (
        "days_to_maturity",
        VarType::Int,
        false,
        "days from the monitoring date to the maturity (negative when past it)",
    ),
    (
        "score",
        VarType::Decimal,
        false,
        "the score today: the refreshed features scored by the product policy in force",
    ),
    ("grade", VarType::Text, false, "the grade of today's score"),
    (
        "outcome_now",
        VarType::Text,
        false,
        "what the product policy in force would decide today: APPROVE, REFER or DECLINE",
    ),
    (
        "score_change",
        VarType::Decimal,
        true,
        "score - origination_score; absent without an origination score",
    ),
    (
        "grade_notches_down",
        VarType::Int,
        true,
        "how many grades worse than at origination (negative: better); absent without a known origination grade",
    ),
];

/// Signal counts, known after the warning rules (levels and tasks read them).
const COUNTS: &[(&str, &str)] = &[
    ("red_signals", "red signals on the loan"),
    ("orange_signals", "orange signals on the loan"),
    ("yellow_signals", "yellow signals on the loan"),
    ("signal_count", "signals of any severity on the loan"),
];

/// When a value is known: warnings read inputs, levels also the counts,
/// tasks also the level.
const PHASE_INPUT: u8 = 0;
const PHASE_SIGNALS: u8 = 1;
const PHASE_LEVEL: u8 = 2;

/// The compiled loan schema.
#[derive(Clone, Debug)]
pub struct LoanSchema {
    /// Its version, as evaluations record it.
    pub version: VersionRef,
    /// The columns, in document order.
    pub fields: Vec<LoanField>,
}

/// One loan column.
#[derive(Clone, Debug)]
pub struct LoanField {
    /// The name rules and outputs use.
    pub name: String,
    /// The value's type.
    pub ty: LoanFieldType,
    /// A row without it is refused.
    pub required: bool,
    /// Inclusive lower bound of a number.
    pub min: Option<Decimal>,
    /// What it is, for people.
    pub description: String,
}

impl LoanSchema {
    /// The shipped loan schema.
    pub fn shipped() -> Result<LoanSchema, PolicyError> {
        LoanSchema::parse("rulesets/loan-schema.json", LOAN_SCHEMA)
    }

    /// Parses and checks a loan schema document.
    pub fn parse(source: &str, text: &str) -> Result<LoanSchema, PolicyError> {
        let mut issues = Issues::default();
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| PolicyError {
            issues: vec![crate::PolicyIssue {
                document: source.into(),
                place: String::new(),
                message: format!("not valid JSON: {e}"),
            }],
        })?;
        let hash = crate::hash::content_hash(&value);
        let doc: LoanSchemaDoc = serde_json::from_value(value).map_err(|e| PolicyError {
            issues: vec![crate::PolicyIssue {
                document: source.into(),
                place: String::new(),
                message: e.to_string(),
            }],
        })?;
        if doc.kind != "loan_schema" {
            issues.push(source, "kind", "expected \"loan_schema\"");
        }
        let mut fields: Vec<LoanField> = Vec::new();
        for (i, f) in doc.fields.iter().enumerate() {
            let place = format!("fields[{i}] {}", f.name);
            if !crate::compile::schema::is_identifier(&f.name) {
                issues.push(
                    source,
                    &place,
                    "a column name must start with a letter and hold only letters, digits and `_`",
                );
            }
            if fields.iter().any(|o| o.name == f.name) {
                issues.push(source, &place, "declared twice");
            }
            let min = match &f.min {
                Some(m) => match crate::model::decimal_from_text(m) {
                    Ok(d) => Some(d),
                    Err(e) => {
                        issues.push(source, format!("{place}.min"), String::from(e));
                        None
                    }
                },
                None => None,
            };
            fields.push(LoanField {
                name: f.name.clone(),
                ty: f.ty,
                required: f.required,
                min,
                description: f.description.clone(),
            });
        }
        for (name, ty) in KEY_FIELDS {
            match fields.iter().find(|f| f.name == *name) {
                None => issues.push(
                    source,
                    "fields",
                    format!("the engine reads `{name}`: declare it"),
                ),
                Some(f) if f.ty != *ty => issues.push(
                    source,
                    format!("fields {name}"),
                    format!("the engine reads `{name}` as {ty:?}, declared {:?}", f.ty)
                        .to_lowercase(),
                ),
                Some(_) => {}
            }
        }
        issues.into_result()?;
        Ok(LoanSchema {
            version: VersionRef {
                kind: "loan_schema".into(),
                id: doc.id,
                version: doc.version,
                hash,
            },
            fields,
        })
    }

    fn field(&self, name: &str) -> Option<(usize, &LoanField)> {
        self.fields.iter().enumerate().find(|(_, f)| f.name == name)
    }
}

/// A compiled warning rule.
#[derive(Clone, Debug)]
pub struct Warning {
    /// The code, e.g. `W_DPD_SEVERE`.
    pub code: Arc<str>,
    /// How serious the signal is.
    pub severity: Severity,
    /// The compiled condition.
    pub expr: Expr,
    /// The result when a value the condition reads is absent.
    pub when_missing: Option<bool>,
    /// The text in Chinese.
    pub message_zh: String,
    /// The text in English.
    pub message_en: String,
}

/// A compiled level.
#[derive(Clone, Debug)]
pub struct Level {
    /// The code, e.g. `L1_INTENSIVE`.
    pub code: Arc<str>,
    /// The name in Chinese.
    pub name_zh: String,
    /// The name in English.
    pub name_en: String,
    /// The compiled condition.
    pub expr: Expr,
}

/// A compiled task rule.
#[derive(Clone, Debug)]
pub struct TaskRule {
    /// The rule's id.
    pub id: Arc<str>,
    /// The follow-up asked for.
    pub task: TaskKind,
    /// Only loans at one of these levels; empty: any.
    pub levels: Vec<String>,
    /// Only loans of these products; empty: any.
    pub products: Vec<String>,
    /// Only when one of these signals fired; empty: whatever fired.
    pub signals: Vec<String>,
    /// The compiled condition.
    pub expr: Option<Expr>,
    /// The result when a value the condition reads is absent.
    pub when_missing: Option<bool>,
    /// How often it may ask again for the same loan.
    pub cycle: Cycle,
    /// Due this many days after `due_from`.
    pub due_days: u32,
    /// From the monitoring date or the disbursement.
    pub due_from: DueFrom,
    /// The text in Chinese.
    pub message_zh: String,
    /// The text in English.
    pub message_en: String,
}

/// A monitoring policy ready to run: every expression compiled once.
#[derive(Clone, Debug)]
pub struct MonitoringPolicy {
    /// The policy's version.
    pub version: VersionRef,
    /// The loan schema's version.
    pub loan_schema: VersionRef,
    /// The institution it is written for, `*` for the default.
    pub institution: String,
    /// Every name the rules read, with its slot.
    pub layout: Layout,
    template: Slots,
    /// (loan schema index, slot) of the columns rules read.
    loan_slots: Vec<(usize, usize)>,
    /// (feature name, slot) of the refreshed features.
    feature_slots: Vec<(Arc<str>, usize)>,
    computed: [usize; 7],
    counts: [usize; 4],
    level_slot: usize,
    /// The warning rules, in document order.
    pub warnings: Vec<Warning>,
    /// Only loans at one of these levels; empty: any.
    pub levels: Vec<Level>,
    /// The task rules, in document order.
    pub tasks: Vec<TaskRule>,
    loan: LoanSchema,
}

impl MonitoringPolicy {
    /// Compiles `doc` against the loan schema and the feature schema of
    /// `product` (any product policy: the schema is the province's). An
    /// invalid policy is refused with every problem listed.
    pub fn compile(
        doc: &Loaded<MonitoringDoc>,
        loan: &LoanSchema,
        product: &Policy,
    ) -> Result<MonitoringPolicy, PolicyError> {
        let d = &doc.doc;
        let src = doc.source.as_str();
        let mut issues = Issues::default();
        if d.kind != "monitoring_policy" {
            issues.push(src, "kind", "expected \"monitoring_policy\"");
        }
        for (field, value) in [
            ("id", &d.id),
            ("version", &d.version),
            ("institution", &d.institution),
        ] {
            if value.trim().is_empty() {
                issues.push(src, field, "must not be empty");
            }
        }
        let mut layout = Layout::default();
        let add = |layout: &mut Layout, issues: &mut Issues, place: &str, var: Var| match layout
            .add(var)
        {
            Ok(slot) => slot,
            Err(e) => {
                issues.push(src, place, e);
                usize::MAX
            }
        };
        let mut loan_slots = Vec::new();
        for (i, f) in loan.fields.iter().enumerate() {
            let (ty, sample) = match f.ty {
                LoanFieldType::String => (VarType::Text, EValue::String(String::new())),
                LoanFieldType::Decimal => (VarType::Decimal, EValue::Float(Num(Decimal::ONE))),
                LoanFieldType::Integer => (VarType::Int, EValue::Int(1)),
                LoanFieldType::Date => continue,
            };
            let slot = add(
                &mut layout,
                &mut issues,
                "loan schema",
                Var {
                    name: f.name.as_str().into(),
                    ty,
                    kind: VarKind::Feature,
                    optional: !f.required,
                    sample,
                    phase: PHASE_INPUT,
                },
            );
            loan_slots.push((i, slot));
        }
        let mut feature_slots = Vec::new();
        for f in &product.schema.features {
            let var = product.layout.var(f.slot).clone();
            let slot = add(
                &mut layout,
                &mut issues,
                "feature schema",
                Var {
                    phase: PHASE_INPUT,
                    ..var
                },
            );
            feature_slots.push((Arc::from(f.name.as_str()), slot));
        }
        let mut computed = [usize::MAX; 7];
        for (n, (name, ty, optional, _)) in COMPUTED.iter().enumerate() {
            let sample = match ty {
                VarType::Int => EValue::Int(1),
                VarType::Decimal => EValue::Float(Num(Decimal::ONE)),
                _ => EValue::String(String::new()),
            };
            computed[n] = add(
                &mut layout,
                &mut issues,
                "computed values",
                Var {
                    name: (*name).into(),
                    ty: *ty,
                    kind: VarKind::Computed,
                    optional: *optional,
                    sample,
                    phase: PHASE_INPUT,
                },
            );
        }
        let mut parameters = Vec::new();
        for (i, p) in d.parameters.iter().enumerate() {
            let place = format!("parameters[{i}] {}", p.name);
            if !crate::compile::schema::is_identifier(&p.name) {
                issues.push(src, &place, "a parameter name must start with a letter and hold only letters, digits and `_`");
                continue;
            }
            match parameter_value(p) {
                Ok((ty, value)) => {
                    let slot = add(
                        &mut layout,
                        &mut issues,
                        &place,
                        Var {
                            name: p.name.as_str().into(),
                            ty,
                            kind: VarKind::Parameter,
                            optional: false,
                            sample: value.clone(),
                            phase: PHASE_INPUT,
                        },
                    );
                    if slot != usize::MAX {
                        parameters.push((slot, value));
                    }
                }
                Err(e) => issues.push(src, format!("{place}.value"), e),
            }
        }
        let mut counts = [usize::MAX; 4];
        for (n, (name, _)) in COUNTS.iter().enumerate() {
            counts[n] = add(
                &mut layout,
                &mut issues,
                "signal counts",
                Var {
                    name: (*name).into(),
                    ty: VarType::Int,
                    kind: VarKind::Computed,
                    optional: false,
                    sample: EValue::Int(0),
                    phase: PHASE_SIGNALS,
                },
            );
        }
        let level_slot = add(
            &mut layout,
            &mut issues,
            "level",
            Var {
                name: "level".into(),
                ty: VarType::Text,
                kind: VarKind::Computed,
                optional: false,
                sample: EValue::String(
                    d.levels.first().map(|l| l.code.clone()).unwrap_or_default(),
                ),
                phase: PHASE_LEVEL,
            },
        );

        let compile = |issues: &mut Issues, place: &str, source: &str, phase: u8| -> Option<Expr> {
            match Expr::compile(source, &layout, Expect::Bool)
                .and_then(|e| known_by(e, &layout, phase))
            {
                Ok(e) => Some(e),
                Err(e) => {
                    issues.push(src, format!("{place}.expression"), e);
                    None
                }
            }
        };
        let needs_when_missing = |issues: &mut Issues,
                                  place: &str,
                                  e: &Expr,
                                  when: Option<bool>| {
            if when.is_none() && e.may_read_missing(&layout) {
                issues.push(src, place, format!(
                    "reads optional {}; state \"when_missing\": true or false, the result when they are absent",
                    crate::compile::ruleset::optional_names(e, &layout)
                ));
            }
        };
        let texts = |issues: &mut Issues, place: &str, pairs: &[(&str, &str)]| {
            for (field, text) in pairs {
                if text.trim().is_empty() {
                    issues.push(src, format!("{place}.{field}"), "must not be empty");
                }
            }
        };

        let mut warnings: Vec<Warning> = Vec::new();
        if d.warnings.is_empty() {
            issues.push(
                src,
                "warnings",
                "a monitoring policy needs at least one warning rule",
            );
        }
        for (i, w) in d.warnings.iter().enumerate() {
            let place = format!("warnings[{i}] {}", w.code);
            if !crate::compile::schema::is_identifier(&w.code) {
                issues.push(
                    src,
                    &place,
                    "a signal code must start with a letter and hold only letters, digits and `_`",
                );
            }
            if d.warnings[..i].iter().any(|o| o.code == w.code) {
                issues.push(
                    src,
                    &place,
                    format!("signal code `{}` is used twice", w.code),
                );
            }
            texts(
                &mut issues,
                &place,
                &[("message_zh", &w.message_zh), ("message_en", &w.message_en)],
            );
            if let Some(expr) = compile(&mut issues, &place, &w.expression, PHASE_INPUT) {
                needs_when_missing(&mut issues, &place, &expr, w.when_missing);
                warnings.push(Warning {
                    code: w.code.as_str().into(),
                    severity: w.severity,
                    expr,
                    when_missing: w.when_missing,
                    message_zh: w.message_zh.clone(),
                    message_en: w.message_en.clone(),
                });
            }
        }

        let mut levels: Vec<Level> = Vec::new();
        if d.levels.is_empty() {
            issues.push(
                src,
                "levels",
                "a monitoring policy needs at least one level; the last one `true`",
            );
        }
        for (i, l) in d.levels.iter().enumerate() {
            let place = format!("levels[{i}] {}", l.code);
            if l.code.trim().is_empty() {
                issues.push(src, &place, "a level needs a code");
            }
            if d.levels[..i].iter().any(|o| o.code == l.code) {
                issues.push(src, &place, format!("level `{}` is declared twice", l.code));
            }
            texts(
                &mut issues,
                &place,
                &[("name_zh", &l.name_zh), ("name_en", &l.name_en)],
            );
            if i + 1 == d.levels.len() && l.expression.trim() != "true" {
                issues.push(
                    src,
                    format!("{place}.expression"),
                    "the last level must be `true`: every loan takes a level",
                );
            }
            if let Some(expr) = compile(&mut issues, &place, &l.expression, PHASE_SIGNALS) {
                if expr.may_read_missing(&layout) {
                    issues.push(src, format!("{place}.expression"), format!(
                        "reads optional {}; a level's condition must read values every loan has (test them in a warning rule)",
                        crate::compile::ruleset::optional_names(&expr, &layout)
                    ));
                }
                levels.push(Level {
                    code: l.code.as_str().into(),
                    name_zh: l.name_zh.clone(),
                    name_en: l.name_en.clone(),
                    expr,
                });
            }
        }

        let mut tasks: Vec<TaskRule> = Vec::new();
        for (i, t) in d.tasks.iter().enumerate() {
            let place = format!("tasks[{i}] {}", t.id);
            if t.id.trim().is_empty() {
                issues.push(src, &place, "a task rule needs an id");
            }
            if d.tasks[..i].iter().any(|o| o.id == t.id) {
                issues.push(
                    src,
                    &place,
                    format!("task rule id `{}` is used twice", t.id),
                );
            }
            texts(
                &mut issues,
                &place,
                &[("message_zh", &t.message_zh), ("message_en", &t.message_en)],
            );
            for (j, level) in t.levels.iter().enumerate() {
                if !d.levels.iter().any(|l| &l.code == level) {
                    issues.push(
                        src,
                        format!("{place}.levels[{j}]"),
                        format!(
                            "unknown level `{level}`; expected one of {}",
                            d.levels
                                .iter()
                                .map(|l| l.code.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    );
                }
            }
            for (j, code) in t.signals.iter().enumerate() {
                if !d.warnings.iter().any(|w| &w.code == code) {
                    issues.push(
                        src,
                        format!("{place}.signals[{j}]"),
                        format!("unknown signal `{code}`; expected a warning rule's code"),
                    );
                }
            }
            for (j, p) in t.products.iter().enumerate() {
                if p.trim().is_empty() {
                    issues.push(src, format!("{place}.products[{j}]"), "must not be empty");
                }
            }
            if t.due_days > 3660 {
                issues.push(
                    src,
                    format!("{place}.due_days"),
                    format!(
                        "{} days is more than ten years: expected at most 3660",
                        t.due_days
                    ),
                );
            }
            let expr = match &t.expression {
                Some(e) => match compile(&mut issues, &place, e, PHASE_LEVEL) {
                    Some(expr) => {
                        needs_when_missing(&mut issues, &place, &expr, t.when_missing);
                        Some(expr)
                    }
                    None => continue,
                },
                None => None,
            };
            tasks.push(TaskRule {
                id: t.id.as_str().into(),
                task: t.task,
                levels: t.levels.clone(),
                products: t.products.clone(),
                signals: t.signals.clone(),
                expr,
                when_missing: t.when_missing,
                cycle: t.cycle,
                due_days: t.due_days,
                due_from: t.due_from,
                message_zh: t.message_zh.clone(),
                message_en: t.message_en.clone(),
            });
        }
        issues.into_result()?;
        let mut template = Slots::new(layout.len());
        for (slot, value) in parameters {
            template.set(slot, value);
        }
        Ok(MonitoringPolicy {
            version: VersionRef {
                kind: "monitoring_policy".into(),
                id: d.id.clone(),
                version: d.version.clone(),
                hash: doc.hash.clone(),
            },
            loan_schema: loan.version.clone(),
            institution: d.institution.clone(),
            layout,
            template,
            loan_slots,
            feature_slots,
            computed,
            counts,
            level_slot,
            warnings,
            levels,
            tasks,
            loan: loan.clone(),
        })
    }

    /// The loan schema the policy was compiled against.
    pub fn loan_schema(&self) -> &LoanSchema {
        &self.loan
    }

    /// Evaluates one loan as of `as_of`, re-scoring it with `product` (the
    /// product policy in force for its institution and product). Every
    /// problem with the loan is reported, each naming its column.
    pub fn evaluate(
        &self,
        product: &Policy,
        loan: &LoanInput<'_>,
        as_of: NaiveDate,
    ) -> Result<Evaluation, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut slots = self.template.clone();
        // The loan's columns.
        let text = |name: &str| -> String {
            loan.get(name)
                .map(|v| match v {
                    Input::Text(s) => s.trim().to_string(),
                    other => other.short(),
                })
                .unwrap_or_default()
        };
        let keys: Vec<String> = [
            "loan_id",
            "household_id",
            "institution",
            "branch",
            "product",
        ]
        .iter()
        .map(|k| text(k))
        .collect();
        let mut dates: [Option<NaiveDate>; 2] = [None, None];
        let mut values: Vec<Option<EValue>> = vec![None; self.loan.fields.len()];
        for (i, f) in self.loan.fields.iter().enumerate() {
            let raw = loan
                .get(&f.name)
                .filter(|v| !matches!(v, Input::Text(s) if s.trim().is_empty()));
            let Some(raw) = raw else {
                if f.required {
                    errors.push(FieldError {
                        field: f.name.clone(),
                        message: format!(
                            "required loan column is missing: expected {}",
                            expectation(f)
                        ),
                    });
                }
                continue;
            };
            match loan_value(f, raw) {
                Ok(LoanValue::Date(d)) => match f.name.as_str() {
                    "disbursed_on" => dates[0] = Some(d),
                    "maturity_on" => dates[1] = Some(d),
                    _ => {}
                },
                Ok(LoanValue::Value(v)) => values[i] = Some(v),
                Err(message) => errors.push(FieldError {
                    field: f.name.clone(),
                    message,
                }),
            }
        }
        for (name, _) in loan.values.iter() {
            if self.loan.field(name).is_none()
                && !self.feature_slots.iter().any(|(f, _)| &**f == *name)
            {
                errors.push(FieldError {
                    field: (*name).to_string(),
                    message: format!(
                        "unknown column; the loan schema {} and the feature schema {}@{} declare no such name",
                        self.loan.version.label(),
                        product.schema.id,
                        product.schema.version
                    ),
                });
            }
        }
        if let [Some(disbursed), Some(maturity)] = dates {
            if disbursed > as_of {
                errors.push(FieldError {
                    field: "disbursed_on".into(),
                    message: format!("{disbursed} is after the monitoring date {as_of}: expected a loan already disbursed"),
                });
            }
            if maturity < disbursed {
                errors.push(FieldError {
                    field: "maturity_on".into(),
                    message: format!(
                        "{maturity} is before the disbursement {disbursed}: expected a later date"
                    ),
                });
            }
        }
        // The refreshed features, checked as a pre-review request's are.
        let mut binder = Binder::new(product, &keys[0], &keys[2], &keys[4]);
        // Cells refused already (the binder would call them missing).
        let mut refused: Vec<&str> = Vec::new();
        for (name, value) in loan.values.iter() {
            if self.feature_slots.iter().any(|(f, _)| &**f == *name) {
                let value = match value {
                    Some(Input::Text(s)) if s.trim().is_empty() => None,
                    // A table cell: read as the feature's type, as a batch
                    // reads a household's cells.
                    Some(Input::Text(s)) if loan.cells => {
                        let feature = product
                            .schema
                            .by_name
                            .get(*name)
                            .map(|&i| &product.schema.features[i]);
                        match feature.map(|f| crate::validate::feature_from_cell(f, s)) {
                            Some(Ok(v)) => v,
                            Some(Err(message)) => {
                                errors.push(FieldError {
                                    field: (*name).to_string(),
                                    message,
                                });
                                refused.push(*name);
                                continue;
                            }
                            None => Some(Input::Text(s)),
                        }
                    }
                    other => *other,
                };
                binder.set(name, value);
            }
        }
        let bound = binder.finish();
        let scored = match bound {
            Ok(policy_slots) => {
                for (name, slot) in &self.feature_slots {
                    if let Some(&index) = product.schema.by_name.get(&**name) {
                        let v = policy_slots.get(product.schema.features[index].slot);
                        if !matches!(v, EValue::Empty) {
                            slots.set(*slot, v.clone());
                        }
                    }
                }
                match crate::decide_bound(product, policy_slots) {
                    Ok(record) => Some(record),
                    Err(e) => {
                        errors.push(FieldError {
                            field: "features".into(),
                            message: format!("cannot be re-scored: {e}"),
                        });
                        None
                    }
                }
            }
            Err(e) => {
                errors.extend(
                    e.errors
                        .into_iter()
                        .map(|mut f| {
                            // A book names the column, not the request's path.
                            if let Some(name) = f.field.strip_prefix("features.") {
                                f.field = name.to_string();
                            }
                            f
                        })
                        .filter(|f| {
                            (!["request_id", "institution", "product"].contains(&f.field.as_str())
                                || f.message.contains("unknown product"))
                                && !refused.contains(&f.field.as_str())
                        }),
                );
                None
            }
        };
        for (key, value) in [
            "loan_id",
            "household_id",
            "institution",
            "branch",
            "product",
        ]
        .iter()
        .zip(&keys)
        {
            if value.chars().count() > crate::validate::MAX_KEY_LENGTH
                || value.chars().any(char::is_control)
            {
                errors.push(FieldError {
                    field: (*key).to_string(),
                    message: format!(
                        "expected at most {} printable characters",
                        crate::validate::MAX_KEY_LENGTH
                    ),
                });
            }
        }
        let (Some(record), [Some(disbursed), Some(maturity)], true) =
            (scored, dates, errors.is_empty())
        else {
            dedup(&mut errors);
            return Err(errors);
        };
        for ((_, slot), v) in self
            .loan_slots
            .iter()
            .zip(self.loan_slots.iter().map(|(i, _)| &values[*i]))
        {
            if let Some(v) = v {
                slots.set(*slot, v.clone());
            }
        }
        // Re-scoring and the migration since origination.
        let bands = &product.grades.bands;
        let band = record.grade_band as usize;
        let grade = bands.get(band).map(|b| b.grade.clone()).unwrap_or_default();
        let origination_score = self.loan_decimal(&values, "origination_score");
        let origination_grade = self.loan_text(&values, "origination_grade");
        let notches = origination_grade
            .as_deref()
            .and_then(|g| bands.iter().position(|b| b.grade == g))
            .map(|o| band as i64 - o as i64);
        let since = (as_of - disbursed).num_days();
        let to_maturity = (maturity - as_of).num_days();
        let computed = [
            Some(EValue::Int(since)),
            Some(EValue::Int(to_maturity)),
            Some(EValue::Float(Num(record.score))),
            Some(EValue::String(grade.clone())),
            Some(EValue::String(record.outcome.as_str().to_string())),
            origination_score.map(|o| EValue::Float(Num(record.score - o))),
            notches.map(EValue::Int),
        ];
        for (slot, value) in self.computed.iter().zip(computed) {
            if let Some(v) = value {
                slots.set(*slot, v);
            }
        }
        // Warning rules, every one traced.
        let mut checks = Vec::with_capacity(self.warnings.len());
        let mut signals = Vec::new();
        let mut counts = [0i64; 4];
        for (i, w) in self.warnings.iter().enumerate() {
            let missing = w.expr.missing(&slots);
            let fired = if missing.is_empty() {
                w.expr.eval_bool(&slots).map_err(|f| {
                    vec![FieldError {
                        field: format!("warnings[{i}] {}", w.code),
                        message: format!(
                            "the rule cannot be evaluated on this loan: {} (inputs: {})",
                            f.0,
                            serde_json::to_string(&self.inputs(&w.expr, &slots))
                                .unwrap_or_default()
                        ),
                    }]
                })?
            } else {
                w.when_missing.unwrap_or(false)
            };
            let check = WarningCheck {
                code: w.code.to_string(),
                severity: w.severity,
                expression: w.expr.source().to_string(),
                fired,
                inputs: self.inputs(&w.expr, &slots),
                missing: missing
                    .iter()
                    .map(|&s| self.layout.var(s).name.to_string())
                    .collect(),
            };
            if fired {
                counts[Severity::ALL
                    .iter()
                    .position(|s| *s == w.severity)
                    .unwrap_or(2)] += 1;
                counts[3] += 1;
                signals.push(Signal {
                    signal_id: content_id(
                        "sig",
                        &[&keys[2], &keys[0], &as_of.to_string(), &w.code],
                    ),
                    code: w.code.to_string(),
                    severity: w.severity,
                    message_zh: w.message_zh.clone(),
                    message_en: w.message_en.clone(),
                });
            }
            checks.push(check);
        }
        for (slot, n) in self.counts.iter().zip(counts) {
            slots.set(*slot, EValue::Int(n));
        }
        // The level: the first whose condition holds.
        let mut level = None;
        for (i, l) in self.levels.iter().enumerate() {
            let holds = l.expr.eval_bool(&slots).map_err(|f| {
                vec![FieldError {
                    field: format!("levels[{i}] {}", l.code),
                    message: format!(
                        "the level's condition cannot be evaluated on this loan: {}",
                        f.0
                    ),
                }]
            })?;
            if holds {
                level = Some(LevelHit {
                    code: l.code.to_string(),
                    name_zh: l.name_zh.clone(),
                    name_en: l.name_en.clone(),
                    expression: l.expr.source().to_string(),
                    inputs: self.inputs(&l.expr, &slots),
                });
                break;
            }
        }
        let level = level.ok_or_else(|| {
            vec![FieldError {
                field: "levels".into(),
                message: "no level's condition holds (the last level must be `true`)".into(),
            }]
        })?;
        slots.set(self.level_slot, EValue::String(level.code.clone()));
        // Task rules.
        let mut tasks = Vec::new();
        let mut task_checks = Vec::with_capacity(self.tasks.len());
        for (i, t) in self.tasks.iter().enumerate() {
            let mut why = Vec::new();
            let mut due = true;
            if !t.levels.is_empty() && !t.levels.contains(&level.code) {
                due = false;
                why.push(format!(
                    "level {} is not one of {}",
                    level.code,
                    t.levels.join(", ")
                ));
            }
            if !t.products.is_empty() && !t.products.contains(&keys[4]) {
                due = false;
                why.push(format!(
                    "product {} is not one of {}",
                    keys[4],
                    t.products.join(", ")
                ));
            }
            if !t.signals.is_empty() {
                let fired: Vec<&str> = signals
                    .iter()
                    .filter(|s| t.signals.contains(&s.code))
                    .map(|s| s.code.as_str())
                    .collect();
                if fired.is_empty() {
                    due = false;
                    why.push(format!("none of {} fired", t.signals.join(", ")));
                } else {
                    why.push(format!("{} fired", fired.join(", ")));
                }
            }
            let mut inputs = Values::default();
            if let Some(e) = &t.expr {
                let missing = e.missing(&slots);
                let holds = if missing.is_empty() {
                    e.eval_bool(&slots).map_err(|f| {
                        vec![FieldError {
                            field: format!("tasks[{i}] {}", t.id),
                            message: format!(
                                "the task rule cannot be evaluated on this loan: {}",
                                f.0
                            ),
                        }]
                    })?
                } else {
                    t.when_missing.unwrap_or(false)
                };
                inputs = self.inputs(e, &slots);
                why.push(format!("{} is {holds}", e.source()));
                due &= holds;
            }
            if due {
                let from = match t.due_from {
                    DueFrom::AsOf => as_of,
                    DueFrom::Disbursement => disbursed,
                };
                let due_on = from + chrono::Days::new(u64::from(t.due_days));
                let period = period(t.cycle, as_of);
                tasks.push(TaskDue {
                    task_id: content_id("task", &[&keys[2], &keys[0], &t.id, &period]),
                    rule_id: t.id.to_string(),
                    task: t.task,
                    cycle: t.cycle,
                    period,
                    due_on: due_on.to_string(),
                    message_zh: t.message_zh.clone(),
                    message_en: t.message_en.clone(),
                });
            }
            task_checks.push(TaskCheck {
                rule_id: t.id.to_string(),
                due,
                why,
                inputs,
            });
        }
        Ok(Evaluation {
            format: EVALUATION_FORMAT,
            loan_id: keys[0].clone(),
            household_id: keys[1].clone(),
            institution: keys[2].clone(),
            branch: keys[3].clone(),
            product: keys[4].clone(),
            as_of: as_of.to_string(),
            monitoring: self.version.clone(),
            loan_schema: self.loan.version.clone(),
            scoring: product.versions.clone(),
            score: record.score,
            grade,
            outcome_now: record.outcome.as_str().to_string(),
            origination_score,
            origination_grade,
            grade_notches_down: notches,
            days_past_due: match self
                .loan
                .field("days_past_due")
                .and_then(|(i, _)| values[i].clone())
            {
                Some(EValue::Int(n)) => n,
                _ => 0,
            },
            level,
            signals,
            tasks,
            warnings: checks,
            task_rules: task_checks,
        })
    }

    fn inputs(&self, expr: &Expr, slots: &Slots) -> Values {
        expr.reads()
            .iter()
            .map(|&s| (self.layout.var(s).name.clone(), trace_value(slots.get(s))))
            .collect()
    }

    fn loan_decimal(&self, values: &[Option<EValue>], name: &str) -> Option<Decimal> {
        match self.loan.field(name).and_then(|(i, _)| values[i].as_ref()) {
            Some(EValue::Float(n)) => Some(n.0),
            _ => None,
        }
    }

    fn loan_text(&self, values: &[Option<EValue>], name: &str) -> Option<String> {
        match self.loan.field(name).and_then(|(i, _)| values[i].as_ref()) {
            Some(EValue::String(s)) => Some(s.clone()),
            _ => None,
        }
    }
}

fn dedup(errors: &mut Vec<FieldError>) {
    let mut seen = Vec::new();
    errors.retain(|e| {
        let key = (e.field.clone(), e.message.clone());
        if seen.contains(&key) {
            false
        } else {
            seen.push(key);
            true
        }
    });
}

/// Refuses an expression that reads a value not known by `phase`.
fn known_by(expr: Expr, layout: &Layout, phase: u8) -> Result<Expr, String> {
    for &slot in expr.reads() {
        let var = layout.var(slot);
        if var.phase > phase {
            let when = if var.phase == PHASE_SIGNALS {
                "after the warning rules (a level or task rule may read it)"
            } else {
                "after the levels (a task rule may read it)"
            };
            return Err(format!(
                "`{}` is not known yet here: it is computed {when}",
                var.name
            ));
        }
    }
    Ok(expr)
}

/// The period a task of `cycle` belongs to on `as_of`: a second run in the
/// same period asks for the same task.
pub fn period(cycle: Cycle, as_of: NaiveDate) -> String {
    match cycle {
        Cycle::Once => "once".to_string(),
        Cycle::Monthly => format!("{:04}-{:02}", as_of.year(), as_of.month()),
        Cycle::Quarterly => format!("{:04}-Q{}", as_of.year(), (as_of.month() - 1) / 3 + 1),
        Cycle::EveryRun => as_of.to_string(),
    }
}

/// `prefix-` and 20 hex digits of the SHA-256 of the parts.
pub fn content_id(prefix: &str, parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0x1f]);
    }
    let digest = h.finalize();
    format!("{prefix}-{}", &hex::encode(digest)[..20])
}

/// Parses a monitoring date, `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{:?} is not a date: expected YYYY-MM-DD", text.trim()))
}

enum LoanValue {
    Value(EValue),
    Date(NaiveDate),
}

fn expectation(f: &LoanField) -> String {
    match f.ty {
        LoanFieldType::String => "text".to_string(),
        LoanFieldType::Decimal => match f.min {
            Some(m) => format!("a decimal of at least {m}"),
            None => "a decimal".to_string(),
        },
        LoanFieldType::Integer => match f.min {
            Some(m) => format!("a whole number of at least {m}"),
            None => "a whole number".to_string(),
        },
        LoanFieldType::Date => "a date, YYYY-MM-DD".to_string(),
    }
}

fn loan_value(f: &LoanField, raw: Input<'_>) -> Result<LoanValue, String> {
    let wrong = || format!("{} is not valid: expected {}", raw.short(), expectation(f));
    let at_least = |d: Decimal| match f.min {
        Some(m) if d < m => Err(format!(
            "{d} is below the minimum: expected {}",
            expectation(f)
        )),
        _ => Ok(()),
    };
    match f.ty {
        LoanFieldType::String => match raw {
            Input::Text(s) => Ok(LoanValue::Value(EValue::String(s.trim().to_string()))),
            Input::Number(n) => Ok(LoanValue::Value(EValue::String(n.to_string()))),
            Input::Int(i) => Ok(LoanValue::Value(EValue::String(i.to_string()))),
            _ => Err(wrong()),
        },
        LoanFieldType::Decimal => {
            let d = match raw {
                Input::Text(s) | Input::Number(s) => {
                    crate::model::decimal_from_text(s.trim()).map_err(|_| wrong())?
                }
                Input::Int(i) => Decimal::from(i),
                _ => return Err(wrong()),
            };
            at_least(d)?;
            Ok(LoanValue::Value(EValue::Float(Num(d))))
        }
        LoanFieldType::Integer => {
            let i = match raw {
                Input::Int(i) => i,
                Input::Text(s) | Input::Number(s) => {
                    let d = crate::model::decimal_from_text(s.trim()).map_err(|_| wrong())?;
                    if !d.fract().is_zero() {
                        return Err(wrong());
                    }
                    rust_decimal::prelude::ToPrimitive::to_i64(&d).ok_or_else(wrong)?
                }
                _ => return Err(wrong()),
            };
            at_least(Decimal::from(i))?;
            Ok(LoanValue::Value(EValue::Int(i)))
        }
        LoanFieldType::Date => match raw {
            Input::Text(s) => parse_date(s).map(LoanValue::Date).map_err(|_| wrong()),
            _ => Err(wrong()),
        },
    }
}

/// One loan as a front door received it: its columns and refreshed
/// features by name (an empty text cell is absent).
#[derive(Clone, Debug, Default)]
pub struct LoanInput<'a> {
    /// The columns and features by name; `None` is null.
    pub values: Vec<(&'a str, Option<Input<'a>>)>,
    /// The values are a table's text cells (CSV, Parquet read as text):
    /// each feature's cell is read as its type (`true`, `49`, `49.0`).
    pub cells: bool,
}

impl<'a> LoanInput<'a> {
    /// The value named `name`, if present.
    pub fn get(&self, name: &str) -> Option<Input<'a>> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| *v)
    }

    /// A loan written as a JSON object of columns and features.
    pub fn of_json(value: &'a serde_json::Map<String, serde_json::Value>) -> LoanInput<'a> {
        LoanInput {
            values: value
                .iter()
                .map(|(k, v)| (k.as_str(), (!v.is_null()).then(|| Input::of_json(v))))
                .collect(),
            cells: false,
        }
    }
}

/// The evaluation of one loan: what fired, where it stands and what to do,
/// with every rule's trace. Stored with each signal (format
/// [`EVALUATION_FORMAT`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    /// The evaluation format ([`EVALUATION_FORMAT`]).
    pub format: u32,
    /// The loan.
    pub loan_id: String,
    /// The borrowing household.
    pub household_id: String,
    /// The lending institution.
    pub institution: String,
    /// The branch that manages the loan.
    pub branch: String,
    /// The product code.
    pub product: String,
    /// The monitoring date, `YYYY-MM-DD`.
    pub as_of: String,
    /// The monitoring policy that ran.
    pub monitoring: VersionRef,
    /// The loan schema the row was checked against.
    pub loan_schema: VersionRef,
    /// The product policy's versions that re-scored the loan.
    pub scoring: Vec<VersionRef>,
    /// The score today.
    pub score: Decimal,
    /// The grade today.
    pub grade: String,
    /// What the product policy would decide today.
    pub outcome_now: String,
    /// The score at origination, when known.
    pub origination_score: Option<Decimal>,
    /// The grade at origination, when known.
    pub origination_grade: Option<String>,
    /// Grades lost since origination (negative: gained).
    pub grade_notches_down: Option<i64>,
    /// Days past due on the monitoring date.
    pub days_past_due: i64,
    /// The post-loan level the loan took.
    pub level: LevelHit,
    /// The signals, in the policy's order.
    pub signals: Vec<Signal>,
    /// The tasks the rules ask for (stored only when none is open for the
    /// same loan and rule).
    pub tasks: Vec<TaskDue>,
    /// Every warning rule, fired or not.
    pub warnings: Vec<WarningCheck>,
    /// Every task rule, due or not, and why.
    pub task_rules: Vec<TaskCheck>,
}

/// A signal (预警信号).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signal {
    /// A content id: institution, loan, date and code.
    pub signal_id: String,
    /// The code, e.g. `W_DPD_SEVERE`.
    pub code: String,
    /// How serious the signal is.
    pub severity: Severity,
    /// The text in Chinese.
    pub message_zh: String,
    /// The text in English.
    pub message_en: String,
}

/// A task a rule asks for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDue {
    /// A content id: institution, loan, rule and period.
    pub task_id: String,
    /// The task rule that asks for it.
    pub rule_id: String,
    /// The follow-up asked for.
    pub task: TaskKind,
    /// How often it may ask again for the same loan.
    pub cycle: Cycle,
    /// `once`, `2026-11`, `2026-Q4` or the date.
    pub period: String,
    /// `YYYY-MM-DD`.
    pub due_on: String,
    /// The text in Chinese.
    pub message_zh: String,
    /// The text in English.
    pub message_en: String,
}

/// The level a loan took.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelHit {
    /// The code, e.g. `L1_INTENSIVE`.
    pub code: String,
    /// The name in Chinese.
    pub name_zh: String,
    /// The name in English.
    pub name_en: String,
    /// The condition as written.
    pub expression: String,
    /// The values it read.
    pub inputs: Values,
}

/// One warning rule's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WarningCheck {
    /// The code, e.g. `W_DPD_SEVERE`.
    pub code: String,
    /// How serious the signal is.
    pub severity: Severity,
    /// The condition as written.
    pub expression: String,
    /// Whether the signal fired.
    pub fired: bool,
    /// The values it read.
    pub inputs: Values,
    /// Values it reads that the loan lacks (its `when_missing` decided).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// One task rule's run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskCheck {
    /// The task rule that asks for it.
    pub rule_id: String,
    /// Whether the task is asked for.
    pub due: bool,
    /// Each filter and condition, and how it went.
    pub why: Vec<String>,
    /// The values it read.
    pub inputs: Values,
}

impl Evaluation {
    /// The account of one signal (or of the whole evaluation when `code`
    /// names none) in English or Chinese: which rule fired on which values,
    /// the level and the tasks.
    pub fn explain(&self, code: Option<&str>, lang: crate::Lang) -> String {
        use std::fmt::Write;
        let zh = matches!(lang, crate::Lang::Zh);
        let mut out = String::new();
        let values = |v: &Values| {
            v.iter()
                .map(|(n, s)| format!("{n} = {}", s.to_json()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if zh {
            let _ = writeln!(
                out,
                "贷款 {}（农户 {}，{} {} {}），监测日 {}，贷后策略 {}",
                self.loan_id,
                self.household_id,
                self.institution,
                self.branch,
                self.product,
                self.as_of,
                self.monitoring.label()
            );
            let _ = writeln!(
                out,
                "  重新评分：{} 分，等级 {}（放款时 {}），当前结论 {}",
                self.score,
                self.grade,
                self.origination_grade.as_deref().unwrap_or("未知"),
                self.outcome_now
            );
        } else {
            let _ = writeln!(
                out,
                "Loan {} (household {}, {} {} {}) as of {}, monitoring policy {}",
                self.loan_id,
                self.household_id,
                self.institution,
                self.branch,
                self.product,
                self.as_of,
                self.monitoring.label()
            );
            let _ = writeln!(
                out,
                "  Re-scored: {} points, grade {} (at origination {}), would decide {} today",
                self.score,
                self.grade,
                self.origination_grade.as_deref().unwrap_or("unknown"),
                self.outcome_now
            );
        }
        for w in &self.warnings {
            if code.is_some_and(|c| c != w.code) || (code.is_none() && !w.fired) {
                continue;
            }
            let text = self.signals.iter().find(|s| s.code == w.code);
            let message = text
                .map(|s| {
                    if zh {
                        s.message_zh.as_str()
                    } else {
                        s.message_en.as_str()
                    }
                })
                .unwrap_or("");
            let missing = if w.missing.is_empty() {
                String::new()
            } else if zh {
                format!("；缺少 {}，按规则取值", w.missing.join(", "))
            } else {
                format!(
                    "; {} absent, the rule's when_missing applied",
                    w.missing.join(", ")
                )
            };
            if zh {
                let _ = writeln!(
                    out,
                    "  预警规则 {}（{}）{}：{}，取值 {}{}。{}",
                    w.code,
                    w.severity.name_zh(),
                    if w.fired { "触发" } else { "未触发" },
                    w.expression,
                    values(&w.inputs),
                    missing,
                    message
                );
            } else {
                let _ = writeln!(
                    out,
                    "  Warning rule {} ({}) {}: {} with {}{}. {}",
                    w.code,
                    w.severity.name(),
                    if w.fired { "fired" } else { "did not fire" },
                    w.expression,
                    values(&w.inputs),
                    missing,
                    message
                );
            }
        }
        if zh {
            let _ = writeln!(
                out,
                "  贷后分层：{} {}（{}，取值 {}）",
                self.level.code,
                self.level.name_zh,
                self.level.expression,
                values(&self.level.inputs)
            );
        } else {
            let _ = writeln!(
                out,
                "  Post-loan level: {} {} ({} with {})",
                self.level.code,
                self.level.name_en,
                self.level.expression,
                values(&self.level.inputs)
            );
        }
        for t in &self.tasks {
            if zh {
                let _ = writeln!(
                    out,
                    "  待办 {}：{}，{} 前完成（规则 {}）",
                    t.task_id, t.message_zh, t.due_on, t.rule_id
                );
            } else {
                let _ = writeln!(
                    out,
                    "  Task {}: {}, due {} (rule {})",
                    t.task_id, t.message_en, t.due_on, t.rule_id
                );
            }
        }
        out
    }
}

/// The task kind by its written name (for front doors).
pub fn task_kind(name: &str) -> Option<TaskKind> {
    TaskKind::parse(name)
}
