//! Turns policy documents into an executable [`Policy`]: every expression
//! parsed and checked once, every name bound to a slot, every table and bin
//! checked. An invalid set of documents is refused with every problem listed.

pub mod authority;
pub mod card_derived;
pub mod overlay;
pub mod ruleset;
pub mod schema;
pub mod scorecard;

use rust_decimal::Decimal;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{Issues, PolicyError, PolicyIssue};
use crate::expr::{EValue, Expect, Expr, Layout, Num, Slots, Var, VarKind, VarType};
use crate::hash::content_hash;
use crate::model::ruleset::Layer;
use crate::model::{
    AuthorityDoc, MarketDoc, MonitoringDoc, OverlayDoc, ProductDoc, RulesetDoc, SchemaDoc,
    ScorecardDoc,
};

pub use authority::Authority;
pub use ruleset::{Derived, GradeBand, Grades, LimitPolicy, PricePolicy, Rule, Step};
pub use schema::{Feature, Schema};
pub use scorecard::{Bin, BinTest, Characteristic, Interval, Scorecard};

/// When a value becomes known in the pipeline. An expression may read only
/// values known by its own phase: a knock-out rule cannot read `score`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Features, parameters, derived features.
    Input = 0,
    /// `score`, `grade` and the grade table's columns.
    Scored = 1,
    /// `limit`.
    Limited = 2,
    /// `annual_rate`.
    Priced = 3,
}

impl Phase {
    fn describe(phase: u8) -> &'static str {
        match phase {
            0 => "the input",
            1 => "the scorecard and grade",
            2 => "the limit policy",
            _ => "the price policy",
        }
    }
}

/// Compiles an expression and checks it reads only values known by `phase`.
pub(crate) fn compile_expr(
    source: &str,
    layout: &Layout,
    expect: Expect,
    phase: Phase,
) -> Result<Expr, String> {
    checked_phase(Expr::compile(source, layout, expect)?, layout, phase)
}

/// A scorecard's expression: with PMML's missing-value rules when `pmml`.
pub(crate) fn compile_card_expr(
    source: &str,
    layout: &Layout,
    expect: Expect,
    pmml: bool,
) -> Result<Expr, String> {
    let expr = if pmml {
        Expr::compile_pmml(source, layout, expect)?
    } else {
        Expr::compile(source, layout, expect)?
    };
    checked_phase(expr, layout, Phase::Input)
}

fn checked_phase(expr: Expr, layout: &Layout, phase: Phase) -> Result<Expr, String> {
    for &slot in expr.reads() {
        let var = layout.var(slot);
        if var.phase > phase as u8 {
            return Err(format!(
                "`{}` is not known yet here: it is computed by {}",
                var.name,
                Phase::describe(var.phase)
            ));
        }
    }
    Ok(expr)
}

/// A scorecard compiled on its own, without a feature schema, to score
/// rows with it alone (e.g. to check an import against the tool's scores).
/// Every feature may be absent; a feature with interval bins is a decimal,
/// one with category bins is text.
#[derive(Clone, Debug)]
pub struct LoneScorecard {
    /// The card's inputs by name: its fields and characteristic features, all
    /// optional.
    pub layout: Layout,
    /// The compiled card, scored over slots of `layout`.
    pub card: Scorecard,
}

impl LoneScorecard {
    /// Compiles `doc` alone; an invalid card is refused with every problem
    /// listed.
    pub fn compile(doc: &Loaded<ScorecardDoc>) -> Result<LoneScorecard, PolicyError> {
        let mut issues = Issues::default();
        let mut layout = Layout::default();
        let mut add_input = |name: &str, numeric: bool, place: String| {
            let (ty, sample) = if numeric {
                (VarType::Decimal, EValue::Float(Num(Decimal::ONE)))
            } else {
                (VarType::Text, EValue::String(String::new()))
            };
            let var = Var {
                name: name.into(),
                ty,
                kind: VarKind::Feature,
                optional: true,
                sample,
                phase: Phase::Input as u8,
            };
            if let Err(e) = layout.add(var) {
                issues.push(&doc.source, place, e);
            }
        };
        for f in &doc.doc.fields {
            let numeric = f.ty == crate::model::scorecard::FieldType::Decimal;
            add_input(&f.name, numeric, format!("fields {}", f.name));
        }
        let mut seen: Vec<&str> = doc.doc.fields.iter().map(|f| f.name.as_str()).collect();
        seen.extend(doc.doc.derived.iter().map(|d| d.name.as_str()));
        // The numeric or text inputs the derived values read by name.
        for d in &doc.doc.derived {
            let inputs: Vec<(&str, bool)> = if let Some(z) = &d.discretize {
                vec![(z.field.as_str(), true)]
            } else if let Some(n) = &d.norm_continuous {
                vec![(n.field.as_str(), true)]
            } else if let Some(m) = &d.map_values {
                m.fields.iter().map(|f| (f.as_str(), false)).collect()
            } else {
                Vec::new()
            };
            for (name, numeric) in inputs {
                if !seen.contains(&name) {
                    seen.push(name);
                    add_input(name, numeric, format!("derived {}", d.name));
                }
            }
        }
        for c in &doc.doc.characteristics {
            if seen.contains(&c.feature.as_str()) {
                continue;
            }
            seen.push(&c.feature);
            let numeric = c.bins.iter().any(|b| b.interval.is_some());
            add_input(&c.feature, numeric, format!("characteristics {}", c.name));
        }
        let empty = Schema {
            id: String::new(),
            version: String::new(),
            features: Vec::new(),
            by_name: Default::default(),
        };
        let card = scorecard::compile(&doc.doc, &doc.source, &mut layout, &empty, &mut issues);
        issues.into_result()?;
        Ok(LoneScorecard { layout, card })
    }
}

