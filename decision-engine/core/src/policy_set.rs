//! A set of policy documents compiled into one [`Policy`] per (institution,
//! product), and the choice of policy for a request: the institution's own
//! ruleset for the product, else the province default (`institution: "*"`).
//!
//! The shipped illustrative policy is embedded in the binary, so the engine
//! runs from anywhere with no files at hand; `--policy-dir` loads another.

use std::path::Path;
use std::sync::Arc;

use crate::compile::{Document, Loaded, Policy, PolicyDocuments};
use crate::error::{InputError, Issues, PolicyError, PolicyIssue};
use crate::model::ruleset::Layer;
use crate::model::{
    AuthorityDoc, MarketDoc, MonitoringDoc, OverlayDoc, ProductDoc, RulesetDoc, SchemaDoc,
    ScorecardDoc,
};
use crate::monitor::{LoanSchema, MonitoringPolicy};

/// The shipped documents: (name, JSON text).
pub const SHIPPED: &[(&str, &str)] = &[
    (
        "rulesets/feature-schema.json",
        include_str!("../../../rulesets/feature-schema.json"),
    ),
    (
        "rulesets/province-red-lines.json",
        include_str!("../../../rulesets/province-red-lines.json"),
    ),
    (
        "rulesets/farmer-credit-default.json",
        include_str!("../../../rulesets/farmer-credit-default.json"),
    ),
    (
        "scorecards/farmer-scorecard.json",
        include_str!("../../../scorecards/farmer-scorecard.json"),
    ),
    (
        "rulesets/farmer-authority.json",
        include_str!("../../../rulesets/farmer-authority.json"),
    ),
    (
        "rulesets/farmer-post-loan.json",
        include_str!("../../../rulesets/farmer-post-loan.json"),
    ),
    (
        "rulesets/market-parameters.json",
        include_str!("../../../rulesets/market-parameters.json"),
    ),
    (
        "rulesets/product-farmer-credit.json",
        include_str!("../../../rulesets/product-farmer-credit.json"),
    ),
    (
        "rulesets/product-guaranteed-farmer-credit.json",
        include_str!("../../../rulesets/product-guaranteed-farmer-credit.json"),
    ),
    (
        "rulesets/guaranteed-farmer-default.json",
        include_str!("../../../rulesets/guaranteed-farmer-default.json"),
    ),
];

/// Compiled policies, one per (institution, product).
#[derive(Clone, Debug)]
pub struct PolicySet {
    /// (institution, product, policy); institution `*` is the default.
    policies: Vec<(String, String, Arc<Policy>)>,
    /// The documents the policies were compiled from.
    documents: Vec<Document>,
    /// The effective rulesets merged from the set's overlays.
    merged: Vec<Document>,
    /// Post-loan monitoring policies, one per institution (`*`: the
    /// default).
    monitoring: Vec<Arc<MonitoringPolicy>>,
}

impl PolicySet {
    /// The shipped illustrative policy.
    pub fn shipped() -> Result<PolicySet, PolicyError> {
        let docs = SHIPPED
            .iter()
            .map(|(name, text)| Document::parse(name, text))
            .collect::<Result<Vec<_>, _>>()?;
        PolicySet::from_documents(docs)
    }

    /// Every `*.json` under `dir/rulesets` and `dir/scorecards`.
    pub fn load_dir(dir: &Path) -> Result<PolicySet, PolicyError> {
        PolicySet::from_documents(read_dir_documents(dir)?)
    }

    /// Compiles a set of documents: one feature schema, one province
    /// ruleset, institution rulesets and the scorecards they name.
    /// Every test case the documents carry must pass under each policy the
    /// document is part of.
    pub fn from_documents(docs: Vec<Document>) -> Result<PolicySet, PolicyError> {
        PolicySet::build(docs, true)
    }

    /// [`PolicySet::from_documents`], but failing test cases do not refuse
    /// the set: each policy's [`Policy::tests`] holds its results.
    pub fn from_documents_with_case_results(docs: Vec<Document>) -> Result<PolicySet, PolicyError> {
        PolicySet::build(docs, false)
    }

