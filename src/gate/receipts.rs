//! The keys that sign approval receipts (see `askfirst_sdk::receipt` for the receipt
//! itself): Ed25519, made with `ring`, the private half sealed with the secrets key in
//! `receipt_keys`. One key signs at a time; `rotate` retires it — still published at
//! `/.well-known/jwks.json` for the time asked, so what it signed still verifies — and
//! makes a new one. Every instance reloads the keys when the audit log says they changed.

use super::Gate;
use crate::domain::bypass::ApprovedBy;
use crate::domain::call::{CallStatus, CallView};
use crate::domain::review::Verdict;
use crate::domain::AppError;
use crate::gate::notify::secrets::SecretKey;
use crate::store::{self, audit, receipt_keys::KeyRow};
use askfirst_sdk::receipt::JwkSet;
use askfirst_sdk::receipt::{Approver, AuditRef, Claims, DecidedBy, Decision};
use base64::Engine as _;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse,
};
use serde::Serialize;
use serde_json::json;
use std::sync::{Arc, OnceLock, RwLock};

/// How long a retired key stays published unless told otherwise.
pub const KEEP_PREVIOUS: Duration = Duration::days(7);
/// The longest a retired key may stay published.
pub const MAX_KEEP_PREVIOUS: Duration = Duration::days(366);
/// The audit event of a new signing key.
pub const ROTATED: &str = "receipts.key_rotated";

/// The receipt keys as last loaded, and what opens their private halves.
#[derive(Default)]
pub struct ReceiptKeys {
    sealer: OnceLock<SecretKey>,
    /// The receipts' `iss`: the server's public URL.
    issuer: OnceLock<String>,
    loaded: RwLock<Arc<Loaded>>,
}

#[derive(Default)]
struct Loaded {
    /// The signing key first, then the retired ones, most recently retired first.
    keys: Vec<KeyInfo>,
    signing: Option<Signing>,
}

/// A key as `askfirst receipts keys` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub kid: String,
    pub created_at: DateTime<Utc>,
    /// When another key took over; `None` while this one signs.
    pub retired_at: Option<DateTime<Utc>>,
    /// Until when a retired key is published.
    pub published_until: Option<DateTime<Utc>>,
    /// Unpadded base64url of the 32-byte public key.
    pub public_x: String,
}

impl KeyInfo {
    /// Whether the key is in the JWKS at `now`: it signs, or it retired and its time is
    /// not up.
    pub fn published_at(&self, now: DateTime<Utc>) -> bool {
        self.retired_at.is_none() || self.published_until.is_some_and(|until| until > now)
    }

    fn jwk(&self) -> Jwk {
        Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                key_id: Some(self.kid.clone()),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: self.public_x.clone(),
            }),
        }
    }
}

struct Signing {
    kid: String,
    key: jsonwebtoken::EncodingKey,
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// What the sealed private half is bound to: a sealed key copied to another row does not
/// open.
fn seal_label(kid: &str) -> String {
    format!("receipt-key:{kid}")
}

/// A new key: its row (private half sealed) — or why it could not be made.
fn new_key(sealer: &SecretKey, now: DateTime<Utc>) -> Result<KeyRow, AppError> {
    use ring::signature::KeyPair as _;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|_| AppError::Internal("making a receipt key failed".into()))?;
    let pair = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|_| AppError::Internal("reading a new receipt key failed".into()))?;
    let public_x =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
    // The kid: the date and the first bytes of the key's SHA-256, readable and unique.
    let kid = {
        use sha2::Digest as _;
        let digest = sha2::Sha256::digest(pair.public_key().as_ref());
        format!("{}-{}", now.format("%Y%m%d"), &hex::encode(digest)[..12])
    };
    let private_sealed = sealer.store(&seal_label(&kid), &hex::encode(pkcs8.as_ref()))?;
    Ok(KeyRow {
        kid,
        created_at: now.timestamp_millis(),
        retired_at: None,
        publish_until: None,
        public_x,
        private_sealed,
    })
}

