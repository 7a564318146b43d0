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

    /// The account in `lang`, beside `system` (the decision as shown): the
    /// review case and every step, then the application's chain; the empty
    /// string when there is nothing to tell.
    pub fn describe(&self, system: &Decision, lang: Lang) -> String {
        let mut out = String::new();
        if self.case.is_some() || !self.steps.is_empty() {
            let _ = writeln!(out, "\n{}", t(lang, "Human review:", "人工审批记录："));
            let _ = writeln!(out, "  {}", system_sentence(system, lang));
            for s in &self.steps {
                let _ = writeln!(out, "  {}", self.step_sentence(s, system, lang));
            }
            if let Some(case) = &self.case {
                let _ = writeln!(out, "  {}", self.case_sentence(case, system, lang));
            }
        }
        if self.chain.len() > 1 {
            let _ = writeln!(
                out,
                "\n{} {}{}",
                t(lang, "Decisions of application", "同一申请的决策链"),
                self.application_id.as_deref().unwrap_or_default(),
                t(lang, ":", "：")
            );
            for (i, link) in self.chain.iter().enumerate() {
                let this = if link.decision_id == system.decision_id {
                    t(lang, " (this decision)", "（本决策）")
                } else {
                    ""
                };
                let _ = writeln!(
                    out,
                    "  {}. {} {} {} {}{this}",
                    i + 1,
                    stage_name(link.stage.as_deref(), lang),
                    link.decision_id,
                    outcome_name(&link.outcome, lang),
                    when(&link.recorded_at, lang)
                );
            }
        }
        out
    }

    fn step_sentence(&self, s: &ReviewStep, system: &Decision, lang: Lang) -> String {
        let level = self.level_name(&s.level, lang);
        let terms = terms(&s.outcome, s.limit, s.annual_rate, lang);
        let reasons = s
            .reason_codes
            .iter()
            .map(|c| self.reason_text(c, lang))
            .collect::<Vec<_>>()
            .join(t(lang, "; ", "；"));
        let confirmed = s.effect == StepEffect::Confirmed;
        let mut line = match lang {
            Lang::En => format!(
                "Step {}: {} ({level}, branch {}) {}{terms}",
                s.step,
                s.reviewer,
                or_dash(&s.branch),
                if confirmed { "confirmed: " } else { "" },
            ),
            Lang::Zh => format!(
                "第{}步：{}（{level}，所属机构 {}）{}{terms}",
                s.step,
                s.reviewer,
                or_dash(&s.branch),
                if confirmed { "复核确认：" } else { "" },
            ),
        };
        if !reasons.is_empty() {
            let _ = write!(line, "{}{reasons}", t(lang, " because ", "，理由："));
        }
        if !s.note.is_empty() {
            let _ = write!(line, "{}{}", t(lang, "; note: ", "；备注："), s.note);
        }
        let confirmer = self.level_name(s.requires_level.as_deref().unwrap_or_default(), lang);
        let _ = match (s.effect, lang) {
            (StepEffect::AwaitingConfirmation, Lang::En) => write!(
                line,
                " — needs a {confirmer} to confirm: {}",
                s.requires_because.join("; ")
            ),
            (StepEffect::AwaitingConfirmation, Lang::Zh) => write!(
                line,
                "。需另一名{confirmer}复核确认（双人复核）：{}",
                causes_zh(s, system)
            ),
            (_, Lang::En) => write!(line, " — final ({})", when(&s.at, lang)),
            (_, Lang::Zh) => write!(line, "。终审（{}）", when(&s.at, lang)),
        };
        line
    }

    fn case_sentence(&self, case: &ReviewCase, system: &Decision, lang: Lang) -> String {
        let sys = proposal(system, lang);
        let level = self.level_name(case.waiting_level.as_deref().unwrap_or_default(), lang);
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
                        "Decided by review: {people}; the system decision is kept unchanged ({} {sys})",
                        outcome_name(system.decision.as_str(), lang)
                    ),
                    Lang::Zh => format!(
                        "人工审批结论：{people}；系统决策保持不变（{}，{sys}）",
                        outcome_name(system.decision.as_str(), lang)
                    ),
                }
            }
            (CaseStatus::Pending, Lang::En) => format!(
                "Waiting for a {level} since {}",
                when(&case.created_at, lang)
            ),
            (CaseStatus::Pending, Lang::Zh) => {
                format!("等待{level}审批（自 {}）", when(&case.created_at, lang))
            }
            (CaseStatus::AwaitingConfirmation, Lang::En) => format!(
                "Waiting for a {level} to confirm since {}",
                when(&case.updated_at, lang)
            ),
            (CaseStatus::AwaitingConfirmation, Lang::Zh) => {
                format!("等待{level}复核确认（自 {}）", when(&case.updated_at, lang))
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

/// A stored time as people read it: UTC to the second in English, Beijing
/// time to the minute in Chinese (the text itself when it does not parse).
fn when(at: &str, lang: Lang) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(at) else {
        return at.to_string();
    };
    match lang {
        Lang::En => t.to_utc().format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        Lang::Zh => chrono::FixedOffset::east_opt(8 * 3600).map_or_else(
            || at.to_string(),
            |cst| {
                t.with_timezone(&cst)
                    .format("%Y-%m-%d %H:%M 北京时间")
                    .to_string()
            },
        ),
    }
}

