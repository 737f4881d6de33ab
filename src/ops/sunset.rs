//! The `sunset` operation (the seeds' sunset branch): plan, inventory and preview.
//!
//! The steps, in order, each idempotent (an effect already in place succeeds as "already done"):
//! remove the app's tunnel ingress rule (the catch-all stays last); delete its DNS record; delete
//! its Access application; per environment scale the Deployment to 0, then delete the Deployment,
//! Service and Ingress; silence its alerts for good; mark it retired; delete its registry tags by
//! digest; check that everything is gone and report. `--resume` continues the last unfinished
//! run from the journal (the runner skips the steps it finished).
pub mod retired;
mod steps;
mod steps_kube;

use super::audit;
use super::plan::{Plan, Step, new_op_id};
use super::preview::{Check, CheckStatus, ObjectRef};
use super::{OpContext, OpError, Preview, Request};
use crate::backend::alertmanager::AlertmanagerClient;
use crate::backend::cloudflare::{
    AccessApp, CfError, CloudflareClient, CloudflareConfig, DnsRecord, Edge, find_access_apps,
};
use crate::backend::registry::{RegistryClient, RegistryError};
use crate::model::alerts::{Silence, SilenceState};
use serde_json::json;
use std::sync::Arc;

/// How long the sunset silence lasts (Alertmanager has no "forever").
pub const SILENCE_SECS: i64 = 10 * 365 * 86_400;

/// Stable step names (the journal and `--resume` match on them).
pub const STEP_TUNNEL: &str = "cloudflare-tunnel-rule";
pub const STEP_DNS: &str = "cloudflare-dns-record";
pub const STEP_ACCESS: &str = "cloudflare-access-app";
pub const STEP_SILENCE: &str = "silence-alerts";
pub const STEP_RETIRE: &str = "mark-retired";
pub const STEP_REGISTRY: &str = "registry-tags";
pub const STEP_REPORT: &str = "report";

pub fn step_scale(env: &str) -> String {
    format!("scale-down-{env}")
}

pub fn step_delete(env: &str) -> String {
    format!("delete-workloads-{env}")
}

/// Kubernetes objects removed in every environment, as (kind, API path segment).
pub const KUBE_KINDS: [&str; 3] = ["deployment", "service", "ingress"];

/// The Cloudflare side of an app, when `[cloudflare]` is configured.
pub(crate) struct EdgeTarget {
    pub client: CloudflareClient,
    pub cfg: CloudflareConfig,
    pub edge: Edge,
}

/// What every step of one sunset needs; built once by `prepare`.
pub(crate) struct Target {
    pub app: String,
    pub deployment: String,
    /// (environment, namespace).
    pub envs: Vec<(String, String)>,
    pub edge: Option<EdgeTarget>,
    pub registry: Option<Arc<RegistryClient>>,
    pub repository: Option<String>,
    pub alertmanager: Option<AlertmanagerClient>,
}

/// What exists now: the preview lists it, the report step checks it is all gone.
#[derive(Debug, Default)]
pub(crate) struct Inventory {
    pub tunnel_rule: bool,
    /// The tunnel is configured by a local file (`source: local`): the API cannot remove the rule.
    pub tunnel_local: bool,
    pub dns: Vec<DnsRecord>,
    pub access: Vec<AccessApp>,
    /// (environment, namespace, kind, name) of the Kubernetes objects present.
    pub kube: Vec<(String, String, &'static str, String)>,
    /// (tag, digest).
    pub tags: Vec<(String, String)>,
    pub silence: Option<Silence>,
    pub retired: bool,
}

impl Inventory {
    fn deletions(&self, t: &Target) -> Vec<ObjectRef> {
        let mut out = vec![];
        let obj = |system: &str, kind: &str, name: String, scope: String| ObjectRef {
            system: system.into(),
            kind: kind.into(),
            name,
            scope,
        };
        if let Some(e) = &t.edge {
            if self.tunnel_rule {
                out.push(obj(
                    "cloudflare",
                    "tunnel_ingress",
                    e.edge.hostname.clone(),
                    format!("tunnel {}", e.edge.tunnel_id.as_deref().unwrap_or("-")),
                ));
            }
            for r in &self.dns {
                out.push(obj(
                    "cloudflare",
                    "dns_record",
                    format!("{} {} → {}", r.kind, r.name, r.content),
                    format!("zone {}", e.cfg.zone),
                ));
            }
            for a in &self.access {
                out.push(obj(
                    "cloudflare",
                    "access_app",
                    format!("{} ({})", a.name, a.domain.as_deref().unwrap_or("-")),
                    format!("account {}", e.cfg.account_id),
                ));
            }
        }
        for (env, ns, kind, name) in &self.kube {
            out.push(obj(
                "kubernetes",
                kind,
                name.clone(),
                format!("{ns} in {env}"),
            ));
        }
        for (tag, digest) in &self.tags {
            out.push(obj(
                "registry",
                "tag",
                format!("{tag} @ {digest}"),
                t.repository.clone().unwrap_or_default(),
            ));
        }
        out
    }

