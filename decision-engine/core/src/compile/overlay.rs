//! Merges an overlay with its base into the effective ruleset: the base's
//! document with the overlay's parameter values, without the rules it
//! switches off, with its rules added, named by the overlay and carrying
//! both layers ([`Layers`]). The result is an ordinary institution ruleset
//! with its own content hash, compiled and recorded like any other; every
//! problem of the overlay is listed at its place.

use crate::compile::Loaded;
use crate::error::{Issues, PolicyError};
use crate::hash::content_hash;
use crate::model::overlay::{LayerRef, Layers, OverlayDoc, OverrideTrace};
use crate::model::ruleset::{Layer, RulesetDoc};

/// The version label of an effective ruleset: the overlay's version on the
/// base's, e.g. `2026.1+farmer-credit-default@2026.4`.
pub fn merged_version(overlay: &OverlayDoc, base: &RulesetDoc) -> String {
    format!("{}+{}@{}", overlay.version, base.id, base.version)
}

/// Checks what an overlay says on its own: its kind, institution, base
/// reference and that it names each thing once.
pub fn check(overlay: &Loaded<OverlayDoc>) -> Result<(), PolicyError> {
    let mut issues = Issues::default();
    own_problems(overlay, &mut issues);
    issues.into_result()
}

fn own_problems(o: &Loaded<OverlayDoc>, issues: &mut Issues) {
    let doc = &o.doc;
    if doc.kind != "ruleset_overlay" {
        issues.push(
            &o.source,
            "kind",
            format!("expected \"ruleset_overlay\", found \"{}\"", doc.kind),
        );
    }
    match doc.institution.trim() {
        "" | "*" => issues.push(
            &o.source,
            "institution",
            "an overlay is one institution's: name it (the base is the province's `*`)",
        ),
        _ => {}
    }
    if doc.product.trim().is_empty() {
        issues.push(
            &o.source,
            "product",
            "name the product, e.g. \"FARMER_CREDIT\"",
        );
    }
    match (&doc.base.follow, &doc.base.version) {
        (Some(_), None) | (None, Some(_)) => {}
        (Some(_), Some(_)) => issues.push(
            &o.source,
            "base",
            "either \"follow\": \"active\" or a pinned \"version\", not both",
        ),
        (None, None) => issues.push(
            &o.source,
            "base",
            "say whether the overlay follows the base's active version (\"follow\": \"active\") or pins one (\"version\": \"...\")",
        ),
    }
    let mut seen: Vec<&str> = Vec::new();
    for (i, p) in doc.parameters.iter().enumerate() {
        if seen.contains(&p.name.as_str()) {
            issues.push(
                &o.source,
                format!("parameters[{i}] {}", p.name),
                "overridden twice",
            );
        }
        seen.push(&p.name);
    }
    for (i, id) in doc.disabled_rules.iter().enumerate() {
        if doc.disabled_rules[..i].contains(id) {
            issues.push(
                &o.source,
                format!("disabled_rules[{i}] {id}"),
                "listed twice",
            );
        }
    }
}

