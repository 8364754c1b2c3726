//! `kubectl get -w` against the API double: the watch stream kubectl asks for (Table rows).

mod apiserver_common;

use apiserver_common::{kubectl, kubectl_binaries, ok, Bed};
use std::time::Duration;

#[tokio::test]
async fn kubectl_get_watch_prints_new_objects() {
    let bed = Bed::start().await.unwrap();
    let kc = bed.admin_kubeconfig();
    for (i, bin) in kubectl_binaries().iter().enumerate() {
        let home = bed.dir.path().join(format!("watch-home-{i}"));
        std::fs::create_dir_all(&home).unwrap();
        let mut child = tokio::process::Command::new(bin)
            .args(["get", "configmaps", "-w", "--output-watch-events"])
            .env_clear()
            .env("HOME", &home)
            .env("KUBECONFIG", &kc)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let name = format!("watched-{i}");
        let args = ["create", "configmap", name.as_str(), "--from-literal=a=b"];
        ok(bin, &args, &kubectl(bin, &kc, &args).await);
        tokio::time::sleep(Duration::from_millis(1000)).await;
        child.start_kill().unwrap();
        let out = child.wait_with_output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let line = stdout.lines().find(|l| l.contains(&name));
        // Server-side columns (NAME DATA AGE) in the watch rows too, so kubectl keeps one header.
        let cells: Vec<&str> = line.unwrap_or_default().split_whitespace().collect();
        assert!(
            cells.len() == 4
                && cells[0] == "ADDED"
                && cells[2] == "1"
                && stdout.matches("EVENT").count() == 1,
            "{} get -w printed:\n{stdout}\nstderr: {stderr}",
            bin.display()
        );
    }
}
