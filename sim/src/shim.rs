//! The fake `kind` and `docker` executables: any binary that embeds this crate becomes
//! one when invoked under that name (a symlink), and forwards its arguments to the
//! world at `KIND_SIM_CONTROL`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

use crate::fakes::{Invocation, Output};

pub const CONTROL_ENV: &str = "KIND_SIM_CONTROL";
pub const TOOLS: &[&str] = &["kind", "docker"];

/// The tool this process was started as, if it is one of the fakes.
pub fn invoked_as() -> Option<&'static str> {
    let argv0 = std::env::args_os().next()?;
    let name = Path::new(&argv0).file_name()?.to_str()?.to_string();
    TOOLS.iter().copied().find(|t| *t == name)
}

/// Run as the fake tool and return the process exit code.
pub fn run(tool: &str) -> i32 {
    let Ok(addr) = std::env::var(CONTROL_ENV) else {
        eprintln!("{tool} (simulated): {CONTROL_ENV} is not set; start one with `cargo xtask sim`");
        return 2;
    };
    let env = ["KUBECONFIG", "HOME"]
        .iter()
        .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?)))
        .collect();
    let invocation = Invocation {
        tool: tool.to_string(),
        args: std::env::args().skip(1).collect(),
        env,
        cwd: std::env::current_dir().ok(),
    };
    match call(&addr, &invocation) {
        Ok(out) => {
            print!("{}", out.stdout);
            eprint!("{}", out.stderr);
            let _ = std::io::stdout().flush();
            out.code
        }
        Err(e) => {
            eprintln!("{tool} (simulated): cannot reach the simulation at {addr}: {e}");
            2
        }
    }
}

fn call(addr: &str, invocation: &Invocation) -> std::io::Result<Output> {
    let mut stream = TcpStream::connect(addr)?;
    let mut line = serde_json::to_string(invocation)?;
    line.push('\n');
    stream.write_all(line.as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream).read_line(&mut answer)?;
    Ok(serde_json::from_str(&answer)?)
}

/// Make `dir` hold `kind` and `docker` links to `exe`, to put first on PATH.
pub fn install(dir: &Path, exe: &Path, tools: &[&str]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    for tool in tools {
        let link = dir.join(tool);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(exe, &link)?;
    }
    Ok(dir.to_path_buf())
}
