//! Which policy a request runs: the activation in force for its institution
//! and product at its time (the institution's own, else the province
//! default `*`), under the province's red lines, feature schema and market
//! parameters in force at that time (each activated for `*` under its
//! reserved product, [`ProvinceDoc`], else the loaded one), with pinned
//! versions swapped in, compiled from the exact stored documents.
//! Shared by online pre-reviews, batch runs and replays.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use decision_core::{Document, InputError, Policy, PolicySet, Slot, VersionRef, compile_exact};
use decision_store::{ActivationRecord, ActivationStatus, Store, StoredDocument};
use moka::future::Cache;

use crate::{ServiceError, clock};

/// A version a request asks for instead of the one in force (to replay or
/// simulate): a ruleset or scorecard that was approved for its institution.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pin {
    pub kind: String,
    pub id: String,
    pub version: String,
}

/// The reserved product under which the province activates its red lines
/// (a province ruleset) for `*`.
pub const RED_LINES_PRODUCT: &str = "RED_LINES";

/// The reserved product under which the province activates the feature
/// schema for `*`.
pub const SCHEMA_PRODUCT: &str = "FEATURE_SCHEMA";

/// The reserved product under which the province activates the market
/// parameters (the LPR) for `*`.
pub const MARKET_PRODUCT: &str = "MARKET_PARAMETERS";

/// The prefix of the reserved product under which the province activates
/// a product's catalogue entry for `*`: `PRODUCT:GUARANTEED_FARMER_CREDIT`.
pub const CATALOGUE_PREFIX: &str = "PRODUCT:";

/// The reserved product of `product`'s catalogue entry.
pub fn catalogue_key(product: &str) -> String {
    format!("{CATALOGUE_PREFIX}{product}")
}

/// A document the province activates alone, for every institution, under a
/// reserved product: it binds every policy (a catalogue entry: every policy
/// of its product) from its effective time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProvinceDoc {
    /// The red lines (a ruleset of layer `province`).
    RedLines,
    /// The feature schema.
    Schema,
    /// The market parameters.
    Market,
    /// A product's catalogue entry (reserved product `PRODUCT:<code>`).
    Product,
}

impl ProvinceDoc {
    /// Every kind that binds every product, in the order they are applied.
    pub const ALL: [ProvinceDoc; 3] = [
        ProvinceDoc::Schema,
        ProvinceDoc::RedLines,
        ProvinceDoc::Market,
    ];

    /// The reserved product of its activations (a catalogue entry's is
    /// this prefix and the product code).
    pub fn product(self) -> &'static str {
        match self {
            ProvinceDoc::RedLines => RED_LINES_PRODUCT,
            ProvinceDoc::Schema => SCHEMA_PRODUCT,
            ProvinceDoc::Market => MARKET_PRODUCT,
            ProvinceDoc::Product => CATALOGUE_PREFIX,
        }
    }

    /// The one whose activations use `product`, if it is reserved for one.
    pub fn of_product(product: &str) -> Option<ProvinceDoc> {
        let product = product.trim();
        if product.starts_with(CATALOGUE_PREFIX) {
            return Some(ProvinceDoc::Product);
        }
        ProvinceDoc::ALL
            .into_iter()
            .find(|d| d.product() == product)
    }

    /// The document kind.
    pub fn kind(self) -> &'static str {
        match self {
            ProvinceDoc::RedLines => "ruleset",
            ProvinceDoc::Schema => "feature_schema",
            ProvinceDoc::Market => "market_parameters",
            ProvinceDoc::Product => "product",
        }
    }

    /// What it is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            ProvinceDoc::RedLines => "the province red lines",
            ProvinceDoc::Schema => "the feature schema",
            ProvinceDoc::Market => "the market parameters",
            ProvinceDoc::Product => "the product catalogue",
        }
    }

    /// Whether `doc` is one of these.
    pub fn holds(self, doc: &Document) -> bool {
        match (self, doc) {
            (ProvinceDoc::RedLines, Document::Ruleset(r)) => {
                r.doc.layer == decision_core::model::ruleset::Layer::Province
            }
            (ProvinceDoc::Schema, Document::Schema(_))
            | (ProvinceDoc::Market, Document::Market(_))
            | (ProvinceDoc::Product, Document::Product(_)) => true,
            _ => false,
        }
    }

    /// Its place in a policy's versions: the schema and red lines have
    /// fixed slots, the market parameters and the catalogue entry are
    /// found by kind (`None`: the policy has none yet).
    fn place(self, versions: &[VersionRef]) -> Option<usize> {
        match self {
            ProvinceDoc::Schema => Some(Slot::Schema.index()),
            ProvinceDoc::RedLines => Some(Slot::RedLines.index()),
            ProvinceDoc::Market | ProvinceDoc::Product => {
                versions.iter().position(|v| v.kind == self.kind())
            }
        }
    }
}

