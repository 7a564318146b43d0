//! An institution's policy written as an overlay on a base (the province
//! default for the product) instead of a full copy
//! (`"kind": "ruleset_overlay"`): parameter overrides, added rules and
//! switched-off rules of the base, nothing more. The overlay says whether it
//! follows the base's active version (a change of the default reaches it)
//! or pins one. [`crate::compile::overlay::merge`] makes the effective
//! ruleset, which names both layers in its [`Layers`].

use serde::{Deserialize, Serialize};

use super::TestCase;
use super::ruleset::RuleDef;

/// `{"kind": "ruleset_overlay", "id": ..., "version": ..., "institution":
/// "HB-A", "product": ..., "base": {"id": "farmer-credit-default", "follow":
/// "active"}, "parameters": [...], "rules": [...], "disabled_rules": [...]}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverlayDoc {
    /// Always `"ruleset_overlay"`.
    pub kind: String,
    /// The overlay's id, e.g. `jingshan-farmer-credit`.
    pub id: String,
    /// The version label; a published version never changes.
    pub version: String,
    /// What the institution changes and why, for people.
    #[serde(default)]
    pub description: String,
    /// Marks an example calibrated on no real data.
    #[serde(default)]
    pub illustrative: bool,
    /// The institution it is for (never `*`: the base is the province's).
    pub institution: String,
    /// The product, the base's.
    pub product: String,
    /// The ruleset it is laid over, and which of its versions.
    pub base: BaseRef,
    /// New values for parameters the base declares.
    #[serde(default)]
    pub parameters: Vec<ParameterOverride>,
    /// Rules added after the base's (knock-out, refer or flag).
    #[serde(default)]
    pub rules: Vec<RuleDef>,
    /// Ids of the base's rules this institution switches off (never a
    /// province red line: those are not the base's to give).
    #[serde(default)]
    pub disabled_rules: Vec<String>,
    /// Households and the decisions expected under the effective policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test_cases: Vec<TestCase>,
}

/// The base of an overlay: its id and either `"follow": "active"` (the
/// version the province has in force) or a pinned `"version"`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseRef {
    /// The base ruleset's id, e.g. `farmer-credit-default`.
    pub id: String,
    /// `"active"`: the base version in force (for `*`) whenever a decision
    /// is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follow: Option<Follow>,
    /// A pinned base version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// How an overlay follows its base.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Follow {
    /// The base version in force.
    Active,
}

/// A new value for one of the base's parameters.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterOverride {
    /// The base parameter's name.
    pub name: String,
    /// The value, of the base parameter's type.
    pub value: serde_json::Value,
    /// Why the institution changes it, for people.
    #[serde(default)]
    pub description: String,
}

/// Where an effective ruleset came from: its base and overlay, exact, and
/// what the overlay changed. Only a merged ruleset carries it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layers {
    /// The base version merged.
    pub base: LayerRef,
    /// The overlay version merged.
    pub overlay: LayerRef,
    /// `active` (the overlay follows the base in force) or `pinned`.
    pub follows: String,
    /// Each overridden parameter with the base's value and the overlay's;
    /// every other parameter is the base's.
    pub overrides: Vec<OverrideTrace>,
    /// Rule ids the overlay added.
    pub added_rules: Vec<String>,
    /// Rule ids of the base the overlay switched off.
    pub disabled_rules: Vec<String>,
}

/// One document version merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayerRef {
    /// Its id.
    pub id: String,
    /// Its version.
    pub version: String,
    /// Its content hash.
    pub hash: String,
}

/// A parameter the overlay overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideTrace {
    /// The parameter.
    pub name: String,
    /// The base's value.
    pub base: serde_json::Value,
    /// The overlay's value, which runs.
    pub overlay: serde_json::Value,
}
