//! `xenpool demo`: the control plane on SQLite, a mock XenServer farm and one agent per host in
//! one process, so the whole admin workflow can be tried live.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::demo::{Demo, DemoOptions};

/// Arguments of `xenpool demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Mock XenServer hosts (xs1…xsN).
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    /// Running, diskless VMs per host.
    #[arg(long, default_value_t = 2)]
    vms_per_host: usize,
    /// Multiplies the mock's simulated durations (join restart, migrations, …).
    #[arg(long, default_value_t = 0.1)]
    time_scale: f64,
    /// Where the control plane listens.
    #[arg(long, default_value = "127.0.0.1:8774")]
    listen: String,
    /// Data directory (database, agent journals) [default: a fresh temporary directory].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Starts the stack, prints the JSON ready line and a short guide, and runs until Ctrl-C.
pub fn run(args: DemoArgs) -> ExitCode {
    super::init_tracing();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("xenpool demo: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    rt.block_on(async move {
        let temp;
        let data_dir = match args.data_dir {
            Some(dir) => dir,
            None => match tempfile::Builder::new().prefix("xenpool-demo-").tempdir() {
                Ok(dir) => {
                    temp = dir;
                    temp.path().to_owned()
                }
                Err(e) => {
                    eprintln!("xenpool demo: cannot create a temporary data directory: {e}");
                    return ExitCode::from(3);
                }
            },
        };
        let mut options = DemoOptions::new(data_dir);
        options.farm.hosts = args.hosts;
        options.farm.vms_per_host = args.vms_per_host;
        options.farm.time_scale = args.time_scale;
        options.listen = args.listen;
        let demo = match Demo::start(options).await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("xenpool demo: {e}");
                return ExitCode::from(3);
            }
        };
        println!("{}", demo.ready_line());
        println!("{}", guide(&demo));
        super::shutdown_signal().await;
        demo.shutdown().await;
        ExitCode::SUCCESS
    })
}

fn guide(demo: &Demo) -> String {
    let hosts = demo.hosts();
    let (first, second) = (&hosts[0], hosts.get(1).unwrap_or(&hosts[0]));
    format!(
        "\nxenpool demo is running: control plane {url}, mock XenServer hosts {all}.\n\
         Try, in another shell:\n\
         \n  export XENPOOL_URL={url} XENPOOL_TOKEN={token} XAPI_PW=mock\n\
         \x20 xenpool host-list\n\
         \x20 xenpool aggregate-create pool1 az1\n\
         \x20 xenpool aggregate-set-metadata pool1 hypervisor_pool=true\n\
         \x20 xenpool aggregate-add-host pool1 {first}            # {first} becomes the master\n\
         \x20 xenpool aggregate-add-host pool1 {second}            # refused, naming {second}'s running VMs\n\
         \x20 xenpool aggregate-details pool1\n\
         \x20 xenpool xapi --url {xapi2} --username root --password-env XAPI_PW call VM.get_by_name_label {second}-vm1\n\
         \x20 xenpool xapi --url {xapi2} --username root --password-env XAPI_PW call VM.clean_shutdown OpaqueRef:…\n\
         \x20   (stop each of {second}'s VMs; {second} then joins by itself)\n\
         \x20 xenpool host-update {first} --maintenance enable --dry-run\n\
         \x20 xenpool host-update {first} --maintenance enable\n\
         \x20 xenpool host-update {first} --maintenance disable\n\
         \nNova clients work too: OS_AUTH_TYPE=admin_token OS_ENDPOINT={url}/v2.1 OS_TOKEN=<the admin token>.\n\
         Stop with Ctrl-C.",
        url = demo.url(),
        token = demo.admin_token,
        all = hosts.join(", "),
        xapi2 = demo.farm.host_url(second),
    )
}