/// The province documents activated and in force at `at` for policies of
/// `product`, each with its activation (one without keeps the loaded
/// document): the schema, red lines, market parameters and the product's
/// catalogue entry.
pub fn province_in_force<'a>(
    history: &'a [ActivationRecord],
    product: &str,
    at: SystemTime,
) -> Vec<(ProvinceDoc, &'a ActivationRecord)> {
    ProvinceDoc::ALL
        .into_iter()
        .filter_map(|d| in_force(history, "*", d.product(), at).map(|a| (d, a)))
        .chain(
            in_force(history, "*", &catalogue_key(product), at).map(|a| (ProvinceDoc::Product, a)),
        )
        .collect()
}

/// What a store failure during resolution means to the caller.
const NOTHING_RECORDED: &str = "nothing was recorded, retry with the same request_id";

/// `as_of` as a time: empty is now; a future time is refused.
pub fn as_of_time(as_of: &str) -> Result<SystemTime, ServiceError> {
    let now = SystemTime::now();
    if as_of.is_empty() {
        return Ok(now);
    }
    let at = clock::parse(as_of).map_err(|e| ServiceError::field("as_of", e))?;
    if at > now {
        return Err(ServiceError::field(
            "as_of",
            "must not be in the future: a scheduled activation takes effect only when its time comes",
        ));
    }
    Ok(at)
}

/// The approved activation in force for (`institution`, `product`) at
/// `at`: the institution's own, else the default `*` one. The latest
/// effective time wins; among equal ones, the latest requested.
pub fn in_force<'a>(
    history: &'a [ActivationRecord],
    institution: &str,
    product: &str,
    at: SystemTime,
) -> Option<&'a ActivationRecord> {
    [institution, "*"].into_iter().find_map(|inst| {
        history
            .iter()
            .filter(|a| {
                a.status == ActivationStatus::Approved
                    && a.institution == inst
                    && a.product == product
            })
            .filter_map(|a| clock::parse(&a.effective_at).ok().map(|t| (t, a)))
            .filter(|(t, _)| *t <= at)
            // `max_by_key` keeps the last of equal keys.
            .max_by_key(|(t, _)| *t)
            .map(|(_, a)| a)
    })
}

/// Whether `pin` names a version this institution (or the default) has
/// run: approved at some time (in force, superseded or replaced since), or
/// loaded at start. Red lines and the schema cannot be pinned.
pub fn pin_allowed(
    pin: &Pin,
    loaded: &Policy,
    history: &[ActivationRecord],
    institution: &str,
    product: &str,
) -> bool {
    let slot = match pin.kind.as_str() {
        "ruleset" => Slot::Ruleset,
        "scorecard" => Slot::Scorecard,
        _ => return false,
    };
    let started_with = loaded.version(slot);
    if started_with.id == pin.id && started_with.version == pin.version {
        return true;
    }
    history.iter().any(|a| {
        a.status != ActivationStatus::Pending
            && (a.institution == institution || a.institution == "*")
            && a.product == product
            && match slot {
                Slot::Ruleset => a.ruleset_id == pin.id && a.ruleset_version == pin.version,
                _ => a.scorecard_id == pin.id && a.scorecard_version == pin.version,
            }
    })
}

