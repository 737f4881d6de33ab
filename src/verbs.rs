//! CLI glue for the mutating verbs and `audit`: builds the `Request` from flags, prints the same
//! preview the console shows, confirms (never prompting without a terminal), runs the engine with
//! progress, and maps the outcome to PRODUCT.md §5's exit codes.
use crate::cli::{Cli, Command, OpFlags, OutputFormat};
use crate::ops::{self, Confirmation, OpContext, OpError, OpEvent, PatchChange, Request};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

/// Exit codes of PRODUCT.md §5 the verbs add to `crate::exit`.
pub const REFUSED: u8 = 3;
pub const NOT_CONFIRMED: u8 = 4;

/// Runs a verb; returns the exit code. Configuration errors come back as `ConfigError` (exit 2).
pub async fn run_verb(cli: &Cli, cmd: &Command) -> color_eyre::Result<u8> {
    let config = crate::load_config(cli.config.as_deref())?;
    let ctx = Arc::new(OpContext::new(config, cli.read_only));
    if let Command::Audit(args) = cmd {
        return Ok(audit(&ctx, args.app.as_deref(), args.output));
    }
    let (request, flags, reason) = match build_request(cmd) {
        Ok(r) => r,
        Err(msg) => {
            eprintln!("shipdeck: {msg}");
            return Ok(crate::exit::USAGE);
        }
    };
    let mut out = std::io::stdout();
    Ok(run_request(ctx, request, &flags, reason, &mut out).await)
}

/// The request, the shared flags and the override reason for a verb.
pub fn build_request(cmd: &Command) -> Result<(Request, OpFlags, Option<String>), String> {
    Ok(match cmd {
        Command::Promote(a) => (
            Request::Promote {
                app: a.app.clone(),
                from: a.from.clone(),
                to: a.to.clone(),
                reason: a.reason.clone(),
            },
            a.flags.clone(),
            a.reason.clone(),
        ),
        Command::Rollback(a) => (
            Request::Rollback {
                app: a.app.clone(),
                env: a.env.clone(),
                to_revision: a.to_revision,
            },
            a.flags.clone(),
            a.reason.clone(),
        ),
        Command::Patch(a) => {
            let change = if let Some(t) = &a.image {
                PatchChange::Image(t.clone())
            } else if a.restart {
                PatchChange::Restart
            } else if let Some(n) = a.replicas {
                PatchChange::Replicas(n)
            } else if a.pause {
                PatchChange::Pause
            } else if a.resume {
                PatchChange::Resume
            } else {
                return Err(
                    "patch needs one of --image, --restart, --replicas, --pause, --resume".into(),
                );
            };
            (
                Request::Patch {
                    app: a.app.clone(),
                    env: a.env.clone(),
                    change,
                },
                a.flags.clone(),
                a.reason.clone(),
            )
        }
        Command::Sunset(a) => (
            Request::Sunset {
                app: a.app.clone(),
                resume: a.resume,
            },
            a.flags.clone(),
            a.reason.clone(),
        ),
        Command::Approve(a) => (
            Request::Approve {
                app: a.app.clone(),
                env: a.env.clone(),
            },
            a.flags.clone(),
            None,
        ),
        Command::Silence(a) => match (&a.expire, &a.app) {
            (Some(id), _) => (
                Request::ExpireSilence { id: id.clone() },
                a.flags.clone(),
                None,
            ),
            (None, Some(app)) => {
                let text = a
                    .duration
                    .as_deref()
                    .ok_or("silence needs --for DURATION (30m, 2h, 1d)")?;
                let secs = ops::request::parse_duration(text).ok_or_else(|| {
                    format!("--for {text}: expected a duration such as 30m, 2h or 1d")
                })?;
                let comment = a.comment.clone().ok_or("silence needs --comment TEXT")?;
                (
                    Request::Silence {
                        app: app.clone(),
                        alert: a.alert.clone(),
                        duration_secs: secs,
                        comment,
                    },
                    a.flags.clone(),
                    None,
                )
            }
            (None, None) => return Err("silence needs APP or --expire ID".into()),
        },
        _ => return Err("not an operation verb".into()),
    })
}

