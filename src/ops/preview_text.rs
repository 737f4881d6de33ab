//! The preview as text: the CLI prints it and the console's modal shows it (same words).
use super::preview::{CheckStatus, Preview};
use crate::text::sanitize;

pub fn render(p: &Preview, width: u16) -> String {
    let width = usize::from(width.max(40));
    let mut out = String::new();
    let line = |out: &mut String, s: &str| {
        out.push_str(&clip(s, width));
        out.push('\n');
    };
    line(
        &mut out,
        &format!(
            "{} (op {})",
            sanitize(&p.plan.request.summary()),
            p.plan.op_id
        ),
    );
    for n in &p.notes {
        line(&mut out, &format!("  note: {}", sanitize(n)));
    }
    if !p.images.is_empty() {
        out.push_str("Images:\n");
        for i in &p.images {
            line(
                &mut out,
                &format!(
                    "  {} [{}]: {} → {}",
                    sanitize(&i.env),
                    sanitize(&i.container),
                    sanitize(&i.from),
                    sanitize(&i.to)
                ),
            );
        }
    }
    if !p.annotations.is_empty() {
        out.push_str("Annotations replaced:\n");
        for a in &p.annotations {
            let show = |v: &Option<String>| -> String {
                v.as_deref()
                    .map(|x| sanitize(x).into_owned())
                    .unwrap_or_else(|| "(none)".into())
            };
            line(
                &mut out,
                &format!(
                    "  {}: {} → {}",
                    sanitize(&a.key),
                    show(&a.from),
                    show(&a.to)
                ),
            );
        }
    }
    if !p.deletions.is_empty() {
        out.push_str("Deleted:\n");
        for d in &p.deletions {
            line(
                &mut out,
                &format!(
                    "  {} {} {} ({})",
                    sanitize(&d.system),
                    sanitize(&d.kind),
                    sanitize(&d.name),
                    sanitize(&d.scope)
                ),
            );
        }
    }
    if let Some(g) = &p.gitops {
        let how = match g.mode {
            super::gitops::GitOpsMode::Commit => format!("commit to {}", g.branch),
            super::gitops::GitOpsMode::PullRequest => {
                format!("pull request {} → {}", g.commit_branch, g.branch)
            }
        };
        line(
            &mut out,
            &format!(
                "Manifests (GitOps): {} {} ({how}; blob {}):",
                sanitize(&g.repo),
                sanitize(&g.path),
                sanitize(g.blob_sha.get(..7).unwrap_or(&g.blob_sha))
            ),
        );
        if g.unified.trim().is_empty() {
            out.push_str("  (no change)\n");
        }
        for l in g.unified.lines() {
            line(&mut out, &format!("  {}", sanitize(l)));
        }
    }
    for d in &p.diffs {
        line(
            &mut out,
            &format!(
                "Template diff ({}, {} in {}, server dry-run):",
                sanitize(&d.env),
                sanitize(&d.object),
                sanitize(&d.namespace)
            ),
        );
        if d.unified.trim().is_empty() {
            out.push_str("  (no change)\n");
        }
        for l in d.unified.lines() {
            line(&mut out, &format!("  {}", sanitize(l)));
        }
    }
    if !p.plan.steps.is_empty() {
        out.push_str("Steps:\n");
        for (i, s) in p.plan.steps.iter().enumerate() {
            line(
                &mut out,
                &format!("  {}. {}", i + 1, sanitize(&s.description)),
            );
        }
    }
    out.push_str("Checks:\n");
    for c in &p.checks {
        let mark = match c.status {
            CheckStatus::Pass => "ok  ",
            CheckStatus::Fail => "FAIL",
            CheckStatus::Warn => "warn",
            CheckStatus::Skipped => "skip",
        };
        let over = if c.status == CheckStatus::Fail && c.overridable {
            " (overridable with a reason)"
        } else {
            ""
        };
        line(
            &mut out,
            &format!(
                "  [{mark}] {}: {}{over}",
                sanitize(&c.title),
                sanitize(&c.detail)
            ),
        );
    }
    if let Some(name) = &p.confirm_name {
        line(
            &mut out,
            &format!(
                "Protected environment: type `{}` to confirm.",
                sanitize(name)
            ),
        );
    }
    out
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut t: String = s.chars().take(width.saturating_sub(1)).collect();
    t.push('…');
    t
}
