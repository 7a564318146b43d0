//! The post-loan dashboard (贷后管理看板) of a monitoring run: one
//! self-contained HTML file (inline CSS and SVG charts drawn by plotters,
//! nothing fetched at view time) and its figures as CSV.
//!
//! What counts:
//! - signals, levels and the grade migration are this run's: every signal
//!   of every evaluated loan, by severity, product and branch; loans by
//!   post-loan level; loans by origination grade (`(unknown)` when the book
//!   does not give it) and current grade;
//! - tasks are the store's, of the book's institutions, whatever run or
//!   call created them, as they stand when the run ends: completed, open,
//!   overdue (open and due before the monitoring date), and open and due
//!   within 7 or 30 days of it (the monitoring date is the first day).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use chrono::NaiveDate;
use decision_core::model::monitoring::Severity;
use decision_core::monitor::Evaluation;
use decision_store::{TaskRecord, TaskStatus};
use plotters::prelude::*;
use serde::Serialize;

use crate::report::{PALETTE, Plot, bar, category, err, esc};

/// Branches drawn per chart (every branch is in the tables).
const CHART_BRANCHES: usize = 30;
/// The origination grade of a loan the book gives none for.
pub const UNKNOWN_GRADE: &str = "(unknown)";

const SEVERITIES: [Severity; 3] = [Severity::Red, Severity::Orange, Severity::Yellow];
const SEVERITY_COLORS: [RGBColor; 3] = [
    RGBColor(214, 39, 40),
    RGBColor(255, 127, 14),
    RGBColor(230, 200, 40),
];

/// This run's figures, counted loan by loan.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub loans: u64,
    pub evaluated: u64,
    pub errors: u64,
    /// Signals by severity (red, orange, yellow).
    pub severity: [u64; 3],
    pub by_product: BTreeMap<String, [u64; 3]>,
    pub by_branch: BTreeMap<String, [u64; 3]>,
    /// Loans by level code.
    pub levels: BTreeMap<String, u64>,
    /// Loans by (origination grade, current grade).
    pub migration: BTreeMap<(String, String), u64>,
    /// The book's institutions.
    pub institutions: BTreeSet<String>,
    /// Level (code, Chinese, English) in the policy's order.
    pub level_order: Vec<(String, String, String)>,
    /// Grades best first, as the product policy ranks them.
    pub grade_order: Vec<String>,
}

impl Tally {
    /// Counts one evaluated loan.
    pub fn add(&mut self, e: &Evaluation) {
        self.loans += 1;
        self.evaluated += 1;
        self.institutions.insert(e.institution.clone());
        let product = self.by_product.entry(e.product.clone()).or_default();
        let branch = self.by_branch.entry(e.branch.clone()).or_default();
        for s in &e.signals {
            let i = s.severity as usize;
            self.severity[i] += 1;
            product[i] += 1;
            branch[i] += 1;
        }
        *self.levels.entry(e.level.code.clone()).or_default() += 1;
        let from = e
            .origination_grade
            .clone()
            .unwrap_or_else(|| UNKNOWN_GRADE.to_string());
        *self.migration.entry((from, e.grade.clone())).or_default() += 1;
    }

    /// Counts one loan that is ERROR.
    pub fn add_error(&mut self) {
        self.loans += 1;
        self.errors += 1;
    }
}

/// One branch's tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskFigures {
    pub completed: u64,
    pub open: u64,
    pub overdue: u64,
    pub due_7d: u64,
    pub due_30d: u64,
}

/// Tasks by branch as of `as_of`, with the total under `(total)`.
pub fn task_figures(tasks: &[TaskRecord], as_of: NaiveDate) -> BTreeMap<String, TaskFigures> {
    let day = |n: i64| {
        (as_of + chrono::Duration::days(n))
            .format("%Y-%m-%d")
            .to_string()
    };
    let (today, in_7, in_30) = (day(0), day(7), day(30));
    let mut out: BTreeMap<String, TaskFigures> = BTreeMap::new();
    for t in tasks {
        for key in [t.branch.as_str(), TOTAL] {
            let f = out.entry(key.to_string()).or_default();
            match t.status {
                TaskStatus::Completed => f.completed += 1,
                TaskStatus::Open => {
                    f.open += 1;
                    let due = t.due_on.as_str();
                    if due < today.as_str() {
                        f.overdue += 1;
                    } else {
                        f.due_7d += u64::from(due < in_7.as_str());
                        f.due_30d += u64::from(due < in_30.as_str());
                    }
                }
            }
        }
    }
    out
}

/// The key of the totals row of the task figures.
pub const TOTAL: &str = "(total)";

/// One figure of the dashboard, as its CSV has it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Figure {
    /// `run`, `severity`, `product`, `branch`, `level`, `migration` or
    /// `tasks`.
    pub section: String,
    /// `all`, a product, a branch, a level, `FROM>TO` grades, a branch or
    /// `(total)`.
    pub key: String,
    pub column: String,
    pub value: u64,
}

