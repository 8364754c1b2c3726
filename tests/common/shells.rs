//! Real shells completing a command line, as they do when a person presses TAB: bash
//! (through bash-completion, like a login shell), zsh (an interactive zsh on a pseudo
//! terminal) and fish (its own completion engine).

use std::path::Path;
use std::process::{Command, Stdio};

/// Which completion script the shell has loaded.
#[derive(Debug, Clone, Copy)]
pub enum Loaded {
    /// kubectl's own (`kubectl completion SHELL`): `kubectl breakglass <TAB>` goes through
    /// kubectl's plugin completion to `kubectl_complete-breakglass`.
    Kubectl,
    /// The plugin's (`kubectl-breakglass completion SHELL`), for `kubectl-breakglass <TAB>`.
    Plugin,
}

impl Loaded {
    fn source(self, shell: &str) -> String {
        match self {
            Loaded::Kubectl => format!("kubectl completion {shell}"),
            Loaded::Plugin => format!("kubectl-breakglass completion {shell}"),
        }
    }
}

/// What bash offers for `line` (completing its last word; a trailing space starts a new one).
pub fn bash(
    bash_completion: &Path,
    env: impl Fn(&mut Command),
    loaded: Loaded,
    line: &str,
) -> Vec<String> {
    let script = format!(
        r#"
source {framework}
source <({source})
command=${{1%% *}}
function=$(complete -p "$command" | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
[ -n "$function" ] || {{ echo "no completion registered for $command" >&2; exit 1; }}
COMP_LINE=$1
COMP_POINT=${{#COMP_LINE}}
read -ra COMP_WORDS <<<"$COMP_LINE"
[[ $COMP_LINE == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_TYPE=9
COMP_KEY=9
COMPREPLY=()
"$function" "$command" "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        framework = bash_completion.display(),
        source = loaded.source("bash"),
    );
    let mut cmd = Command::new("bash");
    env(&mut cmd);
    cmd.args(["--norc", "--noprofile", "-c", &script, "bash", line]);
    words(run(cmd, "bash"))
}

/// What fish offers for `line` (`complete --do-complete`, fish's own engine).
pub fn fish(fish: &Path, env: impl Fn(&mut Command), loaded: Loaded, line: &str) -> Vec<String> {
    let script = format!(
        "{} | source; complete --do-complete $argv[1]",
        loaded.source("fish")
    );
    let mut cmd = Command::new(fish);
    env(&mut cmd);
    cmd.args(["--no-config", "-c", &script, line]);
    words(run(cmd, "fish"))
}

/// The command line zsh leaves after TAB on each of `lines` (an interactive zsh with
/// compinit on a pseudo terminal, driven through zsh/zpty): a unique candidate is
/// inserted, so the line shows what completion chose.
pub fn zsh(
    zsh: &Path,
    dir: &Path,
    env: impl Fn(&mut Command),
    loaded: Loaded,
    lines: &[&str],
) -> Vec<String> {
    let out = dir.join("zsh-buffers");
    let rc = dir.join("zsh-completion.zsh");
    let _ = std::fs::remove_file(&out);
    std::fs::write(
        &rc,
        format!(
            "autoload -U compinit && compinit -u -D\n\
             source <({source})\n\
             dump() {{ print -r -- \"$BUFFER\" >> {out}; BUFFER= }}\n\
             zle -N dump\n\
             bindkey '^X' dump\n",
            source = loaded.source("zsh"),
            out = out.display(),
        ),
    )
    .unwrap();
    // Each line is typed, TAB pressed, then ^X writes the line zsh was left with.
    let mut driver = format!(
        "zmodload zsh/zpty\n\
         zpty z 'ZDOTDIR=/nonexistent zsh -f -i'\n\
         zpty -w z 'source {rc}'\n",
        rc = rc.display()
    );
    for line in lines {
        driver.push_str(&format!("zpty -w -n z {}$'\\t\\x18'\n", zsh_quote(line)));
    }
    driver.push_str(&format!(
        "zpty -w z 'print -r -- ::done >> {out}'\n\
         for i in {{1..300}}; do grep -q '^::done$' {out} 2>/dev/null && break; sleep 0.1; done\n\
         zpty -d z\n",
        out = out.display()
    ));
    let mut cmd = Command::new(zsh);
    env(&mut cmd);
    cmd.args(["-f", "-c", &driver]);
    run(cmd, "zsh");
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let buffers: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(
        buffers.last().map(String::as_str),
        Some("::done"),
        "zsh did not finish: {text}"
    );
    buffers[..buffers.len() - 1].to_vec()
}

fn zsh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn run(mut cmd: Command, shell: &str) -> String {
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    assert!(
        out.status.success(),
        "{shell} failed: {}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Candidates, without descriptions (`value<TAB>description`).
fn words(text: String) -> Vec<String> {
    text.lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
