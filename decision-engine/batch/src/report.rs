//! The branch manager's report: one self-contained HTML file (inline CSS and
//! SVG charts drawn by plotters, nothing fetched at view time) with the
//! totals, the per-village table, the score histogram, the grade mix per
//! village, the limit distribution and the top decline reasons.

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;

use decision_store::BatchRecord;

use super::summary::{LIMIT_BUCKET, SCORE_BUCKET, Summary, Tally};

/// Villages drawn in the grade chart (all are in the table).
const CHART_VILLAGES: usize = 40;
/// Decline reasons shown.
const TOP_REASONS: usize = 10;

pub(crate) const PALETTE: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(255, 187, 51),
    RGBColor(255, 127, 14),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(127, 127, 127),
];

pub(crate) type Plot = Result<String, String>;

pub(crate) fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Escapes text for HTML.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Vertical bars over numeric buckets of `width`: (bucket, count).
fn histogram(title: &str, x_desc: &str, buckets: &[(i64, u64)], width: i64, unit: f64) -> Plot {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 320)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let lo = buckets.first().map_or(0, |b| b.0) * width;
        let hi = buckets.last().map_or(1, |b| b.0 + 1) * width;
        let top = buckets.iter().map(|b| b.1).max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(lo as f64 / unit..hi as f64 / unit, 0u64..top + top / 10 + 1)
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc("households")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(buckets.iter().map(|&(b, n)| {
                let x0 = (b * width) as f64 / unit;
                let x1 = ((b + 1) * width) as f64 / unit;
                Rectangle::new([(x0, 0), (x1, n)], PALETTE[0].filled())
            }))
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Category labels for a segmented axis: each name at its bar's centre.
pub(crate) fn category(names: &[String], v: &SegmentValue<i32>) -> String {
    match v {
        SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| names.get(i))
            .cloned()
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// One horizontal bar from `x0` to `x1` for the `i`th of `n` categories,
/// the first at the top.
pub(crate) fn bar<X: Copy>(
    (i, n): (usize, usize),
    x0: X,
    x1: X,
    color: RGBColor,
) -> Rectangle<(X, SegmentValue<i32>)> {
    let i = (n - 1 - i) as i32;
    let mut r = Rectangle::new(
        [
            (x0, SegmentValue::Exact(i)),
            (x1, SegmentValue::Exact(i + 1)),
        ],
        color.filled(),
    );
    r.set_margin(3, 3, 0, 0);
    r
}

/// Stacked horizontal bars: each village's households by grade (shares),
/// errors last.
fn grade_mix(summary: &Summary, villages: &[(&String, &Tally)]) -> Plot {
    let mut svg = String::new();
    {
        let n = villages.len().max(1);
        let height = 90 + 22 * n as u32;
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        // Bottom to top, so the first village is drawn at the top.
        let names: Vec<String> = villages.iter().rev().map(|(v, _)| (*v).clone()).collect();
        // The axis runs past 100% to leave room for the legend.
        let mut chart = ChartBuilder::on(&root)
            .caption("Grade mix by village", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(110)
            .build_cartesian_2d(0f64..1.25f64, (0..n as i32).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| category(&names, v))
            .x_label_formatter(&|x| {
                if *x <= 1.0 {
                    format!("{:.0}%", x * 100.0)
                } else {
                    String::new()
                }
            })
            .x_desc("share of the village's households")
            .draw()
            .map_err(err)?;
        let mut keys: Vec<String> = summary.grade_order.clone();
        keys.push("ERROR".into());
        for (k, key) in keys.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bars: Vec<_> = villages
                .iter()
                .enumerate()
                .filter(|(_, (_, t))| t.households > 0)
                .filter_map(|(i, (_, t))| {
                    let share = |n: u64| n as f64 / t.households as f64;
                    let count = |g: &String| {
                        if g == "ERROR" {
                            t.errors
                        } else {
                            t.grades.get(g).copied().unwrap_or(0)
                        }
                    };
                    let before: u64 = keys[..k].iter().map(count).sum();
                    let this = count(key);
                    (this > 0).then(|| bar((i, n), share(before), share(before + this), color))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(key.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE)
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Horizontal bars: the most frequent first-ranked decline reasons.
fn reasons_chart(reasons: &[(&String, u64)]) -> Plot {
    let mut svg = String::new();
    {
        let n = reasons.len().max(1);
        let height = 90 + 26 * n as u32;
        let root = SVGBackend::with_string(&mut svg, (760, height)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = reasons.iter().map(|r| r.1).max().unwrap_or(1).max(1);
        let names: Vec<String> = reasons.iter().rev().map(|r| r.0.clone()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption("Top decline reasons", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(90)
            .build_cartesian_2d(0u64..top + top / 10 + 1, (0..n as i32).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| category(&names, v))
            .x_desc("declined households (first-ranked reason)")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                reasons
                    .iter()
                    .enumerate()
                    .map(|(i, &(_, count))| bar((i, n), 0, count, PALETTE[4])),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// Writes the report.
pub fn write(path: &Path, batch: &BatchRecord, summary: &Summary) -> std::io::Result<()> {
    let html = render(batch, summary).map_err(std::io::Error::other)?;
    std::fs::write(path, html)
}

/// The report as HTML text.
pub fn render(batch: &BatchRecord, summary: &Summary) -> Result<String, String> {
    let t = &summary.total;
    let scores: Vec<(i64, u64)> = summary.scores.iter().map(|(&b, &n)| (b, n)).collect();
    let limits: Vec<(i64, u64)> = summary.limits.iter().map(|(&b, &n)| (b, n)).collect();
    let mut by_size: Vec<(&String, &Tally)> = summary.villages.iter().collect();
    by_size.sort_by(|a, b| b.1.households.cmp(&a.1.households).then(a.0.cmp(b.0)));
    by_size.truncate(CHART_VILLAGES);
    let mut reasons: Vec<(&String, u64)> = summary
        .decline_reasons
        .iter()
        .map(|(code, (n, _))| (code, *n))
        .collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    reasons.truncate(TOP_REASONS);

    let mut h = String::new();
    let w = &mut h;
    let _ = write!(
        w,
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>整村授信 Village pre-credit report {id}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1100px}}
h1{{font-size:22px}} h2{{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;font-size:13px}} th,td{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f3f5f8}} td.l,th.l{{text-align:left}}
.cards{{display:flex;flex-wrap:wrap;gap:12px}} .card{{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:130px}}
.card b{{display:block;font-size:20px}} .meta{{color:#555;font-size:13px}}
</style></head><body>
<h1>整村授信预审报告 · Village pre-credit report</h1>
<p class="meta">Batch <code>{id}</code> · institution <b>{inst}</b> · product {prod} · finished {fin}<br>
Input <code>{input}</code><br>Versions: {versions}</p>
"#,
        id = esc(&batch.batch_id),
        inst = esc(&batch.institution),
        prod = esc(&batch.product),
        fin = esc(&batch.finished_at),
        input = esc(&batch.input),
        versions = batch
            .versions
            .iter()
            .map(|v| format!(
                "{} <code>{}@{}</code>",
                esc(&v.kind),
                esc(&v.id),
                esc(&v.version)
            ))
            .collect::<Vec<_>>()
            .join(" · "),
    );
    let _ = write!(w, r#"<h2>总计 Totals</h2><div class="cards">"#);
    for (label, value) in [
        ("户数 Households", t.households.to_string()),
        (
            "通过 Approved",
            format!("{} ({}%)", t.approved, percent(t.share(t.approved))),
        ),
        (
            "转人工 Referred",
            format!("{} ({}%)", t.referred, percent(t.share(t.referred))),
        ),
        (
            "拒绝 Declined",
            format!("{} ({}%)", t.declined, percent(t.share(t.declined))),
        ),
        (
            "错误 Errors",
            format!("{} ({}%)", t.errors, percent(t.share(t.errors))),
        ),
        ("授信总额 Total limit (yuan)", grouped(t.total_limit)),
        ("户均授信 Mean limit (yuan)", grouped(t.mean_limit())),
        ("平均利率 Mean rate", format!("{}%", percent(t.mean_rate()))),
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
        r#"<h2>分村 By village</h2><table><tr><th class="l">village</th><th>households</th><th>approved</th><th>referred</th><th>declined</th><th>errors</th><th>approve rate</th><th>total limit</th><th>mean limit</th>"#
    );
    for g in &summary.grade_order {
        let _ = write!(w, "<th>{}</th>", esc(g));
    }
    let _ = write!(w, "<th>mean rate</th></tr>");
    let rows = summary
        .villages
        .iter()
        .map(|(v, t)| (v.as_str(), t))
        .chain(std::iter::once((Summary::TOTAL, &summary.total)));
    for (v, t) in rows {
        let _ = write!(
            w,
            r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}%</td><td>{}</td><td>{}</td>"#,
            esc(v),
            t.households,
            t.approved,
            t.referred,
            t.declined,
            t.errors,
            percent(t.share(t.approved)),
            grouped(t.total_limit),
            grouped(t.mean_limit())
        );
        for g in &summary.grade_order {
            let _ = write!(w, "<td>{}</td>", t.grades.get(g).copied().unwrap_or(0));
        }
        let _ = write!(w, "<td>{}%</td></tr>", percent(t.mean_rate()));
    }
    let _ = write!(w, "</table>");

    let _ = write!(
        w,
        "<h2>评分分布 Score histogram</h2>{}",
        histogram(
            "Scores of decided households",
            &format!("score ({SCORE_BUCKET}-point bars)"),
            &scores,
            SCORE_BUCKET,
            1.0
        )?
    );
    let _ = write!(
        w,
        "<h2>等级分布 Grade mix by village</h2>{}",
        grade_mix(summary, &by_size)?
    );
    if summary.villages.len() > CHART_VILLAGES {
        let _ = write!(
            w,
            r#"<p class="meta">The {CHART_VILLAGES} largest villages are drawn; the table lists all {}.</p>"#,
            summary.villages.len()
        );
    }
    let _ = write!(
        w,
        "<h2>额度分布 Limit distribution</h2>{}",
        histogram(
            "Pre-credit limits offered",
            &format!("limit, thousand yuan ({}k bars)", LIMIT_BUCKET / 1000),
            &limits,
            LIMIT_BUCKET,
            1000.0
        )?
    );
    let _ = write!(
        w,
        "<h2>主要拒绝原因 Top decline reasons</h2>{}",
        reasons_chart(&reasons)?
    );
    let _ = write!(
        w,
        r#"<table><tr><th class="l">code</th><th class="l">reason</th><th>households</th></tr>"#
    );
    for (code, n) in &reasons {
        let text = summary
            .decline_reasons
            .get(*code)
            .map(|r| r.1.as_str())
            .unwrap_or("");
        let _ = write!(
            w,
            r#"<tr><td class="l"><code>{}</code></td><td class="l">{}</td><td>{n}</td></tr>"#,
            esc(code),
            esc(text)
        );
    }
    let _ = writeln!(
        w,
        r#"</table><p class="meta">Every decision of this batch is explainable: <code>decision-engine explain DECISION_ID</code>. Shares are of all households of the row; mean limit is over households offered one, mean rate over households given one.</p></body></html>"#
    );
    Ok(h)
}

/// A share (0.6571) as a percentage (65.71).
pub(crate) fn percent(share: rust_decimal::Decimal) -> rust_decimal::Decimal {
    (share * rust_decimal::Decimal::ONE_HUNDRED).normalize()
}

/// An amount with thousands separators (`279444000.5` -> `279,444,000.5`).
pub(crate) fn grouped(amount: rust_decimal::Decimal) -> String {
    let text = amount.to_string();
    let (sign, digits) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (whole, fraction) = digits
        .split_once('.')
        .map_or((digits, None), |(w, f)| (w, Some(f)));
    let mut out = String::with_capacity(text.len() + whole.len() / 3);
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    let fraction = fraction.map(|f| format!(".{f}")).unwrap_or_default();
    format!("{sign}{out}{fraction}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_grouped_by_thousands() {
        let g = |s: &str| grouped(s.parse().unwrap());
        assert_eq!(g("279444000"), "279,444,000");
        assert_eq!(g("70602.32"), "70,602.32");
        assert_eq!(g("999"), "999");
        assert_eq!(g("1000"), "1,000");
        assert_eq!(g("-1234567.5"), "-1,234,567.5");
        assert_eq!(g("0"), "0");
    }
}