/// Binds the market parameters into the layout (after the red lines'
/// parameters, before the institution's: neither may declare their names).
fn market_parameters(
    m: &Loaded<MarketDoc>,
    layout: &mut Layout,
    issues: &mut Issues,
) -> Vec<(usize, EValue)> {
    if m.doc.kind != "market_parameters" {
        issues.push(
            &m.source,
            "kind",
            format!("expected \"market_parameters\", found \"{}\"", m.doc.kind),
        );
    }
    let mut bound = Vec::new();
    for (i, p) in m.doc.parameters.iter().enumerate() {
        let place = format!("parameters[{i}] {}", p.name);
        if !schema::is_identifier(&p.name) {
            issues.push(
                &m.source,
                &place,
                "a parameter name must start with a letter and hold only letters, digits and `_`",
            );
            continue;
        }
        if !p.set_on.is_empty() && chrono::NaiveDate::parse_from_str(&p.set_on, "%Y-%m-%d").is_err()
        {
            issues.push(
                &m.source,
                format!("{place}.set_on"),
                format!("expected a date YYYY-MM-DD, found `{}`", p.set_on),
            );
        }
        let value = EValue::Float(Num(p.value));
        let var = Var {
            name: p.name.as_str().into(),
            ty: VarType::Decimal,
            kind: VarKind::Market,
            optional: false,
            sample: value.clone(),
            phase: Phase::Input as u8,
        };
        match layout.add(var) {
            Ok(slot) => bound.push((slot, value)),
            Err(e) => issues.push(&m.source, &place, e),
        }
    }
    bound
}

/// Each segment's condition, compiled before the scorecards join the layout
/// (a condition reads features and derived features, never a card's
/// values); `None` for the last segment, which has none.
fn segment_conditions(
    doc: &RulesetDoc,
    source: &str,
    layout: &Layout,
    issues: &mut Issues,
) -> Vec<Option<Expr>> {
    let n = doc.segments.len();
    doc.segments
        .iter()
        .enumerate()
        .map(|(k, s)| {
            let place = format!("segments[{k}] {}", s.id);
            match (&s.when, k + 1 == n) {
                (Some(w), false) => compile_expr(w, layout, Expect::Bool, Phase::Input)
                    .map_err(|e| issues.push(source, format!("{place}.when"), e))
                    .ok(),
                (None, true) => None,
                (None, false) => {
                    issues.push(
                        source,
                        format!("{place}.when"),
                        "only the last segment may omit `when`: say who belongs here",
                    );
                    None
                }
                (Some(_), true) => {
                    issues.push(
                        source,
                        format!("{place}.when"),
                        "the last segment takes every household left: omit `when`",
                    );
                    None
                }
            }
        })
        .collect()
}

