//! What the Debian package ships that the binary generates: `--version`, and the hidden
//! `centerscope dist` command's man pages and shell completions (packaging/build-deb.sh).

use crate::common::*;

#[test]
fn version_names_release_commit_and_kernels() {
    let r = run(&["--version"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let line = r.stdout.trim();
    let expected = format!("centerscope {} (git ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&expected), "{line}");
    assert!(
        [
            "kernels: avx512 [",
            "kernels: avx2+fma [",
            "kernels: portable ["
        ]
        .iter()
        .any(|k| line.contains(k)),
        "{line}"
    );
    assert!(line.ends_with("])"), "{line}");
}

#[test]
fn dist_writes_man_pages_for_every_command_and_completions() {
    let dir = tmp();
    let r = run(&["dist", "--out", &dir.path().to_string_lossy()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let man = dir.path().join("man");
    let main = std::fs::read_to_string(man.join("centerscope.1")).expect("centerscope.1");
    assert!(main.contains(".TH centerscope 1"), "not a man page: {main}");
    for sub in ["detect", "bench", "models", "sources"] {
        assert!(
            main.contains(&format!("centerscope\\-{sub}(1)")),
            "centerscope.1 does not list {sub}"
        );
        let page = std::fs::read_to_string(man.join(format!("centerscope-{sub}.1")))
            .unwrap_or_else(|e| panic!("centerscope-{sub}.1: {e}"));
        assert!(page.contains(".SH SYNOPSIS"), "centerscope-{sub}.1");
    }
    let detect = std::fs::read_to_string(man.join("centerscope-detect.1")).expect("detect page");
    assert!(
        detect.contains("\\-\\-threshold"),
        "detect page lacks --threshold"
    );
    // The hidden packaging command stays out of the docs.
    assert!(!man.join("centerscope-dist.1").exists());
    assert!(!main.contains("centerscope\\-dist"));
    let completions = dir.path().join("completions");
    for (file, needle) in [
        ("centerscope.bash", "complete -F"),
        ("_centerscope", "#compdef centerscope"),
        ("centerscope.fish", "complete -c centerscope"),
    ] {
        let text = std::fs::read_to_string(completions.join(file))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(text.contains(needle), "{file} lacks {needle:?}");
        assert!(text.contains("detect"), "{file} does not complete `detect`");
        assert!(!text.contains("dist"), "{file} completes the hidden `dist`");
    }
}
