//! A decision's reviews as a person reads them beside the system decision:
//! its review case, every step, the application's chain of decisions (the
//! pre-review and the decision after investigation), told in English and
//! Chinese with the authority matrix's level names and override reasons.

use std::fmt::Write as _;

use decision_core::explain::percent;
use decision_core::model::authority::AuthorityDoc;
use decision_core::{Decision, Document, Lang, Outcome};
use decision_store::{CaseStatus, DecisionRecord, ReviewCase, ReviewStep, StepEffect, Store};
use rust_decimal::Decimal;

use crate::ServiceError;

/// One decision of an application, oldest first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainLink {
    pub decision_id: String,
    /// `pre_review` or `investigation`, when the request named it.
    pub stage: Option<String>,
    /// The system's outcome.
    pub outcome: String,
    pub recorded_at: String,
}

/// A decision's reviews and application chain.
#[derive(Clone, Debug, Default)]
pub struct ReviewAccount {
    /// The decision's review case (none: nobody needed to or did review it).
    pub case: Option<ReviewCase>,
    /// Every review step, in order.
    pub steps: Vec<ReviewStep>,
    /// The application the decision belongs to, when the request named one.
    pub application_id: Option<String>,
    /// The decisions of the same application, oldest first (empty when the
    /// request named no application).
    pub chain: Vec<ChainLink>,
    /// The authority matrix the decision was routed by (for level names
    /// and reason texts).
    matrix: Option<AuthorityDoc>,
}

const NOTHING_READ: &str = "nothing was read";

/// Reads the review account of a stored online decision.
pub async fn account<S: Store>(
    store: &S,
    record: &DecisionRecord,
    decision: &Decision,
) -> Result<ReviewAccount, ServiceError> {
    if record.batch_id.is_some() {
        return Ok(ReviewAccount::default());
    }
    let read = |e| ServiceError::store(e, NOTHING_READ);
    let case = store
        .get_review_case(&record.decision_id)
        .await
        .map_err(read)?;
    let steps = store
        .list_reviews(&record.decision_id)
        .await
        .map_err(read)?;
    let mut chain = Vec::new();
    if let Some(app) = &record.application_id {
        for id in store
            .application_decisions(&record.institution, app)
            .await
            .map_err(read)?
        {
            if let Some(r) = store.get(&id).await.map_err(read)? {
                chain.push(ChainLink {
                    decision_id: r.decision_id,
                    stage: r.stage,
                    outcome: r.outcome,
                    recorded_at: r.recorded_at,
                });
            }
        }
    }
    Ok(ReviewAccount {
        case,
        steps,
        application_id: record.application_id.clone(),
        chain,
        matrix: matrix_of(store, decision).await?,
    })
}

/// The authority matrix a decision was routed by, as stored.
pub(crate) async fn matrix_of<S: Store>(
    store: &S,
    decision: &Decision,
) -> Result<Option<AuthorityDoc>, ServiceError> {
    let Some(v) = decision
        .versions
        .iter()
        .find(|v| v.kind == "authority_matrix")
    else {
        return Ok(None);
    };
    let stored = store
        .get_document(&v.hash)
        .await
        .map_err(|e| ServiceError::store(e, NOTHING_READ))?;
    Ok(match stored.map(|s| Document::parse(&v.label(), &s.json)) {
        Some(Ok(Document::Authority(loaded))) => Some(loaded.doc),
        _ => None,
    })
}