/// Policies as they are in force, from the documents loaded at start and
/// the registry's store.
pub struct Policies<S> {
    loaded: Arc<PolicySet>,
    store: Arc<S>,
    /// Policies compiled from stored documents (activations, pins,
    /// replays), by their documents' hashes.
    compiled: Cache<String, Arc<Policy>>,
    /// The activation history, re-read at most twice a second so another
    /// replica's approval takes effect here within that time.
    activations: Cache<(), Arc<Vec<ActivationRecord>>>,
    /// Compilations from stored documents since start.
    compilations: std::sync::atomic::AtomicU64,
    /// Published versions found, by (kind, id, version).
    documents: Cache<(String, String, String), StoredDocument>,
    /// Activations whose challenger could not be compiled, for a while.
    failed_challengers: Cache<String, String>,
    /// Overlays' effective rulesets, stored, by (overlay hash, base hash).
    merged: Cache<(String, String), StoredDocument>,
    /// The (id, version) of the cards a ruleset's segments name, by the
    /// ruleset's hash.
    segment_cards: Cache<String, Arc<Vec<(String, String)>>>,
    /// The (id, version) found to name overlays.
    overlay_names: Cache<(String, String), ()>,
    /// Each overlay's base reference, by the overlay's hash.
    overlay_bases: Cache<String, Arc<decision_core::model::overlay::BaseRef>>,
}

impl<S: Store> Policies<S> {
    /// Also stores the loaded documents, so every version a decision
    /// records can be compiled again to replay it.
    pub async fn new(loaded: Arc<PolicySet>, store: Arc<S>) -> Result<Self, ServiceError> {
        let uploaded_at = clock::now_seconds();
        let documents = loaded
            .documents()
            .iter()
            .chain(loaded.merged_documents())
            .map(|d| {
                let v = d.version_ref();
                StoredDocument {
                    hash: v.hash,
                    kind: v.kind,
                    id: v.id,
                    version: v.version,
                    json: d.text().to_string(),
                    uploaded_by: "(loaded at start)".to_string(),
                    uploaded_at: uploaded_at.clone(),
                }
            })
            .collect();
        store
            .put_documents(documents)
            .await
            .map_err(|e| ServiceError::Unavailable(e.to_string()))?;
        let activations: Cache<(), Arc<Vec<ActivationRecord>>> = Cache::builder()
            .time_to_live(Duration::from_millis(500))
            .build();
        // A store that tells of approvals (PostgreSQL's LISTEN/NOTIFY):
        // the cached history is dropped at once, so an approval through
        // any server is in force here on the next call; the half-second
        // re-read stays as the fallback.
        if let Some(mut changes) = store.policy_changes() {
            let cache = activations.clone();
            tokio::spawn(async move {
                loop {
                    match changes.recv().await {
                        Ok(()) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            cache.invalidate_all();
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    }
                }
            });
        }
        Ok(Policies {
            loaded,
            store,
            compiled: Cache::new(64),
            compilations: Default::default(),
            documents: Cache::new(256),
            merged: Cache::new(256),
            segment_cards: Cache::new(256),
            overlay_names: Cache::new(1024),
            overlay_bases: Cache::new(1024),
            failed_challengers: Cache::builder()
                .time_to_live(Duration::from_secs(30))
                .build(),
            activations,
        })
    }

    /// The documents loaded at start.
    pub fn loaded(&self) -> &Arc<PolicySet> {
        &self.loaded
    }

    pub fn store(&self) -> &Arc<S> {
        &self.store
    }

    /// The activation history, at most half a second old.
    pub(crate) async fn history(&self) -> Result<Arc<Vec<ActivationRecord>>, ServiceError> {
        if let Some(a) = self.activations.get(&()).await {
            return Ok(a);
        }
        let loaded = Arc::new(
            self.store
                .list_activations()
                .await
                .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?,
        );
        self.activations.insert((), loaded.clone()).await;
        Ok(loaded)
    }

    /// The policy a pre-review of (`institution`, `product`) runs at `at`
    /// with `pins`.
    pub async fn resolve(
        &self,
        institution: &str,
        product: &str,
        at: SystemTime,
        pins: &[Pin],
    ) -> Result<Arc<Policy>, ServiceError> {
        let started_with = self.loaded.select_shared(institution, product)?;
        let history = self.history().await?;
        let activation = in_force(&history, institution, product, at);
        let province = province_in_force(&history, product, at);
        if pins.is_empty() && activation.is_none() && province.is_empty() {
            return Ok(started_with.clone());
        }
        let mut versions = started_with.versions.clone();
        self.apply_province(&province, &mut versions).await?;
        if let Some(a) = activation {
            for (slot, id, version) in [
                (Slot::Ruleset, &a.ruleset_id, &a.ruleset_version),
                (Slot::Scorecard, &a.scorecard_id, &a.scorecard_version),
            ] {
                let named_by = format!("activation {}", a.activation_id);
                let at_history = (product, at, &history[..]);
                self.put_runnable(&mut versions, slot, (id, version), at_history, &named_by)
                    .await?;
            }
        }
        if !pins.is_empty() {
            // Pins are checked against the history as it is now, not as
            // cached.
            let history = self
                .store
                .list_activations()
                .await
                .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?;
            for (i, pin) in pins.iter().enumerate() {
                self.apply_pin(
                    i,
                    pin,
                    started_with,
                    &history,
                    institution,
                    product,
                    &mut versions,
                )
                .await?;
            }
        }
        self.apply_segments(&mut versions).await?;
        self.compile_versions(&versions).await
    }

