//! `packaging/systemd/`: the units use only directives (and values) that systemd 219 — XCP-ng 8's
//! dom0, CentOS 7's systemd — accepts, as `Type=notify` services with a watchdog; the example
//! configs load with the real loaders; the README's install steps name files that exist.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Directives systemd 219 knows, per section, from its unit-file parser table
/// (`src/core/load-fragment-gperf.gperf.m4` of systemd 219 as CentOS 7 ships it).
const SYSTEMD_219: &[(&str, &[&str])] = &[
    (
        "Unit",
        &[
            "Description",
            "Documentation",
            "Requires",
            "Requisite",
            "Wants",
            "BindsTo",
            "Conflicts",
            "Before",
            "After",
            "OnFailure",
            "PartOf",
            "RequiresMountsFor",
            "StopWhenUnneeded",
            "DefaultDependencies",
            "JobTimeoutSec",
            "ConditionPathExists",
            "ConditionPathIsDirectory",
            "ConditionFileNotEmpty",
            "AssertPathExists",
        ],
    ),
    (
        "Service",
        &[
            "Type",
            "NotifyAccess",
            "ExecStartPre",
            "ExecStart",
            "ExecStartPost",
            "ExecReload",
            "ExecStop",
            "ExecStopPost",
            "Restart",
            "RestartSec",
            "TimeoutSec",
            "TimeoutStartSec",
            "TimeoutStopSec",
            "WatchdogSec",
            "StartLimitInterval",
            "StartLimitBurst",
            "RestartPreventExitStatus",
            "SuccessExitStatus",
            "PIDFile",
            "RemainAfterExit",
            "PermissionsStartOnly",
            "WorkingDirectory",
            "RootDirectory",
            "User",
            "Group",
            "SupplementaryGroups",
            "UMask",
            "Environment",
            "EnvironmentFile",
            "StandardOutput",
            "StandardError",
            "SyslogIdentifier",
            "CapabilityBoundingSet",
            "NoNewPrivileges",
            "SystemCallFilter",
            "SystemCallArchitectures",
            "RestrictAddressFamilies",
            "LimitNOFILE",
            "LimitNPROC",
            "LimitCORE",
            "ReadWriteDirectories",
            "ReadOnlyDirectories",
            "InaccessibleDirectories",
            "PrivateTmp",
            "PrivateNetwork",
            "PrivateDevices",
            "ProtectSystem",
            "ProtectHome",
            "MountFlags",
            "RuntimeDirectory",
            "RuntimeDirectoryMode",
            "KillMode",
            "KillSignal",
            "SendSIGKILL",
            "Slice",
            "CPUAccounting",
            "MemoryAccounting",
            "MemoryLimit",
            "TasksMax",
        ],
    ),
    ("Install", &["WantedBy", "RequiredBy", "Alias", "Also"]),
];

/// Values systemd 219 accepts where later versions added more (`ProtectSystem=strict` came in
/// 232, `ProtectHome=tmpfs` in 238, `Restart=` and `Type=` are listed for completeness).
const VALUES_219: &[(&str, &[&str])] = &[
    ("ProtectSystem", &["yes", "no", "true", "false", "full"]),
    ("ProtectHome", &["yes", "no", "true", "false", "read-only"]),
    (
        "Type",
        &["simple", "forking", "oneshot", "dbus", "notify", "idle"],
    ),
    ("NotifyAccess", &["none", "main", "all"]),
    (
        "Restart",
        &[
            "no",
            "on-success",
            "on-failure",
            "on-abnormal",
            "on-watchdog",
            "on-abort",
            "always",
        ],
    ),
];

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("packaging/systemd")
}

/// `section → [(key, value)]` of a unit file.
fn parse_unit(text: &str) -> BTreeMap<String, Vec<(String, String)>> {
    let mut sections: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.to_string();
            continue;
        }
        let (key, value) = line.split_once('=').expect("a unit line is KEY=VALUE");
        sections
            .entry(current.clone())
            .or_default()
            .push((key.trim().to_string(), value.trim().to_string()));
    }
    sections
}

