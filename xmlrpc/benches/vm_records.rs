//! `cargo bench -p xenpool-xmlrpc`: decode and encode a realistic XAPI `VM.get_all_records`
//! response (bare strings, int64 as strings, `Z` dateTimes, nested maps; ~90 fields per VM as
//! xapi sends them) for 100, 1 000 and 10 000 VMs, against Python's stdlib
//! `xmlrpc.client.loads` / `dumps` on the same bytes in the same run, plus the peak heap use of
//! decoding relative to the document size (counted by a global allocator).
//!
//! `XENPOOL_BENCH_WRITE_DIR=DIR` also writes the generated documents there as
//! `vm_records_<N>.xml` (input for the `decode_file` example); `XENPOOL_BENCH_VMS=100,1000`
//! picks other document sizes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Deserialize;
use xenpool_xmlrpc::{
    decode_response, decode_response_as, encode_response, DateTime, Limits, Response, Value,
};

/// Counts live heap bytes and their high-water mark.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Heap bytes allocated at the peak of `f` beyond what was live before it.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed) - base)
}

#[path = "../tests/support/xorshift.rs"]
mod xorshift;
use xorshift::Rng;

/// XAPI identifiers from the deterministic stream, so every run builds the same document.
trait Ids {
    fn uuid(&mut self) -> String;
    fn opaque_ref(&mut self) -> String;
}

impl Ids for Rng {
    fn uuid(&mut self) -> String {
        let a = self.next();
        let b = self.next();
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xffff,
            b >> 48,
            b & 0xffff_ffff_ffff
        )
    }
    fn opaque_ref(&mut self) -> String {
        format!("OpaqueRef:{}", self.uuid())
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Writes members the way xapi's ocaml-rpc does: compact, bare strings.
struct Rec<'a>(&'a mut String);
impl Rec<'_> {
    fn s(&mut self, k: &str, v: &str) {
        let _ = write!(
            self.0,
            "<member><name>{k}</name><value>{}</value></member>",
            esc(v)
        );
    }
    fn b(&mut self, k: &str, v: bool) {
        let _ = write!(
            self.0,
            "<member><name>{k}</name><value><boolean>{}</boolean></value></member>",
            u8::from(v)
        );
    }
    fn d(&mut self, k: &str, v: f64) {
        let _ = write!(
            self.0,
            "<member><name>{k}</name><value><double>{v}</double></value></member>"
        );
    }
    fn t(&mut self, k: &str, v: &str) {
        let _ = write!(
            self.0,
            "<member><name>{k}</name><value><dateTime.iso8601>{v}</dateTime.iso8601></value></member>"
        );
    }
    fn arr(&mut self, k: &str, items: &[String]) {
        let _ = write!(self.0, "<member><name>{k}</name><value><array><data>");
        for i in items {
            let _ = write!(self.0, "<value>{}</value>", esc(i));
        }
        self.0.push_str("</data></array></value></member>");
    }
    fn map(&mut self, k: &str, pairs: &[(&str, String)]) {
        let _ = write!(self.0, "<member><name>{k}</name><value><struct>");
        for (n, v) in pairs {
            let _ = write!(
                self.0,
                "<member><name>{n}</name><value>{}</value></member>",
                esc(v)
            );
        }
        self.0.push_str("</struct></value></member>");
    }
}