    /// The challenger the activation in force for `institution` and
    /// `product` at `at` names, compiled with the province documents of the
    /// policy loaded at start; `None` when there is none.
    pub async fn challenger(
        &self,
        institution: &str,
        product: &str,
        at: SystemTime,
    ) -> Result<Option<(Arc<Policy>, decision_store::Challenger)>, ServiceError> {
        let history = self.history().await?;
        let Some(a) = in_force(&history, institution, product, at) else {
            return Ok(None);
        };
        let Some(c) = a.challenger.clone() else {
            return Ok(None);
        };
        // A challenger that cannot run was reported (once); it is not
        // compiled again on every call.
        if self
            .failed_challengers
            .get(&a.activation_id)
            .await
            .is_some()
        {
            return Ok(None);
        }
        let activation_id = a.activation_id.clone();
        let compiled = self
            .compile_challenger(institution, product, at, a, &c)
            .await;
        match compiled {
            Ok(policy) => Ok(Some((policy, c))),
            Err(e) => {
                // A store that does not answer is not the challenger's fault.
                if !matches!(e, ServiceError::Unavailable(_)) {
                    self.failed_challengers
                        .insert(activation_id, e.to_string())
                        .await;
                }
                Err(e)
            }
        }
    }

    async fn compile_challenger(
        &self,
        institution: &str,
        product: &str,
        at: SystemTime,
        a: &ActivationRecord,
        c: &decision_store::Challenger,
    ) -> Result<Arc<Policy>, ServiceError> {
        let mut versions = self
            .loaded
            .select_shared(institution, product)?
            .versions
            .clone();
        // Under the province documents in force at the call, as the champion.
        let history = self.history().await?;
        self.apply_province(&province_in_force(&history, product, at), &mut versions)
            .await?;
        for (slot, id, version) in [
            (Slot::Ruleset, &c.ruleset_id, &c.ruleset_version),
            (Slot::Scorecard, &c.scorecard_id, &c.scorecard_version),
        ] {
            let named_by = format!("activation {}'s challenger", a.activation_id);
            let at_history = (product, at, &history[..]);
            self.put_runnable(&mut versions, slot, (id, version), at_history, &named_by)
                .await?;
        }
        self.apply_segments(&mut versions).await?;
        self.compile_versions(&versions).await
    }

    /// Puts the document an activation's `slot` columns name, ready to run
    /// for the product at the time ([`Policies::runnable`]), into
    /// `versions`.
    async fn put_runnable(
        &self,
        versions: &mut [VersionRef],
        slot: Slot,
        (id, version): (&str, &str),
        (product, at, history): (&str, SystemTime, &[ActivationRecord]),
        named_by: &str,
    ) -> Result<(), ServiceError> {
        let doc = self
            .runnable(slot, id, version, product, at, history)
            .await?
            .ok_or_else(|| {
                ServiceError::Corrupt(format!(
                    "{named_by} names {} {id}@{version}, which is not stored",
                    slot.kind()
                ))
            })?;
        versions[slot.index()] = VersionRef {
            kind: slot.kind().to_string(),
            id: doc.id,
            version: doc.version,
            hash: doc.hash,
        };
        Ok(())
    }