/// The segments of a ruleset, each with its card (the main one, or one of
/// `cards` by id and version) and grade table (its own, with the ruleset's
/// columns, or the ruleset's).
fn segments(
    (doc, source): (&RulesetDoc, &str),
    whens: Vec<Option<Expr>>,
    (main, main_card): (&Loaded<ScorecardDoc>, &Scorecard),
    cards: &[&Loaded<ScorecardDoc>],
    grades: &Grades,
    (layout, schema): (&mut Layout, &Schema),
    issues: &mut Issues,
) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut compiled: Vec<(String, String, Scorecard)> = Vec::new();
    for (k, (s, when)) in doc.segments.iter().zip(whens).enumerate() {
        let place = format!("segments[{k}] {}", s.id);
        if doc.segments[..k].iter().any(|o| o.id == s.id) {
            issues.push(source, &place, "a second segment with this id");
        }
        let card = if s.scorecard == main.doc.id && s.scorecard_version == main.doc.version {
            main_card.clone()
        } else if let Some((_, _, c)) = compiled
            .iter()
            .find(|(id, v, _)| *id == s.scorecard && *v == s.scorecard_version)
        {
            c.clone()
        } else if let Some(d) = cards
            .iter()
            .find(|d| d.doc.id == s.scorecard && d.doc.version == s.scorecard_version)
        {
            let c = scorecard::compile(&d.doc, &d.source, layout, schema, issues);
            compiled.push((s.scorecard.clone(), s.scorecard_version.clone(), c.clone()));
            c
        } else {
            issues.push(
                source,
                format!("{place}.scorecard"),
                format!(
                    "scorecard {}@{} is not in the policy set: publish it (a segment names the exact version it scores with)",
                    s.scorecard, s.scorecard_version
                ),
            );
            continue;
        };
        let table = match &s.grades {
            None => grades.clone(),
            Some(t) => {
                let columns: Vec<&String> = grades.columns.iter().map(|(c, _)| c).collect();
                if t.columns.iter().collect::<Vec<_>>() != columns {
                    issues.push(
                        source,
                        format!("{place}.grades.columns"),
                        format!(
                            "a segment's grade table has the ruleset's columns, in order: expected {}",
                            columns.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ")
                        ),
                    );
                }
                ruleset::grades(t, &format!("{source} {place}"), layout, issues)
            }
        };
        out.push(Segment {
            id: s.id.as_str().into(),
            description: s.description.clone(),
            when,
            when_missing: s.when_missing.unwrap_or(false),
            scorecard: card,
            grades: table,
        });
    }
    out
}

/// The versions of the segments' cards other than the main one, once each,
/// in segment order.
fn segment_versions(
    doc: &RulesetDoc,
    main: &Loaded<ScorecardDoc>,
    cards: &[&Loaded<ScorecardDoc>],
) -> Vec<VersionRef> {
    doc.segment_cards((&main.doc.id, &main.doc.version))
        .into_iter()
        .filter_map(|(id, version)| {
            cards
                .iter()
                .find(|d| d.doc.id == id && d.doc.version == version)
                .map(|d| VersionRef::new("scorecard", &d.doc.id, &d.doc.version, &d.hash))
        })
        .collect()
}

/// Binds the product's attributes into the layout: `product_max_amount`
/// (yuan) and `product_max_term_months`.
fn product_attributes(
    d: &Loaded<ProductDoc>,
    product: &str,
    layout: &mut Layout,
    issues: &mut Issues,
) -> Vec<(usize, EValue)> {
    if d.doc.kind != "product" {
        issues.push(
            &d.source,
            "kind",
            format!("expected \"product\", found \"{}\"", d.doc.kind),
        );
    }
    if d.doc.id != product {
        issues.push(
            &d.source,
            "id",
            format!("is product {}, but the ruleset decides {product}", d.doc.id),
        );
    }
    if d.doc.max_amount <= Decimal::ZERO {
        issues.push(&d.source, "max_amount", "must be more than 0 yuan");
    }
    if d.doc.max_term_months <= 0 {
        issues.push(&d.source, "max_term_months", "must be at least 1 month");
    }
    let mut bound = Vec::new();
    for (name, ty, value) in [
        (
            "product_max_amount",
            VarType::Decimal,
            EValue::Float(Num(d.doc.max_amount)),
        ),
        (
            "product_max_term_months",
            VarType::Int,
            EValue::Int(d.doc.max_term_months),
        ),
    ] {
        let var = Var {
            name: name.into(),
            ty,
            kind: VarKind::Product,
            optional: false,
            sample: value.clone(),
            phase: Phase::Input as u8,
        };
        match layout.add(var) {
            Ok(slot) => bound.push((slot, value)),
            Err(e) => issues.push(&d.source, "", e),
        }
    }
    bound
}

/// A parsed document with where it came from and its content hash.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// The file path, or `id@version`.
    pub source: String,
    /// The content hash, `sha256:<hex>` of the canonical JSON: the same however
    /// the file is formatted.
    pub hash: String,
    /// The typed document.
    pub doc: T,
    /// The document's JSON text as read (its hash is of this content).
    pub text: std::sync::Arc<str>,
}