/// The `VM.get_all_records` response for `n` VMs.
fn vm_records(n: usize) -> Vec<u8> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    let hosts: Vec<String> = (0..16).map(|_| rng.opaque_ref()).collect();
    let mut out = String::with_capacity(n * 9000 + 256);
    out.push_str("<?xml version=\"1.0\"?><methodResponse><params><param><value><struct><member><name>Status</name><value>Success</value></member><member><name>Value</name><value><struct>");
    for i in 0..n {
        let vm_ref = rng.opaque_ref();
        let running = i % 3 != 0;
        let mem = (1u64 << 30) * (1 + rng.below(16) as u64);
        let host = &hosts[i % hosts.len()];
        let _ = write!(out, "<member><name>{vm_ref}</name><value><struct>");
        let mut r = Rec(&mut out);
        r.s("uuid", &rng.uuid());
        r.arr(
            "allowed_operations",
            &[
                "changing_dynamic_range",
                "migrate_send",
                "pool_migrate",
                "changing_VCPUs_live",
                "suspend",
                "hard_reboot",
                "hard_shutdown",
                "clean_reboot",
                "clean_shutdown",
                "pause",
                "checkpoint",
                "snapshot",
            ]
            .map(String::from),
        );
        r.map("current_operations", &[]);
        r.s("name_label", &format!("vm-{i:05} (web & <api> tier)"));
        r.s(
            "name_description",
            "Created by OpenStack Nova; tenant \"prod\"",
        );
        r.s("power_state", if running { "Running" } else { "Halted" });
        r.s("user_version", "1");
        r.b("is_a_template", false);
        r.b("is_default_template", false);
        r.s("suspend_VDI", "OpaqueRef:NULL");
        r.s("resident_on", if running { host } else { "OpaqueRef:NULL" });
        r.s("scheduled_to_be_resident_on", "OpaqueRef:NULL");
        r.s("affinity", host);
        r.s("memory_overhead", &(mem / 128).to_string());
        r.s("memory_target", &mem.to_string());
        r.s("memory_static_max", &mem.to_string());
        r.s("memory_dynamic_max", &mem.to_string());
        r.s("memory_dynamic_min", &(mem / 2).to_string());
        r.s("memory_static_min", &(mem / 4).to_string());
        r.map(
            "VCPUs_params",
            &[("weight", "256".into()), ("cap", "0".into())],
        );
        r.s("VCPUs_max", "4");
        r.s("VCPUs_at_startup", "2");
        r.s("actions_after_softreboot", "soft_reboot");
        r.s("actions_after_shutdown", "destroy");
        r.s("actions_after_reboot", "restart");
        r.s("actions_after_crash", "restart");
        r.arr("consoles", &[rng.opaque_ref()]);
        r.arr("VIFs", &[rng.opaque_ref(), rng.opaque_ref()]);
        r.arr(
            "VBDs",
            &[rng.opaque_ref(), rng.opaque_ref(), rng.opaque_ref()],
        );
        r.arr("VUSBs", &[]);
        r.arr("crash_dumps", &[]);
        r.arr("VTPMs", &[]);
        r.s("PV_bootloader", "");
        r.s("PV_kernel", "");
        r.s("PV_ramdisk", "");
        r.s("PV_args", "");
        r.s("PV_bootloader_args", "");
        r.s("PV_legacy_args", "");
        r.s("HVM_boot_policy", "BIOS order");
        r.map(
            "HVM_boot_params",
            &[("order", "dc".into()), ("firmware", "bios".into())],
        );
        r.d("HVM_shadow_multiplier", 1.0);
        r.map(
            "platform",
            &[
                ("timeoffset", "0".into()),
                ("device-model", "qemu-upstream-compat".into()),
                ("nx", "true".into()),
                ("acpi", "1".into()),
                ("apic", "true".into()),
                ("pae", "true".into()),
                ("viridian", "true".into()),
                ("cores-per-socket", "2".into()),
            ],
        );
        r.s("PCI_bus", "");
        r.map(
            "other_config",
            &[
                ("nova_uuid", rng.uuid()),
                ("base_template_name", "Ubuntu Jammy Jellyfish 22.04".into()),
                ("install-methods", "cdrom,nfs,http,ftp".into()),
                ("linux_template", "true".into()),
                ("import_task", rng.opaque_ref()),
                ("mac_seed", rng.uuid()),
                ("vgpu_pci", "".into()),
                ("xenpool:aggregate", format!("agg-{}", i % 7)),
            ],
        );
        r.s(
            "domid",
            &if running {
                (i + 1).to_string()
            } else {
                "-1".into()
            },
        );
        r.s("domarch", "x64");
        r.map("last_boot_CPU_flags", &[("vendor", "GenuineIntel".into()), ("features", "1fcbfbff-f7fa3223-2d93fbff-00000423-00000001-000007ab-00000000-00000000-00001000-ac000400-00000000-00000000-00000000-00000000-00000000-00000000-00000000-00000000".into())]);
        r.b("is_control_domain", false);
        r.s("metrics", &rng.opaque_ref());
        r.s("guest_metrics", &rng.opaque_ref());
        r.s("last_booted_record", "");
        r.s("recommendations", "<restrictions><restriction field=\"memory-static-max\" max=\"1649267441664\"/><restriction field=\"vcpus-max\" max=\"32\"/><restriction field=\"has-vendor-device\" value=\"false\"/><restriction max=\"255\" property=\"number-of-vbds\"/><restriction max=\"7\" property=\"number-of-vifs\"/></restrictions>");
        r.map(
            "xenstore_data",
            &[
                ("vm-data", "".into()),
                ("vm-data/mmio-hole-size", "268435456".into()),
            ],
        );
        r.b("ha_always_run", false);
        r.s(
            "ha_restart_priority",
            if i % 5 == 0 { "restart" } else { "" },
        );
        r.b("is_a_snapshot", false);
        r.s("snapshot_of", "OpaqueRef:NULL");
        r.arr("snapshots", &[]);
        r.t("snapshot_time", "19700101T00:00:00Z");
        r.s("transportable_snapshot_id", "");
        r.map("blobs", &[]);
        r.arr("tags", &[format!("tenant-{}", i % 13), "nova".into()]);
        r.map(
            "blocked_operations",
            &if i % 11 == 0 {
                vec![("migrate_send", "pinned by operator".to_string())]
            } else {
                vec![]
            },
        );
        r.map("snapshot_info", &[]);
        r.s("snapshot_metadata", "");
        r.s("parent", "OpaqueRef:NULL");
        r.arr("children", &[]);
        r.map(
            "bios_strings",
            &[
                ("bios-vendor", "Xen".into()),
                ("bios-version", "".into()),
                ("system-manufacturer", "Xen".into()),
                ("system-product-name", "HVM domU".into()),
                ("system-version", "".into()),
                ("system-serial-number", "".into()),
                ("hp-rombios", "".into()),
                ("oem-1", "Xen".into()),
                (
                    "oem-2",
                    "MS_VM_CERT/SHA1/bdbeb6e0a816d43fa6d3fe8aaef04c2bad9d3e3d".into(),
                ),
            ],
        );
        r.s("protection_policy", "OpaqueRef:NULL");
        r.b("is_snapshot_from_vmpp", false);
        r.s("snapshot_schedule", "OpaqueRef:NULL");
        r.b("is_vmss_snapshot", false);
        r.s("appliance", "OpaqueRef:NULL");
        r.s("start_delay", "0");
        r.s("shutdown_delay", "0");
        r.s("order", "0");
        r.arr("VGPUs", &[]);
        r.arr("attached_PCIs", &[]);
        r.s("suspend_SR", "OpaqueRef:NULL");
        r.s("version", "0");
        r.s("generation_id", "0:0");
        r.s("hardware_platform_version", "2");
        r.b("has_vendor_device", false);
        r.b("requires_reboot", false);
        r.s("reference_label", "");
        r.s("domain_type", "hvm");
        r.map("NVRAM", &[]);
        r.arr("pending_guidances", &[]);
        r.t(
            "start_time",
            &format!(
                "2024{:02}{:02}T{:02}:{:02}:00Z",
                1 + i % 12,
                1 + i % 28,
                i % 24,
                i % 60
            ),
        );
        out.push_str("</struct></value></member>");
    }
    out.push_str("</struct></value></member></struct></value></param></params></methodResponse>");
    out.into_bytes()
}

