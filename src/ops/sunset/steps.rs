//! Sunset's Cloudflare, monitoring, registry and report steps. Each reads the live state first, so
//! running it again after it took effect (or after a crash in the middle) answers "already done".
use super::{
    SILENCE_SECS, Target, cf_err, inventory, reg_err, retired, routing_records, silence_active,
};
use crate::backend::alertmanager::AlertmanagerClient;
use crate::backend::cloudflare::{CODE_BAD_TUNNEL_CONFIG, CfError, RuleRemoval, find_access_apps};
use crate::backend::registry::{RegistryClient, RegistryError};
use crate::model::alerts::{NewSilence, Silence, SilenceMatcher};
use crate::ops::OpError;
use crate::ops::plan::{StepCtx, StepExec, StepOutput};
use futures::future::BoxFuture;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use std::sync::Arc;

macro_rules! step_exec {
    ($ty:ty) => {
        impl StepExec for $ty {
            fn run<'a>(&'a self, cx: &'a StepCtx) -> BoxFuture<'a, Result<StepOutput, OpError>> {
                Box::pin(self.exec(cx))
            }
        }
    };
}

fn edge(t: &Target) -> Result<&super::EdgeTarget, OpError> {
    t.edge
        .as_ref()
        .ok_or_else(|| OpError::Usage("no [cloudflare] configured".into()))
}

pub(crate) struct TunnelRule(pub Arc<Target>);
step_exec!(TunnelRule);

impl TunnelRule {
    async fn exec(&self, _cx: &StepCtx) -> Result<StepOutput, OpError> {
        let e = edge(&self.0)?;
        let host = &e.edge.hostname;
        let Some(tunnel) = &e.edge.tunnel_id else {
            return Ok(StepOutput::already("no tunnel configured"));
        };
        match e
            .client
            .remove_ingress_rule(&e.cfg.account_id, tunnel, host)
            .await
        {
            Ok(RuleRemoval::Removed { rules, version }) => Ok(StepOutput::done(format!(
                "removed {rules} ingress rule(s) for {host} from tunnel {tunnel}; catch-all still last (version {version})"
            ))
            .with_detail(json!({"rules_removed": rules, "version": version}))),
            Ok(RuleRemoval::AlreadyGone) => Ok(StepOutput::already(format!(
                "tunnel {tunnel} has no ingress rule for {host}"
            ))),
            Err(err @ CfError::LocalTunnel { .. }) => Err(cf_err(err)),
            Err(err @ CfError::NoCatchAll { .. }) => Err(OpError::backend(
                "cloudflare",
                format!("{err}: tunnel {tunnel}'s current configuration does not end with a catch-all rule; fix it in Cloudflare, then resume"),
            )),
            Err(err) if err.has_code(CODE_BAD_TUNNEL_CONFIG) => Err(OpError::backend(
                "cloudflare",
                format!("Cloudflare refused the new configuration of tunnel {tunnel} (code 1056, bad configuration): {err}; the tunnel was not changed"),
            )),
            Err(err) => Err(cf_err(err)),
        }
    }
}

pub(crate) struct DnsRecords(pub Arc<Target>);
step_exec!(DnsRecords);

impl DnsRecords {
    async fn exec(&self, cx: &StepCtx) -> Result<StepOutput, OpError> {
        let e = edge(&self.0)?;
        let host = &e.edge.hostname;
        let Some(zone) = e.client.zone_id(&e.cfg.zone).await.map_err(cf_err)? else {
            return Err(OpError::backend(
                "cloudflare",
                format!("zone {} not found for this token", e.cfg.zone),
            ));
        };
        let records = routing_records(
            e.client
                .dns_records(&zone, Some(host))
                .await
                .map_err(cf_err)?,
        );
        if records.is_empty() {
            return Ok(StepOutput::already(format!(
                "no CNAME, A or AAAA record named {host}"
            )));
        }
        let mut deleted = vec![];
        for r in &records {
            cx.progress(format!("deleting {} {}", r.kind, r.name), None, None)
                .await;
            match e.client.delete_dns_record(&zone, &r.id).await {
                Ok(()) => {}
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(cf_err(err)),
            }
            deleted.push(json!({"id": r.id, "type": r.kind, "name": r.name, "content": r.content}));
        }
        Ok(
            StepOutput::done(format!("deleted {} DNS record(s) {host}", deleted.len()))
                .with_detail(json!({"records": deleted})),
        )
    }
}

