//! `cargo run --release -p xenpool-xmlrpc --example decode_file -- FILE...`
//!
//! Decodes each XML-RPC response file into a dynamic `Value` repeatedly for about two seconds
//! and prints one JSON line per file: `{"file":…,"bytes":…,"ms_per_doc":…}`. A file that cannot
//! be read or decoded is reported on stderr (file and error) and makes the exit status 1.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use xenpool_xmlrpc::{decode_response, Limits};

const BUDGET: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!("usage: decode_file FILE... (XML-RPC <methodResponse> documents)");
        return ExitCode::from(2);
    }
    let limits = Limits::default();
    let mut failed = false;
    for file in &files {
        let bytes = match std::fs::read(file) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("decode_file: {file}: cannot read: {e}");
                failed = true;
                continue;
            }
        };
        if let Err(e) = decode_response(&bytes, &limits) {
            eprintln!("decode_file: {file}: {e}");
            failed = true;
            continue;
        }
        let start = Instant::now();
        let mut runs = 0u32;
        while runs == 0 || start.elapsed() < BUDGET {
            std::hint::black_box(decode_response(std::hint::black_box(&bytes), &limits).ok());
            runs += 1;
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);
        println!(
            "{}",
            serde_json::json!({ "file": file, "bytes": bytes.len(), "ms_per_doc": (ms * 1000.0).round() / 1000.0 })
        );
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
