//! Post-loan monitoring's tables in SQLite: signals and tasks, each kept
//! whole as JSON beside the columns queries filter on.

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::monitoring::{decode, encode};
use crate::{
    AuditEntry, SignalRecord, StoreError, TaskCompleted, TaskCompletion, TaskQuery, TaskRecord,
    TaskStatus,
};

pub(super) fn record(
    tx: &Transaction,
    signals: &[SignalRecord],
    tasks: &[TaskRecord],
) -> Result<Vec<String>, StoreError> {
    let mut insert_signal = tx.prepare_cached(
        "INSERT INTO monitor_signals (signal_id, institution, loan_id, as_of, severity, record_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
    )?;
    for s in signals {
        insert_signal.execute(params![
            s.signal_id,
            s.institution,
            s.loan_id,
            s.as_of,
            s.severity,
            encode("signal", s)?
        ])?;
    }
    let mut insert_task = tx.prepare_cached(
        "INSERT INTO monitor_tasks (task_id, institution, branch, loan_id, rule_id, status, due_on, record_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
    )?;
    let mut created = Vec::new();
    for t in tasks {
        let n = insert_task.execute(params![
            t.task_id,
            t.institution,
            t.branch,
            t.loan_id,
            t.rule_id,
            t.status.as_str(),
            t.due_on,
            encode("task", t)?
        ])?;
        if n == 1 {
            created.push(t.task_id.clone());
        }
    }
    Ok(created)
}

pub(super) fn signal(c: &Connection, id: &str) -> Result<Option<SignalRecord>, StoreError> {
    let json: Option<String> = c
        .prepare_cached("SELECT record_json FROM monitor_signals WHERE signal_id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    json.map(|j| decode("signal", id, &j)).transpose()
}

pub(super) fn task(c: &Connection, id: &str) -> Result<Option<TaskRecord>, StoreError> {
    let json: Option<String> = c
        .prepare_cached("SELECT record_json FROM monitor_tasks WHERE task_id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    json.map(|j| decode("task", id, &j)).transpose()
}

pub(super) fn tasks(c: &Connection, q: &TaskQuery) -> Result<Vec<TaskRecord>, StoreError> {
    let mut stmt = c.prepare_cached(
        "SELECT task_id, record_json FROM monitor_tasks
         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR branch = ?2) AND (?3 IS NULL OR loan_id = ?3)
           AND (?4 IS NULL OR due_on < ?4)
           AND (?5 IS NULL OR (due_on, task_id) > (?5, ?6))
         ORDER BY due_on, task_id",
    )?;
    let rows = stmt.query_map(
        params![
            q.status.map(TaskStatus::as_str),
            q.branch.as_deref(),
            q.loan_id.as_deref(),
            q.due_before.as_deref(),
            q.after.as_ref().map(|a| a.0.as_str()),
            q.after.as_ref().map(|a| a.1.as_str())
        ],
        |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
    )?;
    let mut out = Vec::new();
    for row in rows {
        let (id, json) = row?;
        let t: TaskRecord = decode("task", &id, &json)?;
        if q.matches(&t) {
            out.push(t);
            if q.limit > 0 && out.len() == q.limit {
                break;
            }
        }
    }
    Ok(out)
}

pub(super) fn complete(
    tx: &Transaction,
    id: &str,
    completion: &TaskCompletion,
    audit: &AuditEntry,
) -> Result<TaskCompleted, StoreError> {
    let Some(mut t) = task(tx, id)? else {
        return Ok(TaskCompleted::NotFound);
    };
    if t.status == TaskStatus::Completed {
        return Ok(TaskCompleted::AlreadyCompleted(Box::new(t)));
    }
    t.status = TaskStatus::Completed;
    t.completion = Some(completion.clone());
    tx.prepare_cached(
        "UPDATE monitor_tasks SET status = 'completed', record_json = ?2 WHERE task_id = ?1 AND status = 'open'",
    )?
    .execute(params![id, encode("task", &t)?])?;
    super::insert_audit(tx, audit)?;
    Ok(TaskCompleted::Done(Box::new(t)))
}