pub(crate) struct AccessApps(pub Arc<Target>);
step_exec!(AccessApps);

impl AccessApps {
    async fn exec(&self, _cx: &StepCtx) -> Result<StepOutput, OpError> {
        let e = edge(&self.0)?;
        let apps = find_access_apps(&e.client, &e.cfg, &e.edge)
            .await
            .map_err(cf_err)?;
        if apps.is_empty() {
            return Ok(StepOutput::already(format!(
                "no Access application for {}",
                e.edge.hostname
            )));
        }
        let mut deleted = vec![];
        for a in &apps {
            match e.client.delete_access_app(&e.cfg.account_id, &a.id).await {
                Ok(()) => {}
                Err(err) if err.is_not_found() => {}
                Err(err) => return Err(cf_err(err)),
            }
            deleted.push(json!({"id": a.id, "name": a.name, "domain": a.domain}));
        }
        let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        Ok(StepOutput::done(format!(
            "deleted Access application(s) {}",
            names.join(", ")
        ))
        .with_detail(json!({"apps": deleted})))
    }
}

/// The silence sunset leaves: `app="<app>"` alone, active or pending, reaching a year from now.
pub(crate) async fn sunset_silence(
    am: &AlertmanagerClient,
    app: &str,
    now: Timestamp,
) -> Result<Option<Silence>, OpError> {
    let want = SilenceMatcher::equal("app", app);
    let horizon = now
        .checked_add(SignedDuration::from_hours(24 * 365))
        .unwrap_or(now);
    let list = am
        .silences(&[format!("app={app:?}")])
        .await
        .map_err(|e| OpError::backend("alertmanager", e))?;
    Ok(list
        .into_iter()
        .find(|s| silence_active(s) && s.matchers == vec![want.clone()] && s.ends_at >= horizon))
}

pub(crate) struct SilenceAlerts(pub Arc<Target>);
step_exec!(SilenceAlerts);

impl SilenceAlerts {
    async fn exec(&self, cx: &StepCtx) -> Result<StepOutput, OpError> {
        let t = &self.0;
        let Some(am) = &t.alertmanager else {
            return Ok(StepOutput::already("no Alertmanager configured"));
        };
        let now = cx.ctx.clock.now();
        if let Some(s) = sunset_silence(am, &t.app, now).await? {
            return Ok(StepOutput::already(format!(
                "alerts app=\"{}\" already silenced until {} (silence {})",
                t.app, s.ends_at, s.id
            ))
            .with_detail(json!({"silence_id": s.id})));
        }
        let ends = now
            .checked_add(SignedDuration::from_secs(SILENCE_SECS))
            .map_err(|e| OpError::Usage(e.to_string()))?;
        let id = am
            .create_silence(&NewSilence {
                id: None,
                matchers: vec![SilenceMatcher::equal("app", &t.app)],
                starts_at: now,
                ends_at: ends,
                created_by: cx.ctx.identity.user.clone(),
                comment: format!("shipdeck sunset {}: {} is retired", cx.op_id, t.app),
            })
            .await
            .map_err(|e| OpError::backend("alertmanager", e))?;
        Ok(StepOutput::done(format!(
            "silenced alerts app=\"{}\" until {ends} (silence {id})",
            t.app
        ))
        .with_detail(json!({"silence_id": id, "ends_at": ends.to_string()})))
    }
}

pub(crate) struct MarkRetired(pub Arc<Target>);
step_exec!(MarkRetired);

impl MarkRetired {
    async fn exec(&self, cx: &StepCtx) -> Result<StepOutput, OpError> {
        let app = &self.0.app;
        let rec = retired::Retired {
            at: cx.ctx.clock.now().to_string(),
            by: cx.ctx.identity.user.clone(),
            op_id: cx.op_id.clone(),
        };
        let file = retired::path(&cx.ctx.data_dir);
        if retired::mark(&cx.ctx.data_dir, app, rec)? {
            Ok(StepOutput::done(format!(
                "{app} marked retired in {}",
                file.display()
            )))
        } else {
            Ok(StepOutput::already(format!(
                "{app} was already marked retired"
            )))
        }
    }
}