/// Every figure of the dashboard, in a stable order.
pub fn figures(tally: &Tally, tasks: &BTreeMap<String, TaskFigures>) -> Vec<Figure> {
    let mut out = Vec::new();
    let mut put = |section: &str, key: &str, column: &str, value: u64| {
        out.push(Figure {
            section: section.into(),
            key: key.into(),
            column: column.into(),
            value,
        })
    };
    for (column, value) in [
        ("loans", tally.loans),
        ("evaluated", tally.evaluated),
        ("errors", tally.errors),
    ] {
        put("run", "all", column, value);
    }
    let severity = |put: &mut dyn FnMut(&str, &str, &str, u64), section, key, n: &[u64; 3]| {
        for (s, v) in SEVERITIES.iter().zip(n) {
            put(section, key, s.name(), *v);
        }
    };
    severity(&mut put, "severity", "all", &tally.severity);
    for (product, n) in &tally.by_product {
        severity(&mut put, "product", product, n);
    }
    for (branch, n) in &tally.by_branch {
        severity(&mut put, "branch", branch, n);
    }
    for (level, n) in &tally.levels {
        put("level", level, "loans", *n);
    }
    for ((from, to), n) in &tally.migration {
        put("migration", &format!("{from}>{to}"), "loans", *n);
    }
    for (branch, f) in tasks {
        for (column, value) in [
            ("completed", f.completed),
            ("open", f.open),
            ("overdue", f.overdue),
            ("due_7d", f.due_7d),
            ("due_30d", f.due_30d),
        ] {
            put("tasks", branch, column, value);
        }
    }
    out
}

/// Writes the figures as CSV: section, key, column, value.
pub fn write_figures(path: &Path, figures: &[Figure]) -> Result<(), String> {
    let fail = |e: &dyn std::fmt::Display| format!("cannot write {}: {e}", path.display());
    let mut w = csv::Writer::from_path(path).map_err(|e| fail(&e))?;
    for f in figures {
        w.serialize(f).map_err(|e| fail(&e))?;
    }
    w.flush().map_err(|e| fail(&e))
}

