//! Shell completions and the man page, checked by the real consumers: bash parses the
//! script and completes a verb with it; groff renders the page without a warning.

use std::process::{Command, Stdio};

fn envctl(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_envctl"))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

/// What bash's completion offers for `envctl WORD` (the script's function, called as
/// bash's `complete` would call it).
fn bash_completes(script: &std::path::Path, word: &str) -> Vec<String> {
    let program = format!(
        "source {}\nfunc=$(complete -p envctl | sed -E 's/.*-F ([^ ]+).*/\\1/')\nCOMP_WORDS=(envctl {word}); COMP_CWORD=1; COMP_LINE=\"envctl {word}\"; COMP_POINT=${{#COMP_LINE}}\n\"$func\" envctl {word} envctl\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        script.display()
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .map(String::from)
        .collect()
}

#[test]
fn the_bash_completion_parses_and_completes_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("envctl.bash");
    std::fs::write(&script, envctl(&["completions", "bash"])).unwrap();
    let check = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(check.status.success(), "{check:?}");
    assert_eq!(bash_completes(&script, "veri"), ["verify"]);
    let both = bash_completes(&script, "do");
    assert!(
        both.contains(&"doctor".to_string()) && both.contains(&"down".to_string()),
        "{both:?}"
    );
    assert!(bash_completes(&script, "zzz").is_empty());
    // A script bash cannot parse is caught by the same check.
    std::fs::write(&script, "_envctl() {\n  if [ x ]; then\n}\n").unwrap();
    assert!(!Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap()
        .status
        .success());
}

#[test]
fn zsh_and_fish_scripts_name_every_verb() {
    for shell in ["zsh", "fish"] {
        let script = envctl(&["completions", shell]);
        for verb in ["up", "verify", "test", "init", "doctor", "man"] {
            assert!(script.contains(verb), "{shell}: no {verb}");
        }
    }
}

/// groff's warnings (all of them, `-ww`) for a roff page.
fn groff_warnings(page: &str) -> String {
    let mut child = Command::new("groff")
        .args(["-man", "-Tutf8", "-ww", "-z"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("groff (groff-base) is installed: ./dev setup-test");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(page.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn the_man_page_renders_without_warnings_and_lists_the_verbs() {
    let page = envctl(&["man"]);
    assert_eq!(groff_warnings(&page), "");
    let out = Command::new("groff")
        .args(["-man", "-Tutf8"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(page.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    for verb in [
        "envctl-up",
        "envctl-test",
        "envctl-init",
        "envctl-completions",
    ] {
        assert!(text.contains(verb), "no {verb}:\n{text}");
    }
    // The same check sees a broken page.
    assert_ne!(groff_warnings(".TH X 1\n.NOSUCHMACRO\n"), "");
}