/// The typed record the agent reads (a subset; the other fields are skipped while decoding).
#[derive(Deserialize)]
#[allow(dead_code)] // read only through black_box
struct VmRecord {
    uuid: String,
    name_label: String,
    name_description: String,
    power_state: PowerState,
    is_a_template: bool,
    is_a_snapshot: bool,
    is_control_domain: bool,
    resident_on: String,
    affinity: String,
    memory_static_max: i64,
    memory_dynamic_max: i64,
    memory_dynamic_min: i64,
    memory_static_min: i64,
    memory_overhead: i64,
    #[serde(rename = "VCPUs_max")]
    vcpus_max: i64,
    #[serde(rename = "VCPUs_at_startup")]
    vcpus_at_startup: i64,
    domid: i64,
    other_config: HashMap<String, String>,
    platform: HashMap<String, String>,
    blocked_operations: HashMap<String, String>,
    allowed_operations: Vec<String>,
    current_operations: HashMap<String, String>,
    ha_restart_priority: String,
    #[serde(rename = "VBDs")]
    vbds: Vec<String>,
    #[serde(rename = "VIFs")]
    vifs: Vec<String>,
    tags: Vec<String>,
    snapshot_time: DateTime,
    start_time: Option<DateTime>,
    #[serde(rename = "HVM_shadow_multiplier")]
    hvm_shadow_multiplier: f64,
}