fn json_line(out: &mut dyn Write, v: &serde_json::Value) {
    let _ = writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_default()
    );
}

/// prepare → print → confirm → run → print; returns the exit code. `out` is stdout in the binary.
pub async fn run_request(
    ctx: Arc<OpContext>,
    request: Request,
    flags: &OpFlags,
    reason: Option<String>,
    out: &mut dyn Write,
) -> u8 {
    let json = flags.output == OutputFormat::Json;
    let fail = |out: &mut dyn Write, e: &OpError, preview: Option<serde_json::Value>| -> u8 {
        if json {
            json_line(
                out,
                &serde_json::json!({"preview": preview, "outcome": null, "error": e, "message": e.to_string(), "dry_run": flags.dry_run, "exit_code": e.exit_code()}),
            );
        } else {
            eprintln!("shipdeck: {e}");
        }
        e.exit_code()
    };
    let preview = match ops::prepare(ctx.clone(), request).await {
        Ok(p) => p,
        Err(e) => return fail(out, &e, None),
    };
    if !json {
        // Clip to the terminal; a pipe or file gets whole lines.
        let width = if std::io::stdout().is_terminal() {
            crossterm::terminal::size().map(|(w, _)| w).unwrap_or(100)
        } else {
            u16::MAX
        };
        let _ = write!(out, "{}", preview.render_text(width));
    }
    let confirm_base = Confirmation {
        typed_name: preview.confirm_name.clone(),
        override_reason: reason.clone(),
    };
    // A rail that refuses no matter what the user types refuses before any prompt.
    if let Err(e) = ops::runner::gate(&preview, &confirm_base)
        && matches!(e, OpError::Refused(_))
    {
        return fail(out, &e, Some(preview.to_json()));
    }
    if flags.dry_run {
        if json {
            json_line(
                out,
                &serde_json::json!({"preview": preview.to_json(), "outcome": null, "error": null, "message": "dry run: nothing was changed", "dry_run": true, "exit_code": 0}),
            );
        } else {
            let _ = writeln!(out, "Dry run: nothing was changed.");
        }
        return crate::exit::DONE;
    }
    let confirmation = if flags.yes {
        confirm_base
    } else if std::io::stdin().is_terminal() {
        match prompt(&preview) {
            Some(typed) => Confirmation {
                typed_name: typed,
                override_reason: reason,
            },
            None => {
                let e = OpError::Cancelled("not confirmed".into());
                return fail(out, &e, Some(preview.to_json()));
            }
        }
    } else {
        let e = OpError::Cancelled(
            "not confirmed: stdin is not a terminal; pass --yes to run without a prompt".into(),
        );
        return fail(out, &e, Some(preview.to_json()));
    };
    let preview_json = preview.to_json();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<OpEvent>(64);
    let cancel = tokio_util::sync::CancellationToken::new();
    let c2 = cancel.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c2.cancel();
        }
    });
    let runner = tokio::spawn(ops::run(preview, confirmation, tx, cancel));
    while let Some(ev) = rx.recv().await {
        if !json {
            print_event(out, &ev);
        }
    }
    ctrl_c.abort();
    let outcome = match runner.await {
        Ok(o) => o,
        Err(e) => {
            let e = OpError::backend("shipdeck", format!("the operation task ended: {e}"));
            return fail(out, &e, Some(preview_json));
        }
    };
    let code = outcome.exit_code();
    if json {
        json_line(
            out,
            &serde_json::json!({"preview": preview_json, "error": null, "message": outcome.message, "outcome": outcome, "dry_run": false, "exit_code": code}),
        );
    } else {
        let _ = writeln!(
            out,
            "{}: {}",
            outcome.status_word(),
            crate::text::sanitize(&outcome.message)
        );
        if let Some(r) = &outcome.suggested_rollback {
            let _ = writeln!(out, "Suggested: {}", suggested_command(r));
        }
    }
    code
}

