//! A readable account of one decision, in Chinese or English, written from
//! the stored decision and its trace alone (no policy documents needed), so
//! an approver or auditor can answer "why" years later.

use std::fmt::Write;

use rust_decimal::Decimal;

use crate::decision::{Decision, Outcome, RuleTrace, StepTrace, Values};

/// The language an explanation is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// Chinese (中文).
    Zh,
    /// English.
    En,
}

fn t(lang: Lang, en: &'static str, zh: &'static str) -> &'static str {
    match lang {
        Lang::En => en,
        Lang::Zh => zh,
    }
}

fn values(v: &Values) -> String {
    v.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A yearly rate as a percentage with two decimals: `0.041` is `4.10%`.
pub fn percent(rate: Decimal) -> String {
    let mut p = rate * Decimal::ONE_HUNDRED;
    p.rescale(2);
    format!("{p}%")
}

fn outcome(lang: Lang, o: Outcome) -> &'static str {
    match o {
        Outcome::Approve => t(lang, "APPROVE (pre-approved)", "APPROVE 预审通过"),
        Outcome::Refer => t(lang, "REFER (to an approver)", "REFER 转人工审批"),
        Outcome::Decline => t(lang, "DECLINE", "DECLINE 拒绝"),
    }
}

fn rules(out: &mut String, lang: Lang, title: &str, rules: &[RuleTrace]) {
    let hits = rules.iter().filter(|r| r.hit).count();
    let _ = writeln!(
        out,
        "{title} ({} {}, {hits} {}):",
        rules.len(),
        t(lang, "evaluated", "条已评估"),
        t(lang, "hit", "条命中")
    );
    for r in rules {
        let verdict = if r.hit {
            t(lang, "HIT", "命中")
        } else {
            t(lang, "not hit", "未命中")
        };
        let _ = write!(
            out,
            "  - [{}] {} ({}): `{}` {} {}",
            r.layer.name(),
            r.id,
            r.reason_code,
            r.expression,
            t(lang, "with", "取值"),
            values(&r.inputs)
        );
        if !r.missing.is_empty() {
            let _ = write!(
                out,
                "; {} {}",
                r.missing.join(", "),
                t(
                    lang,
                    "absent, rule's when_missing applies",
                    "缺失，按规则的缺失处理"
                )
            );
        }
        let _ = writeln!(out, " -> {verdict}");
    }
}

fn steps(out: &mut String, lang: Lang, steps: &[StepTrace]) {
    for s in steps {
        let _ = write!(out, "  - {} ({}): `{}`", s.id, s.op, s.expression);
        if let Some(w) = &s.when {
            let _ = write!(out, " {} `{w}`", t(lang, "when", "条件"));
        }
        if !s.inputs.is_empty() {
            let _ = write!(out, " {} {}", t(lang, "with", "取值"), values(&s.inputs));
        }
        match (&s.value, &s.note) {
            (_, Some(note)) => {
                let note = if lang == Lang::Zh {
                    note.replace("skipped: condition is false", "跳过：条件不成立")
                        .replace("skipped:", "跳过：")
                        .replace(" absent", " 缺失")
                } else {
                    note.to_string()
                };
                let _ = writeln!(
                    out,
                    " -> {note}; {} {}",
                    t(lang, "amount stays", "金额不变"),
                    s.after
                );
            }
            (Some(v), None) => {
                let _ = writeln!(out, " = {v}; {} -> {}", s.before, s.after);
            }
            (None, None) => {
                let _ = writeln!(out);
            }
        }
    }
}

/// The segment the household fell in and why.
fn segment(out: &mut String, lang: Lang, seg: &crate::decision::SegmentTrace) {
    let _ = writeln!(
        out,
        "{} {} ({}): {} {}",
        t(lang, "Segment", "客群"),
        seg.id,
        seg.description,
        t(lang, "scored by", "评分卡"),
        seg.scorecard
    );
    for c in &seg.checked {
        let result = if c.held {
            t(lang, "holds", "成立")
        } else {
            t(lang, "does not hold", "不成立")
        };
        match &c.condition {
            Some(cond) => {
                let _ = writeln!(
                    out,
                    "  - {} {}: `{cond}` {result} ({})",
                    t(lang, "segment", "客群"),
                    c.id,
                    values(&c.inputs)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  - {} {}: {}",
                    t(lang, "segment", "客群"),
                    c.id,
                    t(lang, "every household left", "其余全部农户")
                );
            }
        }
    }
}

