//! `kubectl get -w` against the API double: the watch stream kubectl asks for (Table rows).

mod apiserver_common;

use apiserver_common::{kubectl, kubectl_binaries, ok, Bed};
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

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
        // Create once kubectl is watching (it may start slowly on a loaded machine).
        let watches = |bed: &Bed| {
            bed.api
                .audit_log()
                .iter()
                .filter(|e| e.verb == "watch" && e.resource == "configmaps")
                .count()
        };
        let start = std::time::Instant::now();
        while watches(&bed) <= i && start.elapsed() < Duration::from_secs(20) {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(watches(&bed) > i, "kubectl get -w started a watch");
        let name = format!("watched-{i}");
        let args = ["create", "configmap", name.as_str(), "--from-literal=a=b"];
        ok(bin, &args, &kubectl(bin, &kc, &args).await);
        // Read kubectl's output until the new object's row arrives (or 20 s pass).
        let mut reader = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut stdout = String::new();
        let _ = tokio::time::timeout(Duration::from_secs(20), async {
            while let Ok(Some(l)) = reader.next_line().await {
                stdout.push_str(&l);
                stdout.push('\n');
                if l.contains(&name) {
                    break;
                }
            }
        })
        .await;
        child.start_kill().unwrap();
        let out = child.wait_with_output().await.unwrap();
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
