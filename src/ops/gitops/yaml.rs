//! Textual edits of Kubernetes manifests: find the `image:` line of each container (by name) in
//! `containers:` lists and rewrite only that value, so every other byte of the file (comments,
//! quoting, key order, other documents) stays as it was. No YAML re-serialisation.

/// Why an image could not be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlEditError {
    #[error("no container named `{0}` with an `image:` in the manifest")]
    ContainerNotFound(String),
    #[error("the manifest has no block-style `containers:` list")]
    NoContainers,
    #[error("line {line}: {what} is not supported (write the containers as a block list)")]
    Unsupported { line: usize, what: String },
}

/// One container of a `containers:` list: its name and where its `image:` value sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerImage {
    pub name: String,
    pub image: String,
    /// 0-based line of the `image:` key.
    pub line: usize,
    /// Byte range of the value on that line, quotes excluded.
    pub value: std::ops::Range<usize>,
}

fn indent_of(line: &str) -> usize {
    line.len() - line.trim_start_matches(' ').len()
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// The scalar after `key:` starting at byte `from` of `line`: its unquoted text and byte range.
fn scalar(line: &str, from: usize) -> (String, std::ops::Range<usize>) {
    let rest = &line[from..];
    let skip = rest.len() - rest.trim_start().len();
    let start = from + skip;
    let body = &line[start..];
    for q in ['"', '\''] {
        if let Some(inner) = body.strip_prefix(q)
            && let Some(end) = inner.find(q)
        {
            let s = start + 1;
            return (inner[..end].to_string(), s..s + end);
        }
    }
    // Plain scalar: up to a ` #` comment, trailing spaces dropped.
    let end = body.find(" #").unwrap_or(body.len());
    let value = body[..end].trim_end();
    (value.to_string(), start..start + value.len())
}

/// `key: value` at the start of `text` (after indentation): the offset of the value.
fn key_value(text: &str, key: &str) -> Option<usize> {
    let rest = text.strip_prefix(key)?;
    let rest = rest.strip_prefix(':')?;
    (rest.is_empty() || rest.starts_with(' ') || rest.starts_with('\t')).then_some(key.len() + 1)
}

/// Every container with an `image:` in every `containers:` list of the file, in file order.
pub fn containers(text: &str) -> Result<Vec<ContainerImage>, YamlEditError> {
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = vec![];
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i].trim_end_matches('\r');
        let ind = indent_of(line);
        let t = &line[ind..];
        // `containers:` as a key, possibly the first key of a list item (`- containers:`).
        let key_at = if key_value(t, "containers").is_some() {
            Some(ind)
        } else {
            t.strip_prefix("- ")
                .map(|r| (r, ind + 2 + (r.len() - r.trim_start().len())))
                .filter(|(r, _)| key_value(r.trim_start(), "containers").is_some())
                .map(|(_, at)| at)
        };
        let Some(key_indent) = key_at else {
            i += 1;
            continue;
        };
        let after = &line[key_indent + "containers:".len()..];
        let after = after.split(" #").next().unwrap_or("").trim();
        if !after.is_empty() {
            return Err(YamlEditError::Unsupported {
                line: i + 1,
                what: format!("`containers: {after}` (flow style)"),
            });
        }
        i += 1;
        i = list_items(&lines, i, key_indent, &mut out)?;
    }
    Ok(out)
}

/// Reads the list items of a `containers:` key at `key_indent`, from line `i`; returns the first
/// line after the list.
fn list_items(
    lines: &[&str],
    mut i: usize,
    key_indent: usize,
    out: &mut Vec<ContainerImage>,
) -> Result<usize, YamlEditError> {
    let mut dash: Option<usize> = None;
    // The current item: content indent, name, image.
    let mut item: Option<(usize, Option<String>, Option<ContainerImage>)> = None;
    let flush = |item: &mut Option<(usize, Option<String>, Option<ContainerImage>)>,
                 out: &mut Vec<ContainerImage>| {
        if let Some((_, Some(name), Some(mut img))) = item.take() {
            img.name = name;
            out.push(img);
        }
    };
    while i < lines.len() {
        let line = lines[i].trim_end_matches('\r');
        if is_blank_or_comment(line) {
            i += 1;
            continue;
        }
        let ind = indent_of(line);
        let t = &line[ind..];
        let is_item = t == "-" || t.starts_with("- ");
        match dash {
            None if is_item && ind >= key_indent => dash = Some(ind),
            None => break,
            Some(d) if ind < d || (ind == d && !is_item) => break,
            Some(_) => {}
        }
        if ind < key_indent || (ind == key_indent && !is_item) {
            break;
        }
        let mut content_at = None;
        if is_item && Some(ind) == dash {
            flush(&mut item, out);
            let rest = &t[1..];
            let at = ind + 1 + (rest.len() - rest.trim_start().len());
            item = Some((at, None, None));
            if !rest.trim().is_empty() {
                content_at = Some(at);
            }
        } else if let Some((c, _, _)) = &item
            && ind == *c
        {
            content_at = Some(ind);
        }
        if let (Some(at), Some((_, name, image))) = (content_at, item.as_mut()) {
            let kv = &line[at..];
            if let Some(off) = key_value(kv, "name") {
                name.get_or_insert(scalar(line, at + off).0);
            } else if let Some(off) = key_value(kv, "image") {
                let (value, range) = scalar(line, at + off);
                *image = Some(ContainerImage {
                    name: String::new(),
                    image: value,
                    line: i,
                    value: range,
                });
            }
        }
        i += 1;
    }
    flush(&mut item, out);
    Ok(i)
}