/// Stacked horizontal bars of counts: one bar per name, one segment per
/// series, the first name at the top.
fn stacked(
    title: &str,
    x_desc: &str,
    names: &[String],
    series: &[(&str, RGBColor, Vec<u64>)],
) -> Plot {
    let mut svg = String::new();
    {
        let n = names.len().max(1);
        let root =
            SVGBackend::with_string(&mut svg, (760, 100 + 22 * n as u32)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let top = (0..names.len())
            .map(|i| series.iter().map(|s| s.2[i]).sum::<u64>())
            .max()
            .unwrap_or(1)
            .max(1);
        let labels: Vec<String> = names.iter().rev().cloned().collect();
        // The axis runs a third past the longest bar to leave room for the
        // legend.
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(30)
            .y_label_area_size(120)
            .build_cartesian_2d(0u64..top + top / 3 + 1, (0..n as i32).into_segmented())
            .map_err(err)?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(n)
            .y_label_formatter(&|v| category(&labels, v))
            .x_desc(x_desc)
            .draw()
            .map_err(err)?;
        for (k, (label, color, values)) in series.iter().enumerate() {
            let color = *color;
            let bars: Vec<_> = (0..names.len())
                .filter(|&i| values[i] > 0)
                .map(|i| {
                    let before: u64 = series[..k].iter().map(|s| s.2[i]).sum();
                    bar((i, n), before, before + values[i], color)
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

/// What the dashboard tells, beside the figures.
pub struct Heading<'a> {
    pub as_of: &'a str,
    pub run_id: &'a str,
    /// The monitoring policies that ran, `id@version`.
    pub policies: &'a [String],
}

/// The dashboard as HTML text.
pub fn render(
    heading: &Heading<'_>,
    tally: &Tally,
    tasks: &BTreeMap<String, TaskFigures>,
) -> Result<String, String> {
    let mut h = String::new();
    let w = &mut h;
    let as_of = esc(heading.as_of);
    let _ = write!(
        w,
        r#"<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>贷后管理看板 Post-loan dashboard {as_of}</title>
<style>
body{{font-family:system-ui,"Noto Sans CJK SC","PingFang SC",sans-serif;margin:24px;color:#222;max-width:1200px}}
h1{{font-size:22px}} h2{{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}}
table{{border-collapse:collapse;font-size:13px;margin:8px 0}} th,td{{border:1px solid #ddd;padding:3px 8px;text-align:right}}
th{{background:#f3f5f8}} td.l,th.l{{text-align:left}}
.cards{{display:flex;flex-wrap:wrap;gap:12px}} .card{{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}}
.card b{{display:block;font-size:20px}} .meta{{color:#555;font-size:13px;max-width:900px}}
.red{{color:#d62728}} .orange{{color:#e67e0e}} .yellow{{color:#b8960c}}
</style></head><body>
<h1>贷后管理看板 · Post-loan dashboard, as of {as_of}</h1>
<p class="meta">Run {run} with {policies}. Signals, levels and grade migration count this run's loans; tasks are every stored task of the book's institutions ({institutions}) as they stand now. Overdue: open and due before {as_of}; due in 7 / 30 days: open and due from {as_of} on, within 7 / 30 days.</p>
"#,
        run = esc(heading.run_id),
        policies = esc(&heading.policies.join(", ")),
        institutions = esc(&tally
            .institutions
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")),
    );
    let total = tasks.get(TOTAL).copied().unwrap_or_default();
    let _ = write!(w, r#"<div class="cards">"#);
    for (label, value, class) in [
        ("贷款 Loans", tally.loans, ""),
        ("错误 ERROR", tally.errors, ""),
        ("红色预警 Red signals", tally.severity[0], "red"),
        ("橙色预警 Orange signals", tally.severity[1], "orange"),
        ("黄色预警 Yellow signals", tally.severity[2], "yellow"),
        ("未完成任务 Open tasks", total.open, ""),
        ("逾期任务 Overdue tasks", total.overdue, "red"),
        ("已完成任务 Completed tasks", total.completed, ""),
    ] {
        let _ = write!(
            w,
            r#"<div class="card {class}">{label}<b>{}</b></div>"#,
            group(value)
        );
    }
    let _ = write!(w, "</div>");

    // Signals.
    let _ = write!(w, "<h2>预警信号 Signals by severity</h2>");
    let mut branches: Vec<(&String, &[u64; 3])> = tally.by_branch.iter().collect();
    branches.sort_by(|a, b| {
        b.1[0]
            .cmp(&a.1[0])
            .then(b.1.iter().sum::<u64>().cmp(&a.1.iter().sum::<u64>()))
            .then(a.0.cmp(b.0))
    });
    let charted: Vec<_> = branches.iter().take(CHART_BRANCHES).collect();
    let names: Vec<String> = charted.iter().map(|(b, _)| (*b).clone()).collect();
    let series: Vec<(&str, RGBColor, Vec<u64>)> = SEVERITIES
        .iter()
        .enumerate()
        .map(|(k, s)| {
            (
                s.name(),
                SEVERITY_COLORS[k],
                charted.iter().map(|(_, n)| n[k]).collect(),
            )
        })
        .collect();
    let _ = write!(
        w,
        "{}",
        stacked(
            "Signals by branch (most red first)",
            "signals",
            &names,
            &series
        )?
    );
    let severity_table = |w: &mut String, column: &str, rows: &[(&String, &[u64; 3])]| {
        let _ = write!(
            w,
            r#"<table><tr><th class="l">{column}</th><th class="red">red 红</th><th class="orange">orange 橙</th><th class="yellow">yellow 黄</th><th>signals</th></tr>"#
        );
        for (key, n) in rows {
            let _ = write!(
                w,
                r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                esc(key),
                group(n[0]),
                group(n[1]),
                group(n[2]),
                group(n.iter().sum())
            );
        }
        let _ = write!(w, "</table>");
    };
    let all = "(all)".to_string();
    let mut products: Vec<(&String, &[u64; 3])> = tally.by_product.iter().collect();
    products.push((&all, &tally.severity));
    let _ = write!(w, "<h2>按产品 Signals by product</h2>");
    severity_table(w, "product", &products);
    let _ = write!(w, "<h2>按网点 Signals by branch</h2>");
    severity_table(w, "branch", &branches);

    // Tasks.
    let _ = write!(w, "<h2>贷后任务 Follow-up tasks by branch</h2>");
    let mut ranked: Vec<(&String, &TaskFigures)> =
        tasks.iter().filter(|(b, _)| b.as_str() != TOTAL).collect();
    ranked.sort_by(|a, b| {
        b.1.overdue
            .cmp(&a.1.overdue)
            .then(b.1.open.cmp(&a.1.open))
            .then(a.0.cmp(b.0))
    });
    let charted: Vec<_> = ranked.iter().take(CHART_BRANCHES).collect();
    let names: Vec<String> = charted.iter().map(|(b, _)| (*b).clone()).collect();
    let column = |f: &dyn Fn(&TaskFigures) -> u64| charted.iter().map(|(_, t)| f(t)).collect();
    let series = vec![
        ("overdue", PALETTE[4], column(&|t| t.overdue)),
        ("due in 7 days", PALETTE[3], column(&|t| t.due_7d)),
        (
            "due in 8-30 days",
            PALETTE[2],
            column(&|t| t.due_30d - t.due_7d),
        ),
        (
            "open, due later",
            PALETTE[0],
            column(&|t| t.open - t.overdue - t.due_30d),
        ),
        ("completed", PALETTE[1], column(&|t| t.completed)),
    ];
    let _ = write!(
        w,
        "{}",
        stacked(
            "Tasks by branch (most overdue first)",
            "tasks",
            &names,
            &series
        )?
    );
    let _ = write!(
        w,
        r#"<table><tr><th class="l">branch 网点</th><th>completed 已完成</th><th>open 未完成</th><th>overdue 逾期</th><th>due in 7 days 7天内到期</th><th>due in 30 days 30天内到期</th></tr>"#
    );
    for (branch, t) in ranked
        .iter()
        .copied()
        .chain([(&TOTAL.to_string(), &total)].iter().copied())
    {
        let _ = write!(
            w,
            r#"<tr><td class="l">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            esc(branch),
            group(t.completed),
            group(t.open),
            group(t.overdue),
            group(t.due_7d),
            group(t.due_30d)
        );
    }
    let _ = write!(w, "</table>");

    // Grade migration.
    let _ = write!(
        w,
        r#"<h2>评级迁徙 Grade migration, origination grade (rows) to current grade (columns)</h2><table><tr><th class="l">from \ to</th>"#
    );
    let mut from: Vec<String> = tally.grade_order.clone();
    let mut to: Vec<String> = tally.grade_order.clone();
    for (f, t) in tally.migration.keys() {
        if !from.contains(f) {
            from.push(f.clone());
        }
        if !to.contains(t) {
            to.push(t.clone());
        }
    }
    let peak = tally.migration.values().copied().max().unwrap_or(1).max(1);
    for t in &to {
        let _ = write!(w, "<th>{}</th>", esc(t));
    }
    let _ = write!(w, "<th>loans</th></tr>");
    for f in &from {
        let row: u64 = to
            .iter()
            .map(|t| {
                tally
                    .migration
                    .get(&(f.clone(), t.clone()))
                    .copied()
                    .unwrap_or(0)
            })
            .sum();
        let _ = write!(w, r#"<tr><th class="l">{}</th>"#, esc(f));
        for (j, t) in to.iter().enumerate() {
            let n = tally
                .migration
                .get(&(f.clone(), t.clone()))
                .copied()
                .unwrap_or(0);
            // Worse than at origination: red; better: green; the same: blue.
            let (i, known) = (
                from.iter().position(|x| x == f).unwrap_or(0),
                tally.grade_order.contains(f),
            );
            let hue = match (known, j.cmp(&i)) {
                (false, _) | (true, std::cmp::Ordering::Equal) => "31,119,180",
                (true, std::cmp::Ordering::Greater) => "214,39,40",
                (true, std::cmp::Ordering::Less) => "44,160,44",
            };
            let alpha = if n == 0 {
                0.0
            } else {
                0.1 + 0.6 * n as f64 / peak as f64
            };
            let _ = write!(
                w,
                r#"<td style="background:rgba({hue},{alpha:.2})">{}</td>"#,
                group(n)
            );
        }
        let _ = write!(w, "<td>{}</td></tr>", group(row));
    }
    let _ = write!(w, "</table>");

    // Levels.
    let _ = write!(w, "<h2>贷后分层 Loans by post-loan level</h2>");
    let mut levels = tally.level_order.clone();
    for code in tally.levels.keys() {
        if !levels.iter().any(|l| &l.0 == code) {
            levels.push((code.clone(), String::new(), String::new()));
        }
    }
    let names: Vec<String> = levels.iter().map(|l| l.0.clone()).collect();
    let counts: Vec<u64> = levels
        .iter()
        .map(|l| tally.levels.get(&l.0).copied().unwrap_or(0))
        .collect();
    let _ = write!(
        w,
        "{}",
        stacked(
            "Loans by level",
            "loans",
            &names,
            &[("loans", PALETTE[0], counts.clone())]
        )?
    );
    let _ = write!(
        w,
        r#"<table><tr><th class="l">level</th><th class="l">名称</th><th class="l">name</th><th>loans</th></tr>"#
    );
    for (l, n) in levels.iter().zip(&counts) {
        let _ = write!(
            w,
            r#"<tr><td class="l">{}</td><td class="l">{}</td><td class="l">{}</td><td>{}</td></tr>"#,
            esc(&l.0),
            esc(&l.1),
            esc(&l.2),
            group(*n)
        );
    }
    let _ = write!(
        w,
        r#"</table><p class="meta">A signal explains itself: <code>decision-engine explain SIGNAL_ID</code> (the signal ids are in the run's output). Tasks are completed through <code>MonitoringService.CompleteTask</code>.</p></body></html>"#
    );
    Ok(h)
}

/// A count grouped by thousands for reading.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
