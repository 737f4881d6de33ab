//! The simulated GitHub REST subset for manifests repositories: repository, contents (GET/PUT with
//! blob shas), commits, git refs and pull requests (create, list, get, merge), in GitHub's shapes.
use super::{Shared, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use bytes::Bytes;
use serde_json::{Value, json};

fn reply(status: u16, v: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [("content-type", "application/json; charset=utf-8")],
        v.to_string(),
    )
        .into_response()
}

fn message(status: u16, m: &str) -> Response {
    reply(
        status,
        json!({"message": m, "documentation_url": "https://docs.github.com/rest"}),
    )
}

fn query(uri: &Uri) -> Vec<(String, String)> {
    uri.query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (decode(k), decode(v))
        })
        .collect()
}

/// Percent-decoding (and `+` as a space in queries is not needed by the callers).
fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'a>(q: &'a [(String, String)], key: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// base64 wrapped at 60 columns, as GitHub sends file contents.
fn wrapped_base64(bytes: &[u8]) -> String {
    let b = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::new();
    for (i, c) in b.chars().enumerate() {
        if i > 0 && i % 60 == 0 {
            out.push('\n');
        }
        out.push(c);
    }
    out.push('\n');
    out
}

fn content_json(
    base: &str,
    full: &str,
    path: &str,
    branch: &str,
    blob: &str,
    size: usize,
) -> Value {
    let name = path.rsplit('/').next().unwrap_or(path);
    json!({
        "type": "file", "name": name, "path": path, "sha": blob, "size": size,
        "url": format!("{base}/repos/{full}/contents/{path}?ref={branch}"),
        "html_url": format!("https://github.local/{full}/blob/{branch}/{path}"),
        "git_url": format!("{base}/repos/{full}/git/blobs/{blob}"),
        "download_url": Value::Null,
    })
}

