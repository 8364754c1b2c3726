//! The krew manifest is a krew-release-bot template; rendered, it must be a
//! valid Plugin manifest that installs this binary on every platform we ship.

use serde_yaml::Value;

fn rendered() -> Value {
    let template = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/krew.yaml"))
        .expect("krew.yaml at the repository root");
    // What krew-release-bot does: substitute the tag, then replace each
    // addURIAndSha call with `uri:` and `sha256:` lines at the same indent.
    let tag = "v9.9.9";
    let mut out = String::new();
    for line in template.replace("{{ .TagName }}", tag).lines() {
        if let Some(start) = line.find("{{addURIAndSha \"") {
            let indent = &line[..start];
            let rest = &line[start + "{{addURIAndSha \"".len()..];
            let uri = &rest[..rest.find('"').expect("closing quote")];
            out.push_str(&format!(
                "{indent}uri: {uri}\n{indent}sha256: {}\n",
                "0".repeat(64)
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(!out.contains("{{"), "unrendered template left:\n{out}");
    serde_yaml::from_str(&out).expect("rendered krew.yaml is YAML")
}

#[test]
fn renders_to_a_plugin_manifest_for_every_platform() {
    let manifest = rendered();
    assert_eq!(manifest["kind"], "Plugin");
    assert_eq!(manifest["metadata"]["name"], "breakglass");
    assert_eq!(manifest["spec"]["version"], "v9.9.9");
    let platforms = manifest["spec"]["platforms"]
        .as_sequence()
        .expect("platforms");
    let mut seen = Vec::new();
    for p in platforms {
        let labels = &p["selector"]["matchLabels"];
        let (os, arch) = (
            labels["os"].as_str().unwrap(),
            labels["arch"].as_str().unwrap(),
        );
        seen.push(format!("{os}/{arch}"));
        let uri = p["uri"].as_str().expect("uri");
        assert!(
            uri.starts_with("https://") && uri.contains("v9.9.9"),
            "{uri}"
        );
        assert_eq!(p["sha256"].as_str().unwrap().len(), 64);
        let bin = p["bin"].as_str().unwrap();
        let expected = if os == "windows" {
            "kubectl-breakglass.exe"
        } else {
            "kubectl-breakglass"
        };
        assert_eq!(bin, expected);
        let files: Vec<&str> = p["files"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|f| f["from"].as_str().unwrap())
            .collect();
        assert!(
            files.contains(&bin) && files.contains(&"LICENSE"),
            "{files:?}"
        );
    }
    for wanted in [
        "linux/amd64",
        "linux/arm64",
        "darwin/amd64",
        "darwin/arm64",
        "windows/amd64",
    ] {
        assert!(seen.iter().any(|s| s == wanted), "no {wanted} in {seen:?}");
    }
    assert!(std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/LICENSE")).exists());
}