fn t(lang: Lang, en: &'static str, zh: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

impl ReviewAccount {
    /// Whether there is nothing to tell (no case, no step, no chain).
    pub fn is_empty(&self) -> bool {
        self.case.is_none() && self.steps.is_empty() && self.chain.len() <= 1
    }

    /// A level's name in `lang` (its code when the matrix is unknown).
    pub fn level_name(&self, code: &str, lang: Lang) -> String {
        self.matrix
            .as_ref()
            .and_then(|m| m.levels.iter().find(|l| l.level == code))
            .map_or_else(
                || code.to_string(),
                |l| match lang {
                    Lang::En => l.name_en.clone(),
                    Lang::Zh => l.name_zh.clone(),
                },
            )
    }

    /// An override reason as `[CODE] text` in `lang`.
    pub fn reason_text(&self, code: &str, lang: Lang) -> String {
        match self
            .matrix
            .as_ref()
            .and_then(|m| m.override_reasons.iter().find(|r| r.code == code))
        {
            Some(r) => format!(
                "[{code}] {}",
                match lang {
                    Lang::En => &r.message_en,
                    Lang::Zh => &r.message_zh,
                }
            ),
            None => format!("[{code}]"),
        }
    }

    /// The account in `lang`, beside `system` (the decision as shown); the
    /// empty string when there is nothing to tell.
    pub fn describe(&self, system: &Decision, lang: Lang) -> String {
        let mut out = String::new();
        if self.is_empty() {
            return out;
        }
        let _ = writeln!(
            out,
            "\n{}",
            t(lang, "Human review:", "人工审批（系统决策与人工调整）：")
        );
        let _ = writeln!(out, "  {}", system_sentence(system, lang));
        for s in &self.steps {
            let _ = writeln!(out, "  {}", self.step_sentence(s, lang));
        }
        if let Some(case) = &self.case {
            let _ = writeln!(out, "  {}", self.case_sentence(case, system, lang));
        }
        if self.chain.len() > 1 {
            let _ = writeln!(
                out,
                "  {} {}:",
                t(lang, "Decisions of application", "同一申请的决策链"),
                self.application_id.as_deref().unwrap_or_default()
            );
            for (i, link) in self.chain.iter().enumerate() {
                let this = if link.decision_id == system.decision_id {
                    t(lang, " (this decision)", "（本决策）")
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "    {}. {} {} {} {}{this}",
                    i + 1,
                    stage_name(link.stage.as_deref(), lang),
                    link.decision_id,
                    link.outcome,
                    link.recorded_at
                );
            }
        }
        out
    }

    fn step_sentence(&self, s: &ReviewStep, lang: Lang) -> String {
        let level = self.level_name(&s.level, lang);
        let terms = terms(&s.outcome, s.limit, s.annual_rate, lang);
        let reasons = s
            .reason_codes
            .iter()
            .map(|c| self.reason_text(c, lang))
            .collect::<Vec<_>>()
            .join(t(lang, "; ", "；"));
        let mut line = match lang {
            Lang::En => format!(
                "Step {}: {} ({level}, branch {}) {}{}",
                s.step,
                s.reviewer,
                or_dash(&s.branch),
                if s.effect == StepEffect::Confirmed {
                    format!("confirmed: {terms}")
                } else {
                    terms
                },
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!(" because {reasons}")
                }
            ),
            Lang::Zh => format!(
                "第{}步：{}（{level}，网点 {}）{}{}",
                s.step,
                s.reviewer,
                or_dash(&s.branch),
                if s.effect == StepEffect::Confirmed {
                    format!("复核确认：{terms}")
                } else {
                    terms
                },
                if reasons.is_empty() {
                    String::new()
                } else {
                    format!("，理由：{reasons}")
                }
            ),
        };
        if !s.note.is_empty() {
            let _ = write!(line, "{}{}", t(lang, "; note: ", "；备注："), s.note);
        }
        let _ = match (s.effect, lang) {
            (StepEffect::AwaitingConfirmation, Lang::En) => write!(
                line,
                " — needs a {} to confirm: {}",
                self.level_name(s.requires_level.as_deref().unwrap_or_default(), lang),
                s.requires_because.join("; ")
            ),
            (StepEffect::AwaitingConfirmation, Lang::Zh) => write!(
                line,
                "。超出本级权限或调整了系统结果，需{}另一人复核确认（双人审批）",
                self.level_name(s.requires_level.as_deref().unwrap_or_default(), lang)
            ),
            (_, Lang::En) => write!(line, " — final ({})", s.at),
            (_, Lang::Zh) => write!(line, "。终审（{}）", s.at),
        };
        line
    }

    fn case_sentence(&self, case: &ReviewCase, system: &Decision, lang: Lang) -> String {
        let sys = terms(
            system.decision.as_str(),
            system.limit,
            system.annual_rate,
            lang,
        );
        let level = self.level_name(case.waiting_level.as_deref().unwrap_or_default(), lang);
        let at = &case.created_at;
        let by = case.superseded_by.as_deref().unwrap_or_default();
        match (case.status, lang) {
            (CaseStatus::Decided, _) => {
                let people = terms(
                    case.final_outcome.as_deref().unwrap_or_default(),
                    case.final_limit.unwrap_or_default(),
                    case.final_rate,
                    lang,
                );
                match lang {
                    Lang::En => format!(
                        "Decided by review: {people} (the system decision is kept unchanged: {sys})"
                    ),
                    Lang::Zh => format!("人工审批结论：{people}（系统决策保持不变：{sys}）"),
                }
            }
            (CaseStatus::Pending | CaseStatus::AwaitingConfirmation, Lang::En) => {
                format!("Waiting for a {level} since {at}")
            }
            (CaseStatus::Pending | CaseStatus::AwaitingConfirmation, Lang::Zh) => {
                format!("等待{level}审批（自 {at}）")
            }
            (CaseStatus::Superseded, Lang::En) => {
                format!("Superseded, undecided, by the later decision {by}")
            }
            (CaseStatus::Superseded, Lang::Zh) => {
                format!("未审批即被同一申请的后续决策 {by} 取代")
            }
        }
    }
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

fn stage_name(stage: Option<&str>, lang: Lang) -> &'static str {
    match stage {
        Some("pre_review") => t(lang, "pre-review", "预审"),
        Some("investigation") => t(lang, "after investigation", "调查后"),
        _ => t(lang, "decision", "决策"),
    }
}

