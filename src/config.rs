//! The configuration file: serde types for `config.toml`, loading and validation.
//!
//! Every error names the file, the key and what was expected (`ConfigError`), and the binary exits 2.
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {reason}")]
    Unreadable { file: PathBuf, reason: String },
    #[error("{file}: {message}")]
    Parse { file: PathBuf, message: String },
    #[error("{file}: key `{key}`: {expected}")]
    Invalid {
        file: PathBuf,
        key: String,
        expected: String,
    },
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Name shown in the title bar.
    #[serde(default = "default_estate")]
    pub estate: String,
    /// Hide and refuse every mutation.
    #[serde(default)]
    pub read_only: bool,
    /// Kubeconfig file used by environments that do not name their own (default: $KUBECONFIG or ~/.kube/config).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    #[serde(default)]
    pub environments: Vec<Environment>,
    /// Apps to show; when empty, apps are discovered from the Deployments in the environments' namespaces.
    #[serde(default)]
    pub apps: Vec<App>,
    #[serde(default)]
    pub ui: Ui,
    /// Key binding overrides: action name → key or list of keys (see `?` in the console).
    #[serde(default)]
    pub keys: BTreeMap<String, KeyList>,
    /// `[prometheus]`: the Metrics pane's source (absent: the pane shows a hint).
    #[serde(default)]
    pub prometheus: Option<crate::backend::prometheus::PrometheusConfig>,
    /// `[alertmanager]`: the Alerts pane's source (absent: the pane shows a hint).
    #[serde(default)]
    pub alertmanager: Option<crate::backend::alertmanager::AlertmanagerConfig>,
    /// The CI provider (GitHub Actions, Jenkins or GitLab); absent hides the Pipelines pane content.
    #[serde(default)]
    pub ci: Option<crate::backend::ci::CiConfig>,
    /// The OCI registry holding the apps' images.
    #[serde(default)]
    pub registry: Option<crate::backend::registry::RegistryConfig>,
    /// `[ops]`: verification window and regression thresholds, rollout timeout, locks.
    #[serde(default)]
    pub ops: crate::ops::context::OpsConfig,
    /// `[slack]`: optional incoming webhook notified on completion, failure and regression.
    #[serde(default)]
    pub slack: Option<crate::ops::notify::SlackConfig>,
    /// `[cloudflare]`: the production edge (DNS, tunnel, Access) that sunset removes and the board shows.
    #[serde(default)]
    pub cloudflare: Option<crate::backend::cloudflare::CloudflareConfig>,
}

fn default_estate() -> String {
    "estate".into()
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(untagged)]
pub enum KeyList {
    One(String),
    Many(Vec<String>),
}

