//! The simulated Git hosting's data: repositories with blobs, commits (trees as path → blob),
//! branches and pull requests, and the operations the REST layer and the CD controller use.
//! Ids are 40 hex characters like Git's (sha256-derived here, not Git's sha1).
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

pub fn object_id(kind: &str, bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(bytes);
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    hex[..40].to_string()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Commit {
    pub sha: String,
    pub parents: Vec<String>,
    pub tree: BTreeMap<String, String>,
    pub message: String,
    pub author: String,
    pub date: jiff::Timestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pull {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub head: String,
    pub base: String,
    pub head_sha: String,
    pub base_sha: String,
    /// `open` or `closed`.
    pub state: String,
    pub merged: bool,
    pub merge_commit_sha: Option<String>,
    pub created_at: jiff::Timestamp,
    pub merged_at: Option<jiff::Timestamp>,
}

/// Why a repository operation failed: HTTP status and GitHub's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoError {
    pub status: u16,
    pub message: String,
}

fn err(status: u16, message: impl Into<String>) -> RepoError {
    RepoError {
        status,
        message: message.into(),
    }
}

#[derive(Debug, Clone)]
pub struct Repo {
    pub owner: String,
    pub name: String,
    pub default_branch: String,
    pub refs: BTreeMap<String, String>,
    pub commits: HashMap<String, Commit>,
    pub blobs: HashMap<String, Vec<u8>>,
    pub pulls: Vec<Pull>,
}

impl Repo {
    /// An empty repository whose default branch has one empty commit.
    pub fn new(full_name: &str, default_branch: &str, now: jiff::Timestamp) -> Repo {
        let (owner, name) = full_name.split_once('/').unwrap_or(("shop", full_name));
        let mut r = Repo {
            owner: owner.into(),
            name: name.into(),
            default_branch: default_branch.into(),
            refs: BTreeMap::new(),
            commits: HashMap::new(),
            blobs: HashMap::new(),
            pulls: vec![],
        };
        let sha = r.add_commit(
            vec![],
            BTreeMap::new(),
            "Initial commit",
            "shipdeck-demo",
            now,
        );
        r.refs.insert(default_branch.into(), sha);
        r
    }

    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    fn add_commit(
        &mut self,
        parents: Vec<String>,
        tree: BTreeMap<String, String>,
        message: &str,
        author: &str,
        date: jiff::Timestamp,
    ) -> String {
        let seed = format!(
            "{parents:?}{tree:?}{message}{author}{date}{}",
            self.commits.len()
        );
        let sha = object_id("commit", seed.as_bytes());
        self.commits.insert(
            sha.clone(),
            Commit {
                sha: sha.clone(),
                parents,
                tree,
                message: message.into(),
                author: author.into(),
                date,
            },
        );
        sha
    }

    pub fn head(&self, branch: &str) -> Option<&Commit> {
        self.refs.get(branch).and_then(|s| self.commits.get(s))
    }

    /// The file's text and blob sha at a branch (or a commit sha).
    pub fn file(&self, rev: &str, path: &str) -> Option<(Vec<u8>, String)> {
        let commit = self.head(rev).or_else(|| self.commits.get(rev))?;
        let blob = commit.tree.get(path)?;
        Some((self.blobs.get(blob)?.clone(), blob.clone()))
    }

    /// The contents API write: `sha` must be the file's current blob (absent for a new file).
    /// Returns (commit sha, blob sha, created).
    #[allow(clippy::too_many_arguments)]
    pub fn put_file(
        &mut self,
        branch: &str,
        path: &str,
        content: Vec<u8>,
        sha: Option<&str>,
        message: &str,
        author: &str,
        now: jiff::Timestamp,
    ) -> Result<(String, String, bool), RepoError> {
        let head = self
            .head(branch)
            .ok_or_else(|| err(404, format!("Branch {branch} not found")))?
            .clone();
        let current = head.tree.get(path);
        match (current, sha) {
            (Some(_), None) => {
                return Err(err(422, "Invalid request.\n\n\"sha\" wasn't supplied."));
            }
            (Some(cur), Some(s)) if cur != s => {
                return Err(err(409, format!("{path} does not match {s}")));
            }
            (None, Some(s)) => return Err(err(409, format!("{path} does not match {s}"))),
            _ => {}
        }
        let created = current.is_none();
        let blob = object_id("blob", &content);
        self.blobs.insert(blob.clone(), content);
        let mut tree = head.tree.clone();
        tree.insert(path.into(), blob.clone());
        let commit = self.add_commit(vec![head.sha.clone()], tree, message, author, now);
        self.refs.insert(branch.into(), commit.clone());
        Ok((commit, blob, created))
    }

    pub fn create_ref(&mut self, name: &str, sha: &str) -> Result<(), RepoError> {
        let Some(branch) = name.strip_prefix("refs/heads/") else {
            return Err(err(
                422,
                "Reference name must start with 'refs/heads/' here",
            ));
        };
        if branch.is_empty() {
            return Err(err(422, "Reference name is invalid"));
        }
        if self.refs.contains_key(branch) {
            return Err(err(422, "Reference already exists"));
        }
        if !self.commits.contains_key(sha) {
            return Err(err(422, "Object does not exist"));
        }
        self.refs.insert(branch.into(), sha.into());
        Ok(())
    }

    fn ancestors(&self, sha: &str) -> HashSet<String> {
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([sha.to_string()]);
        while let Some(s) = queue.pop_front() {
            if !seen.insert(s.clone()) {
                continue;
            }
            if let Some(c) = self.commits.get(&s) {
                queue.extend(c.parents.iter().cloned());
            }
        }
        seen
    }

    /// The nearest common ancestor (breadth-first from `a`).
    fn merge_base(&self, a: &str, b: &str) -> Option<String> {
        let of_b = self.ancestors(b);
        let mut seen = HashSet::new();
        let mut queue = VecDeque::from([a.to_string()]);
        while let Some(s) = queue.pop_front() {
            if of_b.contains(&s) {
                return Some(s);
            }
            if !seen.insert(s.clone()) {
                continue;
            }
            if let Some(c) = self.commits.get(&s) {
                queue.extend(c.parents.iter().cloned());
            }
        }
        None
    }

    /// The first-parent history of a branch, newest first.
    pub fn log(&self, rev: &str) -> Vec<&Commit> {
        let mut out = vec![];
        let mut next = self
            .refs
            .get(rev)
            .cloned()
            .or_else(|| self.commits.contains_key(rev).then(|| rev.to_string()));
        while let Some(s) = next {
            let Some(c) = self.commits.get(&s) else { break };
            out.push(c);
            next = c.parents.first().cloned();
        }
        out
    }

    pub fn open_pull(
        &mut self,
        title: &str,
        head: &str,
        base: &str,
        body: &str,
        now: jiff::Timestamp,
    ) -> Result<u64, RepoError> {
        let head_branch = head.rsplit_once(':').map(|(_, b)| b).unwrap_or(head);
        let head_sha = self
            .refs
            .get(head_branch)
            .cloned()
            .ok_or_else(|| err(422, "Validation Failed: head invalid"))?;
        let base_sha = self
            .refs
            .get(base)
            .cloned()
            .ok_or_else(|| err(422, "Validation Failed: base invalid"))?;
        if self
            .pulls
            .iter()
            .any(|p| p.state == "open" && p.head == head_branch && p.base == base)
        {
            return Err(err(
                422,
                format!(
                    "A pull request already exists for {}:{head_branch}.",
                    self.owner
                ),
            ));
        }
        if self.ancestors(&base_sha).contains(&head_sha) {
            return Err(err(
                422,
                format!("No commits between {base} and {head_branch}"),
            ));
        }
        let number = self.pulls.len() as u64 + 1;
        self.pulls.push(Pull {
            number,
            title: title.into(),
            body: body.into(),
            head: head_branch.into(),
            base: base.into(),
            head_sha,
            base_sha,
            state: "open".into(),
            merged: false,
            merge_commit_sha: None,
            created_at: now,
            merged_at: None,
        });
        Ok(number)
    }

    /// `PUT /pulls/{n}/merge`: a merge commit (or one squashed commit) on the base branch.
    pub fn merge_pull(
        &mut self,
        number: u64,
        expected_head: Option<&str>,
        method: &str,
        now: jiff::Timestamp,
    ) -> Result<String, RepoError> {
        let pull = self
            .pulls
            .iter()
            .find(|p| p.number == number)
            .cloned()
            .ok_or_else(|| err(404, "Not Found"))?;
        if pull.state != "open" {
            return Err(err(405, "Pull Request is not mergeable"));
        }
        let head = self
            .refs
            .get(&pull.head)
            .cloned()
            .ok_or_else(|| err(405, "Pull Request is not mergeable"))?;
        if expected_head.is_some_and(|s| s != head) {
            return Err(err(
                409,
                "Head branch was modified. Review and try the merge again.",
            ));
        }
        let base = self
            .refs
            .get(&pull.base)
            .cloned()
            .ok_or_else(|| err(405, "Pull Request is not mergeable"))?;
        let mb = self.merge_base(&head, &base).unwrap_or_default();
        let tree_of = |s: &str| {
            self.commits
                .get(s)
                .map(|c| c.tree.clone())
                .unwrap_or_default()
        };
        let (mb_tree, head_tree, base_tree) = (tree_of(&mb), tree_of(&head), tree_of(&base));
        let changed = |t: &BTreeMap<String, String>| -> BTreeMap<String, Option<String>> {
            let mut out = BTreeMap::new();
            for (p, b) in t {
                if mb_tree.get(p) != Some(b) {
                    out.insert(p.clone(), Some(b.clone()));
                }
            }
            for p in mb_tree.keys() {
                if !t.contains_key(p) {
                    out.insert(p.clone(), None);
                }
            }
            out
        };
        let (ours, theirs) = (changed(&base_tree), changed(&head_tree));
        if theirs
            .iter()
            .any(|(p, b)| ours.get(p).is_some_and(|o| o != b))
        {
            return Err(err(405, "Pull Request is not mergeable"));
        }
        let mut tree = base_tree;
        for (p, b) in theirs {
            match b {
                Some(b) => tree.insert(p, b),
                None => tree.remove(&p),
            };
        }
        let message = format!(
            "Merge pull request #{number} from {}/{}\n\n{}",
            self.owner, pull.head, pull.title
        );
        let parents = if method == "merge" {
            vec![base, head.clone()]
        } else {
            vec![base]
        };
        let sha = self.add_commit(parents, tree, &message, "shipdeck-demo", now);
        self.refs.insert(pull.base.clone(), sha.clone());
        if let Some(p) = self.pulls.iter_mut().find(|p| p.number == number) {
            p.state = "closed".into();
            p.merged = true;
            p.merge_commit_sha = Some(sha.clone());
            p.merged_at = Some(now);
            p.head_sha = head;
        }
        Ok(sha)
    }

    pub fn commit_json(&self, base: &str, c: &Commit) -> Value {
        let full = self.full_name();
        json!({
            "sha": c.sha,
            "node_id": format!("C_{}", &c.sha[..12]),
            "url": format!("{base}/repos/{full}/commits/{}", c.sha),
            "html_url": format!("https://github.local/{full}/commit/{}", c.sha),
            "commit": {
                "message": c.message,
                "author": {"name": c.author, "email": format!("{}@users.noreply.github.local", c.author), "date": c.date.to_string()},
                "committer": {"name": c.author, "email": format!("{}@users.noreply.github.local", c.author), "date": c.date.to_string()},
                "tree": {"sha": object_id("tree", format!("{:?}", c.tree).as_bytes())},
            },
            "parents": c.parents.iter().map(|p| json!({"sha": p, "url": format!("{base}/repos/{full}/commits/{p}")})).collect::<Vec<_>>(),
        })
    }

    pub fn pull_json(&self, base: &str, p: &Pull) -> Value {
        let full = self.full_name();
        let head_sha = if p.merged {
            p.head_sha.clone()
        } else {
            self.refs
                .get(&p.head)
                .cloned()
                .unwrap_or_else(|| p.head_sha.clone())
        };
        json!({
            "url": format!("{base}/repos/{full}/pulls/{}", p.number),
            "id": 1000 + p.number,
            "number": p.number,
            "html_url": format!("https://github.local/{full}/pull/{}", p.number),
            "state": p.state,
            "title": p.title,
            "body": p.body,
            "user": {"login": "shipdeck"},
            "created_at": p.created_at.to_string(),
            "updated_at": p.merged_at.unwrap_or(p.created_at).to_string(),
            "closed_at": p.merged_at.map(|t| t.to_string()),
            "merged_at": p.merged_at.map(|t| t.to_string()),
            "merge_commit_sha": p.merge_commit_sha,
            "draft": false,
            "merged": p.merged,
            "mergeable": if p.state == "open" { json!(true) } else { Value::Null },
            "head": {"label": format!("{}:{}", self.owner, p.head), "ref": p.head, "sha": head_sha},
            "base": {"label": format!("{}:{}", self.owner, p.base), "ref": p.base,
                     "sha": self.refs.get(&p.base).cloned().unwrap_or_else(|| p.base_sha.clone())},
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_with_sha_branch_pull_and_merge() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let mut r = Repo::new("shop/manifests", "main", now);
        let (_, blob, created) = r
            .put_file("main", "a.yaml", b"v1".to_vec(), None, "add", "ana", now)
            .unwrap();
        assert!(created);
        assert_eq!(
            r.put_file("main", "a.yaml", b"v2".to_vec(), None, "m", "ana", now)
                .unwrap_err()
                .status,
            422
        );
        assert_eq!(
            r.put_file(
                "main",
                "a.yaml",
                b"v2".to_vec(),
                Some("0000"),
                "m",
                "ana",
                now
            )
            .unwrap_err()
            .status,
            409
        );
        let main = r.refs["main"].clone();
        r.create_ref("refs/heads/promote", &main).unwrap();
        assert_eq!(
            r.create_ref("refs/heads/promote", &main)
                .unwrap_err()
                .status,
            422
        );
        r.put_file(
            "promote",
            "a.yaml",
            b"v2".to_vec(),
            Some(&blob),
            "bump",
            "ana",
            now,
        )
        .unwrap();
        // Someone changes another file on main meanwhile: still mergeable.
        r.put_file("main", "b.yaml", b"x".to_vec(), None, "other", "bob", now)
            .unwrap();
        let n = r
            .open_pull("bump", "shop:promote", "main", "", now)
            .unwrap();
        assert_eq!(
            r.open_pull("bump", "promote", "main", "", now)
                .unwrap_err()
                .status,
            422
        );
        assert_eq!(r.file("main", "a.yaml").unwrap().0, b"v1");
        let sha = r.merge_pull(n, None, "merge", now).unwrap();
        assert_eq!(r.refs["main"], sha);
        assert_eq!(r.file("main", "a.yaml").unwrap().0, b"v2");
        assert_eq!(r.file("main", "b.yaml").unwrap().0, b"x");
        assert_eq!(r.merge_pull(n, None, "merge", now).unwrap_err().status, 405);
        assert_eq!(r.log("main").len(), 4);
    }
}
