//! A product of the catalogue (产品目录), `"kind": "product"`: its code, its
//! names in Chinese and English and its attributes — the largest amount and
//! term, the guarantee types and repayment methods it offers. The province
//! governs the catalogue; a product's policies read its attributes by name
//! (`product_max_amount`, `product_max_term_months`), and a decision records
//! the product version it ran with.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// `{"kind": "product", "id": "FARMER_CREDIT", "version": ..., "name_zh":
/// ..., "name_en": ..., "max_amount": "300000", "max_term_months": 36, ...}`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductDoc {
    /// Always `"product"`.
    pub kind: String,
    /// The product code requests name, e.g. `FARMER_CREDIT`.
    pub id: String,
    /// The version label; a published version never changes.
    pub version: String,
    /// Marks an illustrative product, such as the shipped ones.
    #[serde(default)]
    pub illustrative: bool,
    /// The product's name in Chinese, e.g. `农户小额信用贷款`.
    pub name_zh: String,
    /// The product's name in English.
    pub name_en: String,
    /// What the product is for, for people.
    #[serde(default)]
    pub description: String,
    /// The largest amount the product lends (yuan); policies read it as
    /// `product_max_amount`.
    #[serde(deserialize_with = "super::exact")]
    pub max_amount: Decimal,
    /// The longest term (months); policies read it as
    /// `product_max_term_months`.
    pub max_term_months: i64,
    /// The guarantee types it offers (the feature schema's `guarantee_type`
    /// values).
    pub guarantee_types: Vec<String>,
    /// The repayment methods it offers, e.g. `equal_installment`.
    pub repayment_methods: Vec<String>,
}