/// "approved 40000 yuan at 3.40%" / "declined".
fn terms(outcome: &str, limit: Decimal, rate: Option<Decimal>, lang: Lang) -> String {
    match (outcome, lang) {
        ("APPROVE", Lang::En) => format!(
            "approved {limit} yuan{}",
            rate.map(|r| format!(" at {}", percent(r)))
                .unwrap_or_default()
        ),
        ("APPROVE", Lang::Zh) => format!(
            "批准 {limit} 元{}",
            rate.map(|r| format!("，年利率 {}", percent(r)))
                .unwrap_or_default()
        ),
        ("REFER", Lang::En) => format!(
            "referred ({limit} yuan{} proposed)",
            rate.map(|r| format!(" at {}", percent(r)))
                .unwrap_or_default()
        ),
        ("REFER", Lang::Zh) => format!(
            "转人工（建议额度 {limit} 元{}）",
            rate.map(|r| format!("，年利率 {}", percent(r)))
                .unwrap_or_default()
        ),
        (_, Lang::En) => "declined".to_string(),
        (_, Lang::Zh) => "拒绝".to_string(),
    }
}

/// "The system referred the household because [F306] ...".
fn system_sentence(system: &Decision, lang: Lang) -> String {
    let verb = match (system.decision, lang) {
        (Outcome::Approve, Lang::En) => "approved",
        (Outcome::Refer, Lang::En) => "referred",
        (Outcome::Decline, Lang::En) => "declined",
        (Outcome::Approve, Lang::Zh) => "预审通过",
        (Outcome::Refer, Lang::Zh) => "转人工审批",
        (Outcome::Decline, Lang::Zh) => "拒绝",
    };
    let reasons = system
        .reasons
        .iter()
        .map(|r| {
            format!(
                "[{}] {}",
                r.code,
                match lang {
                    Lang::En => &r.message_en,
                    Lang::Zh => &r.message_zh,
                }
            )
        })
        .collect::<Vec<_>>()
        .join(t(lang, "; ", "；"));
    let because = if reasons.is_empty() {
        String::new()
    } else {
        match lang {
            Lang::En => format!(" because {reasons}"),
            Lang::Zh => format!("，原因：{reasons}"),
        }
    };
    let proposed = terms(
        system.decision.as_str(),
        system.limit,
        system.annual_rate,
        lang,
    );
    match lang {
        Lang::En => format!("The system {verb} the household{because} ({proposed})."),
        Lang::Zh => format!("系统决策：{verb}{because}（{proposed}）。"),
    }
}