    /// Makes the scorecards of the ruleset's segments follow the ruleset in
    /// `versions`: the cards it names (by id and version), after the others,
    /// replacing those of the ruleset the versions came with.
    async fn apply_segments(&self, versions: &mut Vec<VersionRef>) -> Result<(), ServiceError> {
        let main_index = Slot::Scorecard.index();
        let rs = versions[Slot::Ruleset.index()].clone();
        let cards = match self.segment_cards.get(&rs.hash).await {
            Some(c) => c,
            None => {
                let doc = self
                    .find("ruleset", &rs.id, &rs.version)
                    .await?
                    .ok_or_else(|| {
                        ServiceError::Corrupt(format!(
                            "ruleset {}@{} is not stored",
                            rs.id, rs.version
                        ))
                    })?;
                let ruleset: decision_core::model::RulesetDoc = serde_json::from_str(&doc.json)
                    .map_err(|e| ServiceError::Corrupt(format!("{}@{}: {e}", rs.id, rs.version)))?;
                let named: Vec<(String, String)> = ruleset
                    .segment_cards(("", ""))
                    .into_iter()
                    .map(|(id, version)| (id.to_string(), version.to_string()))
                    .collect();
                let named = Arc::new(named);
                self.segment_cards
                    .insert(rs.hash.clone(), named.clone())
                    .await;
                named
            }
        };
        let mut index = 0;
        versions.retain(|v| {
            index += 1;
            index - 1 <= main_index || v.kind != "scorecard"
        });
        let main = versions[main_index].clone();
        for (id, version) in cards.iter() {
            let named =
                |v: &VersionRef| v.kind == "scorecard" && v.id == *id && v.version == *version;
            if named(&main) || versions[main_index + 1..].iter().any(named) {
                continue;
            }
            let doc = self.find("scorecard", id, version).await?.ok_or_else(|| {
                ServiceError::Precondition(format!(
                    "ruleset {}@{} segments with scorecard {id}@{version}, which is not published",
                    rs.id, rs.version
                ))
            })?;
            versions.push(VersionRef {
                kind: "scorecard".into(),
                id: doc.id,
                version: doc.version,
                hash: doc.hash,
            });
        }
        Ok(())
    }