impl Gate {
    /// Starts signing receipts as `issuer` (the public URL) with keys sealed by `sealer`:
    /// makes the first key when there is none, then loads them. Call once, before serving.
    pub async fn start_receipts(&self, sealer: SecretKey, issuer: &str) -> Result<(), AppError> {
        let _ = self.receipts.sealer.set(sealer);
        let _ = self
            .receipts
            .issuer
            .set(issuer.trim_end_matches('/').to_string());
        let keys = store::receipt_keys::all(&self.pool).await?;
        if !keys.iter().any(|k| k.retired_at.is_none()) {
            self.rotate_receipt_key("system", KEEP_PREVIOUS, false)
                .await?;
        }
        self.reload_receipt_keys().await
    }

    fn sealer(&self) -> Result<&SecretKey, AppError> {
        self.receipts
            .sealer
            .get()
            .ok_or_else(|| AppError::Internal("receipt signing has not started".into()))
    }

    /// Makes a new signing key; the one it replaces stays published for `keep_previous`.
    /// Unless `force`, does nothing when a key already signs (so several instances
    /// starting at once make one first key). `actor`: `cli` or `system`.
    pub async fn rotate_receipt_key(
        &self,
        actor: &str,
        keep_previous: Duration,
        force: bool,
    ) -> Result<KeyInfo, AppError> {
        if keep_previous < Duration::zero() || keep_previous > MAX_KEEP_PREVIOUS {
            return Err(AppError::Invalid(format!(
                "a retired key is kept published for 0 to {} days",
                MAX_KEEP_PREVIOUS.num_days()
            )));
        }
        let now = self.clock.now();
        let key = new_key(self.sealer()?, now)?;
        let actor = actor.to_string();
        let written = self
            .writer
            .write(move |conn| {
                Box::pin(async move {
                    let existing = store::receipt_keys::all(&mut *conn).await?;
                    if !force {
                        if let Some(signing) = existing.iter().find(|k| k.retired_at.is_none()) {
                            return Ok(signing.clone());
                        }
                    }
                    let until = now + keep_previous;
                    store::receipt_keys::retire_signing(
                        &mut *conn,
                        now.timestamp_millis(),
                        until.timestamp_millis(),
                    )
                    .await?;
                    store::receipt_keys::insert(&mut *conn, &key).await?;
                    let previous: Vec<&str> = existing
                        .iter()
                        .filter(|k| k.retired_at.is_none())
                        .map(|k| k.kid.as_str())
                        .collect();
                    audit::append(
                        conn,
                        &audit::NewEvent::about(
                            now,
                            &actor,
                            ROTATED,
                            None,
                            None,
                            json!({
                                "kid": key.kid,
                                "retired": previous,
                                "previous_published_until": until.to_rfc3339(),
                            }),
                        ),
                    )
                    .await?;
                    Ok(key)
                })
            })
            .await?;
        self.reload_receipt_keys().await?;
        Ok(info(&written))
    }

    /// Reloads the keys from the database (after any rotation, by any instance).
    pub async fn reload_receipt_keys(&self) -> Result<(), AppError> {
        let rows = store::receipt_keys::all(&self.pool).await?;
        let signing = match (
            rows.iter().find(|k| k.retired_at.is_none()),
            self.receipts.sealer.get(),
        ) {
            (Some(row), Some(sealer)) => {
                let pkcs8 = sealer
                    .reveal(&seal_label(&row.kid), &row.private_sealed)
                    .ok()
                    .and_then(|hex_text| hex::decode(hex_text).ok())
                    .ok_or_else(|| {
                        AppError::Internal(format!(
                            "receipt key {} does not open with this secrets key (every \
                             instance needs the same --secrets-key-file)",
                            row.kid
                        ))
                    })?;
                Some(Signing {
                    kid: row.kid.clone(),
                    key: jsonwebtoken::EncodingKey::from_ed_der(&pkcs8),
                })
            }
            _ => None,
        };
        let loaded = Loaded {
            keys: rows.iter().map(info).collect(),
            signing,
        };
        *self
            .receipts
            .loaded
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(loaded);
        Ok(())
    }