pub fn handle(shared: &Shared, method: Method, uri: Uri, body: Bytes) -> Response {
    let Ok(mut st) = shared.state.lock() else {
        return message(500, "state poisoned");
    };
    st.requests
        .push((method.to_string(), uri.path().to_string()));
    let now = (shared.clock)();
    let path = uri.path().trim_end_matches('/').to_string();
    let q = query(&uri);
    let decoded: Vec<String> = path.split('/').skip(1).map(decode).collect();
    let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
    let ["repos", owner, repo, rest @ ..] = parts.as_slice() else {
        return message(404, "Not Found");
    };
    let full = format!("{owner}/{repo}");
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(_) => return message(400, "Problems parsing JSON"),
        }
    };
    let base = st.base.clone();
    if !st.repos.contains_key(&full) {
        return message(404, "Not Found");
    }
    let resp = match (method.as_str(), rest) {
        ("GET", []) => {
            let r = &st.repos[&full];
            reply(
                200,
                json!({"id": 1, "name": r.name, "full_name": full, "private": false,
                              "default_branch": r.default_branch,
                              "permissions": {"admin": false, "maintain": false, "push": !st.read_only, "triage": true, "pull": true},
                              "html_url": format!("https://github.local/{full}")}),
            )
        }
        ("GET", ["contents", file @ ..]) if !file.is_empty() => {
            let file = file.join("/");
            let r = &st.repos[&full];
            let rev = param(&q, "ref").unwrap_or(&r.default_branch).to_string();
            match r.file(&rev, &file) {
                Some((bytes, blob)) => {
                    let mut v = content_json(&base, &full, &file, &rev, &blob, bytes.len());
                    v["encoding"] = json!("base64");
                    v["content"] = json!(wrapped_base64(&bytes));
                    reply(200, v)
                }
                None => list_dir(&base, &full, r, &rev, &file),
            }
        }
        ("PUT" | "POST", _) if st.read_only => {
            message(403, "Resource not accessible by personal access token")
        }
        ("PUT", ["contents", file @ ..]) if !file.is_empty() => {
            let file = file.join("/");
            put_contents(&mut st, &full, &file, &body, now)
        }
        ("GET", ["commits"]) => {
            let r = &st.repos[&full];
            let rev = param(&q, "sha").unwrap_or(&r.default_branch);
            let only = param(&q, "path");
            let list: Vec<Value> = r
                .log(rev)
                .into_iter()
                .filter(|c| {
                    only.is_none_or(|p| {
                        let parent = c.parents.first().and_then(|s| r.commits.get(s));
                        c.tree.get(p) != parent.and_then(|pc| pc.tree.get(p))
                    })
                })
                .map(|c| r.commit_json(&base, c))
                .collect();
            reply(200, Value::Array(list))
        }
        ("GET", ["commits", rev]) => {
            let r = &st.repos[&full];
            match r.head(rev).or_else(|| r.commits.get(*rev)) {
                Some(c) => reply(200, r.commit_json(&base, c)),
                None => message(422, &format!("No commit found for SHA: {rev}")),
            }
        }
        ("GET", ["git", "ref", "heads", branch @ ..]) => {
            let branch = branch.join("/");
            match st.repos[&full].refs.get(&branch) {
                Some(sha) => reply(200, ref_json(&base, &full, &branch, sha)),
                None => message(404, "Not Found"),
            }
        }
        ("POST", ["git", "refs"]) => {
            let (Some(name), Some(sha)) = (
                body.get("ref").and_then(Value::as_str),
                body.get("sha").and_then(Value::as_str),
            ) else {
                return message(
                    422,
                    "Invalid request.\n\n\"ref\", \"sha\" weren't supplied.",
                );
            };
            let Some(r) = st.repos.get_mut(&full) else {
                return message(404, "Not Found");
            };
            match r.create_ref(name, sha) {
                Ok(()) => {
                    let branch = name.trim_start_matches("refs/heads/");
                    reply(201, ref_json(&base, &full, branch, sha))
                }
                Err(e) => message(e.status, &e.message),
            }
        }
        ("GET", ["pulls"]) => {
            let r = &st.repos[&full];
            let state = param(&q, "state").unwrap_or("open");
            let head = param(&q, "head").map(|h| h.rsplit_once(':').map(|(_, b)| b).unwrap_or(h));
            let base_f = param(&q, "base");
            let mut list: Vec<Value> = r
                .pulls
                .iter()
                .rev()
                .filter(|p| state == "all" || p.state == state)
                .filter(|p| head.is_none_or(|h| p.head == h))
                .filter(|p| base_f.is_none_or(|b| p.base == b))
                .map(|p| r.pull_json(&base, p))
                .collect();
            list.truncate(
                param(&q, "per_page")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(30),
            );
            reply(200, Value::Array(list))
        }
        ("POST", ["pulls"]) => {
            let s = |k: &str| {
                body.get(k)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            let (title, head, base_b) = (s("title"), s("head"), s("base"));
            if title.is_empty() || head.is_empty() || base_b.is_empty() {
                return reply(
                    422,
                    json!({"message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "field": "title", "code": "missing_field"}]}),
                );
            }
            let Some(r) = st.repos.get_mut(&full) else {
                return message(404, "Not Found");
            };
            match r.open_pull(&title, &head, &base_b, &s("body"), now) {
                Ok(n) => {
                    let p = r.pulls.iter().find(|p| p.number == n).cloned();
                    match p {
                        Some(p) => reply(201, r.pull_json(&base, &p)),
                        None => message(500, "pull request vanished"),
                    }
                }
                Err(e) => reply(
                    e.status,
                    json!({"message": "Validation Failed",
                    "errors": [{"resource": "PullRequest", "code": "custom", "message": e.message}]}),
                ),
            }
        }
        ("GET", ["pulls", n]) => {
            let r = &st.repos[&full];
            match n
                .parse::<u64>()
                .ok()
                .and_then(|n| r.pulls.iter().find(|p| p.number == n))
            {
                Some(p) => reply(200, r.pull_json(&base, p)),
                None => message(404, "Not Found"),
            }
        }
        ("GET", ["pulls", n, "merge"]) => {
            let r = &st.repos[&full];
            let merged = n
                .parse::<u64>()
                .ok()
                .and_then(|n| r.pulls.iter().find(|p| p.number == n))
                .is_some_and(|p| p.merged);
            if merged {
                StatusCode::NO_CONTENT.into_response()
            } else {
                message(404, "Not Found")
            }
        }
        ("PUT", ["pulls", n, "merge"]) => {
            let Ok(n) = n.parse::<u64>() else {
                return message(404, "Not Found");
            };
            let expected = body.get("sha").and_then(Value::as_str).map(str::to_string);
            let method = body
                .get("merge_method")
                .and_then(Value::as_str)
                .unwrap_or("merge")
                .to_string();
            let Some(r) = st.repos.get_mut(&full) else {
                return message(404, "Not Found");
            };
            match r.merge_pull(n, expected.as_deref(), &method, now) {
                Ok(sha) => {
                    let default = r.default_branch.clone();
                    let merged_into = r
                        .pulls
                        .iter()
                        .find(|p| p.number == n)
                        .map(|p| p.base.clone());
                    if merged_into.as_deref() == Some(default.as_str()) {
                        st.pending_change = true;
                    }
                    reply(
                        200,
                        json!({"sha": sha, "merged": true, "message": "Pull Request successfully merged"}),
                    )
                }
                Err(e) => message(e.status, &e.message),
            }
        }
        _ => message(404, "Not Found"),
    };
    if std::mem::take(&mut st.pending_change) {
        shared.changed();
    }
    resp
}

/// A directory: its entries, as GitHub lists them (404 when nothing is under it).
fn list_dir(base: &str, full: &str, r: &super::repo::Repo, rev: &str, dir: &str) -> Response {
    let prefix = format!("{dir}/");
    let tree = r
        .head(rev)
        .or_else(|| r.commits.get(rev))
        .map(|c| c.tree.clone())
        .unwrap_or_default();
    let mut entries: Vec<Value> = vec![];
    let mut dirs = std::collections::BTreeSet::new();
    for (p, blob) in tree.iter().filter(|(p, _)| p.starts_with(&prefix)) {
        match p[prefix.len()..].split_once('/') {
            Some((d, _)) => {
                if dirs.insert(d.to_string()) {
                    entries.push(json!({"type": "dir", "name": d, "path": format!("{prefix}{d}"), "sha": Value::Null}));
                }
            }
            None => {
                let size = r.blobs.get(blob).map_or(0, Vec::len);
                entries.push(content_json(base, full, p, rev, blob, size));
            }
        }
    }
    if entries.is_empty() {
        message(404, "Not Found")
    } else {
        reply(200, Value::Array(entries))
    }
}

fn ref_json(base: &str, full: &str, branch: &str, sha: &str) -> Value {
    json!({
        "ref": format!("refs/heads/{branch}"),
        "node_id": format!("REF_{branch}"),
        "url": format!("{base}/repos/{full}/git/refs/heads/{branch}"),
        "object": {"sha": sha, "type": "commit", "url": format!("{base}/repos/{full}/git/commits/{sha}")},
    })
}

fn put_contents(
    st: &mut State,
    full: &str,
    file: &str,
    body: &Value,
    now: jiff::Timestamp,
) -> Response {
    let (Some(msg), Some(content)) = (
        body.get("message").and_then(Value::as_str),
        body.get("content").and_then(Value::as_str),
    ) else {
        return message(
            422,
            "Invalid request.\n\n\"message\", \"content\" weren't supplied.",
        );
    };
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(
        content
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>(),
    ) else {
        return message(422, "content is not valid Base64");
    };
    let base = st.base.clone();
    let Some(default) = st.repos.get(full).map(|r| r.default_branch.clone()) else {
        return message(404, "Not Found");
    };
    let branch = body
        .get("branch")
        .and_then(Value::as_str)
        .unwrap_or(&default)
        .to_string();
    st.interfere_now(full, &branch, file, now);
    let author = body
        .pointer("/committer/name")
        .and_then(Value::as_str)
        .unwrap_or("shipdeck")
        .to_string();
    let sha = body.get("sha").and_then(Value::as_str);
    let Some(r) = st.repos.get_mut(full) else {
        return message(404, "Not Found");
    };
    match r.put_file(&branch, file, bytes.clone(), sha, msg, &author, now) {
        Ok((commit, blob, created)) => {
            if branch == default {
                st.pending_change = true;
            }
            let r = &st.repos[full];
            let c = r.commits.get(&commit).map(|c| r.commit_json(&base, c));
            let mut commit_v = c.unwrap_or(Value::Null);
            // The contents API's commit object is the git commit (fields at the top level).
            if let Some(inner) = commit_v.get("commit").cloned() {
                for k in ["message", "author", "committer", "tree"] {
                    commit_v[k] = inner[k].clone();
                }
                commit_v.as_object_mut().map(|o| o.remove("commit"));
            }
            reply(
                if created { 201 } else { 200 },
                json!({"content": content_json(&base, full, file, &branch, &blob, bytes.len()),
                       "commit": commit_v}),
            )
        }
        Err(e) => message(e.status, &e.message),
    }
}