#[derive(Deserialize)]
enum PowerState {
    Halted,
    Paused,
    Running,
    Suspended,
}

#[derive(Deserialize)]
#[allow(dead_code)] // read only through black_box
struct Envelope {
    #[serde(rename = "Status")]
    status: String,
    #[serde(rename = "Value")]
    value: HashMap<String, VmRecord>,
}

/// The floor for any quick-xml codec: reading every event of `doc` and nothing else.
fn tokenize_only(doc: &[u8]) -> usize {
    let mut reader = quick_xml::Reader::from_reader(doc);
    reader.config_mut().check_end_names = false;
    let mut events = 0;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Eof) | Err(_) => return events,
            Ok(e) => {
                black_box(e);
                events += 1;
            }
        }
    }
}

/// Fastest ms per run of `f` over runs for about `budget` (at least `min_runs`): the minimum
/// is the figure least disturbed by other load on a shared machine, for Rust and Python alike.
fn time_ms(budget: Duration, min_runs: u32, mut f: impl FnMut()) -> f64 {
    let start = Instant::now();
    let mut runs = 0u32;
    let mut best = f64::INFINITY;
    while runs < min_runs || (start.elapsed() < budget && runs < 10_000) {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        runs += 1;
    }
    best
}

/// The interpreter per COMMON.md: `XENPOOL_TEST_PYTHON`, else `<workspace>/.venv/bin/python`.
fn python() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("XENPOOL_TEST_PYTHON") {
        return Some(PathBuf::from(p));
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python");
    venv.exists().then_some(venv)
}

const PY_TIMER: &str = r#"
import sys, time, xmlrpc.client
data = open(sys.argv[1], "rb").read()
budget = float(sys.argv[2])
def bench(f):
    runs, start, best = 0, time.perf_counter(), float("inf")
    while runs < 3 or (time.perf_counter() - start < budget and runs < 10000):
        t = time.perf_counter(); r = f(); best = min(best, time.perf_counter() - t); runs += 1
    return best * 1000, r
loads_ms, (params, _) = bench(lambda: xmlrpc.client.loads(data))
dumps_ms, _ = bench(lambda: xmlrpc.client.dumps(params, methodresponse=True))
print(loads_ms, dumps_ms)
"#;