/// Any policy document.
#[derive(Clone, Debug)]
pub enum Document {
    /// A feature schema (`"kind": "feature_schema"`).
    Schema(Loaded<SchemaDoc>),
    /// A province or institution ruleset (`"kind": "ruleset"`).
    Ruleset(Box<Loaded<RulesetDoc>>),
    /// A scorecard (`"kind": "scorecard"`).
    Scorecard(Loaded<ScorecardDoc>),
    /// An authority matrix (`"kind": "authority_matrix"`).
    Authority(Loaded<AuthorityDoc>),
    /// A post-loan monitoring policy (`"kind": "monitoring_policy"`).
    Monitoring(Loaded<MonitoringDoc>),
    /// Market parameters (`"kind": "market_parameters"`).
    Market(Loaded<MarketDoc>),
    /// An institution's overlay on the province default
    /// (`"kind": "ruleset_overlay"`).
    Overlay(Loaded<OverlayDoc>),
    /// A product of the catalogue (`"kind": "product"`).
    Product(Loaded<ProductDoc>),
}

impl Document {
    /// Parses a document from JSON text; `source` names it in errors.
    pub fn parse(source: &str, text: &str) -> Result<Document, PolicyError> {
        let fail = |message: String| PolicyError {
            issues: vec![PolicyIssue {
                document: source.to_string(),
                place: String::new(),
                message,
            }],
        };
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| fail(format!("not valid JSON: {e}")))?;
        let hash = content_hash(&value);
        fn typed<T: DeserializeOwned>(
            source: &str,
            text: &str,
            hash: String,
        ) -> Result<Loaded<T>, String> {
            serde_json::from_str(text)
                .map(|doc| Loaded {
                    source: source.to_string(),
                    hash,
                    doc,
                    text: text.into(),
                })
                .map_err(|e| e.to_string())
        }
        match value.get("kind").and_then(|k| k.as_str()) {
            Some("feature_schema") => typed(source, text, hash).map(Document::Schema),
            Some("ruleset") => typed(source, text, hash).map(|r| Document::Ruleset(Box::new(r))),
            Some("scorecard") => typed(source, text, hash).map(Document::Scorecard),
            Some("authority_matrix") => typed(source, text, hash).map(Document::Authority),
            Some("monitoring_policy") => typed(source, text, hash).map(Document::Monitoring),
            Some("market_parameters") => typed(source, text, hash).map(Document::Market),
            Some("ruleset_overlay") => typed(source, text, hash).map(Document::Overlay),
            Some("product") => typed(source, text, hash).map(Document::Product),
            Some(other) => Err(format!(
                "unknown kind `{other}`: expected \"feature_schema\", \"ruleset\", \"scorecard\", \"authority_matrix\", \"monitoring_policy\", \"market_parameters\", \"ruleset_overlay\" or \"product\""
            )),
            None => Err(
                "missing `kind`: expected \"feature_schema\", \"ruleset\", \"scorecard\", \"authority_matrix\", \"monitoring_policy\", \"market_parameters\", \"ruleset_overlay\" or \"product\""
                    .to_string(),
            ),
        }
        .map_err(fail)
    }

    /// Where the document came from (file path or `id@version`), as errors
    /// name it.
    pub fn source(&self) -> &str {
        match self {
            Document::Schema(d) => &d.source,
            Document::Ruleset(d) => &d.source,
            Document::Scorecard(d) => &d.source,
            Document::Authority(d) => &d.source,
            Document::Monitoring(d) => &d.source,
            Document::Market(d) => &d.source,
            Document::Overlay(d) => &d.source,
            Document::Product(d) => &d.source,
        }
    }

    /// The JSON text as read.
    pub fn text(&self) -> &str {
        match self {
            Document::Schema(d) => &d.text,
            Document::Ruleset(d) => &d.text,
            Document::Scorecard(d) => &d.text,
            Document::Authority(d) => &d.text,
            Document::Monitoring(d) => &d.text,
            Document::Market(d) => &d.text,
            Document::Overlay(d) => &d.text,
            Document::Product(d) => &d.text,
        }
    }

    /// The kind, id, version and content hash a decision records for it.
    pub fn version_ref(&self) -> VersionRef {
        match self {
            Document::Schema(d) => {
                VersionRef::new("feature_schema", &d.doc.id, &d.doc.version, &d.hash)
            }
            Document::Ruleset(d) => VersionRef::new("ruleset", &d.doc.id, &d.doc.version, &d.hash),
            Document::Scorecard(d) => {
                VersionRef::new("scorecard", &d.doc.id, &d.doc.version, &d.hash)
            }
            Document::Authority(d) => {
                VersionRef::new("authority_matrix", &d.doc.id, &d.doc.version, &d.hash)
            }
            Document::Monitoring(d) => {
                VersionRef::new("monitoring_policy", &d.doc.id, &d.doc.version, &d.hash)
            }
            Document::Market(d) => {
                VersionRef::new("market_parameters", &d.doc.id, &d.doc.version, &d.hash)
            }
            Document::Overlay(d) => {
                VersionRef::new("ruleset_overlay", &d.doc.id, &d.doc.version, &d.hash)
            }
            Document::Product(d) => VersionRef::new("product", &d.doc.id, &d.doc.version, &d.hash),
        }
    }
}