#[test]
fn units_use_only_what_systemd_219_accepts() {
    for unit in ["xenpool-agent.service", "xenpool-serve.service"] {
        let text = std::fs::read_to_string(packaging().join(unit)).expect("unit file");
        let sections = parse_unit(&text);
        for (section, entries) in &sections {
            let known = SYSTEMD_219
                .iter()
                .find(|(s, _)| s == section)
                .unwrap_or_else(|| {
                    panic!("{unit}: section [{section}] is not one systemd 219 knows")
                })
                .1;
            for (key, value) in entries {
                assert!(
                    known.contains(&key.as_str()),
                    "{unit}: [{section}] {key}= is not a systemd 219 directive"
                );
                if let Some((_, values)) = VALUES_219.iter().find(|(k, _)| k == key) {
                    assert!(
                        values.contains(&value.as_str()),
                        "{unit}: {key}={value} is not accepted by systemd 219 (it takes {values:?})"
                    );
                }
            }
        }
        let service: BTreeMap<&str, &str> = sections["Service"]
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(service.get("Type"), Some(&"notify"), "{unit}");
        assert_eq!(service.get("Restart"), Some(&"on-failure"), "{unit}");
        assert!(service.contains_key("WatchdogSec"), "{unit}");
        assert!(service.contains_key("NoNewPrivileges"), "{unit}: hardened");
        let exec = service["ExecStart"];
        let config = exec
            .split_whitespace()
            .skip_while(|w| *w != "--config")
            .nth(1)
            .unwrap_or_else(|| panic!("{unit}: ExecStart names a --config file"));
        let example = Path::new(config)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".toml", ".toml.example");
        assert!(
            packaging().join(&example).exists(),
            "{unit} reads {config}; packaging/systemd/{example} shows what goes in it"
        );
    }
}

fn private_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

#[test]
fn example_configs_load_with_the_real_loaders() {
    let dir = tempfile::tempdir().unwrap();
    let token = private_file(dir.path(), "agent.token", "agent-xs1-token\n");
    let password = private_file(dir.path(), "xapi.password", "secret\n");
    let env = [
        ("XENPOOL_AGENT_TOKEN_FILE", token.display().to_string()),
        (
            "XENPOOL_AGENT_XAPI_PASSWORD_FILE",
            password.display().to_string(),
        ),
        (
            "XENPOOL_AGENT_STATE_DIR",
            dir.path().join("state").display().to_string(),
        ),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let agent =
        xenpool::agent::config::AgentConfig::load(&packaging().join("agent.toml.example"), env)
            .unwrap_or_else(|e| panic!("agent.toml.example: {e}"));
    assert_eq!(agent.host, "xs1");

    let flags = xenpool::config::ServeFlags {
        config: Some(packaging().join("serve.toml.example")),
        ..Default::default()
    };
    let serve = xenpool::config::ServeConfig::resolve(&flags, Vec::new())
        .unwrap_or_else(|e| panic!("serve.toml.example: {e}"));
    assert_eq!(serve.listen.to_string(), "127.0.0.1:8774");
    assert_eq!(serve.data_dir, Path::new("/var/lib/xenpool"));
}

#[test]
fn readme_install_steps_name_files_that_exist() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let mentioned: Vec<&str> = readme
        .split(|c: char| c.is_whitespace() || c == '`' || c == '(' || c == ')')
        .filter(|w| w.starts_with("packaging/systemd/") && !w.contains('*'))
        .map(|w| w.trim_end_matches([',', '.', ';', ':']))
        .collect();
    for file in [
        "xenpool-agent.service",
        "xenpool-serve.service",
        "agent.toml.example",
        "serve.toml.example",
    ] {
        assert!(
            mentioned.iter().any(|m| m.ends_with(file)),
            "README's install steps mention packaging/systemd/{file}"
        );
    }
    for path in &mentioned {
        assert!(
            root.join(path).exists(),
            "README names {path}, which does not exist"
        );
    }
}