    /// Every key: the signing one first, then the retired ones.
    pub fn receipt_keys(&self) -> Vec<KeyInfo> {
        self.loaded_receipt_keys().keys.clone()
    }

    /// The published keys: the one that signs and the retired ones still in their window.
    pub fn jwks(&self) -> JwkSet {
        let now = self.clock.now();
        JwkSet {
            keys: self
                .loaded_receipt_keys()
                .keys
                .iter()
                .filter(|k| k.published_at(now))
                .map(KeyInfo::jwk)
                .collect(),
        }
    }

    /// Signs `claims` as a receipt with the current key.
    pub fn sign_receipt(&self, claims: &askfirst_sdk::receipt::Claims) -> Result<String, AppError> {
        let loaded = self.loaded_receipt_keys();
        let signing = loaded
            .signing
            .as_ref()
            .ok_or_else(|| AppError::Internal("no receipt key signs".into()))?;
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(signing.kid.clone());
        header.typ = Some(askfirst_sdk::receipt::TYPE.into());
        jsonwebtoken::encode(&header, claims, &signing.key)
            .map_err(|e| AppError::Internal(format!("signing a receipt: {e}")))
    }

    /// The receipt of a call seen as `view`, proposed at `created_ms`: signed while the
    /// call may run (and a key signs) — approved or running after an approval always;
    /// allowed or running by policy only when `wanted` (the proposal asked, or its agent
    /// always gets one). Otherwise none.
    pub async fn receipt_of(
        &self,
        view: &CallView,
        created_ms: i64,
        wanted: bool,
    ) -> Result<Option<String>, AppError> {
        let may_run = match view.status {
            CallStatus::Approved => true,
            // Gated calls have `approved_by`; a call policy let run has not.
            CallStatus::Running => wanted || view.approved_by.is_some(),
            CallStatus::Allowed => wanted,
            _ => false,
        };
        if !may_run || self.loaded_receipt_keys().signing.is_none() {
            return Ok(None);
        }
        let Some((id, hash, at, to_status)) =
            store::audit::approval_of(&self.pool, &view.id).await?
        else {
            return Ok(None);
        };
        let by_policy = to_status.as_deref() != Some(CallStatus::Approved.as_str());
        if by_policy && !wanted {
            return Ok(None);
        }
        let policy_version = store::policy::in_force_at(&self.pool, created_ms)
            .await?
            .unwrap_or(0);
        let issuer = self.receipts.issuer.get().cloned().unwrap_or_default();
        let approval = Approval {
            audit: AuditRef { id, hash },
            at_ms: at,
            policy_version,
            by_policy,
        };
        self.sign_receipt(&claims_of(&issuer, view, &approval))
            .map(Some)
    }