    /// Whether nothing is left to do.
    fn empty(&self, t: &Target) -> bool {
        !self.tunnel_rule
            && self.dns.is_empty()
            && self.access.is_empty()
            && self.kube.is_empty()
            && self.tags.is_empty()
            && (t.alertmanager.is_none() || self.silence.is_some())
            && self.retired
    }

    /// What is still there, for the report step.
    pub fn leftovers(&self) -> Vec<String> {
        let mut out = vec![];
        if self.tunnel_rule {
            out.push("tunnel ingress rule".to_string());
        }
        out.extend(self.dns.iter().map(|r| format!("DNS record {}", r.name)));
        out.extend(self.access.iter().map(|a| format!("Access app {}", a.name)));
        out.extend(
            self.kube
                .iter()
                .map(|(_, ns, k, n)| format!("{k}/{n} in {ns}")),
        );
        out.extend(self.tags.iter().map(|(t, _)| format!("registry tag {t}")));
        out
    }
}

/// Record types that route a hostname to the app; others at the same name (MX, TXT
/// verification, CAA) are not the app's and stay.
pub const ROUTING_RECORD_TYPES: [&str; 3] = ["CNAME", "A", "AAAA"];

pub(crate) fn routing_records(records: Vec<DnsRecord>) -> Vec<DnsRecord> {
    records
        .into_iter()
        .filter(|r| ROUTING_RECORD_TYPES.contains(&r.kind.as_str()))
        .collect()
}

fn cf_err(e: crate::backend::cloudflare::CfError) -> OpError {
    OpError::backend("cloudflare", e)
}

fn reg_err(e: RegistryError) -> OpError {
    match e {
        RegistryError::Unsupported(m) => OpError::backend(
            "registry",
            format!(
                "registry deletion disabled (HTTP 405 UNSUPPORTED: {m}); enable it \
                 (storage.delete.enabled / REGISTRY_STORAGE_DELETE_ENABLED=true) or delete the \
                 images through the registry's own API, then run `shipdeck sunset APP --resume`"
            ),
        ),
        e => OpError::backend("registry", e),
    }
}

/// Reads the current state of everything sunset removes.
pub(crate) async fn inventory(ctx: &OpContext, t: &Target) -> Result<Inventory, OpError> {
    let mut inv = Inventory::default();
    if let Some(e) = &t.edge {
        if let Some(tunnel) = &e.edge.tunnel_id {
            let tc = e
                .client
                .tunnel_config(&e.cfg.account_id, tunnel)
                .await
                .map_err(cf_err)?;
            inv.tunnel_local = tc.source.as_deref() == Some("local");
            inv.tunnel_rule = tc.config.has_host(&e.edge.hostname);
        }
        let Some(zone) = e.client.zone_id(&e.cfg.zone).await.map_err(cf_err)? else {
            return Err(OpError::backend(
                "cloudflare",
                format!(
                    "zone {} not found (check [cloudflare] zone and the token's zones)",
                    e.cfg.zone
                ),
            ));
        };
        inv.dns = routing_records(
            e.client
                .dns_records(&zone, Some(&e.edge.hostname))
                .await
                .map_err(cf_err)?,
        );
        inv.access = find_access_apps(&e.client, &e.cfg, &e.edge)
            .await
            .map_err(cf_err)?;
    }
    for (env, ns) in &t.envs {
        let client = ctx.kube(env).await?;
        for kind in KUBE_KINDS {
            if steps_kube::exists(&client, ns, kind, &t.deployment).await? {
                inv.kube
                    .push((env.clone(), ns.clone(), kind, t.deployment.clone()));
            }
        }
    }
    if let (Some(reg), Some(repo)) = (&t.registry, &t.repository) {
        inv.tags = steps::tag_digests(reg, repo).await?;
    }
    if let Some(am) = &t.alertmanager {
        inv.silence = steps::sunset_silence(am, &t.app, ctx.clock.now()).await?;
    }
    inv.retired = retired::is_retired(&ctx.data_dir, &t.app);
    Ok(inv)
}

fn target(ctx: &OpContext, app: &str) -> Result<Target, OpError> {
    let a = ctx.app(app);
    let envs = ctx
        .config
        .environments
        .iter()
        .map(|e| (e.name.clone(), e.namespace_for(app)))
        .collect();
    let edge = match &ctx.config.cloudflare {
        None => None,
        Some(cfg) => Some(EdgeTarget {
            // A missing token or id is a configuration error (exit 2), not a failed operation.
            client: CloudflareClient::new(cfg).map_err(|e| match e {
                CfError::Config(m) => OpError::Usage(format!("[cloudflare]: {m}")),
                e => cf_err(e),
            })?,
            edge: cfg.edge_for(app),
            cfg: cfg.clone(),
        }),
    };
    Ok(Target {
        app: a.name,
        deployment: a.deployment,
        envs,
        edge,
        registry: ctx.registry()?.map(Arc::new),
        repository: a.repository,
        alertmanager: ctx.alertmanager()?,
    })
}

/// The steps, in order (sections without a configured source are left out).
fn steps(t: &Arc<Target>) -> Vec<Step> {
    let mut out = vec![];
    if let Some(e) = &t.edge {
        let host = &e.edge.hostname;
        if let Some(tunnel) = &e.edge.tunnel_id {
            out.push(Step::new(
                STEP_TUNNEL,
                format!(
                    "Remove the ingress rule for {host} from tunnel {tunnel} (catch-all kept last)"
                ),
                json!({"hostname": host, "tunnel_id": tunnel, "account_id": e.cfg.account_id}),
                steps::TunnelRule(t.clone()),
            ));
        }
        out.push(Step::new(
            STEP_DNS,
            format!("Delete the DNS record(s) {host} in zone {}", e.cfg.zone),
            json!({"hostname": host, "zone": e.cfg.zone}),
            steps::DnsRecords(t.clone()),
        ));
        out.push(Step::new(
            STEP_ACCESS,
            format!("Delete the Access application for {host}"),
            json!({"hostname": host, "access_app": e.edge.access_app}),
            steps::AccessApps(t.clone()),
        ));
    }
    for (env, ns) in &t.envs {
        out.push(Step::new(
            step_scale(env),
            format!("Scale deployment/{} in {ns} ({env}) to 0", t.deployment),
            json!({"env": env, "namespace": ns, "deployment": t.deployment, "replicas": 0}),
            steps_kube::ScaleDown {
                t: t.clone(),
                env: env.clone(),
                ns: ns.clone(),
            },
        ));
        out.push(Step::new(
            step_delete(env),
            format!(
                "Delete deployment, service and ingress {} in {ns} ({env})",
                t.deployment
            ),
            json!({"env": env, "namespace": ns, "name": t.deployment, "kinds": KUBE_KINDS}),
            steps_kube::DeleteWorkloads {
                t: t.clone(),
                env: env.clone(),
                ns: ns.clone(),
            },
        ));
    }
    if t.alertmanager.is_some() {
        out.push(Step::new(
            STEP_SILENCE,
            format!(
                "Silence alerts app=\"{}\" for {}",
                t.app,
                super::request::human_secs(SILENCE_SECS as u64)
            ),
            json!({"matchers": [{"name": "app", "value": t.app, "isRegex": false, "isEqual": true}], "duration_secs": SILENCE_SECS}),
            steps::SilenceAlerts(t.clone()),
        ));
    }
    out.push(Step::new(
        STEP_RETIRE,
        format!("Mark {} retired in shipdeck's state", t.app),
        json!({"file": retired::FILE}),
        steps::MarkRetired(t.clone()),
    ));
    if t.registry.is_some()
        && let Some(repo) = &t.repository
    {
        out.push(Step::new(
            STEP_REGISTRY,
            format!("Delete every tag of {repo} by digest"),
            json!({"repository": repo}),
            steps::RegistryTags(t.clone()),
        ));
    }
    out.push(Step::new(
        STEP_REPORT,
        format!("Check that nothing of {} is left and report", t.app),
        serde_json::Value::Null,
        steps::Report(t.clone()),
    ));
    out
}

pub async fn prepare(ctx: Arc<OpContext>, request: Request) -> Result<Preview, OpError> {
    let Request::Sunset { app, resume } = &request else {
        return Err(OpError::Usage("sunset: not a sunset request".into()));
    };
    let app = app.clone();
    if app.trim().is_empty() {
        return Err(OpError::Usage("sunset: which app?".into()));
    }
    let apps = &ctx.config.apps;
    if !apps.is_empty() && !apps.iter().any(|a| a.name == app) {
        let names: Vec<&str> = apps.iter().map(|a| a.name.as_str()).collect();
        return Err(OpError::Usage(format!(
            "unknown app `{app}` (configured: {})",
            names.join(", ")
        )));
    }
    let resume_of = if *resume {
        let id = audit::last_resumable(&ctx.journal_path(), "sunset", &app)?;
        Some(id.ok_or_else(|| {
            OpError::Usage(format!(
                "nothing to resume: no unfinished or failed sunset of {app} in {}",
                ctx.journal_path().display()
            ))
        })?)
    } else {
        None
    };
    let t = Arc::new(target(&ctx, &app)?);
    let mut plan = Plan::new(request.clone(), new_op_id(&ctx, &request));
    plan.steps = steps(&t);
    plan.locks = t
        .envs
        .iter()
        .map(|(env, _)| (app.clone(), env.clone()))
        .collect();
    plan.resume_of = resume_of.clone();
    // A `ShipdeckSunset` Event in each namespace: it outlives the Deployment it names, so
    // `kubectl get events` tells teammates where the app went.
    plan.events = t
        .envs
        .iter()
        .map(|(env, ns)| super::plan::EventTarget {
            env: env.clone(),
            namespace: ns.clone(),
            deployment: t.deployment.clone(),
        })
        .collect();

    let mut preview = Preview::new(ctx.clone(), plan);
    for (env, _) in &t.envs {
        preview.checks.push(super::checks::read_only(&ctx, env));
        preview.checks.push(super::checks::lock(&ctx, &app, env));
    }
    preview.checks.extend(access_checks(&ctx, &t).await);
    match inventory(&ctx, &t).await {
        Ok(inv) => {
            preview.deletions = inv.deletions(&t);
            if inv.tunnel_local
                && let Some(e) = &t.edge
            {
                preview.checks.push(Check::fail(
                    "cloudflare-tunnel",
                    "tunnel managed through the Cloudflare API",
                    format!(
                        "tunnel {} is locally configured (source: local): remove the rule for {} from its cloudflared config file, then set tunnel_id = \"\" in [cloudflare.edge.{app}]",
                        e.edge.tunnel_id.as_deref().unwrap_or("-"),
                        e.edge.hostname
                    ),
                ));
            }
            preview.noop = inv.empty(&t) && resume_of.is_none();
            if preview.noop {
                preview
                    .notes
                    .push(format!("{app} is already sunset: nothing left to remove"));
            }
            if let Some(s) = &inv.silence {
                preview.notes.push(format!(
                    "alerts app=\"{app}\" already silenced until {} (silence {})",
                    s.ends_at, s.id
                ));
            }
        }
        Err(e) => preview.checks.push(Check::fail(
            "inventory",
            format!("read what {app} has"),
            format!("{e} (the preview cannot list what would be deleted)"),
        )),
    }
    for (have, what) in [
        (
            t.edge.is_some(),
            "no [cloudflare] configured: edge entries are not touched",
        ),
        (
            t.registry.is_some() && t.repository.is_some(),
            "no [registry] or no repository for the app: registry tags are not touched",
        ),
        (
            t.alertmanager.is_some(),
            "no [alertmanager] configured: alerts are not silenced",
        ),
    ] {
        if !have {
            preview
                .checks
                .push(Check::new("source", "sources", CheckStatus::Warn, what));
        }
    }
    if let Some(id) = &resume_of {
        preview.notes.push(format!(
            "resuming {id}: steps it finished are skipped (journal {})",
            ctx.journal_path().display()
        ));
    }
    preview.notes.push(format!(
        "sunset cannot be undone: {app} stops serving in every environment"
    ));
    // Irreversible everywhere: always ask for the app name.
    preview.confirm_name = Some(app);
    Ok(preview)
}

/// One SelfSubjectAccessReview per Kubernetes write, per environment.
async fn access_checks(ctx: &OpContext, t: &Target) -> Vec<Check> {
    use super::checks::Write;
    let name = Some(t.deployment.as_str());
    let writes = [
        Write::new("patch", "apps", "deployments", name).subresource("scale"),
        Write::new("delete", "apps", "deployments", name),
        Write::new("delete", "", "services", name),
        Write::new("delete", "networking.k8s.io", "ingresses", name),
    ];
    let mut out = vec![];
    for (env, ns) in &t.envs {
        match ctx.kube(env).await {
            Ok(client) => out.extend(super::checks::access(&client, env, ns, &writes).await),
            Err(e) => out.push(Check::fail(
                "access",
                format!("reach Kubernetes ({env})"),
                e.to_string(),
            )),
        }
    }
    out
}

pub(crate) fn silence_active(s: &Silence) -> bool {
    matches!(s.status.state, SilenceState::Active | SilenceState::Pending)
}