fn stage_name(stage: Option<&str>, lang: Lang) -> &'static str {
    match stage {
        Some("pre_review") => t(lang, "pre-review", "预审"),
        Some("investigation") => t(lang, "after investigation", "调查后"),
        _ => t(lang, "decision", "决策"),
    }
}

fn outcome_name(outcome: &str, lang: Lang) -> &str {
    match (outcome, lang) {
        ("APPROVE", Lang::Zh) => "批准",
        ("REFER", Lang::Zh) => "转人工",
        ("DECLINE", Lang::Zh) => "拒绝",
        _ => outcome,
    }
}

/// "40000 yuan at 3.40%" / "40000 元，年利率 3.40%".
fn amount(limit: Decimal, rate: Option<Decimal>, lang: Lang) -> String {
    match lang {
        Lang::En => format!(
            "{limit} yuan{}",
            rate.map(|r| format!(" at {}", percent(r)))
                .unwrap_or_default()
        ),
        Lang::Zh => format!(
            "{limit} 元{}",
            rate.map(|r| format!("，年利率 {}", percent(r)))
                .unwrap_or_default()
        ),
    }
}

/// What people gave: "approved 40000 yuan at 3.40%" / "declined".
fn terms(outcome: &str, limit: Decimal, rate: Option<Decimal>, lang: Lang) -> String {
    match (outcome, lang) {
        ("APPROVE", Lang::En) => format!("approved {}", amount(limit, rate, lang)),
        ("APPROVE", Lang::Zh) => format!("批准 {}", amount(limit, rate, lang)),
        (_, Lang::En) => "declined".to_string(),
        (_, Lang::Zh) => "拒绝".to_string(),
    }
}

/// What the system proposed: its limit and rate, or none.
fn proposal(system: &Decision, lang: Lang) -> String {
    match (system.decision, lang) {
        (Outcome::Decline, Lang::En) => "no limit".to_string(),
        (Outcome::Decline, Lang::Zh) => "无额度".to_string(),
        (_, Lang::En) => format!(
            "proposing {}",
            amount(system.limit, system.annual_rate, lang)
        ),
        (_, Lang::Zh) => format!(
            "建议额度 {}",
            amount(system.limit, system.annual_rate, lang)
        ),
    }
}

/// The reasons that made the system's outcome: every reason but the
/// scorecard's characteristics (they explain the score, and `explain`
/// lists them among all the reasons).
pub fn deciding_reasons(system: &Decision) -> impl Iterator<Item = &decision_core::Reason> {
    system
        .reasons
        .iter()
        .filter(|r| !r.source.starts_with("characteristic:"))
}

/// "The system referred the household, proposing 40000 yuan at 3.40%,
/// because [F306] ...".
fn system_sentence(system: &Decision, lang: Lang) -> String {
    let verb = match (system.decision, lang) {
        (Outcome::Approve, Lang::En) => "approved",
        (Outcome::Refer, Lang::En) => "referred",
        (Outcome::Decline, Lang::En) => "declined",
        (Outcome::Approve, Lang::Zh) => "预审通过",
        (Outcome::Refer, Lang::Zh) => "转人工审批",
        (Outcome::Decline, Lang::Zh) => "拒绝",
    };
    let reasons = deciding_reasons(system)
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
    let routed = match system.routing.as_ref().and_then(|r| r.level.as_ref()) {
        Some(_) if system.decision == Outcome::Approve => t(
            lang,
            " beyond the auto-approval bounds",
            "，超出自动审批范围",
        ),
        _ => "",
    };
    let proposed = proposal(system, lang);
    match lang {
        Lang::En => format!(
            "The system {verb} the household, {proposed}{routed}{}.",
            if reasons.is_empty() {
                String::new()
            } else {
                format!(", because {reasons}")
            }
        ),
        Lang::Zh => format!(
            "系统决策：{verb}（{proposed}）{routed}{}。",
            if reasons.is_empty() {
                String::new()
            } else {
                format!("，原因：{reasons}")
            }
        ),
    }
}

/// Why a step waits for a second reviewer, in Chinese, from its terms and
/// the system's.
fn causes_zh(s: &ReviewStep, system: &Decision) -> String {
    let mut causes = Vec::new();
    if s.outcome == "APPROVE" {
        if system.decision == Outcome::Decline {
            causes.push("批准了系统拒绝的申请".to_string());
        } else {
            if s.limit > system.limit {
                causes.push(format!(
                    "额度 {} 元高于系统建议 {} 元",
                    s.limit, system.limit
                ));
            }
            if let (Some(r), Some(sys)) = (s.annual_rate, system.annual_rate)
                && r < sys
            {
                causes.push(format!(
                    "年利率 {} 低于系统建议 {}",
                    percent(r),
                    percent(sys)
                ));
            }
        }
    }
    // The step names one cause for its level's authority and one for all
    // its overrides of the system together.
    let overrides = usize::from(!causes.is_empty());
    if causes.is_empty() || s.requires_because.len() > overrides {
        causes.insert(0, "超出本级审批权限".to_string());
    }
    causes.join("；")
}
