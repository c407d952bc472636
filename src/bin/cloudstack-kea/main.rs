//! cloudstack-kea: the hook's index and prefix rule on the command line.
//!
//!   cloudstack-kea check  --config config.json
//!   cloudstack-kea lookup --config config.json (MAC | --prefix PREFIX)
//!   cloudstack-kea render --config config.json --keacfg kea-dhcp6.conf
//!
//! `config.json` holds the hook's parameters (the same keys, checked the same way).
/// println! that stops quietly when stdout is gone (`cloudstack-kea render | head`).
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

mod check;
mod cloud;
mod lookup;
mod render;

use std::process::ExitCode;

const USAGE: &str = "\
cloudstack-kea: CloudStack NICs and their delegated prefixes, as the Kea hook sees them

usage:
  cloudstack-kea check  --config FILE                      validate parameters, read the API once, report
  cloudstack-kea lookup --config FILE MAC|--prefix PREFIX  the NIC and the prefix it gets, or why not
  cloudstack-kea render --config FILE --keacfg FILE        Kea config with one IA_PD reservation per NIC
  cloudstack-kea COMMAND --help                            more about one command

FILE for --config holds the hook's parameters as JSON (the \"parameters\" map of the hook entry).
Exit status: 0 fine, 1 a problem was found, 2 the command could not run.";

/// Parsed `--name value` options and free arguments of one subcommand.
pub struct Args {
    options: Vec<(String, String)>,
    pub free: Vec<String>,
    pub help: bool,
}

impl Args {
    fn parse(raw: &[String], takes_value: &[&str]) -> Result<Args, String> {
        let mut args = Args { options: Vec::new(), free: Vec::new(), help: false };
        let mut i = 0;
        while i < raw.len() {
            let arg = &raw[i];
            if arg == "--help" || arg == "-h" {
                args.help = true;
            } else if takes_value.contains(&arg.as_str()) {
                let value = raw.get(i + 1).ok_or_else(|| format!("{arg} needs a value"))?;
                args.options.push((arg.clone(), value.clone()));
                i += 1;
            } else if arg.starts_with("--") {
                return Err(format!("unknown option {arg}"));
            } else {
                args.free.push(arg.clone());
            }
            i += 1;
        }
        Ok(args)
    }

    /// The value of `--name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.options.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The value of `--name`, which must be given.
    pub fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name).ok_or_else(|| format!("{name} is required"))
    }
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = raw.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let outcome = match command.as_str() {
        "check" => Args::parse(rest, &["--config"]).and_then(|a| run(&a, check::HELP, check::run)),
        "lookup" => Args::parse(rest, &["--config", "--prefix"]).and_then(|a| run(&a, lookup::HELP, lookup::run)),
        "render" => Args::parse(rest, &["--config", "--keacfg"]).and_then(|a| run(&a, render::HELP, render::run)),
        "--help" | "-h" | "help" => {
            out!("{USAGE}");
            Ok(0)
        }
        other => Err(format!("unknown command '{other}'\n\n{USAGE}")),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("cloudstack-kea: {error}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &Args, help: &str, command: fn(&Args) -> Result<u8, String>) -> Result<u8, String> {
    if args.help {
        out!("{help}");
        return Ok(0);
    }
    command(args)
}
