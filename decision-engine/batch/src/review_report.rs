//! The override report (人工调整报告) as files: a CSV of every line, and one
//! self-contained HTML file (inline CSS and SVG charts, nothing fetched at
//! view time) with the approval and override rates by override reason, by
//! the rule that referred, by reviewer and by branch. The figures are
//! counted by `decision_service::reviews::report`, which says what counts.

use std::fmt::Write as _;
use std::path::Path;

use decision_service::reviews::report::{ReportRow, ReviewReport};
use plotters::prelude::*;

use crate::report::{PALETTE, Plot, bar, category, err, esc, percent};

/// Writes every line as CSV.
pub fn write_csv(path: &Path, report: &ReviewReport) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let mut w = csv::Writer::from_path(path).map_err(|e| fail(&e))?;
    for r in &report.rows {
        w.serialize(r).map_err(|e| fail(&e))?;
    }
    w.flush().map_err(|e| fail(&e))
}

/// Bars drawn per chart (every line is in the tables).
const CHART_ROWS: usize = 30;

/// Two bars per line: its approval rate and its override rate, in percent.
fn rates_chart(title: &str, rows: &[&ReportRow]) -> Plot {
    let mut svg = String::new();
    {
        // Bars from the top: each line's approval rate, then its override
        // rate (plotting only: the exact figures are in the table).
        let bars: Vec<(String, f64, RGBColor)> = rows
            .iter()
            .flat_map(|r| {
                let to_f64 = |d| percent(d).to_string().parse::<f64>().unwrap_or(0.0);
                [
                    (
                        format!("{} ({}) approved", r.key, r.cases),
                        to_f64(r.approval_rate),
                        PALETTE[1],
                    ),
                    ("overrode".to_string(), to_f64(r.override_rate), PALETTE[4]),
                ]
            })
            .collect();
        let n = bars.len().max(1);
        let root = SVGBackend::with_string(&mut svg, (760, 80 + 22 * n as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let names: Vec<String> = bars.iter().rev().map(|b| b.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(220)
            .build_cartesian_2d(0f64..100f64, (0..n as i32).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| category(&names, v))
            .x_desc("% of decided cases (decided cases in brackets)")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                bars.iter()
                    .enumerate()
                    .map(|(i, b)| bar((i, n), 0.0, b.1, b.2)),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// What each dimension's section is called.
const SECTIONS: [(&str, &str, &str); 6] = [
    ("institution", "按机构 By institution", "institution"),
    (
        "system_outcome",
        "按系统结论 By the system's outcome",
        "system outcome",
    ),
    (
        "reason_code",
        "按调整理由 By override reason",
        "override reason",
    ),
    (
        "referring_rule",
        "按转人工规则 By the rule that referred",
        "referring reason",
    ),
    ("reviewer", "按审批人 By reviewer", "reviewer"),
    ("branch", "按网点 By branch", "branch"),
];

fn pct(d: rust_decimal::Decimal) -> String {
    format!("{}%", percent(d))
}

/// The report as HTML text; `as_of` is when it was counted.
pub fn render(report: &ReviewReport, as_of: &str) -> Result<String, String> {
    let mut h = String::new();
    let w = &mut h;
    let _ = write!(
        w,
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>人工调整报告 Review and override report {as_of}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1200px}}
h1{{font-size:22px}} h2{{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;font-size:13px}} th,td{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f3f5f8}} td.l,th.l{{text-align:left}}
.cards{{display:flex;flex-wrap:wrap;gap:12px}} .card{{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:130px}}
.card b{{display:block;font-size:20px}} .meta{{color:#555;font-size:13px;max-width:900px}}
</style></head><body>
<h1>人工调整报告 · Reviews and overrides</h1>
<p class="meta">From the stored review cases and steps, counted {as_of}. A case counts once decided. It overrides the system when people's final terms differ from the system's: a system approval declined or approved at another limit or rate, a system decline approved, a referral approved at another limit or rate than the system proposed. Override reasons count every reason any step gave; reviewer and branch are those of the person who proposed the final terms.</p>
"#,
        as_of = esc(as_of)
    );
    let all = report.rows.iter().find(|r| r.dimension == "all");
    let referred = report
        .rows
        .iter()
        .find(|r| r.dimension == "system_outcome" && r.key == "REFER");
    let _ = write!(w, r#"<div class="cards">"#);
    for (label, value) in [
        (
            "已审批 Decided",
            all.map_or("0".to_string(), |r| r.cases.to_string()),
        ),
        (
            "人工调整率 Override rate",
            all.map_or("-".to_string(), |r| pct(r.override_rate)),
        ),
        (
            "转人工批准率 Referred cases approved",
            referred.map_or("-".to_string(), |r| {
                format!("{} ({} of {})", pct(r.approval_rate), r.approved, r.cases)
            }),
        ),
        ("待审批 Pending", report.pending.to_string()),
        (
            "待复核 Awaiting confirmation",
            report.awaiting_confirmation.to_string(),
        ),
        ("已取代 Superseded", report.superseded.to_string()),
    ] {
        let _ = write!(
            w,
            r#"<div class="card">{label}<b>{}</b></div>"#,
            esc(&value)
        );
    }
    let _ = write!(w, "</div>");
    if all.is_none() {
        let _ = write!(w, "<p>No decided review yet.</p></body></html>");
        return Ok(h);
    }
    for (dimension, title, column) in SECTIONS {
        let rows: Vec<&ReportRow> = report
            .rows
            .iter()
            .filter(|r| r.dimension == dimension)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = write!(w, "<h2>{}</h2>", esc(title));
        let mut charted = rows.clone();
        charted.sort_by(|a, b| b.cases.cmp(&a.cases).then(a.key.cmp(&b.key)));
        charted.truncate(CHART_ROWS);
        let _ = write!(w, "{}", rates_chart(title, &charted)?);
        let _ = write!(
            w,
            r#"<table><tr><th class="l">{column}</th><th class="l">meaning</th><th>decided</th><th>approved</th><th>approval rate</th><th>overrode</th><th>override rate</th></tr>"#
        );
        for r in rows {
            let _ = write!(
                w,
                r#"<tr><td class="l">{}</td><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                esc(if r.key.is_empty() { "(none)" } else { &r.key }),
                esc(&r.label),
                r.cases,
                r.approved,
                pct(r.approval_rate),
                r.overridden,
                pct(r.override_rate)
            );
        }
        let _ = write!(w, "</table>");
    }
    let _ = write!(
        w,
        r#"<p class="meta">Each case is told beside its system decision: <code>decision-engine review show DECISION_ID</code> or <code>decision-engine explain DECISION_ID</code>.</p></body></html>"#
    );
    Ok(h)
}
