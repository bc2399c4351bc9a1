//! `loadgen`: see the library's note (`lib.rs`).

use loadgen::{drive, parse, usage};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        usage();
    }
    let result = parse(&args).and_then(drive::run);
    match result {
        Ok(report) => match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("loadgen: {e}");
                std::process::exit(1);
            }
        },
        Err(e) => {
            eprintln!("loadgen: {e:#}");
            std::process::exit(1);
        }
    }
}
