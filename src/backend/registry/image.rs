//! Image-level helpers shared by the registry client and the simulated registry: image references,
//! natural tag order, sha256 digests, and the small OCI image the seeders push.
use sha2::Digest as _;
use std::cmp::Ordering;

/// Orders tags like people read them: digit runs compare as numbers (`v2` < `v10`).
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (mut x, mut y) = (a.as_bytes(), b.as_bytes());
    while !x.is_empty() && !y.is_empty() {
        if x[0].is_ascii_digit() && y[0].is_ascii_digit() {
            let nx = x.iter().take_while(|c| c.is_ascii_digit()).count();
            let ny = y.iter().take_while(|c| c.is_ascii_digit()).count();
            let (dx, dy) = (&x[..nx], &y[..ny]);
            let tx: &[u8] = &dx[dx.iter().take_while(|c| **c == b'0').count()..];
            let ty: &[u8] = &dy[dy.iter().take_while(|c| **c == b'0').count()..];
            let o = tx.len().cmp(&ty.len()).then(tx.cmp(ty));
            if o != Ordering::Equal {
                return o;
            }
            x = &x[nx..];
            y = &y[ny..];
        } else {
            if x[0] != y[0] {
                return x[0].cmp(&y[0]);
            }
            x = &x[1..];
            y = &y[1..];
        }
    }
    x.len().cmp(&y.len()).then(a.cmp(b))
}

pub fn sha256_digest(data: &[u8]) -> String {
    let d = sha2::Sha256::digest(data);
    let mut s = String::with_capacity(71);
    s.push_str("sha256:");
    for b in d {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// A container image reference split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// Registry host (`127.0.0.1:5000`, `ghcr.io`); `None` for Docker Hub short names.
    pub host: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl ImageRef {
    /// Parses `[host[:port]/]repo[:tag][@sha256:…]`, as the board reads container images.
    pub fn parse(image: &str) -> Option<ImageRef> {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d.to_string())),
            None => (image, None),
        };
        let (host, path) = match rest.split_once('/') {
            Some((h, p)) if h.contains('.') || h.contains(':') || h == "localhost" => {
                (Some(h.to_string()), p)
            }
            _ => (None, rest),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_string(), Some(t.to_string())),
            _ => (path.to_string(), None),
        };
        (!repository.is_empty()).then_some(ImageRef {
            host,
            repository,
            tag,
            digest,
        })
    }
}

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// An empty gzip stream: the smallest valid layer.
pub const EMPTY_GZIP: &[u8] = &[
    0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0,
];

/// An image config whose label makes each image's digest distinct.
pub fn image_config(label: &str) -> Vec<u8> {
    serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Labels": {"build": label}},
        "rootfs": {"type": "layers", "diff_ids": []},
    })
    .to_string()
    .into_bytes()
}

pub fn oci_manifest(config: &str, config_size: usize, layer: &str, layer_size: usize) -> Vec<u8> {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config, "size": config_size},
        "layers": [{"mediaType": OCI_LAYER, "digest": layer, "size": layer_size}],
    })
    .to_string()
    .into_bytes()
}

/// A one-layer OCI image whose config carries `label`, and its digests (the same label, the same
/// digest): what the simulated registry and the tests push.
pub struct SmallImage {
    pub config: Vec<u8>,
    pub config_digest: String,
    pub layer_digest: String,
    pub manifest: Vec<u8>,
    pub digest: String,
}

impl SmallImage {
    pub fn new(label: &str) -> SmallImage {
        let config = image_config(label);
        let config_digest = sha256_digest(&config);
        let layer_digest = sha256_digest(EMPTY_GZIP);
        let manifest = oci_manifest(
            &config_digest,
            config.len(),
            &layer_digest,
            EMPTY_GZIP.len(),
        );
        let digest = sha256_digest(&manifest);
        SmallImage {
            config,
            config_digest,
            layer_digest,
            manifest,
            digest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_refs() {
        let r = ImageRef::parse("127.0.0.1:5000/shop/web:a1f3c2d").unwrap();
        assert_eq!(r.host.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(r.repository, "shop/web");
        assert_eq!(r.tag.as_deref(), Some("a1f3c2d"));
        let r = ImageRef::parse("nginx:1.25@sha256:abc").unwrap();
        assert_eq!((r.host, r.repository.as_str()), (None, "nginx"));
        assert_eq!(r.digest.as_deref(), Some("sha256:abc"));
        let r = ImageRef::parse("localhost/app").unwrap();
        assert_eq!((r.host.as_deref(), r.tag), (Some("localhost"), None));
    }

    #[test]
    fn natural_order() {
        let mut v = vec!["v10", "v2", "latest", "v1", "v02"];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(v, vec!["latest", "v1", "v02", "v2", "v10"]);
    }

    #[test]
    fn digest() {
        assert_eq!(
            sha256_digest(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