/// Which layer of an overlay's effective ruleset each parameter and rule
/// came from.
fn layers(out: &mut String, lang: Lang, l: &crate::model::overlay::Layers) {
    let _ = writeln!(
        out,
        "{} {}@{} {} {}@{} ({}; {} {}, {} {}):",
        t(lang, "Layers: overlay", "策略层：机构叠加"),
        l.overlay.id,
        l.overlay.version,
        t(lang, "on the province default", "叠加于省联社默认策略"),
        l.base.id,
        l.base.version,
        if l.follows == "active" {
            t(lang, "follows its active version", "跟随其生效版本")
        } else {
            t(lang, "pins this version", "固定此版本")
        },
        t(lang, "base", "基础"),
        l.base.hash,
        t(lang, "overlay", "叠加"),
        l.overlay.hash
    );
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    for o in &l.overrides {
        let _ = writeln!(
            out,
            "  - {} {} = {} ({}; {} {})",
            t(lang, "parameter", "参数"),
            o.name,
            text(&o.overlay),
            t(lang, "from the overlay", "来自机构叠加"),
            t(lang, "the base has", "基础策略为"),
            text(&o.base)
        );
    }
    for id in &l.added_rules {
        let _ = writeln!(
            out,
            "  - {} {id} ({})",
            t(lang, "rule", "规则"),
            t(lang, "added by the overlay", "由机构叠加新增")
        );
    }
    for id in &l.disabled_rules {
        let _ = writeln!(
            out,
            "  - {} {id} ({})",
            t(lang, "rule", "规则"),
            t(
                lang,
                "of the base, switched off by the overlay",
                "基础策略规则，已由机构叠加关闭"
            )
        );
    }
    let _ = writeln!(
        out,
        "  - {}",
        t(
            lang,
            "every other parameter and rule: the base's",
            "其余参数与规则：均来自基础策略"
        )
    );
}

