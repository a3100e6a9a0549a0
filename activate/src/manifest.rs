//! The activation manifest: what a generation asks activation (and its init) to make true.
//!
//! The builder writes it as `activation.json` in every toplevel (see the builder's `toplevel`
//! module for how each field is made from the configuration); activation and strata-init
//! read it. Every list is sorted, so equal configurations give byte-equal manifests. A reader
//! refuses a version other than [`MANIFEST_VERSION`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The format's version.
pub const MANIFEST_VERSION: u32 = 1;

/// A manifest that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not JSON, or not this format (serde's message names the field).
    #[error("malformed activation manifest: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "malformed activation manifest: version {0} is not supported (this strata reads version \
         {MANIFEST_VERSION})"
    )]
    Version(u64),
    #[error("malformed activation manifest: no `version'")]
    NoVersion,
}

/// What activation reads; see the module documentation for every field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivationManifest {
    pub version: u32,
    pub host_name: String,
    pub time_zone: Option<String>,
    pub state_version: String,
    pub mutable_users: bool,
    pub users: Vec<ManifestUser>,
    pub groups: Vec<ManifestGroup>,
    pub etc: Vec<ManifestEtcEntry>,
    pub services: BTreeMap<String, Service>,
    /// How the machine boots: the boot loader and its menu.
    #[serde(default)]
    pub boot_loader: BootLoader,
    /// The file systems, sorted by mount point (stage 1 mounts `/`, stage 2 the others).
    #[serde(default)]
    pub file_systems: Vec<ManifestFileSystem>,
    /// The programs copied to `/run/wrappers/bin` with owner, mode and capabilities
    /// ([`crate::wrappers`]), sorted by program name.
    #[serde(default)]
    pub wrappers: Vec<ManifestWrapper>,
    /// Swap devices and files, in the configuration's order ([`crate::swap`]).
    #[serde(default)]
    pub swap_devices: Vec<ManifestSwap>,
    /// The console's binary keymap (`console.keyMap` compiled by `loadkeys -b`), a store
    /// file stage 2 loads at boot; absent for the kernel's own layout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console_key_map: Option<String>,
    /// The ports the machine's SSH server listens on (`services.openssh.ports` when enabled):
    /// `strata build-vm` forwards the first. Activation does not read it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_ports: Vec<u16>,
}

/// A swap device or file (`swapDevices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestSwap {
    /// An absolute path: a device or a file.
    pub device: String,
    /// MiB of a swap file to create when `device` does not exist.
    pub size: Option<u64>,
    /// `swapon`'s priority (0 to 32767); `None`: the kernel's default.
    pub priority: Option<u32>,
    /// The label a created swap file carries.
    pub label: Option<String>,
}

/// A program of `/run/wrappers/bin`: a copy of `source` with its own owner, mode and file
/// capabilities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestWrapper {
    /// The file name in `/run/wrappers/bin`.
    pub program: String,
    /// The logical path of the program copied (in the generation's closure).
    pub source: String,
    /// User and group names, resolved against the machine's user database at activation.
    pub owner: String,
    pub group: String,
    /// The copy's mode, setuid and setgid bits included.
    pub mode: u32,
    /// File capabilities (`security.capability`), or none.
    pub capabilities: Option<Capabilities>,
}

/// File capabilities: the permitted and inheritable sets as bit masks (bit n is capability
/// n, as `capabilities(7)` numbers them), and whether they are effective at exec.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Capabilities {
    pub permitted: u64,
    pub inheritable: u64,
    pub effective: bool,
}

/// The boot loader a generation asks for, and how its menu looks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BootLoader {
    /// `systemd-boot` or `grub`.
    pub kind: String,
    /// Seconds before the default boots; `None` waits for the user.
    pub timeout: Option<u32>,
    /// The most generations the menu lists.
    pub configuration_limit: Option<u32>,
    /// systemd-boot's `console-mode`.
    pub console_mode: String,
    /// GRUB for UEFI as well as BIOS.
    pub efi_support: bool,
    /// Disks GRUB's BIOS boot code goes to (`nodev`: none).
    pub devices: Vec<String>,
    /// The kernel console includes a serial port, so the menu goes there too.
    pub serial: bool,
    /// Where the boot files go (the EFI system partition's mount point).
    pub boot_dir: String,
}