/// Python's (loads, dumps) ms per document, or the reason there is none.
fn python_ms(py: &PathBuf, doc: &[u8], budget: f64) -> Result<(f64, f64), String> {
    let path = std::env::temp_dir().join(format!(
        "xenpool-bench-{}-{}.xml",
        std::process::id(),
        doc.len()
    ));
    std::fs::write(&path, doc).map_err(|e| format!("writing {}: {e}", path.display()))?;
    let out = Command::new(py)
        .args(["-c", PY_TIMER])
        .arg(&path)
        .arg(budget.to_string())
        .output();
    let _ = std::fs::remove_file(&path);
    let out = out.map_err(|e| format!("running {}: {e}", py.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed: {}",
            py.display(),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next()) {
        (Some(Ok(l)), Some(Ok(d))) => Ok((l, d)),
        _ => Err(format!("unexpected Python output {text:?}")),
    }
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument, if any, is ignored.
    let py = python();
    if py.is_none() {
        eprintln!(
            "\n!!! NO PYTHON BASELINE: neither XENPOOL_TEST_PYTHON nor <workspace>/.venv/bin/python exists.\n\
             !!! Run scripts/setup-venv (or set XENPOOL_TEST_PYTHON). Printing the Rust figures only.\n"
        );
    }
    let limits = Limits::default();
    println!(
        "{:>6} {:>9} | {:>9} {:>9} {:>9} {:>9} | {:>9} {:>9} | {:>7} {:>7} {:>7} | {:>8} {:>8}",
        "VMs",
        "doc MB",
        "Rust dec",
        "typed",
        "Rust enc",
        "qx floor",
        "Py loads",
        "Py dumps",
        "dec ×Py",
        "qx ×Py",
        "enc ×Py",
        "peak/doc",
        "typed/doc"
    );
    let sizes: Vec<usize> = match std::env::var("XENPOOL_BENCH_VMS") {
        Ok(list) => list
            .split(',')
            .map(|n| {
                n.trim()
                    .parse()
                    .expect("XENPOOL_BENCH_VMS: comma-separated VM counts")
            })
            .collect(),
        Err(_) => vec![100, 1_000, 10_000],
    };
    for n in sizes {
        let doc = vm_records(n);
        if let Some(dir) = std::env::var_os("XENPOOL_BENCH_WRITE_DIR") {
            let path = PathBuf::from(dir).join(format!("vm_records_{n}.xml"));
            std::fs::write(&path, &doc)
                .unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
            eprintln!("wrote {}", path.display());
        }
        let mb = doc.len() as f64 / 1e6;
        let budget = Duration::from_millis(if n >= 10_000 { 3000 } else { 2000 });

        let (tree, dec_peak) =
            peak_during(|| decode_response(&doc, &limits).expect("bench document decodes"));
        let Response::Success(tree) = tree else {
            panic!("bench document is a fault")
        };
        let (typed, typed_peak) = peak_during(|| {
            decode_response_as::<Envelope>(&doc, &limits)
                .expect("typed decode")
                .expect("not a fault")
        });
        assert_eq!(typed.value.len(), n);
        drop(typed);
        assert_eq!(
            encode_response(&tree),
            doc,
            "encoder reproduces xapi's bytes"
        );

        let dec = time_ms(budget, 3, || {
            black_box(decode_response(black_box(&doc), &limits).ok());
        });
        let typed_ms = time_ms(budget, 3, || {
            black_box(decode_response_as::<Envelope>(black_box(&doc), &limits).ok());
        });
        let floor = time_ms(budget, 3, || {
            black_box(tokenize_only(black_box(&doc)));
        });
        let enc = time_ms(budget, 3, || {
            black_box(encode_response(black_box(&tree)));
        });
        drop::<Value>(tree);
        let baseline = py
            .as_ref()
            .and_then(|p| match python_ms(p, &doc, budget.as_secs_f64()) {
                Ok(figures) => Some(figures),
                Err(e) => {
                    eprintln!("!!! Python baseline failed for {n} VMs: {e}");
                    None
                }
            });
        let python_columns = match baseline {
            Some((loads, dumps)) => format!(
                "{loads:>9.2} {dumps:>9.2} | {:>7.1} {:>7.1} {:>7.1}",
                loads / dec,
                loads / floor,
                dumps / enc
            ),
            None => format!(
                "{:>9} {:>9} | {:>7} {:>7} {:>7}",
                "n/a", "n/a", "n/a", "n/a", "n/a"
            ),
        };
        println!(
            "{n:>6} {mb:>9.2} | {dec:>9.2} {typed_ms:>9.2} {enc:>9.2} {floor:>9.2} | {python_columns} | {:>8.2} {:>8.2}",
            dec_peak as f64 / doc.len() as f64,
            typed_peak as f64 / doc.len() as f64,
        );
    }
    println!(
        "\nms per document (fastest of >= 3 runs, Rust and Python alike). dec = decode_response to a Value tree; typed = decode_response_as into a \
         #[derive(Deserialize)] VM record struct; enc = encode_response of the tree;\n\
         qx floor = quick-xml 0.42 reading every event and nothing else (the floor for any quick-xml codec).\n\
         ×Py = Python time / Rust time (Python {}: xmlrpc.client.loads / dumps on the same bytes).\n\
         peak/doc = peak heap bytes allocated while decoding / document bytes (the input itself not counted; \
         add 1 for the input held in memory).",
        py.as_ref().map_or("not run".to_string(), |p| p.display().to_string())
    );
}