    fn loaded_receipt_keys(&self) -> Arc<Loaded> {
        self.receipts
            .loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

fn info(row: &KeyRow) -> KeyInfo {
    KeyInfo {
        kid: row.kid.clone(),
        created_at: from_millis(row.created_at),
        retired_at: row.retired_at.map(from_millis),
        published_until: row.publish_until.map(from_millis),
        public_x: row.public_x.clone(),
    }
}

/// A receipt's `jti`: the call and the audit event that let it run, so one approval has
/// one receipt (signing it again gives the same token).
pub fn jti(call_id: &str, event_id: i64) -> String {
    format!("{call_id}.{event_id}")
}

/// How long a receipt of an approval without an expiry stays valid.
pub const NO_TTL_RECEIPT: Duration = Duration::hours(24);
/// How long a receipt of a call policy allowed stays valid: allowed calls run at once, and
/// a later policy that refuses the tool should not meet old receipts for long.
pub const POLICY_RECEIPT: Duration = Duration::minutes(10);

/// The approval a receipt is about.
#[derive(Debug, Clone)]
pub struct Approval {
    /// The audit event that recorded it.
    pub audit: AuditRef,
    /// When (ms).
    pub at_ms: i64,
    /// The policy version in force when the call was proposed.
    pub policy_version: i64,
    /// Policy allowed the call: nobody approved it.
    pub by_policy: bool,
}

fn secs_of(rfc3339: &str) -> Option<i64> {
    DateTime::parse_from_rfc3339(rfc3339)
        .ok()
        .map(|t| t.timestamp())
}

/// The claims of the receipt of approved call `view`, issued by `issuer`.
pub fn claims_of(issuer: &str, view: &CallView, approval: &Approval) -> Claims {
    let iat = approval.at_ms.div_euclid(1000);
    let exp = view
        .approval_expires_at
        .as_deref()
        .and_then(secs_of)
        .unwrap_or(
            iat + if approval.by_policy {
                POLICY_RECEIPT
            } else {
                NO_TTL_RECEIPT
            }
            .num_seconds(),
        );
    let decision = match &view.approved_by {
        _ if approval.by_policy => Decision {
            by: DecidedBy::Policy,
            rule: view.rule.clone(),
            approvers: vec![],
            bypass: None,
            grant: None,
        },
        Some(ApprovedBy::Bypass(id)) => Decision {
            by: DecidedBy::Bypass,
            rule: view.rule.clone(),
            approvers: vec![],
            bypass: Some(id.to_string()),
            grant: None,
        },
        Some(ApprovedBy::Grant(id)) => Decision {
            by: DecidedBy::Grant,
            rule: view.rule.clone(),
            approvers: vec![],
            bypass: None,
            grant: Some(id.to_string()),
        },
        // The approvals of the approved arguments, as made: whether each still counts today
        // (its author since disabled or demoted) does not rewrite what the receipt says.
        Some(ApprovedBy::People(_)) | None => Decision {
            by: DecidedBy::People,
            rule: view.rule.clone(),
            approvers: view
                .decisions
                .iter()
                .filter(|d| d.decision == Verdict::Approve && d.current)
                .map(|d| Approver {
                    username: d.user.clone(),
                    at: secs_of(&d.at).unwrap_or(iat),
                })
                .collect(),
            bypass: None,
            grant: None,
        },
    };
    Claims {
        iss: issuer.to_string(),
        sub: view.id.clone(),
        aud: view.tool.clone(),
        jti: jti(&view.id, approval.audit.id),
        iat,
        nbf: iat,
        exp,
        agent: view.agent.clone(),
        tool: view.tool.clone(),
        args_sha256: askfirst_sdk::receipt::args_sha256(&view.args),
        decision,
        policy_version: approval.policy_version,
        audit: approval.audit.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::call::DecisionView;

    fn view(status: &str, approved_by: Option<ApprovedBy>, expires: Option<&str>) -> CallView {
        let mut view: CallView = serde_json::from_value(json!({
            "id": "call-1", "agent": "ci-bot", "session": "s", "tool": "deploy",
            "args": { "service": "api", "replicas": 3 }, "proposed_args": { "service": "api" },
            "risk": [], "alternatives": [], "status": status, "rule": "gate-deploy",
            "approvals": 0, "decisions": [], "created_at": "2026-01-01T09:00:00Z",
        }))
        .unwrap();
        view.approved_by = approved_by;
        view.approval_expires_at = expires.map(str::to_string);
        view
    }

    fn approval(by_policy: bool) -> Approval {
        Approval {
            audit: AuditRef {
                id: 42,
                hash: "ab".repeat(32),
            },
            // 2026-01-01T09:10:00Z
            at_ms: 1_767_258_600_000,
            policy_version: 5,
            by_policy,
        }
    }

    fn decided(user: &str, verdict: Verdict, counts: bool, at: &str) -> DecisionView {
        DecisionView {
            user: user.into(),
            decision: verdict,
            feedback: None,
            edited_args: false,
            version: 1,
            current: true,
            counts,
            at: at.into(),
        }
    }

    /// What, the call, whether policy let it through, and the decision's kind, approvers
    /// (and when), bypass, grant, and the receipt's `exp`.
    type Case<'a> = (
        &'a str,
        CallView,
        bool,
        DecidedBy,
        Vec<(&'a str, i64)>,
        Option<&'a str>,
        Option<&'a str>,
        i64,
    );

    #[test]
    fn claims_for_each_kind_of_decision() {
        let at = 1_767_258_600;
        let mut people = view(
            "approved",
            Some(ApprovedBy::People(vec!["ann".into(), "bo".into()])),
            Some("2026-01-01T09:20:00Z"),
        );
        // Cy approved the arguments before an edit; Bo was disabled after approving.
        let mut before_edit = decided("cy", Verdict::Approve, false, "2026-01-01T09:06:00Z");
        before_edit.current = false;
        people.decisions = vec![
            decided("ann", Verdict::Approve, true, "2026-01-01T09:05:00Z"),
            before_edit,
            decided("bo", Verdict::Approve, false, "2026-01-01T09:10:00Z"),
        ];
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("people who approved these arguments, with when", people, false, DecidedBy::People,
             vec![("ann", at - 300), ("bo", at)], None, None, at + 600),
            ("a bypass", view("approved", Some(ApprovedBy::Bypass(7)), Some("2026-01-01T09:20:00Z")), false,
             DecidedBy::Bypass, vec![], Some("7"), None, at + 600),
            ("a grant", view("approved", Some(ApprovedBy::Grant(9)), Some("2026-01-01T09:20:00Z")), false,
             DecidedBy::Grant, vec![], None, Some("9"), at + 600),
            ("policy: ten minutes", view("allowed", None, None), true,
             DecidedBy::Policy, vec![], None, None, at + POLICY_RECEIPT.num_seconds()),
            ("people, a rule without approval TTL: a day", view("approved", None, None), false,
             DecidedBy::People, vec![], None, None, at + NO_TTL_RECEIPT.num_seconds()),
        ];
        for (what, view, by_policy, by, approvers, bypass, grant, exp) in cases {
            let claims = claims_of("https://askfirst.example", &view, &approval(by_policy));
            assert_eq!(claims.decision.by, by, "{what}");
            let got: Vec<(&str, i64)> = claims
                .decision
                .approvers
                .iter()
                .map(|a| (a.username.as_str(), a.at))
                .collect();
            assert_eq!(got, approvers, "{what}");
            assert_eq!(claims.decision.bypass.as_deref(), bypass, "{what}");
            assert_eq!(claims.decision.grant.as_deref(), grant, "{what}");
            assert_eq!(
                claims.decision.rule.as_deref(),
                Some("gate-deploy"),
                "{what}"
            );
            assert_eq!(
                (claims.iat, claims.nbf, claims.exp),
                (at, at, exp),
                "{what}"
            );
            assert_eq!(claims.jti, "call-1.42", "{what}");
            assert_eq!(
                (claims.aud.as_str(), claims.tool.as_str()),
                ("deploy", "deploy")
            );
            assert_eq!(claims.sub, "call-1");
            assert_eq!(claims.iss, "https://askfirst.example");
            assert_eq!(claims.policy_version, 5);
            assert_eq!(claims.audit.id, 42);
            // The arguments to execute, not the proposal's.
            assert_eq!(
                claims.args_sha256,
                askfirst_sdk::receipt::args_sha256(&json!({ "replicas": 3, "service": "api" })),
                "{what}"
            );
        }
    }
}