    fn build(docs: Vec<Document>, cases_must_pass: bool) -> Result<PolicySet, PolicyError> {
        let mut issues = Issues::default();
        let mut schemas: Vec<&Loaded<SchemaDoc>> = Vec::new();
        let mut provinces: Vec<&Loaded<RulesetDoc>> = Vec::new();
        let mut institutions: Vec<&Loaded<RulesetDoc>> = Vec::new();
        let mut scorecards: Vec<&Loaded<ScorecardDoc>> = Vec::new();
        let mut authorities: Vec<&Loaded<AuthorityDoc>> = Vec::new();
        let mut monitors: Vec<&Loaded<MonitoringDoc>> = Vec::new();
        let mut markets: Vec<&Loaded<MarketDoc>> = Vec::new();
        let mut overlays: Vec<&Loaded<OverlayDoc>> = Vec::new();
        let mut products: Vec<&Loaded<ProductDoc>> = Vec::new();
        for d in &docs {
            match d {
                Document::Schema(s) => schemas.push(s),
                Document::Ruleset(r) if r.doc.layer == Layer::Province => {
                    provinces.push(r.as_ref())
                }
                Document::Ruleset(r) => institutions.push(r.as_ref()),
                Document::Scorecard(s) => scorecards.push(s),
                Document::Authority(a) => authorities.push(a),
                Document::Monitoring(m) => monitors.push(m),
                Document::Market(m) => markets.push(m),
                Document::Overlay(o) => overlays.push(o),
                Document::Product(p) => products.push(p),
            }
        }
        for (n, p) in products.iter().enumerate() {
            if products[..n].iter().any(|q| q.doc.id == p.doc.id) {
                issues.push(&p.source, "id", format!("a second product {}", p.doc.id));
            }
        }
        // Each overlay runs as the effective ruleset merged with its base
        // in the set (the version it pins must be that one).
        let merged: Vec<Loaded<RulesetDoc>> = overlays
            .iter()
            .filter_map(|o| {
                let base = institutions.iter().find(|b| {
                    b.doc.id == o.doc.base.id && b.doc.institution.as_deref().unwrap_or("*") == "*"
                });
                let Some(base) = base else {
                    issues.push(
                        &o.source,
                        "base.id",
                        format!(
                            "the policy set has no province default `{}` to lay this overlay over",
                            o.doc.base.id
                        ),
                    );
                    return None;
                };
                match crate::compile::overlay::merge(o, base) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        issues.issues.extend(e.issues);
                        None
                    }
                }
            })
            .collect();
        institutions.extend(merged.iter());
        if markets.len() > 1 {
            issues.push(
                "policy set",
                "",
                format!(
                    "more than one market parameters document: {}",
                    markets
                        .iter()
                        .map(|m| m.source.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        for (n, a) in authorities.iter().enumerate() {
            if authorities[..n]
                .iter()
                .any(|b| b.doc.institution == a.doc.institution && b.doc.product == a.doc.product)
            {
                issues.push(
                    &a.source,
                    "",
                    format!(
                        "a second authority matrix for institution {}, product {}",
                        a.doc.institution, a.doc.product
                    ),
                );
            }
        }
        let one = |what: &str, sources: Vec<&str>, issues: &mut Issues| match sources.len() {
            1 => true,
            0 => {
                issues.push("policy set", "", format!("no {what} found"));
                false
            }
            _ => {
                issues.push(
                    "policy set",
                    "",
                    format!("more than one {what}: {}", sources.join(", ")),
                );
                false
            }
        };
        let schema_ok = one(
            "feature schema",
            schemas.iter().map(|s| s.source.as_str()).collect(),
            &mut issues,
        );
        let province_ok = one(
            "province ruleset (layer \"province\")",
            provinces.iter().map(|s| s.source.as_str()).collect(),
            &mut issues,
        );
        if institutions.is_empty() {
            issues.push(
                "policy set",
                "",
                "no institution ruleset (layer \"institution\") found",
            );
        }
        let mut policies: Vec<(String, String, Arc<Policy>)> = Vec::new();
        if schema_ok && province_ok {
            for inst in &institutions {
                let institution = inst
                    .doc
                    .institution
                    .clone()
                    .unwrap_or_else(|| "*".to_string());
                let product = inst.doc.product.clone().unwrap_or_default();
                if policies
                    .iter()
                    .any(|(i, p, _)| *i == institution && *p == product)
                {
                    issues.push(
                        &inst.source,
                        "",
                        format!(
                            "a second ruleset for institution {institution}, product {product}"
                        ),
                    );
                    continue;
                }
                let Some(card_id) = &inst.doc.scorecard else {
                    issues.push(
                        &inst.source,
                        "scorecard",
                        "name the scorecard this ruleset runs (its id)",
                    );
                    continue;
                };
                // The ruleset's own card: a segment's card may share its id
                // under another version.
                let segment_versions = |c: &&&Loaded<ScorecardDoc>| {
                    c.doc.id == *card_id
                        && inst.doc.segments.iter().any(|s| {
                            s.scorecard == c.doc.id
                                && s.scorecard_version == c.doc.version
                                && scorecards.iter().filter(|o| o.doc.id == *card_id).count() > 1
                        })
                };
                let cards: Vec<_> = scorecards
                    .iter()
                    .filter(|c| &c.doc.id == card_id)
                    .filter(|c| !segment_versions(c))
                    .collect();
                if cards.len() != 1 {
                    issues.push(
                        &inst.source,
                        "scorecard",
                        format!(
                            "expected exactly one scorecard with id `{card_id}`, found {}",
                            cards.len()
                        ),
                    );
                    continue;
                }
                let authority = [institution.as_str(), "*"].into_iter().find_map(|who| {
                    authorities
                        .iter()
                        .find(|a| a.doc.institution == who && a.doc.product == product)
                        .copied()
                });
                // The cards the segments name, by id and version.
                let segment_cards: Vec<&Loaded<ScorecardDoc>> = scorecards
                    .iter()
                    .filter(|c| {
                        inst.doc.segments.iter().any(|s| {
                            s.scorecard == c.doc.id && s.scorecard_version == c.doc.version
                        })
                    })
                    .copied()
                    .collect();
                let docs = PolicyDocuments {
                    schema: schemas[0],
                    province: provinces[0],
                    institution: inst,
                    scorecard: cards[0],
                    authority,
                    market: markets.first().copied(),
                    product: products.iter().find(|p| p.doc.id == product).copied(),
                    segment_cards: &segment_cards,
                };
                let compiled = if cases_must_pass {
                    Policy::compile(docs)
                } else {
                    Policy::compile_with_case_results(docs)
                };
                match compiled {
                    Ok(policy) => policies.push((institution, product, Arc::new(policy))),
                    // A problem of a document several policies share (the
                    // red lines, a scorecard) is listed once.
                    Err(e) => {
                        for issue in e.issues {
                            if !issues.issues.contains(&issue) {
                                issues.issues.push(issue);
                            }
                        }
                    }
                }
            }
        }
        // Monitoring policies read the province's feature schema, which
        // every product policy carries.
        let mut monitoring: Vec<Arc<MonitoringPolicy>> = Vec::new();
        if let Some((_, _, any)) = policies.first() {
            match LoanSchema::shipped() {
                Ok(loan) => {
                    for m in &monitors {
                        if monitoring
                            .iter()
                            .any(|o| o.institution == m.doc.institution)
                        {
                            issues.push(
                                &m.source,
                                "institution",
                                format!(
                                    "a second monitoring policy for institution {}",
                                    m.doc.institution
                                ),
                            );
                            continue;
                        }
                        match MonitoringPolicy::compile(m, &loan, any) {
                            Ok(p) => monitoring.push(Arc::new(p)),
                            Err(e) => issues.issues.extend(e.issues),
                        }
                    }
                }
                Err(e) => issues.issues.extend(e.issues),
            }
        }
        issues.into_result()?;
        Ok(PolicySet {
            policies,
            monitoring,
            merged: merged
                .into_iter()
                .map(|m| Document::Ruleset(Box::new(m)))
                .collect(),
            documents: docs,
        })
    }

    /// The policy for `institution` and `product`.
    pub fn select(&self, institution: &str, product: &str) -> Result<&Policy, InputError> {
        self.select_shared(institution, product).map(|p| p.as_ref())
    }

    /// The policy for `institution` and `product`, shared.
    pub fn select_shared(
        &self,
        institution: &str,
        product: &str,
    ) -> Result<&Arc<Policy>, InputError> {
        let found = |inst: &str| {
            self.policies
                .iter()
                .find(|(i, p, _)| i == inst && p == product)
                .map(|(_, _, policy)| policy)
        };
        found(institution).or_else(|| found("*")).ok_or_else(|| {
            let mut products: Vec<&str> =
                self.policies.iter().map(|(_, p, _)| p.as_str()).collect();
            products.dedup();
            InputError::one(
                "product",
                format!(
                    "no policy for product `{product}`; expected one of {}",
                    products.join(", ")
                ),
            )
        })
    }

    /// The runs of every test case the documents carry, under each policy
    /// the document is part of.
    pub fn test_cases(&self) -> impl Iterator<Item = &crate::cases::CaseRun> {
        self.policies().flat_map(|p| p.tests.iter())
    }

    /// Every compiled policy, one per (institution, product).
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter().map(|(_, _, p)| p.as_ref())
    }

    /// The monitoring policy of `institution`, else the default `*` one.
    pub fn monitoring(&self, institution: &str) -> Option<&Arc<MonitoringPolicy>> {
        [institution, "*"]
            .into_iter()
            .find_map(|i| self.monitoring.iter().find(|m| m.institution == i))
    }

    /// The documents this set was compiled from.
    pub fn documents(&self) -> &[Document] {
        &self.documents
    }

    /// The effective rulesets merged from the set's overlays (each with its
    /// layers), which the policies of those institutions run.
    pub fn merged_documents(&self) -> &[Document] {
        &self.merged
    }
}

/// Compiles exactly one feature schema, province ruleset, institution
/// ruleset and scorecard, and at most one authority matrix and one set of
/// market parameters (e.g. the
/// recorded versions of a decision). The documents' test cases are run and
/// their results kept in [`Policy::tests`], but a failing case does not
/// refuse the policy: a version already published, activated or recorded
/// must stay readable and runnable whatever a later change does to its
/// cases. The registry enforces them before publishing and activating
/// ([`crate::cases::failures`]).
pub fn compile_exact(docs: &[Document]) -> Result<Policy, PolicyError> {
    let mut schema = None;
    let mut province = None;
    let mut institution = None;
    let mut scorecard = None;
    let mut authority = None;
    let mut market = None;
    let mut product = None;
    let mut segment_cards = Vec::new();
    let mut issues = Issues::default();
    for d in docs {
        let slot = match d {
            Document::Schema(s) => schema.replace(s).is_some(),
            Document::Ruleset(r) if r.doc.layer == Layer::Province => {
                province.replace(r.as_ref()).is_some()
            }
            Document::Ruleset(r) => institution.replace(r.as_ref()).is_some(),
            // The first card is the ruleset's; any other, a segment's.
            Document::Scorecard(c) if scorecard.is_some() => {
                segment_cards.push(c);
                false
            }
            Document::Scorecard(c) => scorecard.replace(c).is_some(),
            Document::Authority(a) => authority.replace(a).is_some(),
            Document::Market(m) => market.replace(m).is_some(),
            Document::Product(p) => product.replace(p).is_some(),
            // What an effective ruleset was merged from: the merged ruleset
            // itself is what runs.
            Document::Overlay(_) => false,
            // Not part of a product policy: it runs beside one.
            Document::Monitoring(_) => false,
        };
        if slot {
            issues.push(d.source(), "", "a second document of this kind was given");
        }
    }
    issues.into_result()?;
    match (schema, province, institution, scorecard) {
        (Some(schema), Some(province), Some(institution), Some(scorecard)) => Policy::compile_with_case_results(PolicyDocuments {
            schema,
            province,
            institution,
            scorecard,
            authority,
            market,
            product,
            segment_cards: &segment_cards,
        }),
        _ => Err(PolicyError {
            issues: vec![PolicyIssue {
                document: "policy".to_string(),
                place: String::new(),
                message: "a policy needs a feature schema, a province ruleset, an institution ruleset and a scorecard"
                    .to_string(),
            }],
        }),
    }
}

/// Reads and parses every document under `dir/rulesets` and `dir/scorecards`.
pub fn read_dir_documents(dir: &Path) -> Result<Vec<Document>, PolicyError> {
    let mut docs = Vec::new();
    let mut issues = Vec::new();
    for sub in ["rulesets", "scorecards"] {
        let path = dir.join(sub);
        let entries = match std::fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) => {
                issues.push(PolicyIssue {
                    document: path.display().to_string(),
                    place: String::new(),
                    message: format!("cannot read directory: {e}"),
                });
                continue;
            }
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        for file in files {
            // The loan book's schema is the monitor's input contract, not a
            // policy document.
            if std::fs::read_to_string(&file).is_ok_and(|t| {
                serde_json::from_str::<serde_json::Value>(&t)
                    .is_ok_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some("loan_schema"))
            }) {
                continue;
            }
            match read_document(&file) {
                Ok(d) => docs.push(d),
                Err(e) => issues.extend(e.issues),
            }
        }
    }
    if issues.is_empty() {
        Ok(docs)
    } else {
        Err(PolicyError { issues })
    }
}

/// Reads and parses one document file.
pub fn read_document(path: &Path) -> Result<Document, PolicyError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| PolicyError {
        issues: vec![PolicyIssue {
            document: name.clone(),
            place: String::new(),
            message: format!("cannot read file: {e}"),
        }],
    })?;
    Document::parse(&name, &text)
}