/// Every tag of the repository with its digest (HEAD with the full `Accept` list); an unknown
/// repository has none.
pub(crate) async fn tag_digests(
    reg: &RegistryClient,
    repo: &str,
) -> Result<Vec<(String, String)>, OpError> {
    let tags = match reg.tags(repo).await {
        Ok(t) => t,
        Err(RegistryError::NotFound { .. }) => return Ok(vec![]),
        Err(e) => return Err(reg_err(e)),
    };
    let mut out = vec![];
    for tag in tags {
        match reg.head_manifest(repo, &tag).await {
            Ok(info) => out.push((tag, info.digest)),
            // Untagged meanwhile (another digest delete took it along).
            Err(RegistryError::NotFound { .. }) => {}
            Err(e) => return Err(reg_err(e)),
        }
    }
    Ok(out)
}

pub(crate) struct RegistryTags(pub Arc<Target>);
step_exec!(RegistryTags);

impl RegistryTags {
    async fn exec(&self, cx: &StepCtx) -> Result<StepOutput, OpError> {
        let t = &self.0;
        let (Some(reg), Some(repo)) = (&t.registry, &t.repository) else {
            return Ok(StepOutput::already("no registry repository configured"));
        };
        let mut deleted: Vec<serde_json::Value> = vec![];
        // Two passes: deleting a digest untags every tag on it; a second look catches a tag
        // pushed meanwhile.
        for _ in 0..2 {
            let tags = tag_digests(reg, repo).await?;
            if tags.is_empty() {
                break;
            }
            let mut digests: Vec<(String, Vec<String>)> = vec![];
            for (tag, digest) in tags {
                match digests.iter_mut().find(|(d, _)| *d == digest) {
                    Some((_, ts)) => ts.push(tag),
                    None => digests.push((digest, vec![tag])),
                }
            }
            let n = digests.len();
            for (i, (digest, tags)) in digests.into_iter().enumerate() {
                cx.progress(
                    format!("deleting {repo}@{digest} ({})", tags.join(", ")),
                    Some(i as i32),
                    Some(n as i32),
                )
                .await;
                match reg.delete_manifest(repo, &digest).await {
                    Ok(()) | Err(RegistryError::NotFound { .. }) => {}
                    Err(e) => return Err(reg_err(e)),
                }
                deleted.push(json!({"digest": digest, "tags": tags}));
            }
        }
        let left = tag_digests(reg, repo).await?;
        if !left.is_empty() {
            let names: Vec<&str> = left.iter().map(|(t, _)| t.as_str()).collect();
            return Err(OpError::backend(
                "registry",
                format!("{repo} still has tags after deleting: {}", names.join(", ")),
            ));
        }
        if deleted.is_empty() {
            return Ok(StepOutput::already(format!("{repo} has no tags")));
        }
        Ok(StepOutput::done(format!(
            "deleted {} manifest(s) of {repo} by digest",
            deleted.len()
        ))
        .with_detail(json!({"repository": repo, "deleted": deleted})))
    }
}

pub(crate) struct Report(pub Arc<Target>);
step_exec!(Report);

impl Report {
    async fn exec(&self, cx: &StepCtx) -> Result<StepOutput, OpError> {
        let t = &self.0;
        let inv = inventory(&cx.ctx, t).await?;
        let left = inv.leftovers();
        if !left.is_empty() {
            return Err(OpError::backend(
                "sunset",
                format!("{} is not fully gone: {}", t.app, left.join(", ")),
            ));
        }
        if t.alertmanager.is_some() && inv.silence.is_none() {
            return Err(OpError::backend(
                "sunset",
                format!("no sunset silence for app=\"{}\" found", t.app),
            ));
        }
        if !inv.retired {
            return Err(OpError::backend(
                "sunset",
                format!("{} is not marked retired", t.app),
            ));
        }
        let mut parts = vec![format!("workloads gone in {} environment(s)", t.envs.len())];
        if let Some(e) = &t.edge {
            parts.insert(
                0,
                format!("{} no longer routed by Cloudflare", e.edge.hostname),
            );
        }
        if let Some(repo) = t.repository.as_ref().filter(|_| t.registry.is_some()) {
            parts.push(format!("{repo} has no tags"));
        }
        if let Some(s) = &inv.silence {
            parts.push(format!("alerts silenced until {}", s.ends_at));
        }
        parts.push("marked retired".into());
        Ok(StepOutput::done(format!(
            "sunset of {} complete: {}",
            t.app,
            parts.join("; ")
        )))
    }
}