/// The file with each named container's image replaced; every other byte kept. A container
/// named twice (two Deployments in one file) changes in both places.
pub fn set_images(text: &str, images: &[(String, String)]) -> Result<String, YamlEditError> {
    let found = containers(text)?;
    if found.is_empty() {
        return Err(YamlEditError::NoContainers);
    }
    let mut edits: Vec<(usize, std::ops::Range<usize>, &str)> = vec![];
    for (name, image) in images {
        let mut any = false;
        for c in found.iter().filter(|c| &c.name == name) {
            edits.push((c.line, c.value.clone(), image.as_str()));
            any = true;
        }
        if !any {
            return Err(YamlEditError::ContainerNotFound(name.clone()));
        }
    }
    let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    for (line, range, image) in edits {
        if let Some(l) = lines.get_mut(line) {
            l.replace_range(range, image);
        }
    }
    Ok(lines.join("\n"))
}

/// The image of each container, by name (first occurrence).
pub fn images(text: &str) -> Result<Vec<(String, String)>, YamlEditError> {
    let mut out: Vec<(String, String)> = vec![];
    for c in containers(text)? {
        if !out.iter().any(|(n, _)| *n == c.name) {
            out.push((c.name, c.image));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MULTI: &str = "\
# production web — edited by hand too
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web  # the app
spec:
  template:
    spec:
      initContainers:
        - name: migrate
          image: registry.local/shop/web:1.4.1
      containers:
        - name: web
          image: \"registry.local/shop/web:1.4.1\"   # pinned by CI
          env:
            - name: sidecar
              image: not-a-container
          ports:
            - containerPort: 8080
        - image: 'registry.local/shop/proxy:2.0'
          name: proxy
        -   name: logs
            # comment inside
            image: registry.local/shop/logs:1 # trailing
---
apiVersion: v1
kind: Service
metadata:
  name: web
";

    #[test]
    fn multi_container_quoted_and_comments_preserved() {
        let c = images(MULTI).unwrap();
        assert_eq!(
            c,
            vec![
                (
                    "web".to_string(),
                    "registry.local/shop/web:1.4.1".to_string()
                ),
                ("proxy".into(), "registry.local/shop/proxy:2.0".into()),
                ("logs".into(), "registry.local/shop/logs:1".into()),
            ]
        );
        let out = set_images(
            MULTI,
            &[
                (
                    "web".into(),
                    "registry.local/shop/web:1.4.2@sha256:abc".into(),
                ),
                ("logs".into(), "registry.local/shop/logs:2".into()),
            ],
        )
        .unwrap();
        let expected = MULTI
            .replace(
                "image: \"registry.local/shop/web:1.4.1\"",
                "image: \"registry.local/shop/web:1.4.2@sha256:abc\"",
            )
            .replace(
                "image: registry.local/shop/logs:1 # trailing",
                "image: registry.local/shop/logs:2 # trailing",
            );
        assert_eq!(out, expected);
        // initContainers and nested lists are left alone.
        assert!(out.contains("          image: registry.local/shop/web:1.4.1\n"));
        assert!(out.contains("image: not-a-container"));
        let single = set_images(MULTI, &[("proxy".into(), "p:3".into())]).unwrap();
        assert!(single.contains("- image: 'p:3'"), "{single}");
        assert_eq!(
            single.len(),
            MULTI.len() - "registry.local/shop/proxy:2.0".len() + 3
        );
    }

    #[test]
    fn container_not_found_and_flow_style_are_errors() {
        assert_eq!(
            set_images(MULTI, &[("db".into(), "x".into())]),
            Err(YamlEditError::ContainerNotFound("db".into()))
        );
        assert_eq!(
            set_images("kind: Service\n", &[("web".into(), "x".into())]),
            Err(YamlEditError::NoContainers)
        );
        let flow = "spec:\n  containers: [{name: web, image: x}]\n";
        assert!(matches!(
            set_images(flow, &[("web".into(), "y".into())]),
            Err(YamlEditError::Unsupported { line: 2, .. })
        ));
    }

    #[test]
    fn list_at_key_indent_and_crlf() {
        let text = "spec:\n  containers:\n  - name: web\n    image: a:1\r\n  - name: b\n    image: b:1\nstatus: {}\n";
        let out = set_images(text, &[("web".into(), "a:2".into())]).unwrap();
        assert_eq!(out, text.replace("a:1", "a:2"));
        assert_eq!(images(text).unwrap().len(), 2);
    }
}
