//! `cargo xtask`: the project's automation, in Rust rather than scattered
//! shell scripts.
//!
//! Layout:
//! - [`tools`]: finds or installs every tool the build needs, cached outside
//!   the clone (`$HOME/.cache/opentelecon`, or `$OPENTELECON_CACHE`).
//! - [`build`]: builds the worker bundle, the client and the media node.
//! - [`dev`]: `cargo xtask dev [--port N]`, runs the system locally.
//! - [`test`]: `cargo xtask test`, every check and test, one summary line.
//! - [`bench`]: `cargo xtask bench`, measurements into `bench/RESULTS.md`.

mod bench;
mod build;
mod dev;
mod test;
mod tools;

use std::process::Command;

const USAGE: &str = "usage:
  cargo xtask dev [--port N]   install what is missing, build, run the system locally
  cargo xtask test             every check and test, browser ones included
  cargo xtask test --e2e NAME  build, then only the end-to-end tests in tests/tests/NAME.rs
  cargo xtask bench [--tiny] [--only SECTION]
                               measure; write bench/RESULTS.md (--tiny: once each, to
                               target/; --only size|cold|join|fanout|forward: to target/)";

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("dev") => {
            let mut port = 8787u16;
            let mut rest = args[1..].iter();
            while let Some(arg) = rest.next() {
                match arg.as_str() {
                    "--port" => {
                        let v = rest
                            .next()
                            .ok_or_else(|| anyhow::anyhow!("--port needs a number"))?;
                        port = v
                            .parse()
                            .map_err(|_| anyhow::anyhow!("--port {v}: not a port number"))?;
                    }
                    other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
                }
            }
            dev::run(port)
        }
        Some("bench") => {
            let mut tiny = false;
            let mut only = None;
            let mut rest = args[1..].iter();
            while let Some(a) = rest.next() {
                match a.as_str() {
                    "--tiny" => tiny = true,
                    "--only" => {
                        only =
                            Some(rest.next().ok_or_else(|| {
                                anyhow::anyhow!("--only needs a section\n{USAGE}")
                            })?);
                    }
                    other => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
                }
            }
            bench::run(tiny, only.map(String::as_str))
        }
        Some("test") => match args.get(1).map(String::as_str) {
            None => test::run_all(),
            Some("--e2e") => {
                let name = args
                    .get(2)
                    .ok_or_else(|| anyhow::anyhow!("--e2e needs a test file name\n{USAGE}"))?;
                test::run_one(name, &args[3..])
            }
            Some(other) => anyhow::bail!("unknown argument {other:?}\n{USAGE}"),
        },
        _ => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    }
}

/// Runs `cmd`, echoing it, and fails if it fails.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    eprintln!("$ {}", show(cmd));
    let status = cmd
        .status()
        .map_err(|e| anyhow::anyhow!("starting {}: {e}", show(cmd)))?;
    if !status.success() {
        anyhow::bail!("`{}` failed: {status}", show(cmd));
    }
    Ok(())
}

/// A command as a person would type it.
pub(crate) fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}