impl Default for BootLoader {
    fn default() -> BootLoader {
        BootLoader {
            kind: "systemd-boot".into(),
            timeout: Some(5),
            configuration_limit: None,
            console_mode: "keep".into(),
            efi_support: true,
            devices: Vec::new(),
            serial: false,
            boot_dir: "/boot".into(),
        }
    }
}

/// A file system mounted besides `/`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestFileSystem {
    pub mount_point: String,
    /// A device path, `/dev/disk/by-label/...`, `LABEL=`, `UUID=` or `PARTUUID=`.
    pub device: String,
    pub fs_type: String,
    pub options: Vec<String>,
}

/// A user account, with its password sources (never a clear-text password).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestUser {
    pub name: String,
    pub uid: Option<u32>,
    pub group: String,
    pub extra_groups: Vec<String>,
    pub description: String,
    pub home: String,
    pub create_home: bool,
    pub shell: String,
    pub is_normal_user: bool,
    pub is_system_user: bool,
    /// Set on every activation.
    pub password: Option<PasswordSource>,
    /// Set only when the user is created.
    pub initial_password: Option<PasswordSource>,
    pub authorized_keys: Vec<String>,
}

/// Where a user's password hash comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum PasswordSource {
    /// A crypt(3) hash, and the option it was made from.
    Hash { hash: String, option: String },
    /// A file holding the hash, read at activation.
    HashFile { path: String },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestGroup {
    pub name: String,
    pub gid: Option<u32>,
    pub members: Vec<String>,
}

/// One file (or link) of `/etc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManifestEtcEntry {
    pub target: String,
    /// `symlink` or four octal digits.
    pub mode: String,
    pub user: String,
    pub group: String,
    /// What `etc/<target>` is made from (an absolute path, a store path but for `localtime`).
    pub source: String,
}

impl ActivationManifest {
    /// The JSON form: pretty-printed, with a final newline.
    pub fn to_json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }

    /// Reads a manifest, refusing versions other than [`MANIFEST_VERSION`].
    pub fn from_json(json: &str) -> Result<ActivationManifest, ManifestError> {
        let v: serde_json::Value = serde_json::from_str(json)?;
        match v.get("version").and_then(serde_json::Value::as_u64) {
            Some(n) if n == u64::from(MANIFEST_VERSION) => {}
            Some(n) => return Err(ManifestError::Version(n)),
            None => return Err(ManifestError::NoVersion),
        }
        Ok(serde_json::from_value(v)?)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Service {
    pub enable: bool,
    pub description: String,
    pub wanted_by: Vec<String>,
    pub after: Vec<String>,
    pub requires: Vec<String>,
    pub wants: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub path: Vec<String>,
    pub script: String,
    pub pre_start: String,
    pub restart_if_changed: bool,
    /// A changed service is reloaded with its new `ExecReload` instead of restarted.
    #[serde(default)]
    pub reload_if_changed: bool,
    /// Hashes of the reload triggers: a change of any makes a switch reload the service.
    pub reload_triggers: Vec<String>,
    pub service_config: ServiceConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(non_snake_case)]
pub struct ServiceConfig {
    pub ExecStart: Option<String>,
    pub ExecReload: Option<String>,
    pub ExecStop: Option<String>,
    pub Type: String,
    /// A `oneshot` that finished successfully stays active until stopped.
    #[serde(default)]
    pub RemainAfterExit: bool,
    pub Restart: String,
    pub RestartSec: String,
    pub User: String,
    pub Group: Option<String>,
    pub WorkingDirectory: Option<String>,
}
