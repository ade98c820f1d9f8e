//! Distribution support: the `--version` text (version, git commit, the kernels' run-time
//! instruction set) and the hidden `centerscope dist --out DIR` command that writes the man
//! pages and shell completions from the clap definitions (used by `packaging/build-deb.sh`).

use crate::kernels::simd::Isa;
use crate::{Error, Result};
use clap::CommandFactory;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The commit the binary was built from (`build.rs`; "unknown" outside a git checkout).
pub const GIT_COMMIT: &str = env!("CENTERSCOPE_GIT_COMMIT");

/// What `centerscope --version` prints after the name, e.g.
/// `0.1.0 (git 1a2b3c4, kernels: avx512 [avx2 avx512f fma])`.
pub fn version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let features = cpu_features();
        format!(
            "{} (git {GIT_COMMIT}, kernels: {} [{}])",
            env!("CARGO_PKG_VERSION"),
            Isa::best().name(),
            if features.is_empty() {
                "baseline".to_string()
            } else {
                features.join(" ")
            }
        )
    })
}

/// The vector extensions of this CPU that the kernels can use.
pub fn cpu_features() -> Vec<&'static str> {
    #[allow(unused_mut)]
    let mut found = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            found.push("avx2");
        }
        if std::arch::is_x86_feature_detected!("avx512f") {
            found.push("avx512f");
        }
        if std::arch::is_x86_feature_detected!("fma") {
            found.push("fma");
        }
    }
    #[cfg(target_arch = "aarch64")]
    found.push("neon");
    found
}

/// Write the man pages and shell completions for packaging.
#[derive(clap::Args, Debug)]
pub struct DistArgs {
    /// Directory to write `man/` (centerscope.1, centerscope-<command>.1) and `completions/`
    /// (centerscope.bash, _centerscope, centerscope.fish) into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// The clap definitions with the plain package version, so the generated files do not depend
/// on the CPU of the machine that generates them.
fn command() -> clap::Command {
    super::Cli::command().version(env!("CARGO_PKG_VERSION"))
}

/// [`command`] without hidden subcommands: clap_complete would otherwise offer `dist`.
fn visible_command() -> clap::Command {
    let full = command();
    let mut cmd = clap::Command::new("centerscope")
        .version(env!("CARGO_PKG_VERSION"))
        .args_conflicts_with_subcommands(true)
        .args(full.get_arguments().cloned())
        .subcommands(full.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    if let Some(about) = full.get_about() {
        cmd = cmd.about(about.clone());
    }
    cmd
}

pub fn run(args: DistArgs) -> Result<()> {
    let man = args.out.join("man");
    let completions = args.out.join("completions");
    for dir in [&man, &completions] {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("creating {}", dir.display()), e))?;
    }
    write_man_pages(&man)?;
    for shell in [
        clap_complete::Shell::Bash,
        clap_complete::Shell::Zsh,
        clap_complete::Shell::Fish,
    ] {
        clap_complete::generate_to(shell, &mut visible_command(), "centerscope", &completions)
            .map_err(|e| Error::io(format!("writing {shell} completions"), e))?;
    }
    println!("wrote {} and {}", man.display(), completions.display());
    Ok(())
}

/// `centerscope.1` (options and the list of commands) plus one `centerscope-<command>.1` per
/// visible subcommand, as git does.
fn write_man_pages(dir: &Path) -> Result<()> {
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .map(civil_date)
        .unwrap_or_default();
    let mut cmd = command().disable_help_subcommand(true).after_long_help(
        "Run `centerscope` without arguments (or double-click Centerscope in the desktop's \
             launcher) to open the window; `centerscope FILE` opens FILE in it. \
             Settings are kept in ~/.local/share/centerscope.",
    );
    cmd.build();
    let mut pages = vec![cmd.clone()];
    pages.extend(cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned());
    for page in pages {
        let man = clap_mangen::Man::new(page)
            .date(date.clone())
            .manual("Centerscope Manual")
            .source(format!("centerscope {}", env!("CARGO_PKG_VERSION")));
        man.generate_to(dir)
            .map_err(|e| Error::io(format!("writing man page in {}", dir.display()), e))?;
    }
    Ok(())
}

/// `YYYY-MM-DD` of a Unix time (UTC), for a reproducible man page date.
fn civil_date(secs: i64) -> String {
    // Howard Hinnant's days-to-civil algorithm.
    let z = secs.div_euclid(86_400) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names_commit_and_kernels() {
        let v = version();
        assert!(v.starts_with(env!("CARGO_PKG_VERSION")), "{v}");
        assert!(v.contains("git ") && v.contains("kernels: "), "{v}");
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(1_700_000_000), "2023-11-14");
        assert_eq!(civil_date(951_782_400), "2000-02-29");
    }
}