/// The exact version of one document a decision used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct VersionRef {
    /// `feature_schema`, `ruleset`, `scorecard` or `authority_matrix`.
    pub kind: String,
    /// The document's id, e.g. `farmer-credit-default`.
    pub id: String,
    /// The document's version label, e.g. `2026.1`.
    pub version: String,
    /// The content hash (`sha256:<hex>`): the exact content that ran, for
    /// replay and audit.
    pub hash: String,
}

impl VersionRef {
    fn new(kind: &str, id: &str, version: &str, hash: &str) -> Self {
        VersionRef {
            kind: kind.to_string(),
            id: id.to_string(),
            version: version.to_string(),
            hash: hash.to_string(),
        }
    }
}

impl VersionRef {
    /// `id@version`, as reports and batch outputs show it.
    pub fn label(&self) -> String {
        format!("{}@{}", self.id, self.version)
    }
}

/// Which document of a policy a version names. [`Policy::versions`] and a
/// decision's `versions` list them in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Slot {
    /// The feature schema.
    Schema,
    /// The province red lines.
    RedLines,
    /// The institution's (or the province default) product ruleset.
    Ruleset,
    /// The scorecard.
    Scorecard,
    /// The authority matrix (a policy may have none; decisions recorded
    /// before matrices existed list only the first four).
    Authority,
}

impl Slot {
    /// Every slot, in the order of [`Policy::versions`].
    pub const ALL: [Slot; 4] = [Slot::Schema, Slot::RedLines, Slot::Ruleset, Slot::Scorecard];

    /// The slots an activation or a pin may choose: red lines and the
    /// schema are the province's.
    pub const CHOSEN: [Slot; 2] = [Slot::Ruleset, Slot::Scorecard];

    /// The position in [`Policy::versions`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The document kind the slot holds.
    pub fn kind(self) -> &'static str {
        match self {
            Slot::Schema => "feature_schema",
            Slot::RedLines | Slot::Ruleset => "ruleset",
            Slot::Scorecard => "scorecard",
            Slot::Authority => "authority_matrix",
        }
    }
}

/// The documents one policy run needs.
#[derive(Clone, Copy, Debug)]
pub struct PolicyDocuments<'a> {
    /// The feature schema requests are checked against.
    pub schema: &'a Loaded<SchemaDoc>,
    /// Province red lines.
    pub province: &'a Loaded<RulesetDoc>,
    /// The institution's (or the province default) product ruleset.
    pub institution: &'a Loaded<RulesetDoc>,
    /// The scorecard the institution ruleset names.
    pub scorecard: &'a Loaded<ScorecardDoc>,
    /// The authority matrix of the institution (or the province default)
    /// for the product, if there is one.
    pub authority: Option<&'a Loaded<AuthorityDoc>>,
    /// The market parameters the rulesets may read, if any.
    pub market: Option<&'a Loaded<MarketDoc>>,
    /// The product of the catalogue the ruleset decides, if the catalogue
    /// has it.
    pub product: Option<&'a Loaded<ProductDoc>>,
    /// The scorecards the ruleset's segments name (beside `scorecard`).
    pub segment_cards: &'a [&'a Loaded<ScorecardDoc>],
}

/// A segment of a product's households with the scorecard and grade table
/// that score it.
#[derive(Clone, Debug)]
pub struct Segment {
    /// The segment's id, e.g. `thin_file`.
    pub id: std::sync::Arc<str>,
    /// Who the segment is, for people.
    pub description: String,
    /// The condition that puts a household here; `None`: everyone left.
    pub when: Option<Expr>,
    /// The condition's result when a value it reads is absent.
    pub when_missing: bool,
    /// The card that scores the segment.
    pub scorecard: Scorecard,
    /// Its score bands and their columns.
    pub grades: Grades,
}