    /// Puts the province documents activated in force (`province`) into
    /// their places of `versions`.
    async fn apply_province(
        &self,
        province: &[(ProvinceDoc, &ActivationRecord)],
        versions: &mut Vec<VersionRef>,
    ) -> Result<(), ServiceError> {
        for (which, a) in province {
            let (id, version) = (&a.ruleset_id, &a.ruleset_version);
            let doc = self.find(which.kind(), id, version).await?.ok_or_else(|| {
                ServiceError::Corrupt(format!(
                    "activation {} names {} {id}@{version}, which is not stored",
                    a.activation_id,
                    which.kind()
                ))
            })?;
            let v = VersionRef {
                kind: which.kind().to_string(),
                id: doc.id,
                version: doc.version,
                hash: doc.hash,
            };
            match which.place(versions) {
                Some(i) => versions[i] = v,
                None => versions.push(v),
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn apply_pin(
        &self,
        i: usize,
        pin: &Pin,
        started_with: &Policy,
        history: &[ActivationRecord],
        institution: &str,
        product: &str,
        versions: &mut [VersionRef],
    ) -> Result<(), ServiceError> {
        if !pin_allowed(pin, started_with, history, institution, product) {
            return Err(ServiceError::field(
                format!("pins[{i}]"),
                format!(
                    "{} {} version {} has not been approved for {institution} {product}; a pin may choose only a ruleset or scorecard version that was activated for it",
                    pin.kind, pin.id, pin.version
                ),
            ));
        }
        let Some(slot) = versions
            .iter_mut()
            .find(|v| v.kind == pin.kind && v.id == pin.id)
        else {
            return Err(InputError::one(
                format!("pins[{i}]"),
                format!(
                    "the policy for this product has no {} `{}`; expected one of {}",
                    pin.kind,
                    pin.id,
                    started_with
                        .versions
                        .iter()
                        .map(|v| format!("{} {}", v.kind, v.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .into());
        };
        let doc = self
            .find(&pin.kind, &pin.id, &pin.version)
            .await?
            .ok_or_else(|| {
                ServiceError::Precondition(format!(
                    "pins[{i}]: {} {} version {} is not stored",
                    pin.kind, pin.id, pin.version
                ))
            })?;
        slot.hash = doc.hash;
        slot.version = doc.version;
        Ok(())
    }

    /// The document an activation's `slot` columns name, ready to run at
    /// `at`: the published ruleset or scorecard itself, or for a ruleset
    /// column naming an overlay, its effective ruleset merged with its base
    /// (the version it pins, or the default's in force at `at`), stored so
    /// that a replay compiles exactly it.
    async fn runnable(
        &self,
        slot: Slot,
        id: &str,
        version: &str,
        product: &str,
        at: SystemTime,
        history: &[ActivationRecord],
    ) -> Result<Option<StoredDocument>, ServiceError> {
        let key = (id.to_string(), version.to_string());
        // An overlay's id and version are no ruleset's (one name space): a
        // known overlay skips the store's miss on every call.
        let known_overlay = slot == Slot::Ruleset && self.overlay_names.contains_key(&key);
        if !known_overlay && let Some(doc) = self.find(slot.kind(), id, version).await? {
            return Ok(Some(doc));
        }
        if slot != Slot::Ruleset {
            return Ok(None);
        }
        let Some(overlay) = self.find("ruleset_overlay", id, version).await? else {
            return Ok(None);
        };
        self.overlay_names.insert(key, ()).await;
        let base_ref = match self.overlay_bases.get(&overlay.hash).await {
            Some(b) => b,
            None => {
                let b = Arc::new(parse_overlay(&overlay)?.doc.base);
                self.overlay_bases
                    .insert(overlay.hash.clone(), b.clone())
                    .await;
                b
            }
        };
        let base = base_version(&base_ref, &overlay, &self.loaded, history, product, at)?;
        let base = self
            .find("ruleset", &base.0, &base.1)
            .await?
            .ok_or_else(|| {
                ServiceError::Precondition(format!(
                    "overlay {id}@{version}: its base ruleset {}@{} is not stored",
                    base.0, base.1
                ))
            })?;
        let key = (overlay.hash.clone(), base.hash.clone());
        if let Some(merged) = self.merged.get(&key).await {
            return Ok(Some(merged));
        }
        let merged = merged_document(&overlay, &base)?;
        self.store
            .put_documents(vec![merged.clone()])
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?;
        self.merged.insert(key, merged.clone()).await;
        Ok(Some(merged))
    }

    /// A published version, from the store once: a version names one
    /// content for good, so what was found is kept (what was not is asked
    /// again).
    async fn find(
        &self,
        kind: &str,
        id: &str,
        version: &str,
    ) -> Result<Option<StoredDocument>, ServiceError> {
        let key = (kind.to_string(), id.to_string(), version.to_string());
        if let Some(found) = self.documents.get(&key).await {
            return Ok(Some(found));
        }
        let found = self
            .store
            .find_document(kind, id, version)
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?;
        if let Some(d) = &found {
            self.documents.insert(key, d.clone()).await;
        }
        Ok(found)
    }

    /// Compiles exactly the documents `versions` name, from the store.
    pub async fn compile_versions(
        &self,
        versions: &[VersionRef],
    ) -> Result<Arc<Policy>, ServiceError> {
        let key = versions
            .iter()
            .map(|v| v.hash.as_str())
            .collect::<Vec<_>>()
            .join(",");
        // Concurrent first calls for one set of versions wait for a single
        // compilation (moka runs one init per key); a failure is not cached.
        self.compiled
            .try_get_with(key, self.read_and_compile(versions))
            .await
            .map_err(|e| (*e).clone())
    }

    /// How many times a policy was compiled from stored documents since
    /// start (a cache miss): for the metrics and the tests.
    pub fn compilations(&self) -> u64 {
        self.compilations.load(std::sync::atomic::Ordering::Relaxed)
    }

    async fn read_and_compile(&self, versions: &[VersionRef]) -> Result<Arc<Policy>, ServiceError> {
        self.compilations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        metrics::counter!("policy_compilations_total").increment(1);
        compile_stored(&*self.store, versions).await.map(Arc::new)
    }
}

/// The base an overlay runs on at `at`: (id, version) of the version it
/// pins, or of the default (`*`) in force for `product` at `at` (the
/// activated one, else the one loaded at start) when it follows it.
pub fn base_of(
    overlay: &StoredDocument,
    loaded: &PolicySet,
    history: &[ActivationRecord],
    product: &str,
    at: SystemTime,
) -> Result<(String, String), ServiceError> {
    let doc = parse_overlay(overlay)?;
    base_version(&doc.doc.base, overlay, loaded, history, product, at)
}

/// [`base_of`] for an overlay whose base reference is already read.
fn base_version(
    base: &decision_core::model::overlay::BaseRef,
    overlay: &StoredDocument,
    loaded: &PolicySet,
    history: &[ActivationRecord],
    product: &str,
    at: SystemTime,
) -> Result<(String, String), ServiceError> {
    if let Some(v) = &base.version {
        return Ok((base.id.clone(), v.clone()));
    }
    let in_force = history
        .iter()
        .filter(|a| {
            a.status == ActivationStatus::Approved && a.institution == "*" && a.product == product
        })
        .filter_map(|a| clock::parse(&a.effective_at).ok().map(|t| (t, a)))
        .filter(|(t, _)| *t <= at)
        .max_by_key(|(t, _)| *t)
        .map(|(_, a)| (a.ruleset_id.clone(), a.ruleset_version.clone()));
    let loaded_default = loaded.select_shared("*", product).ok().map(|p| {
        let v = p.version(Slot::Ruleset);
        (v.id.clone(), v.version.clone())
    });
    match in_force.or(loaded_default) {
        Some((id, version)) if id == base.id => Ok((id, version)),
        Some((id, version)) => Err(ServiceError::Precondition(format!(
            "overlay {}@{} follows the active version of `{}`, but the province default for {product} is {id}@{version}",
            overlay.id, overlay.version, base.id
        ))),
        None => Err(ServiceError::Precondition(format!(
            "overlay {}@{} follows the active version of `{}`, but no province default for {product} is in force",
            overlay.id, overlay.version, base.id
        ))),
    }
}

fn parse_overlay(
    stored: &StoredDocument,
) -> Result<decision_core::compile::Loaded<decision_core::model::OverlayDoc>, ServiceError> {
    match Document::parse(&format!("{}@{}", stored.id, stored.version), &stored.json) {
        Ok(Document::Overlay(o)) => Ok(o),
        Ok(_) => Err(ServiceError::Corrupt(format!(
            "{}@{} is stored as an overlay but is not one",
            stored.id, stored.version
        ))),
        Err(e) => Err(ServiceError::Corrupt(e.to_string())),
    }
}

/// The effective ruleset of a stored overlay on a stored base, as a
/// document to store (its content hash names it).
pub fn merged_document(
    overlay: &StoredDocument,
    base: &StoredDocument,
) -> Result<StoredDocument, ServiceError> {
    let o = parse_overlay(overlay)?;
    let b = match Document::parse(&format!("{}@{}", base.id, base.version), &base.json) {
        Ok(Document::Ruleset(r)) => r,
        Ok(_) => {
            return Err(ServiceError::Precondition(format!(
                "the base of overlay {}@{}, {}@{}, is not a ruleset",
                overlay.id, overlay.version, base.id, base.version
            )));
        }
        Err(e) => return Err(ServiceError::Corrupt(e.to_string())),
    };
    let merged = decision_core::compile::overlay::merge(&o, &b).map_err(|e| {
        ServiceError::Precondition(format!(
            "overlay {}@{} cannot be laid over {}@{}: {e}",
            overlay.id, overlay.version, base.id, base.version
        ))
    })?;
    Ok(StoredDocument {
        hash: merged.hash.clone(),
        kind: "ruleset".into(),
        id: merged.doc.id.clone(),
        version: merged.doc.version.clone(),
        json: merged.text.to_string(),
        uploaded_by: format!(
            "(merged: overlay {}@{} on {}@{})",
            overlay.id, overlay.version, base.id, base.version
        ),
        uploaded_at: clock::now_seconds(),
    })
}

/// Compiles exactly the documents `versions` name, read from `store` (for
/// a caller without a [`Policies`] cache, such as `decision-engine
/// explain`).
pub async fn compile_stored<S: Store>(
    store: &S,
    versions: &[VersionRef],
) -> Result<Policy, ServiceError> {
    let mut docs = Vec::with_capacity(versions.len());
    for v in versions {
        let stored = store
            .get_document(&v.hash)
            .await
            .map_err(|e| ServiceError::store(e, NOTHING_RECORDED))?
            .ok_or_else(|| {
                ServiceError::Precondition(format!(
                    "{} {}@{} ({}) is not stored",
                    v.kind, v.id, v.version, v.hash
                ))
            })?;
        let doc = Document::parse(&v.label(), &stored.json).map_err(|e| {
            ServiceError::Corrupt(format!("stored document {} does not parse: {e}", v.hash))
        })?;
        if doc.version_ref().hash != v.hash {
            return Err(ServiceError::Corrupt(format!(
                "stored document {} does not match its hash",
                v.hash
            )));
        }
        docs.push(doc);
    }
    compile_exact(&docs).map_err(|e| ServiceError::Precondition(e.to_string()))
}