/// The CLI form of a suggested request (`shipdeck rollback web --env production`).
pub fn suggested_command(r: &Request) -> String {
    match r {
        Request::Rollback {
            app,
            env,
            to_revision,
        } => match to_revision {
            Some(n) => format!("shipdeck rollback {app} --env {env} --to-revision {n}"),
            None => format!("shipdeck rollback {app} --env {env}"),
        },
        other => other.summary(),
    }
}

fn print_event(out: &mut dyn Write, ev: &OpEvent) {
    use crate::text::sanitize;
    let _ = match ev {
        OpEvent::Started {
            op_id,
            summary,
            total,
        } => {
            writeln!(
                out,
                "Running {} ({total} steps, op {op_id})",
                sanitize(summary)
            )
        }
        OpEvent::Step {
            index,
            total,
            description,
            ..
        } => {
            writeln!(out, "[{}/{total}] {}", index + 1, sanitize(description))
        }
        OpEvent::Progress {
            message,
            ready,
            desired,
            ..
        } => match (ready, desired) {
            (Some(r), Some(d)) => writeln!(out, "      {} ({r}/{d})", sanitize(message)),
            _ => writeln!(out, "      {}", sanitize(message)),
        },
        OpEvent::StepDone {
            message,
            already,
            elapsed_ms,
            ..
        } => writeln!(
            out,
            "      {}{} ({:.1}s)",
            if *already { "already done: " } else { "ok: " },
            sanitize(message),
            *elapsed_ms as f64 / 1000.0
        ),
        OpEvent::Finished(_) => Ok(()),
    };
    let _ = out.flush();
}

/// Asks on the terminal: the app name for a protected environment, else `[y/N]`. `None`: no.
fn prompt(preview: &ops::Preview) -> Option<Option<String>> {
    let mut err = std::io::stderr();
    let stdin = std::io::stdin();
    let mut line = String::new();
    if let Some(name) = &preview.confirm_name {
        let _ = write!(err, "Type `{name}` to confirm: ");
        let _ = err.flush();
        stdin.lock().read_line(&mut line).ok()?;
        let typed = line.trim().to_string();
        return (typed == *name).then_some(Some(typed));
    }
    let _ = write!(err, "Proceed? [y/N] ");
    let _ = err.flush();
    stdin.lock().read_line(&mut line).ok()?;
    matches!(line.trim(), "y" | "Y" | "yes").then_some(None)
}

/// `shipdeck audit`: the journal grouped by operation.
pub fn audit(ctx: &OpContext, app: Option<&str>, output: OutputFormat) -> u8 {
    let records = match ops::audit::read(&ctx.journal_path()) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("shipdeck: {e}");
            return crate::exit::FAILED;
        }
    };
    let ops = ops::audit::summaries(&records, app);
    let mut out = std::io::stdout();
    match output {
        OutputFormat::Json => {
            let _ = writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&ops).unwrap_or_default()
            );
        }
        OutputFormat::Table => {
            let _ = write!(out, "{}", audit_table(&ops));
        }
    }
    crate::exit::DONE
}

pub fn audit_table(ops: &[ops::audit::OpSummary]) -> String {
    use crate::text::cell;
    let mut s = format!(
        "{:<20} {:<10} {:<12} {:<10} {:<7} {}\n",
        "STARTED", "OP", "APP", "RESULT", "STEPS", "SUMMARY / BY"
    );
    for o in ops {
        let started: String = o.started.chars().take(19).collect();
        s.push_str(&format!(
            "{:<20} {:<10} {:<12} {:<10} {:<7} {} — {}@{}{}\n",
            started,
            cell(&o.op, 10),
            cell(o.app.as_deref().unwrap_or("-"), 12),
            cell(&o.result, 10),
            format!("{}/{}", o.steps_done, o.steps_total),
            crate::text::sanitize(&o.summary),
            crate::text::sanitize(&o.user),
            crate::text::sanitize(&o.host),
            o.override_reason
                .as_deref()
                .map(|r| format!(" (override: {})", crate::text::sanitize(r)))
                .unwrap_or_default()
        ));
    }
    if ops.is_empty() {
        s.push_str("(no operations in the journal)\n");
    }
    s
}