/// The slots of the values the pipeline computes.
#[derive(Clone, Copy, Debug)]
pub struct ComputedSlots {
    /// Where `score` is bound, for limit, price, refer and flag expressions.
    pub score: usize,
    /// Where `grade` is bound, for limit, price, refer and flag expressions.
    pub grade: usize,
    /// Where the credit limit is bound, for price, refer and flag expressions.
    pub limit: usize,
    /// Where the annual rate is bound, for refer and flag expressions.
    pub annual_rate: usize,
}

/// An executable policy: everything checked and prepared at load.
#[derive(Clone, Debug)]
pub struct Policy {
    /// The product code it decides, e.g. `FARMER_CREDIT`.
    pub product: String,
    /// Every name its expressions read (features, parameters, derived features,
    /// grade columns, computed values) with its slot.
    pub layout: Layout,
    /// The feature schema requests are validated against.
    pub schema: Schema,
    /// Parameter values, bound into every evaluation.
    pub parameters: Vec<(usize, EValue)>,
    /// Derived features, province ones first, computed in order before any
    /// rule.
    pub derived: Vec<Derived>,
    /// Province red lines first, then the institution's rules, in document
    /// order.
    pub rules: Vec<Rule>,
    /// The scorecard every household is scored with.
    pub scorecard: Scorecard,
    /// Score bands to grades, with their limit and price columns.
    pub grades: Grades,
    /// How the credit limit is computed.
    pub limit: LimitPolicy,
    /// How the annual rate is computed.
    pub price: PricePolicy,
    /// The slots of the score, grade, limit and annual rate.
    pub computed: ComputedSlots,
    /// Routes decisions to review levels; `None` when the policy has no
    /// authority matrix (then nothing is routed).
    pub authority: Option<Authority>,
    /// One per [`Slot`], in [`Slot::ALL`] order: schema, province ruleset,
    /// institution ruleset, scorecard, then the authority matrix and the
    /// market parameters, each if any (found by kind).
    pub versions: Vec<VersionRef>,
    /// sha256 of `versions` ([`crate::record::policy_hash`]): names this
    /// policy in the decision records it makes.
    pub hash: [u8; 32],
    /// The test cases of its red lines, ruleset and scorecard, run at
    /// compile time (see [`Policy::compile_with_case_results`]).
    pub tests: Vec<crate::cases::CaseRun>,
    /// The layers of an overlay's effective ruleset (`None` for a ruleset
    /// written whole).
    pub layers: Option<std::sync::Arc<crate::model::overlay::Layers>>,
    /// The segments, in order (empty: `scorecard` and `grades` score every
    /// household).
    pub segments: Vec<Segment>,
    /// Slots with the parameters bound: each evaluation starts from a copy.
    template: Slots,
}

fn computed_var(
    layout: &mut Layout,
    name: &str,
    ty: VarType,
    sample: EValue,
    phase: Phase,
    issues: &mut Issues,
    source: &str,
) -> usize {
    layout
        .add(Var {
            name: name.into(),
            ty,
            kind: VarKind::Computed,
            optional: false,
            sample,
            phase: phase as u8,
        })
        .unwrap_or_else(|e| {
            issues.push(
                source,
                "",
                format!("{e}; `{name}` is reserved for the computed value"),
            );
            usize::MAX
        })
}

impl Policy {
    /// The version in `slot`. The authority matrix, which a policy may
    /// lack, is read with [`Policy::authority_version`].
    pub fn version(&self, slot: Slot) -> &VersionRef {
        &self.versions[slot.index()]
    }

    /// The authority matrix's version, when the policy has one.
    pub fn authority_version(&self) -> Option<&VersionRef> {
        self.optional_version("authority_matrix")
    }

    /// The market parameters' version, when the policy has them.
    pub fn market_version(&self) -> Option<&VersionRef> {
        self.optional_version("market_parameters")
    }

    /// The scorecard and grade table of segment `segment` (0 without
    /// segments), if there is one.
    pub fn scoring(&self, segment: u32) -> Option<(&Scorecard, &Grades)> {
        if self.segments.is_empty() {
            return (segment == 0).then_some((&self.scorecard, &self.grades));
        }
        self.segments
            .get(segment as usize)
            .map(|s| (&s.scorecard, &s.grades))
    }

    /// The catalogue product's version, when the catalogue has the product.
    pub fn product_version(&self) -> Option<&VersionRef> {
        self.optional_version("product")
    }

    fn optional_version(&self, kind: &str) -> Option<&VersionRef> {
        self.versions
            .get(Slot::Authority.index()..)
            .and_then(|rest| rest.iter().find(|v| v.kind == kind))
    }

