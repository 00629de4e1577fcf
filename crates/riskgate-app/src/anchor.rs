//! Anchors of the action log outside the database.
//!
//! The action log is a hash chain: editing, inserting or deleting an entry
//! breaks it. But whoever can write the database can also recompute the
//! whole chain after a rewrite. An *anchor* is the chain's head (the last
//! entry's number and hash) written somewhere the database's writers
//! cannot change (another host, write-once storage), signed with HMAC-SHA256
//! under a key kept apart from the database. A later check recomputes the
//! chain and finds each anchored hash at its entry: a rewrite of anything
//! up to an anchor, or a truncation below it, shows even when the chain was
//! recomputed; a forged or edited anchor fails its signature.
//!
//! `riskgate audit anchor --key FILE --out FILE` appends one anchor (run it
//! from cron, e.g. hourly); `riskgate audit verify --anchors FILE --key FILE`
//! checks the chain and every anchor.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use hmac::{Hmac, Mac};
use riskgate_store::Store;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// One anchored head of the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anchor {
    /// The entry's number.
    pub seq: i64,
    /// Its chain hash.
    pub hash: String,
    /// When the anchor was taken.
    pub at: chrono::DateTime<chrono::FixedOffset>,
    /// HMAC-SHA256 of the three fields above under the anchor key, hex.
    pub mac: String,
}

/// The shortest key accepted (bytes).
pub const MIN_KEY_BYTES: usize = 32;

/// Reads an anchor key: at least 32 bytes (e.g. `head -c 32 /dev/urandom > anchor.key`).
pub fn read_key(path: &Path) -> Result<Vec<u8>> {
    let key = std::fs::read(path).with_context(|| format!("cannot read the anchor key {}", path.display()))?;
    anyhow::ensure!(
        key.len() >= MIN_KEY_BYTES,
        "{}: an anchor key needs at least {MIN_KEY_BYTES} bytes, it has {}",
        path.display(),
        key.len()
    );
    Ok(key)
}

fn mac(key: &[u8], seq: i64, hash: &str, at: &chrono::DateTime<chrono::FixedOffset>) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(format!("riskgate-anchor-v1\n{seq}\n{hash}\n{}\n", at.to_rfc3339()).as_bytes());
    m.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// The chain's head now, signed; `None` while the log is empty. Refused
/// when the chain is already broken (an anchor must vouch for an intact log).
pub fn take(store: &dyn Store, key: &[u8]) -> Result<Option<Anchor>> {
    if let Some(seq) = store.verify_actions()? {
        anyhow::bail!("the action log is broken at entry {seq}: no anchor taken");
    }
    let Some(head) = store.actions(1)?.pop() else { return Ok(None) };
    let at = crate::app::now();
    Ok(Some(Anchor { mac: mac(key, head.seq, &head.hash, &at), seq: head.seq, hash: head.hash, at }))
}

/// Appends `a` as one JSON line to `path` (created owner-only).
pub fn append(path: &Path, a: &Anchor) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts.open(path).with_context(|| format!("cannot open {}", path.display()))?;
    writeln!(f, "{}", serde_json::to_string(a)?)?;
    f.sync_all()?;
    Ok(())
}

/// What a check of one anchor found wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// The anchor's line in its file (1-based).
    pub line: usize,
    pub seq: Option<i64>,
    pub what: String,
}

