//! The pre-credit funnel report (授信漏斗): from the register, per
//! institution, branch and village, how many households were pre-credited,
//! signed and drew, the amounts offered, signed, drawn and outstanding, and
//! what expires within 30 days. A CSV of every line, and one self-contained
//! HTML file (inline CSS and SVG charts, nothing fetched at view time).

use std::fmt::Write as _;
use std::path::Path;

use decision_service::precredit::FunnelRow;
use plotters::prelude::*;

use crate::report::{PALETTE, Plot, bar, category, err, esc, grouped};

/// Writes every line as CSV.
pub fn write_csv(path: &Path, rows: &[FunnelRow]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    for r in rows {
        w.serialize(r)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    w.flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Horizontal bars of the funnel's stages for one institution.
fn stages_chart(row: &FunnelRow) -> Plot {
    let stages = [
        ("households", row.households),
        ("pre-credited", row.precredited),
        ("signed", row.signed),
        ("drawn", row.drawn),
    ];
    let mut svg = String::new();
    {
        let n = stages.len();
        let root = SVGBackend::with_string(&mut svg, (760, 90 + 34 * n as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = row.households.max(1);
        let names: Vec<String> = stages.iter().rev().map(|s| s.0.to_string()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!("{}: households at each stage", row.institution),
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(100)
            .build_cartesian_2d(0u64..top + top / 10 + 1, (0..n as i32).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| category(&names, v))
            .x_desc("households")
            .draw()
            .map_err(err)?;
        chart
            .draw_series(
                stages
                    .iter()
                    .enumerate()
                    .map(|(i, &(_, count))| bar((i, n), 0, count, PALETTE[i % PALETTE.len()])),
            )
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A segment of a stacked bar: its label and how many households it holds.
type Part = (&'static str, fn(&FunnelRow) -> u64);

/// Stacked bars per village: households signed and drawn, signed not
/// drawn, pre-credited not signed, and not pre-credited.
fn villages_chart(villages: &[&FunnelRow]) -> Plot {
    let mut svg = String::new();
    {
        let n = villages.len().max(1);
        let root = SVGBackend::with_string(&mut svg, (760, 90 + 22 * n as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let names: Vec<String> = villages.iter().rev().map(|v| v.key.clone()).collect();
        let top = villages
            .iter()
            .map(|v| v.households)
            .max()
            .unwrap_or(1)
            .max(1);
        let mut chart = ChartBuilder::on(&root)
            .caption("Households by village and stage", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(90)
            .build_cartesian_2d(0u64..top + top / 3 + 1, (0..n as i32).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| category(&names, v))
            .x_desc("households")
            .draw()
            .map_err(err)?;
        let parts: [Part; 4] = [
            ("drawn", |r| r.drawn),
            ("signed, not drawn", |r| r.signed - r.drawn.min(r.signed)),
            ("pre-credited, not signed", |r| {
                r.precredited - r.signed.min(r.precredited)
            }),
            ("not pre-credited", |r| r.households - r.precredited),
        ];
        for (k, (label, count)) in parts.iter().enumerate() {
            let color = PALETTE[k % PALETTE.len()];
            let bars: Vec<_> = villages
                .iter()
                .enumerate()
                .filter_map(|(i, v)| {
                    let before: u64 = parts[..k].iter().map(|p| (p.1)(v)).sum();
                    let this = count(v);
                    (this > 0).then(|| bar((i, n), before, before + this, color))
                })
                .collect();
            chart
                .draw_series(bars)
                .map_err(err)?
                .label(*label)
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 10, y + 5)], color.filled())
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE)
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(err)?;
        root.present().map_err(err)?;
    }
    Ok(svg)
}

/// A count with thousands separators.
fn count(n: u64) -> String {
    grouped(rust_decimal::Decimal::from(n))
}

/// Villages drawn in the chart (all are in the table).
const CHART_VILLAGES: usize = 40;

/// The report as HTML text; `as_of` is the day the figures are counted on.
pub fn render(rows: &[FunnelRow], as_of: &str) -> Result<String, String> {
    let mut h = String::new();
    let w = &mut h;
    let _ = write!(
        w,
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>授信漏斗 Pre-credit funnel {as_of}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1200px}}
h1{{font-size:22px}} h2{{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;font-size:13px}} th,td{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f3f5f8}} td.l,th.l{{text-align:left}}
.cards{{display:flex;flex-wrap:wrap;gap:12px}} .card{{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:130px}}
.card b{{display:block;font-size:20px}} .meta{{color:#555;font-size:13px}}
</style></head><body>
<h1>授信漏斗 · Pre-credit funnel</h1>
<p class="meta">From the pre-credit register as of {as_of} (China Standard Time). Superseded entries are left out; amounts in yuan.</p>
"#,
        as_of = esc(as_of)
    );
    if rows.is_empty() {
        let _ = write!(w, "<p>No approved publication yet.</p></body></html>");
        return Ok(h);
    }
    for total in rows.iter().filter(|r| r.level == "institution") {
        let _ = write!(
            w,
            r#"<h2>{inst}</h2><div class="cards">"#,
            inst = esc(&total.institution)
        );
        for (label, value) in [
            ("户数 Households", count(total.households)),
            ("预授信 Pre-credited", count(total.precredited)),
            ("签约 Signed", count(total.signed)),
            ("用信 Drawn", count(total.drawn)),
            ("授信额 Offered", grouped(total.offered_amount)),
            ("签约额 Signed", grouped(total.signed_amount)),
            ("累计用信 Drawn", grouped(total.drawn_amount)),
            ("余额 Outstanding", grouped(total.outstanding)),
            ("30天内到期 Expiring ≤30 days", count(total.expiring_30d)),
            ("已过期 Expired", count(total.expired)),
            ("已撤销 Revoked", count(total.revoked)),
        ] {
            let _ = write!(
                w,
                r#"<div class="card">{label}<b>{}</b></div>"#,
                esc(&value)
            );
        }
        let _ = write!(w, "</div>");
        let _ = write!(w, "{}", stages_chart(total)?);
        let mut villages: Vec<&FunnelRow> = rows
            .iter()
            .filter(|r| r.level == "village" && r.institution == total.institution)
            .collect();
        villages.sort_by(|a, b| b.households.cmp(&a.households).then(a.key.cmp(&b.key)));
        villages.truncate(CHART_VILLAGES);
        let _ = write!(w, "{}", villages_chart(&villages)?);
        for level in ["branch", "village"] {
            let _ = write!(
                w,
                r#"<h2>{inst} by {level}</h2><table><tr><th class="l">{level}</th><th>households</th><th>pre-credited</th><th>referred</th><th>declined</th><th>signed</th><th>drawn</th><th>revoked</th><th>offered</th><th>signed amount</th><th>drawn amount</th><th>outstanding</th><th>expiring ≤30 days</th><th>expired</th></tr>"#,
                inst = esc(&total.institution)
            );
            for r in rows
                .iter()
                .filter(|r| r.level == level && r.institution == total.institution)
            {
                let _ = write!(
                    w,
                    r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                    esc(if r.key.is_empty() { "(none)" } else { &r.key }),
                    r.households,
                    r.precredited,
                    r.referred,
                    r.declined,
                    r.signed,
                    r.drawn,
                    r.revoked,
                    grouped(r.offered_amount),
                    grouped(r.signed_amount),
                    grouped(r.drawn_amount),
                    grouped(r.outstanding),
                    r.expiring_30d,
                    r.expired
                );
            }
            let _ = write!(w, "</table>");
        }
    }
    let _ = write!(
        w,
        r#"<p class="meta">Each entry's batch decision is explainable: <code>decision-engine explain DECISION_ID</code>; entries: <code>decision-engine precredit get</code>.</p></body></html>"#
    );
    Ok(h)
}