    /// Compiles the documents of one policy: every expression, table and bin is
    /// checked, the institution may only tighten the red lines, and the test
    /// cases of the red lines, the ruleset and the scorecard must pass. An
    /// invalid set is refused with every problem (and every difference of a
    /// failing case) listed.
    pub fn compile(docs: PolicyDocuments<'_>) -> Result<Policy, PolicyError> {
        let policy = Policy::compile_with_case_results(docs)?;
        crate::cases::failures(&policy.tests)?;
        Ok(policy)
    }

    /// [`Policy::compile`], but failing test cases do not refuse the policy:
    /// their results are in [`Policy::tests`] (for `policy test`, which
    /// reports every case).
    pub fn compile_with_case_results(docs: PolicyDocuments<'_>) -> Result<Policy, PolicyError> {
        let mut issues = Issues::default();
        let mut layout = Layout::default();
        let (s, p, i, c) = (docs.schema, docs.province, docs.institution, docs.scorecard);

        for (source, kind, expected) in [
            (&s.source, &s.doc.kind, "feature_schema"),
            (&p.source, &p.doc.kind, "ruleset"),
            (&i.source, &i.doc.kind, "ruleset"),
            (&c.source, &c.doc.kind, "scorecard"),
        ] {
            if kind != expected {
                issues.push(
                    source,
                    "kind",
                    format!("expected \"{expected}\", found \"{kind}\""),
                );
            }
        }
        if p.doc.layer != Layer::Province {
            issues.push(
                &p.source,
                "layer",
                "the red-line ruleset must have layer \"province\"",
            );
        }
        if p.doc.grades.is_some() || p.doc.limit.is_some() || p.doc.price.is_some() {
            issues.push(
                &p.source,
                "",
                "a province ruleset holds parameters and red lines only, no grades, limit or price",
            );
        }
        if i.doc.layer != Layer::Institution {
            issues.push(
                &i.source,
                "layer",
                "the product ruleset must have layer \"institution\"",
            );
        }
        if let Some(card) = &i.doc.scorecard
            && card != &c.doc.id
        {
            issues.push(
                &i.source,
                "scorecard",
                format!(
                    "calibrated for scorecard `{card}`, but `{}` was given",
                    c.doc.id
                ),
            );
        }
        let product = i.doc.product.clone().unwrap_or_default();
        if product.is_empty() {
            issues.push(
                &i.source,
                "product",
                "the product ruleset must name its product, e.g. \"FARMER_CREDIT\"",
            );
        }

        let schema = schema::compile(&s.doc, &s.source, &mut layout, &mut issues);
        let mut parameters = ruleset::parameters(&p.doc, &p.source, &mut layout, &mut issues, None);
        if let Some(m) = docs.market {
            parameters.extend(market_parameters(m, &mut layout, &mut issues));
        }
        if let Some(d) = docs.product {
            parameters.extend(product_attributes(d, &product, &mut layout, &mut issues));
        }
        // The institution's values come later: a tightened red line
        // overrides the province value when the slots are filled.
        let institution_parameters = ruleset::parameters(
            &i.doc,
            &i.source,
            &mut layout,
            &mut issues,
            Some((&p.doc, &parameters)),
        );
        parameters.extend(institution_parameters);
        let mut derived = ruleset::derived(&p.doc, &p.source, &mut layout, &mut issues);
        derived.extend(ruleset::derived(
            &i.doc,
            &i.source,
            &mut layout,
            &mut issues,
        ));

        let first_grade = i
            .doc
            .grades
            .as_ref()
            .and_then(|g| g.rows.first())
            .map_or("A".to_string(), |r| r.grade.clone());
        let dec = |d: Decimal| EValue::Float(Num(d));
        let computed = ComputedSlots {
            score: computed_var(
                &mut layout,
                "score",
                VarType::Decimal,
                dec(Decimal::ONE),
                Phase::Scored,
                &mut issues,
                &i.source,
            ),
            grade: computed_var(
                &mut layout,
                "grade",
                VarType::Text,
                EValue::String(first_grade),
                Phase::Scored,
                &mut issues,
                &i.source,
            ),
            limit: computed_var(
                &mut layout,
                "limit",
                VarType::Decimal,
                dec(Decimal::ONE),
                Phase::Limited,
                &mut issues,
                &i.source,
            ),
            annual_rate: computed_var(
                &mut layout,
                "annual_rate",
                VarType::Decimal,
                dec(Decimal::ONE),
                Phase::Priced,
                &mut issues,
                &i.source,
            ),
        };
        let grades = match &i.doc.grades {
            Some(table) => ruleset::grades(table, &i.source, &mut layout, &mut issues),
            None => {
                issues.push(
                    &i.source,
                    "grades",
                    "the product ruleset needs a grade table",
                );
                Grades {
                    columns: Vec::new(),
                    bands: Vec::new(),
                }
            }
        };
        for (n, r) in i.doc.rules.iter().enumerate() {
            if p.doc.rules.iter().any(|red| red.id == r.id) {
                issues.push(
                    &i.source,
                    format!("rules[{n}] {}", r.id),
                    "a province red line of this id already runs first for every institution; it cannot be redefined, only added to",
                );
            }
        }
        let mut rules = ruleset::rules(&p.doc, &p.source, &layout, &mut issues);
        rules.extend(ruleset::rules(&i.doc, &i.source, &layout, &mut issues));
        let limit = match &i.doc.limit {
            Some(l) => Some(ruleset::limit(l, &i.source, &layout, &mut issues)),
            None => {
                issues.push(
                    &i.source,
                    "limit",
                    "the product ruleset needs a limit policy",
                );
                None
            }
        };
        let authority = docs.authority.and_then(|a| {
            if a.doc.product != product {
                issues.push(
                    &a.source,
                    "product",
                    format!(
                        "governs product `{}`, but the ruleset decides `{product}`",
                        a.doc.product
                    ),
                );
            }
            authority::compile(&a.doc, &a.source, &schema, &mut issues)
        });
        let price = match &i.doc.price {
            Some(pr) => ruleset::price(pr, &i.source, &layout, &mut issues),
            None => {
                issues.push(
                    &i.source,
                    "price",
                    "the product ruleset needs a price policy",
                );
                None
            }
        };
        let whens = segment_conditions(&i.doc, &i.source, &layout, &mut issues);
        // Last: the card's own derived values join the layout, and nothing
        // but the card may read them.
        let scorecard = scorecard::compile(&c.doc, &c.source, &mut layout, &schema, &mut issues);
        let segments = segments(
            (&i.doc, &i.source),
            whens,
            (c, &scorecard),
            docs.segment_cards,
            &grades,
            (&mut layout, &schema),
            &mut issues,
        );
        issues.into_result()?;
        let (Some(limit), Some(price)) = (limit, price) else {
            return Err(PolicyError {
                issues: vec![PolicyIssue {
                    document: i.source.clone(),
                    place: String::new(),
                    message: "the limit or price policy could not be compiled".to_string(),
                }],
            });
        };

        let mut template = Slots::new(layout.len());
        for (slot, value) in &parameters {
            template.set(*slot, value.clone());
        }
        let versions: Vec<VersionRef> = [
            VersionRef::new("feature_schema", &s.doc.id, &s.doc.version, &s.hash),
            VersionRef::new("ruleset", &p.doc.id, &p.doc.version, &p.hash),
            VersionRef::new("ruleset", &i.doc.id, &i.doc.version, &i.hash),
            VersionRef::new("scorecard", &c.doc.id, &c.doc.version, &c.hash),
        ]
        .into_iter()
        .chain(
            docs.authority
                .map(|a| VersionRef::new("authority_matrix", &a.doc.id, &a.doc.version, &a.hash)),
        )
        .chain(
            docs.market
                .map(|m| VersionRef::new("market_parameters", &m.doc.id, &m.doc.version, &m.hash)),
        )
        .chain(
            docs.product
                .map(|d| VersionRef::new("product", &d.doc.id, &d.doc.version, &d.hash)),
        )
        .chain(segment_versions(&i.doc, c, docs.segment_cards))
        .collect();
        let mut policy = Policy {
            product,
            hash: crate::record::policy_hash(&versions),
            schema,
            parameters,
            derived,
            rules,
            scorecard,
            grades,
            limit,
            price,
            computed,
            authority,
            versions,
            layout,
            tests: Vec::new(),
            layers: i.doc.layers.clone().map(std::sync::Arc::new),
            segments,
            template,
        };
        let institution = i.doc.institution.as_deref().unwrap_or("*");
        let mut tests = Vec::new();
        for (slot, source, cases) in [
            (Slot::RedLines, &p.source, &p.doc.test_cases),
            (Slot::Ruleset, &i.source, &i.doc.test_cases),
            (Slot::Scorecard, &c.source, &c.doc.test_cases),
        ] {
            tests.extend(crate::cases::run(
                &policy,
                policy.version(slot),
                source,
                cases,
                institution,
            ));
        }
        policy.tests = tests;
        Ok(policy)
    }

    /// Fresh slots for one evaluation, with the parameters bound.
    pub fn new_slots(&self) -> Slots {
        self.template.clone()
    }
}