/// Checks every anchor in `text` (one JSON object per line) against the
/// stored log: the signature, then the stored hash of the anchored entry.
pub fn check(store: &dyn Store, key: &[u8], text: &str) -> Result<Vec<Problem>> {
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let line_no = i + 1;
        let a: Anchor = match serde_json::from_str(line) {
            Ok(a) => a,
            Err(e) => {
                problems.push(Problem { line: line_no, seq: None, what: format!("not an anchor: {e}") });
                continue;
            }
        };
        let problem = if mac(key, a.seq, &a.hash, &a.at) != a.mac {
            Some("the anchor's signature does not match (edited or forged, or another key)".to_string())
        } else {
            match store.action_hash(a.seq)? {
                None => Some(format!("entry {} no longer exists (the log was truncated or renumbered)", a.seq)),
                Some(h) if h != a.hash => Some(format!(
                    "entry {} has another hash than when anchored at {} (the log up to it was rewritten)",
                    a.seq,
                    a.at.to_rfc3339()
                )),
                Some(_) => None,
            }
        };
        if let Some(what) = problem {
            problems.push(Problem { line: line_no, seq: Some(a.seq), what });
        }
    }
    Ok(problems)
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskgate_store::{Action, SqliteStore};

    fn entry(n: usize) -> Action {
        crate::app::new_action("admin", None, "test", &format!("t{n}"))
    }

    #[test]
    fn an_anchor_detects_a_rewritten_or_truncated_log_and_a_forged_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let db = dir.path().join("riskgate.db");
        let key = vec![7u8; 32];
        assert_eq!(take(&store, &key).unwrap(), None, "an empty log has no head");
        for n in 0..3 {
            store.append_action(&entry(n)).unwrap();
        }
        let a = take(&store, &key).unwrap().unwrap();
        let file = dir.path().join("anchors.jsonl");
        append(&file, &a).unwrap();
        store.append_action(&entry(3)).unwrap();
        let text = std::fs::read_to_string(&file).unwrap();
        assert_eq!(check(&store, &key, &text).unwrap(), vec![], "a log that only grew keeps its anchors");
        assert_eq!(check(&store, &[8u8; 32], &text).unwrap().len(), 1, "another key: the signature fails");
        let forged = text.replace(&a.hash, &"0".repeat(a.hash.len()));
        assert!(check(&store, &key, &forged).unwrap()[0].what.contains("signature"));

        // Whoever can write the database rewrites entry 2 and recomputes the
        // whole chain: the chain verifies, the anchor does not.
        drop(store);
        let rewritten = rewrite_chain(&db);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.verify_actions().unwrap(), None, "{rewritten}: chain recomputed");
        let p = check(&store, &key, &text).unwrap();
        assert_eq!(p.len(), 1, "{p:?}");
        assert!(p[0].what.contains("rewritten"), "{p:?}");
        drop(store);

        // Truncated below the anchor: the chain still verifies, the anchor does not.
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute("DELETE FROM action_log WHERE seq >= ?1", [a.seq]).unwrap();
        drop(conn);
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.verify_actions().unwrap(), None, "the shortened chain verifies");
        let p = check(&store, &key, &text).unwrap();
        assert!(p.len() == 1 && p[0].what.contains("no longer exists"), "{p:?}");
    }

    /// Rewrites the target of every entry and recomputes the chain, as an
    /// attacker with write access to the database could.
    fn rewrite_chain(db: &Path) -> String {
        let store = SqliteStore::open(db.parent().unwrap()).unwrap();
        let entries = store.actions(100).unwrap();
        drop(store);
        let conn = rusqlite::Connection::open(db).unwrap();
        conn.execute_batch("DROP TRIGGER IF EXISTS action_log_no_update; DROP TRIGGER IF EXISTS action_log_no_delete;")
            .unwrap();
        let mut prev = "genesis".to_string();
        let mut entries = entries;
        entries.sort_by_key(|l| l.seq);
        for l in entries {
            let mut a = l.action.clone();
            a.target = format!("{}-rewritten", a.target);
            let hash = riskgate_store::chain_hash(&prev, l.seq, &a);
            conn.execute(
                "UPDATE action_log SET target = ?2, prev_hash = ?3, hash = ?4 WHERE seq = ?1",
                rusqlite::params![l.seq, a.target, prev, hash],
            )
            .unwrap();
            prev = hash;
        }
        "every entry rewritten".into()
    }
}