/// The effective ruleset of `overlay` on `base`, or every problem: a base
/// that is not the province default for the overlay's product (or not the
/// pinned version), an override of a parameter the base does not declare
/// or of the wrong type, a switched-off rule the base does not have (a
/// province red line can never be switched off), an added rule whose id
/// the base already uses.
pub fn merge(
    overlay: &Loaded<OverlayDoc>,
    base: &Loaded<RulesetDoc>,
) -> Result<Loaded<RulesetDoc>, PolicyError> {
    let mut issues = Issues::default();
    own_problems(overlay, &mut issues);
    let (o, b) = (&overlay.doc, &base.doc);
    let base_name = format!("{}@{}", b.id, b.version);
    if b.id != o.base.id {
        issues.push(
            &overlay.source,
            "base.id",
            format!("names base `{}`, but {base_name} was given", o.base.id),
        );
    }
    if let Some(v) = &o.base.version
        && *v != b.version
    {
        issues.push(
            &overlay.source,
            "base.version",
            format!("pins {}@{v}, but {base_name} was given", o.base.id),
        );
    }
    if b.layer != Layer::Institution || b.institution.as_deref().unwrap_or("*") != "*" {
        issues.push(
            &overlay.source,
            "base",
            format!("{base_name} is not a province default (layer \"institution\", institution \"*\"): an overlay is laid over the province default"),
        );
    }
    if b.layers.is_some() {
        issues.push(
            &overlay.source,
            "base",
            format!("{base_name} is itself an overlay's effective ruleset"),
        );
    }
    if b.product.as_deref() != Some(o.product.as_str()) {
        issues.push(
            &overlay.source,
            "product",
            format!(
                "is {}, but the base {base_name} decides {}",
                o.product,
                b.product.as_deref().unwrap_or("no product")
            ),
        );
    }
    let mut merged = b.clone();
    let mut overrides = Vec::new();
    for (i, p) in o.parameters.iter().enumerate() {
        let place = format!("parameters[{i}] {}", p.name);
        let Some(target) = merged.parameters.iter_mut().find(|q| q.name == p.name) else {
            issues.push(
                &overlay.source,
                place,
                format!(
                    "{base_name} declares no parameter `{}`: an overlay changes the base's parameters, it adds none (expected one of {})",
                    p.name,
                    b.parameters.iter().map(|q| q.name.as_str()).collect::<Vec<_>>().join(", ")
                ),
            );
            continue;
        };
        let mut candidate = target.clone();
        candidate.value = p.value.clone();
        if let Err(e) = super::ruleset::parameter_value(&candidate) {
            issues.push(&overlay.source, format!("{place}.value"), e);
            continue;
        }
        overrides.push(OverrideTrace {
            name: p.name.clone(),
            base: target.value.clone(),
            overlay: p.value.clone(),
        });
        target.value = p.value.clone();
        if !p.description.is_empty() {
            target.description = format!("{} (overlay: {})", target.description, p.description);
        }
    }
    for (i, id) in o.disabled_rules.iter().enumerate() {
        if !b.rules.iter().any(|r| &r.id == id) {
            issues.push(
                &overlay.source,
                format!("disabled_rules[{i}] {id}"),
                format!(
                    "{base_name} has no rule `{id}`: an overlay switches off rules of the base only (province red lines can never be switched off)"
                ),
            );
        }
    }
    merged.rules.retain(|r| !o.disabled_rules.contains(&r.id));
    for (i, r) in o.rules.iter().enumerate() {
        if b.rules.iter().any(|x| x.id == r.id) || o.rules[..i].iter().any(|x| x.id == r.id) {
            issues.push(
                &overlay.source,
                format!("rules[{i}] {}", r.id),
                format!("{base_name} (or this overlay) already has a rule `{}`: give the added rule an id of its own", r.id),
            );
        }
    }
    issues.into_result()?;
    merged.rules.extend(o.rules.iter().cloned());
    merged.id = o.id.clone();
    merged.version = merged_version(o, b);
    merged.institution = Some(o.institution.clone());
    merged.illustrative = b.illustrative || o.illustrative;
    merged.description = format!(
        "{} (overlay {}@{} on {base_name}; the base: {})",
        o.description, o.id, o.version, b.description
    );
    merged.test_cases = o.test_cases.clone();
    merged.layers = Some(Layers {
        base: LayerRef {
            id: b.id.clone(),
            version: b.version.clone(),
            hash: base.hash.clone(),
        },
        overlay: LayerRef {
            id: o.id.clone(),
            version: o.version.clone(),
            hash: overlay.hash.clone(),
        },
        follows: if o.base.follow.is_some() {
            "active".into()
        } else {
            "pinned".into()
        },
        overrides,
        added_rules: o.rules.iter().map(|r| r.id.clone()).collect(),
        disabled_rules: o.disabled_rules.clone(),
    });
    let value = serde_json::to_value(&merged).map_err(|e| PolicyError {
        issues: vec![crate::error::PolicyIssue {
            document: overlay.source.clone(),
            place: String::new(),
            message: format!("the effective ruleset cannot be written: {e}"),
        }],
    })?;
    let text = serde_json::to_string_pretty(&value).unwrap_or_default();
    Ok(Loaded {
        source: format!("{} on {base_name}", overlay.source),
        hash: content_hash(&value),
        doc: merged,
        text: text.into(),
    })
}
