//! The impact analysis as one self-contained HTML file (inline CSS and SVG
//! charts drawn by plotters, nothing fetched at view time): the swap-set,
//! outcomes and limits both ways, score shifts, rule hit rates, grade
//! migration, and limits and rates by grade and by village.

use std::fmt::Write as _;

use plotters::prelude::*;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

use super::{Group, Impact, OUTCOMES};
use crate::report::{PALETTE, Plot, category, err, esc};

/// Two bars per category (baseline, candidate), side by side.
pub(crate) fn paired_bars(
    title: &str,
    y_desc: &str,
    (first, second): (&str, &str),
    names: &[String],
    values: &[(u64, u64)],
) -> Plot {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 340)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let n = names.len().max(1);
        let top = values
            .iter()
            .map(|v| v.0.max(v.1))
            .max()
            .unwrap_or(1)
            .max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(80)
            .build_cartesian_2d((0..n as i32 - 1).into_segmented(), 0u64..top + top / 10 + 1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&|v| category(names, v))
            .y_desc(y_desc)
            .draw()
            .map_err(err)?;
        // Half a category's width in pixels, less a gap.
        let half = ((760 - 24 - 80) / n as u32 / 2).saturating_sub(4);
        for (series, color) in [(0, PALETTE[0]), (1, PALETTE[3])] {
            chart
                .draw_series(values.iter().enumerate().map(|(i, v)| {
                    let value = if series == 0 { v.0 } else { v.1 };
                    let i = i as i32;
                    let mut r = Rectangle::new(
                        [
                            (SegmentValue::Exact(i), 0),
                            (SegmentValue::Exact(i + 1), value),
                        ],
                        color.filled(),
                    );
                    if series == 0 {
                        r.set_margin(0, 0, 4, half + 4);
                    } else {
                        r.set_margin(0, 0, half + 4, 4);
                    }
                    r
                }))
                .map_err(err)?
                .label(if series == 0 { first } else { second })
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Households by score shift (candidate minus baseline), on a numeric axis
/// (drawing only: the figures in the tables are exact).
fn shift_chart(impact: &Impact) -> Plot {
    let shifts: Vec<(f64, u64)> = impact
        .score_shift
        .iter()
        .filter_map(|(k, &n)| {
            k.parse::<Decimal>()
                .ok()
                .and_then(|d| d.to_f64())
                .map(|d| (d, n))
        })
        .collect();
    let lo = shifts.iter().map(|s| s.0).fold(0.0, f64::min);
    let hi = shifts.iter().map(|s| s.0).fold(0.0, f64::max);
    let pad = ((hi - lo) / 20.0).max(1.0);
    let width = ((hi - lo) / 60.0).max(0.4);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = shifts.iter().map(|s| s.1).max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption("Score shift (candidate − baseline)", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(lo - pad..hi + pad, 0u64..top + top / 10 + 1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("points")
            .y_desc("households")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(shifts.iter().map(|&(x, count)| {
                Rectangle::new([(x - width, 0), (x + width, count)], PALETTE[5].filled())
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

fn thousands(d: Decimal) -> u64 {
    (d / Decimal::from(1000)).trunc().to_u64().unwrap_or(0)
}

fn rate(sum: Decimal, n: u64) -> String {
    Group::mean_rate(sum, n).map_or("–".to_string(), |r| {
        format!("{}%", (r * Decimal::from(100)).round_dp(2))
    })
}

fn share(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "–".to_string();
    }
    format!(
        "{}%",
        (Decimal::from(part) * Decimal::from(100) / Decimal::from(whole)).round_dp(1)
    )
}

fn versions(v: &[decision_core::VersionRef]) -> String {
    v.iter()
        .map(|v| {
            format!(
                "{} <code>{}@{}</code>",
                esc(&v.kind),
                esc(&v.id),
                esc(&v.version)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ")
}

fn group_row(w: &mut String, label: &str, g: &Group) {
    let _ = write!(
        w,
        "<tr><td class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        esc(label),
        g.households,
        g.baseline_approved,
        g.candidate_approved,
        g.baseline_limit_total,
        g.candidate_limit_total,
        g.candidate_limit_total - g.baseline_limit_total,
        rate(g.baseline_rate_sum, g.baseline_rated),
        rate(g.candidate_rate_sum, g.candidate_rated),
    );
}

const GROUP_HEADER: &str = "<tr><th>households</th><th>approved, baseline</th><th>approved, candidate</th><th>limit total, baseline</th><th>limit total, candidate</th><th>change</th><th>mean rate, baseline</th><th>mean rate, candidate</th></tr>";

/// The report as HTML text.
pub fn render(impact: &Impact) -> Result<String, String> {
    let t = &impact.total;
    let mut outcomes: Vec<String> = OUTCOMES.iter().map(|s| s.to_string()).collect();
    let has_errors = impact
        .swap
        .iter()
        .any(|((b, c), s)| (b == "ERROR" || c == "ERROR") && s.households > 0);
    if has_errors {
        outcomes.push("ERROR".to_string());
    }
    let count = |baseline: bool, o: &str| -> u64 {
        impact
            .swap
            .iter()
            .filter(|((b, c), _)| if baseline { b == o } else { c == o })
            .map(|(_, s)| s.households)
            .sum()
    };
    let outcome_counts: Vec<(u64, u64)> = outcomes
        .iter()
        .map(|o| (count(true, o), count(false, o)))
        .collect();
    let grades: Vec<String> = impact
        .grade_order
        .iter()
        .filter(|g| impact.by_grade.contains_key(*g))
        .cloned()
        .collect();
    let grade_limits: Vec<(u64, u64)> = grades
        .iter()
        .map(|g| {
            let x = &impact.by_grade[g];
            (
                thousands(x.baseline_limit_total),
                thousands(x.candidate_limit_total),
            )
        })
        .collect();

    let mut h = String::new();
    let w = &mut h;
    let _ = write!(
        w,
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>政策影响分析 Impact analysis</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1100px}}
h1{{font-size:22px}} h2{{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;font-size:13px}} th,td{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f3f5f8}} td.l,th.l{{text-align:left}} td.same{{background:#f6f6f6}} td.up{{background:#e6f4ea}} td.down{{background:#fdecea}}
.cards{{display:flex;flex-wrap:wrap;gap:12px}} .card{{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}}
.card b{{display:block;font-size:20px}} .meta{{color:#555;font-size:13px}}
</style></head><body>
<h1>政策影响分析 · Impact analysis</h1>
<p class="meta">Institution <b>{inst}</b> · product {prod} · input <code>{input}</code><br>
Baseline: {base}<br>Candidate: {cand}</p>
"#,
        inst = esc(&impact.institution),
        prod = esc(&impact.product),
        input = esc(&impact.input),
        base = versions(&impact.baseline),
        cand = versions(&impact.candidate),
    );
    let mean = |sum: Decimal| {
        if impact.decided_both == 0 {
            "–".to_string()
        } else {
            (sum / Decimal::from(impact.decided_both))
                .round_dp(1)
                .to_string()
        }
    };
    let _ = write!(w, r#"<h2>总计 Totals</h2><div class="cards">"#);
    for (label, value) in [
        ("户数 Households", impact.households.to_string()),
        (
            "通过 Approved",
            format!("{} → {}", t.baseline_approved, t.candidate_approved),
        ),
        (
            "授信总额 Limit total (yuan)",
            format!("{} → {}", t.baseline_limit_total, t.candidate_limit_total),
        ),
        (
            "平均分 Mean score",
            format!(
                "{} → {}",
                mean(impact.baseline_score_sum),
                mean(impact.candidate_score_sum)
            ),
        ),
    ] {
        let _ = write!(
            w,
            r#"<div class="card">{label}<b>{}</b></div>"#,
            esc(&value)
        );
    }
    let _ = write!(w, "</div>");

    let _ = write!(
        w,
        "<h2>决策迁移 Swap-set</h2><p class=meta>Rows: the baseline's decision; columns: the candidate's. Each cell: households (limit total, baseline → candidate).</p><table><tr><th class=l>baseline \\ candidate</th>"
    );
    for c in &outcomes {
        let _ = write!(w, "<th>{}</th>", esc(c));
    }
    let _ = write!(w, "<th>total</th></tr>");
    for b in &outcomes {
        let _ = write!(w, "<tr><th class=l>{}</th>", esc(b));
        let mut row_total = 0;
        for c in &outcomes {
            let cell = impact
                .swap
                .get(&(b.clone(), c.clone()))
                .cloned()
                .unwrap_or_default();
            row_total += cell.households;
            let class = if b == c {
                "same"
            } else if c == "APPROVE" || (c == "REFER" && b == "DECLINE") {
                "up"
            } else {
                "down"
            };
            let _ = write!(
                w,
                "<td class={class}>{}<br><small>{} → {}</small></td>",
                cell.households, cell.baseline_limit_total, cell.candidate_limit_total
            );
        }
        let _ = write!(w, "<td>{row_total}</td></tr>");
    }
    let _ = write!(w, "</table>");
    let _ = write!(
        w,
        "{}",
        paired_bars(
            "Decisions",
            "households",
            ("baseline", "candidate"),
            &outcomes,
            &outcome_counts
        )?
    );

    let _ = write!(w, "<h2>评分变化 Score shift</h2>{}", shift_chart(impact)?);

    let _ = write!(
        w,
        "<h2>规则命中率 Rule hit rates</h2><p class=meta>Over the {} households each policy decided.</p><table><tr><th class=l>rule</th><th class=l>stage</th><th>hits, baseline</th><th>rate</th><th>hits, candidate</th><th>rate</th><th>change</th></tr>",
        impact.households
    );
    for r in &impact.rules {
        let change = r.candidate_hits as i64 - r.baseline_hits as i64;
        let _ = write!(
            w,
            "<tr><td class=l>{}</td><td class=l>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{change:+}</td></tr>",
            esc(&r.rule),
            esc(&r.stage),
            r.baseline_hits,
            share(r.baseline_hits, impact.households),
            r.candidate_hits,
            share(r.candidate_hits, impact.households),
        );
    }
    let _ = write!(w, "</table>");

    let _ = write!(
        w,
        "<h2>等级迁移 Grade migration</h2><p class=meta>Rows: the baseline's grade; columns: the candidate's; households decided by both.</p><table><tr><th class=l>baseline \\ candidate</th>"
    );
    let mut candidate_grades: Vec<String> = impact.grade_order.clone();
    for (_, c) in impact.grade_migration.keys() {
        if !candidate_grades.contains(c) {
            candidate_grades.push(c.clone());
        }
    }
    for c in &candidate_grades {
        let _ = write!(w, "<th>{}</th>", esc(c));
    }
    let _ = write!(w, "</tr>");
    for b in &grades {
        let _ = write!(w, "<tr><th class=l>{}</th>", esc(b));
        for c in &candidate_grades {
            let n = impact
                .grade_migration
                .get(&(b.clone(), c.clone()))
                .copied()
                .unwrap_or(0);
            let class = if b == c { " class=same" } else { "" };
            let _ = write!(w, "<td{class}>{n}</td>");
        }
        let _ = write!(w, "</tr>");
    }
    let _ = write!(w, "</table>");

    let _ = write!(
        w,
        "<h2>按等级 By baseline grade</h2><table><tr><th class=l>grade</th>{}",
        &GROUP_HEADER[4..]
    );
    for g in &grades {
        group_row(w, g, &impact.by_grade[g]);
    }
    group_row(w, "total", t);
    let _ = write!(w, "</table>");
    let _ = write!(
        w,
        "{}",
        paired_bars(
            "Limit total by baseline grade",
            "thousand yuan",
            ("baseline", "candidate"),
            &grades,
            &grade_limits
        )?
    );

    let _ = write!(
        w,
        "<h2>按村 By village</h2><table><tr><th class=l>village</th>{}",
        &GROUP_HEADER[4..]
    );
    for (village, g) in &impact.by_village {
        group_row(w, village, g);
    }
    let _ = writeln!(w, "</table></body></html>");
    Ok(h)
}