impl KeyList {
    pub fn keys(&self) -> Vec<String> {
        match self {
            KeyList::One(k) => vec![k.clone()],
            KeyList::Many(v) => v.clone(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// `develop`, `staging`, `production`.
    pub name: String,
    /// Namespace, or a pattern with `{app}` such as `{app}-blue`.
    pub namespace: String,
    /// Kubeconfig context; `in-cluster` for the in-cluster config; absent for the current context.
    #[serde(default)]
    pub context: Option<String>,
    /// Kubeconfig file for this environment (overrides the top-level `kubeconfig`).
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// The branch that feeds this environment.
    #[serde(default)]
    pub branch: Option<String>,
    /// Optional colour label (`blue`, `green`) shown next to the name.
    #[serde(default)]
    pub color: Option<String>,
    /// Protected environments need the app name typed to confirm a mutation.
    #[serde(default)]
    pub protected: bool,
    #[serde(default)]
    pub read_only: bool,
    /// The environment this one is promoted from (`production` ← `staging`).
    #[serde(default)]
    pub promote_from: Option<String>,
    /// `[environments.gitops]`: promote commits to this manifests repository instead of
    /// patching the Deployment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitops: Option<crate::ops::gitops::GitOpsConfig>,
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct App {
    pub name: String,
    /// Deployment name in every environment (default: the app name).
    #[serde(default)]
    pub deployment: Option<String>,
    /// Container names to promote/patch (default: every container).
    #[serde(default)]
    pub containers: Vec<String>,
    /// Registry repository, such as `shop/web`.
    #[serde(default)]
    pub repository: Option<String>,
    /// CI pipeline of this app when it differs from the `[ci]` pattern: GitHub `owner/repo`,
    /// Jenkins job path, or GitLab project.
    #[serde(default)]
    pub pipeline: Option<String>,
}

impl App {
    pub fn deployment_name(&self) -> &str {
        self.deployment.as_deref().unwrap_or(&self.name)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Ui {
    /// Force colours off (also honoured: the NO_COLOR environment variable).
    #[serde(default)]
    pub no_color: bool,
    /// Lines kept per pod log view.
    #[serde(default = "default_log_lines")]
    pub log_lines: usize,
}

impl Default for Ui {
    fn default() -> Self {
        Self {
            no_color: false,
            log_lines: default_log_lines(),
        }
    }
}

fn default_log_lines() -> usize {
    2000
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(file: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|e| ConfigError::Unreadable {
            file: file.to_path_buf(),
            reason: e.to_string(),
        })?;
        Self::parse(&text, file)
    }

    pub fn parse(text: &str, file: &Path) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            file: file.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        config.validate(file)?;
        Ok(config)
    }

    /// The default location: `<platform config dir>/shipdeck/config.toml`.
    pub fn default_path() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "shipdeck")
            .map(|d| d.config_dir().join("config.toml"))
    }

    fn validate(&self, file: &Path) -> Result<(), ConfigError> {
        let invalid = |key: String, expected: &str| ConfigError::Invalid {
            file: file.to_path_buf(),
            key,
            expected: expected.to_string(),
        };
        if self.environments.is_empty() {
            return Err(invalid(
                "environments".into(),
                "at least one [[environments]] entry",
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, env) in self.environments.iter().enumerate() {
            if env.name.trim().is_empty() {
                return Err(invalid(
                    format!("environments[{i}].name"),
                    "a non-empty name",
                ));
            }
            if !seen.insert(env.name.as_str()) {
                return Err(invalid(format!("environments[{i}].name"), "a unique name"));
            }
            if env.namespace.trim().is_empty() {
                return Err(invalid(
                    format!("environments[{i}].namespace"),
                    "a namespace or a pattern such as \"{app}-blue\"",
                ));
            }
            if let Some((key, expected)) = env.gitops.as_ref().and_then(|g| g.problem()) {
                return Err(invalid(format!("environments[{i}].gitops.{key}"), expected));
            }
            if let Some(c) = &env.context
                && c.trim().is_empty()
            {
                return Err(invalid(
                    format!("environments[{i}].context"),
                    "a kubeconfig context name, or \"in-cluster\"",
                ));
            }
        }
        for (i, env) in self.environments.iter().enumerate() {
            if let Some(src) = &env.promote_from
                && !seen.contains(src.as_str())
            {
                return Err(invalid(
                    format!("environments[{i}].promote_from"),
                    "the name of another environment",
                ));
            }
        }
        let mut apps = std::collections::BTreeSet::new();
        for (i, app) in self.apps.iter().enumerate() {
            if app.name.trim().is_empty() || !apps.insert(app.name.as_str()) {
                return Err(invalid(
                    format!("apps[{i}].name"),
                    "a unique, non-empty app name",
                ));
            }
        }
        Ok(())
    }

    pub fn environment(&self, name: &str) -> Option<&Environment> {
        self.environments.iter().find(|e| e.name == name)
    }
}

impl Config {
    /// Checks that every named kubeconfig context exists, so a typo is a configuration error (exit 2)
    /// rather than a pane that never loads.
    pub fn check_contexts(&self, file: &Path) -> Result<(), ConfigError> {
        for (i, env) in self.environments.iter().enumerate() {
            let Some(context) = env.context.as_deref() else {
                continue;
            };
            if context == "in-cluster" {
                continue;
            }
            let key = format!("environments[{i}].context");
            let kubeconfig = match env.kubeconfig.as_ref().or(self.kubeconfig.as_ref()) {
                Some(path) => kube::config::Kubeconfig::read_from(path)
                    .map_err(|e| format!("kubeconfig {}: {e}", path.display())),
                None => kube::config::Kubeconfig::read()
                    .map_err(|e| format!("kubeconfig ($KUBECONFIG or ~/.kube/config): {e}")),
            };
            let kubeconfig = kubeconfig.map_err(|reason| ConfigError::Invalid {
                file: file.to_path_buf(),
                key: key.clone(),
                expected: format!("a context of a readable kubeconfig, but {reason}"),
            })?;
            if !kubeconfig.contexts.iter().any(|c| c.name == context) {
                let known: Vec<&str> = kubeconfig
                    .contexts
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                return Err(ConfigError::Invalid {
                    file: file.to_path_buf(),
                    key,
                    expected: format!(
                        "a context in the kubeconfig; {context:?} is not one of {known:?}"
                    ),
                });
            }
        }
        Ok(())
    }
}

impl Environment {
    /// The namespace for an app (expands `{app}`).
    pub fn namespace_for(&self, app: &str) -> String {
        self.namespace.replace("{app}", app)
    }

    /// Whether the namespace depends on the app (then it is watched per app).
    pub fn namespace_is_pattern(&self) -> bool {
        self.namespace.contains("{app}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(text, Path::new("/etc/shipdeck.toml"))
    }

    #[test]
    fn unknown_key_names_file_and_key() {
        let err = parse("estate = \"x\"\nbogus = 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("/etc/shipdeck.toml"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn wrong_type_names_key() {
        let err = parse("read_only = \"yes\"\n[[environments]]\nname='a'\nnamespace='b'\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("read_only"), "{err}");
    }

    #[test]
    fn missing_environments() {
        let err = parse("estate = \"x\"\n").unwrap_err().to_string();
        assert!(err.contains("`environments`"), "{err}");
    }

    #[test]
    fn promote_from_must_exist() {
        let err = parse("[[environments]]\nname='p'\nnamespace='n'\npromote_from='nope'\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("environments[0].promote_from"), "{err}");
    }

    #[test]
    fn ci_and_registry_sections() {
        let c = parse(
            "[[environments]]\nname='p'\nnamespace='n'\n\
             [[apps]]\nname='web'\npipeline='other/web-svc'\n\
             [ci]\nprovider='jenkins'\nurl='https://ci.example'\njob='shop/{app}'\nuser='deploy'\ntoken_env='JENKINS_TOKEN'\n\
             [registry]\nurl='https://registry.example'\nusername='ci'\npassword_env='REG_PW'\n",
        )
        .unwrap();
        let ci = c.ci.unwrap();
        assert_eq!(ci.provider, crate::backend::ci::ProviderKind::Jenkins);
        assert_eq!(ci.branches, vec!["develop", "staging", "master"]);
        assert_eq!(c.apps[0].pipeline.as_deref(), Some("other/web-svc"));
        assert_eq!(c.registry.unwrap().interval_secs, 60);
        let err =
            parse("[[environments]]\nname='p'\nnamespace='n'\n[ci]\nprovider='circle'\nurl='x'\n")
                .unwrap_err()
                .to_string();
        assert!(err.contains("provider"), "{err}");
    }

    #[test]
    fn missing_context_is_a_config_error() {
        let dir = std::env::temp_dir().join(format!("shipdeck-ctx-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let kc = dir.join("kubeconfig");
        std::fs::write(
            &kc,
            "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'http://127.0.0.1:1'}}]\n\
             users: [{name: u, user: {}}]\ncontexts: [{name: real, context: {cluster: c, user: u}}]\ncurrent-context: real\n",
        )
        .unwrap();
        let text = format!(
            "kubeconfig = {:?}\n[[environments]]\nname='p'\nnamespace='n'\ncontext='real'\n",
            kc
        );
        parse(&text)
            .unwrap()
            .check_contexts(Path::new("c.toml"))
            .unwrap();
        let bad = text.replace("'real'", "'typo'");
        let err = parse(&bad)
            .unwrap()
            .check_contexts(Path::new("c.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environments[0].context") && err.contains("typo") && err.contains("real"),
            "{err}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn gitops_section_and_its_errors() {
        let base = "[[environments]]\nname='production'\nnamespace='shop-blue'\n[environments.gitops]\nurl='https://api.github.com'\nrepo='shop/manifests'\n";
        let c = parse(base).unwrap();
        let g = c.environments[0].gitops.clone().unwrap();
        assert_eq!(g.mode, crate::ops::gitops::GitOpsMode::Commit);
        assert_eq!(g.branch, "main");
        assert_eq!(
            g.path_for("web", "production"),
            "production/web/deployment.yaml"
        );
        let pr = parse(&format!("{base}mode='pull-request'\ntoken_env='GH'\n")).unwrap();
        assert_eq!(
            pr.environments[0].gitops.as_ref().unwrap().mode,
            crate::ops::gitops::GitOpsMode::PullRequest
        );
        for (extra, key) in [
            ("mode='merge'\n", "mode"),
            ("bogus=1\n", "bogus"),
            ("provider='gitlab'\n", "provider"),
        ] {
            let err = parse(&format!("{base}{extra}")).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("/etc/shipdeck.toml"),
                "{err}"
            );
        }
        let err = parse(&base.replace("shop/manifests", "manifests"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("environments[0].gitops.repo"), "{err}");
        assert!(parse(&base.replace("repo='shop/manifests'\n", "")).is_err());
    }

    #[test]
    fn minimal_ok() {
        let c = parse("[[environments]]\nname='p'\nnamespace='{app}-blue'\n").unwrap();
        assert_eq!(c.environments[0].namespace_for("web"), "web-blue");
        assert_eq!(c.ui.log_lines, 2000);
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn example_config_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let config = Config::load(&path).unwrap();
        assert_eq!(config.environments.len(), 3);
        assert_eq!(
            config.environments[2].promote_from.as_deref(),
            Some("staging")
        );
    }

    /// Every commented-out key in the example is real: uncommenting them all still parses.
    #[test]
    fn example_config_commented_keys_are_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let mut tables = 0;
        let uncommented: Vec<String> = text
            .lines()
            .map(|line| {
                let Some(rest) = line.strip_prefix("# ") else {
                    return line.to_string();
                };
                let is_table = rest.starts_with('[') && rest.trim_end().ends_with(']');
                let is_key = rest.split_once(" = ").is_some_and(|(k, _)| {
                    !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                });
                tables += usize::from(is_table);
                if is_table || is_key {
                    rest.to_string()
                } else {
                    line.to_string()
                }
            })
            .collect();
        let config = Config::parse(&uncommented.join("\n"), &path).unwrap();
        assert!(config.prometheus.is_some() && config.alertmanager.is_some());
        assert!(config.ci.is_some() && config.registry.is_some() && config.cloudflare.is_some());
        assert!(config.slack.is_some() && tables >= 6);
        assert!(config.environments[2].gitops.is_some());
    }
}
