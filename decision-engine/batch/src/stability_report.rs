//! Score monitoring as CSV and as one self-contained HTML page: the PSI of
//! the score and the CSI of each characteristic, per institution and
//! product, flagged at 0.1 (watch) and 0.25 (shift).

use std::fmt::Write as _;
use std::path::Path;

use decision_service::stability::{Flag, Index, SHIFT, Stability, WATCH, percent, shown};

use crate::report::esc;
use crate::simulate::impact_report::paired_bars;

/// One row per index: `institution, product, scorecard, measure (PSI or
/// CSI), name, value, flag, baseline_households, current_households`.
pub fn write_csv(path: &Path, groups: &[Stability]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path).map_err(|e| e.to_string())?;
    w.write_record([
        "institution",
        "product",
        "scorecard",
        "measure",
        "name",
        "value",
        "flag",
        "baseline_households",
        "current_households",
    ])
    .map_err(|e| e.to_string())?;
    for g in groups {
        let indexes =
            std::iter::once(("PSI", &g.score)).chain(g.characteristics.iter().map(|c| ("CSI", c)));
        for (measure, i) in indexes {
            w.write_record([
                g.institution.as_str(),
                &g.product,
                &g.scorecard,
                measure,
                &i.name,
                &shown(i.value),
                i.flag.name(),
                &g.baseline_households.to_string(),
                &g.current_households.to_string(),
            ])
            .map_err(|e| e.to_string())?;
        }
    }
    w.flush().map_err(|e| e.to_string())
}

/// One row per band or bin of every index.
pub fn write_bins_csv(path: &Path, groups: &[Stability]) -> Result<(), String> {
    let mut w = csv::Writer::from_path(path).map_err(|e| e.to_string())?;
    w.write_record([
        "institution",
        "product",
        "name",
        "bin",
        "baseline",
        "current",
        "baseline_share",
        "current_share",
        "contribution",
    ])
    .map_err(|e| e.to_string())?;
    for g in groups {
        for i in std::iter::once(&g.score).chain(&g.characteristics) {
            for b in &i.bins {
                w.write_record([
                    g.institution.as_str(),
                    &g.product,
                    &i.name,
                    &b.label,
                    &b.baseline.to_string(),
                    &b.current.to_string(),
                    &shown(b.baseline_share),
                    &shown(b.current_share),
                    &shown(b.contribution),
                ])
                .map_err(|e| e.to_string())?;
            }
        }
    }
    w.flush().map_err(|e| e.to_string())
}

fn flag_cell(flag: Flag) -> &'static str {
    match flag {
        Flag::Stable => "<td class=ok>stable</td>",
        Flag::Watch => "<td class=watch>watch</td>",
        Flag::Shift => "<td class=shift>shift</td>",
    }
}

fn bins_table(w: &mut String, i: &Index) {
    let _ = write!(
        w,
        "<table><tr><th class=l>band / bin</th><th>baseline</th><th>share</th><th>current</th><th>share</th><th>contribution</th></tr>"
    );
    for b in &i.bins {
        let _ = write!(
            w,
            "<tr><td class=l>{}</td><td>{}</td><td>{}%</td><td>{}</td><td>{}%</td><td>{}</td></tr>",
            esc(&b.label),
            b.baseline,
            percent(b.baseline_share),
            b.current,
            percent(b.current_share),
            shown(b.contribution)
        );
    }
    let _ = write!(w, "</table>");
}

/// The report as HTML text; `baseline` and `current` describe the two
/// populations for the reader.
pub fn render(groups: &[Stability], baseline: &str, current: &str) -> Result<String, String> {
    let mut h = String::new();
    let w = &mut h;
    let _ = write!(
        w,
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>评分稳定性监测 Score stability</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1100px}}
h1{{font-size:22px}} h2{{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}} h3{{font-size:15px}}
table{{border-collapse:collapse;font-size:13px;margin-bottom:12px}} th,td{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f3f5f8}} td.l,th.l{{text-align:left}} td.ok{{background:#e6f4ea}} td.watch{{background:#fff4d6}} td.shift{{background:#fdecea}}
.meta{{color:#555;font-size:13px}}
</style></head><body>
<h1>评分稳定性监测 · Score stability (PSI / CSI)</h1>
<p class="meta">Baseline: {baseline}<br>Current: {current}<br>
Index = Σ (current share − baseline share) × ln(current share / baseline share); an empty bin counts as a share of 0.0001.
Below {WATCH}: stable; {WATCH} to {SHIFT}: watch; {SHIFT} and above: shift (review the scorecard). Score bands are the baseline's deciles.</p>
"#,
        baseline = esc(baseline),
        current = esc(current),
    );
    if groups.is_empty() {
        let _ = write!(w, "<p>No decisions in the current period.</p>");
    }
    for g in groups {
        let _ = write!(
            w,
            "<h2>{} · {}</h2><p class=meta>Scorecard {} · baseline {} households · current {} households</p>",
            esc(&g.institution),
            esc(&g.product),
            esc(&g.scorecard),
            g.baseline_households,
            g.current_households
        );
        let _ = write!(
            w,
            "<table><tr><th class=l>measure</th><th class=l>name</th><th>index</th><th>flag</th></tr>"
        );
        for (measure, i) in
            std::iter::once(("PSI", &g.score)).chain(g.characteristics.iter().map(|c| ("CSI", c)))
        {
            let _ = write!(
                w,
                "<tr><td class=l>{measure}</td><td class=l>{}</td><td>{}</td>{}</tr>",
                esc(&i.name),
                shown(i.value),
                flag_cell(i.flag)
            );
        }
        let _ = write!(w, "</table>");
        let names: Vec<String> = g.score.bins.iter().map(|b| b.label.clone()).collect();
        let shares: Vec<(u64, u64)> = g
            .score
            .bins
            .iter()
            .map(|b| {
                (
                    (b.baseline_share * 10_000.0).round() as u64,
                    (b.current_share * 10_000.0).round() as u64,
                )
            })
            .collect();
        let _ = write!(
            w,
            "<h3>Score bands</h3>{}",
            paired_bars(
                "Share of households by score band",
                "basis points",
                ("baseline", "current"),
                &names,
                &shares
            )?
        );
        bins_table(w, &g.score);
        for c in g.characteristics.iter().filter(|c| c.flag != Flag::Stable) {
            let _ = write!(
                w,
                "<h3>{} (CSI {}, {})</h3>",
                esc(&c.name),
                shown(c.value),
                c.flag.name()
            );
            bins_table(w, c);
        }
    }
    let _ = writeln!(w, "</body></html>");
    Ok(h)
}