/// The account of `decision`. Without a trace, only the outcome and reasons.
pub fn explain(decision: &Decision, lang: Lang) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} {} — {} {} ({} {}, {} {})",
        t(lang, "Decision", "决策"),
        decision.decision_id,
        t(lang, "request", "申请"),
        decision.request_id,
        t(lang, "institution", "机构"),
        decision.institution,
        t(lang, "product", "产品"),
        decision.product
    );
    let _ = write!(
        out,
        "{}: {}",
        t(lang, "Outcome", "结论"),
        outcome(lang, decision.decision)
    );
    if let Some(rate) = decision.annual_rate {
        let _ = write!(
            out,
            "; {} {} {}, {} {}",
            t(lang, "limit", "额度"),
            decision.limit,
            t(lang, "yuan", "元"),
            t(lang, "annual rate", "年利率"),
            percent(rate)
        );
    }
    let _ = writeln!(
        out,
        "; {} {}, {} {}",
        t(lang, "score", "评分"),
        decision.score,
        t(lang, "grade", "评级"),
        decision.grade
    );
    let _ = writeln!(out, "{}:", t(lang, "Policy versions", "策略版本"));
    for v in &decision.versions {
        let _ = writeln!(out, "  - {} {}@{} {}", v.kind, v.id, v.version, v.hash);
    }
    if let Some(l) = &decision.layers {
        layers(&mut out, lang, l);
    }
    let _ = writeln!(
        out,
        "{}:",
        t(
            lang,
            "Reasons, most important first",
            "原因（按重要性排序）"
        )
    );
    for (i, r) in decision.reasons.iter().enumerate() {
        let msg = if lang == Lang::Zh {
            &r.message_zh
        } else {
            &r.message_en
        };
        let _ = writeln!(out, "  {}. [{}] {} ({})", i + 1, r.code, msg, r.source);
    }
    for r in &decision.flags {
        let msg = if lang == Lang::Zh {
            &r.message_zh
        } else {
            &r.message_en
        };
        let _ = writeln!(
            out,
            "  {} [{}] {} ({})",
            t(lang, "flag:", "提示："),
            r.code,
            msg,
            r.source
        );
    }
    if let Some(routing) = &decision.routing {
        let level = match lang {
            Lang::Zh => routing.level_name_zh.as_deref(),
            Lang::En => routing.level_name_en.as_deref(),
        };
        let because = match lang {
            Lang::Zh => routing.because_zh.join("；"),
            Lang::En => routing.because.join("; "),
        };
        let _ = match level {
            Some(level) => writeln!(
                out,
                "{} {level} ({}): {because}",
                t(lang, "Routed to", "审批路由：交"),
                routing.matrix
            ),
            None => writeln!(
                out,
                "{} ({}): {because}",
                t(lang, "No review required", "无需人工审批"),
                routing.matrix
            ),
        };
    }
    let Some(trace) = &decision.trace else {
        let _ = writeln!(
            out,
            "{}",
            t(lang, "(no trace stored)", "（未保存追踪记录）")
        );
        return out;
    };

    let _ = writeln!(
        out,
        "\n{}: {}",
        t(lang, "Features", "特征"),
        values(&trace.features)
    );
    if !trace.derived.is_empty() {
        let _ = writeln!(out, "{}:", t(lang, "Derived features", "衍生特征"));
        derived(&mut out, lang, &trace.derived);
    }
    rules(
        &mut out,
        lang,
        t(
            lang,
            "Knock-out rules, province red lines first",
            "准入规则（先省联社红线）",
        ),
        &trace.knockout,
    );
    if let Some(seg) = &trace.segment {
        segment(&mut out, lang, seg);
    }

    let sc = &trace.scorecard;
    let _ = writeln!(
        out,
        "{} {}@{}: {} {}",
        t(lang, "Scorecard", "评分卡"),
        sc.id,
        sc.version,
        t(lang, "base points", "基础分"),
        sc.base_points
    );
    if !sc.derived.is_empty() {
        let _ = writeln!(
            out,
            "  {}:",
            t(lang, "Computed by the card", "评分卡衍生值")
        );
        derived(&mut out, lang, &sc.derived);
        let _ = writeln!(out, "  {}:", t(lang, "Characteristics", "特征得分"));
    }
    for c in &sc.characteristics {
        let _ = writeln!(
            out,
            "  - {} ({}={}): {} {} -> {} {} ({} {}, {} {})",
            c.name,
            c.feature,
            c.value,
            t(lang, "bin", "分箱"),
            c.bin,
            c.points,
            t(lang, "points", "分"),
            t(lang, "baseline", "基准"),
            c.baseline,
            c.reason_code,
            c.difference
        );
    }
    let g = &trace.grade;
    let band = g.min_score.map_or_else(
        || t(lang, "lowest band", "最低档").to_string(),
        |m| format!(">= {m}"),
    );
    let _ = writeln!(
        out,
        "  = {} {} -> {} {} ({band}){}",
        t(lang, "score", "评分"),
        g.score,
        t(lang, "grade", "评级"),
        g.grade,
        if g.decline {
            t(lang, ", a declining grade", "，该评级拒绝")
        } else {
            ""
        }
    );

    let l = &trace.limit;
    let _ = writeln!(out, "{}:", t(lang, "Limit (yuan)", "额度测算（元）"));
    steps(&mut out, lang, &l.steps);
    let _ = writeln!(
        out,
        "  {} {}, {} {} -> {}; {} {} -> {} {}",
        t(lang, "computed", "测算"),
        l.computed,
        t(lang, "rounded down to a multiple of", "向下取整至"),
        l.round_down_to,
        l.rounded,
        t(lang, "minimum offer", "最低授信"),
        l.minimum_offer,
        t(lang, "limit", "额度"),
        l.limit
    );
    let p = &trace.price;
    let _ = writeln!(out, "{}:", t(lang, "Annual rate", "利率定价"));
    steps(&mut out, lang, &p.steps);
    let _ = writeln!(
        out,
        "  {} {}, {} {} -> {}, {} [{}, {}] -> {}",
        t(lang, "computed", "测算"),
        p.computed,
        t(lang, "rounded to", "舍入至"),
        p.round_to,
        p.rounded,
        t(lang, "held within", "限定在"),
        p.floor,
        p.cap,
        percent(p.annual_rate)
    );
    rules(
        &mut out,
        lang,
        t(lang, "Refer rules", "转人工规则"),
        &trace.refer,
    );
    if !trace.flags.is_empty() {
        rules(
            &mut out,
            lang,
            t(lang, "Flag rules", "提示规则"),
            &trace.flags,
        );
    }
    let _ = writeln!(out, "{}:", t(lang, "Outcome because", "结论依据"));
    for r in trace.knockout.iter().filter(|r| r.hit) {
        let _ = writeln!(
            out,
            "  - {} {} ({})",
            t(lang, "knock-out rule hit:", "命中准入规则："),
            r.id,
            r.layer
        );
    }
    if g.decline {
        let _ = writeln!(
            out,
            "  - {} {}",
            t(lang, "declining grade", "评级不予准入："),
            g.grade
        );
    }
    if !l.offered {
        let _ = writeln!(
            out,
            "  - {} {}",
            t(lang, "limit below the minimum offer", "额度低于最低授信"),
            l.minimum_offer
        );
    }
    if decision.decision != Outcome::Decline {
        for r in trace.refer.iter().filter(|r| r.hit) {
            let _ = writeln!(
                out,
                "  - {} {}",
                t(lang, "refer rule hit:", "命中转人工规则："),
                r.id
            );
        }
    }
    if decision.decision == Outcome::Approve {
        let _ = writeln!(
            out,
            "  - {}",
            t(
                lang,
                "no knock-out or refer rule hit and the limit reaches the minimum offer",
                "未命中准入及转人工规则，额度达到最低授信"
            )
        );
    }
    out
}

/// Each derived value with its formula, inputs and value.
fn derived(out: &mut String, lang: Lang, items: &[crate::decision::DerivedTrace]) {
    for d in items {
        let _ = write!(
            out,
            "  - {} = `{}` {} {} -> {}",
            d.name,
            d.expression,
            t(lang, "with", "取值"),
            values(&d.inputs),
            d.value
        );
        match &d.note {
            Some(n) => {
                let _ = writeln!(out, " ({n})");
            }
            None => {
                let _ = writeln!(out);
            }
        }
    }
}
