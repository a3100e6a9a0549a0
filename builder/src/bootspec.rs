//! The bootspec document `boot.json`: [`bootspec_json`] writes it in bootspec v1 (NixOS
//! RFC 125): the object `org.nixos.bootspec.v1` with `system`, `init`, `initrd` (null when
//! there is none), `kernel`, `kernelParams`, `label` and `toplevel`, and an empty
//! `org.nixos.specialisation.v1`, as NixOS writes it, through the `bootspec` crate's types.
//! `kernelParams` are the configuration's parameters only: as in NixOS, the boot loader adds
//! `init=<init>` itself when it writes an entry. No extensions are written: the crate keeps
//! them in a `HashMap`, whose order varies between runs. [`validate_bootspec`] checks one.
//!
//! Must not: choose the kernel, initrd or parameters (that is [`crate::builtins`]).

use bootspec::generation::Generation;
use bootspec::v1::{BootSpecV1, GenerationV1};
use bootspec::{BootJson, SystemConfigurationRoot};

/// Why a document is not bootspec v1.
#[derive(Debug, thiserror::Error)]
pub enum BootspecError {
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    #[error("{0}")]
    Invalid(String),
}

/// `boot.json` for a generation: `toplevel` is its store path, `kernel` and `initrd` the
/// image files, `init` normally `<toplevel>/init`, `kernel_params` the configuration's
/// parameters (without `init=`, which the boot loader adds), `system` e.g. `x86_64-linux`.
pub fn bootspec_json(
    toplevel: &str,
    kernel: &str,
    initrd: Option<&str>,
    init: &str,
    kernel_params: &[String],
    label: &str,
    system: &str,
) -> String {
    let doc = BootJson {
        generation: Generation::V1(GenerationV1 {
            bootspec: BootSpecV1 {
                label: label.to_owned(),
                kernel: kernel.into(),
                kernel_params: kernel_params.to_vec(),
                init: init.into(),
                initrd: initrd.map(Into::into),
                initrd_secrets: None,
                system: system.to_owned(),
                toplevel: SystemConfigurationRoot(toplevel.into()),
            },
            specialisations: Default::default(),
        }),
        // Empty: the crate keeps extensions in a hash map, whose order would vary.
        extensions: Default::default(),
    };
    // Strings and paths from `&str`: serialising cannot fail.
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

/// Checks that `json` is a bootspec v1 document: the object `org.nixos.bootspec.v1` with every
/// required field of the right type (strings; `kernelParams` a list of strings), absolute
/// paths, and optional fields either absent or of the right type.
pub fn validate_bootspec(json: &str) -> Result<(), BootspecError> {
    let invalid = |m: &str| BootspecError::Invalid(m.to_owned());
    let v: serde_json::Value = serde_json::from_str(json)?;
    let spec = v
        .get("org.nixos.bootspec.v1")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| invalid("no object `org.nixos.bootspec.v1'"))?;
    for key in ["system", "init", "kernel", "label", "toplevel"] {
        let s = spec
            .get(key)
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| BootspecError::Invalid(format!("`{key}' is missing or not a string")))?;
        if key != "system" && key != "label" && !s.starts_with('/') {
            return Err(BootspecError::Invalid(format!(
                "`{key}' is not an absolute path: {s}"
            )));
        }
    }
    let params = spec
        .get("kernelParams")
        .and_then(serde_json::Value::as_array)
        .ok_or_else(|| invalid("`kernelParams' is missing or not a list"))?;
    if !params.iter().all(serde_json::Value::is_string) {
        return Err(invalid("`kernelParams' holds something other than strings"));
    }
    for key in ["initrd", "initrdSecrets"] {
        match spec.get(key) {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) if s.starts_with('/') => {}
            Some(other) => {
                return Err(BootspecError::Invalid(format!(
                    "`{key}' is not an absolute path: {other}"
                )))
            }
        }
    }
    if let Some(s) = v.get("org.nixos.specialisation.v1") {
        if !s.is_object() {
            return Err(invalid("`org.nixos.specialisation.v1' is not an object"));
        }
    }
    serde_json::from_value::<BootJson>(v)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootspec_document() {
        let params = vec!["console=ttyS0,115200".to_owned()];
        let top = "/nix/store/00000000000000000000000000000000-strata-system-saguaro";
        let json = bootspec_json(
            top,
            "/nix/store/11111111111111111111111111111111-linux/bzImage",
            Some("/nix/store/22222222222222222222222222222222-initrd/initrd"),
            &format!("{top}/init"),
            &params,
            "strata-24.11",
            "x86_64-linux",
        );
        validate_bootspec(&json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let spec = &v["org.nixos.bootspec.v1"];
        assert_eq!(
            spec["kernelParams"],
            serde_json::json!(["console=ttyS0,115200"])
        );
        assert_eq!(spec["init"], format!("{top}/init"));
        assert_eq!(spec["toplevel"], top);
        assert!(spec["initrdSecrets"].is_null());
        assert_eq!(v["org.nixos.specialisation.v1"], serde_json::json!({}));
        let parsed: BootJson = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string_pretty(&parsed).unwrap() + "\n", json);

        // No initrd: null, and the document is still valid.
        let json = bootspec_json(top, "/k", None, "/i", &[], "l", "x86_64-linux");
        validate_bootspec(&json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert!(v["org.nixos.bootspec.v1"]["initrd"].is_null());

        // What NixOS's bootspec (RFC 125's example) looks like validates too.
        let rfc = r#"{"org.nixos.bootspec.v1": {"system": "x86_64-linux",
            "init": "/nix/store/xxx-nixos-system-xxx/init",
            "initrd": "/nix/store/xxx-initrd-linux/initrd",
            "initrdSecrets": "/nix/store/xxx-append-secrets/bin/append-initrd-secrets",
            "kernel": "/nix/store/xxx-linux/bzImage", "kernelParams": ["loglevel=4"],
            "label": "NixOS 21.11", "toplevel": "/nix/store/xxx-nixos-system-xxx"},
            "org.nixos.specialisation.v1": {}, "org.nix-community.test": {"foo": "bar"}}"#;
        validate_bootspec(rfc).unwrap();
        let parsed: BootJson = serde_json::from_str(rfc).unwrap();
        assert!(parsed.extensions.contains_key("org.nix-community.test"));

        for bad in [
            r#"{}"#,
            r#"{"org.nixos.bootspec.v1": {"system": "x", "init": "/i", "kernel": "/k", "label": "l", "toplevel": "/t"}}"#,
            r#"{"org.nixos.bootspec.v1": {"system": "x", "init": "i", "kernel": "/k", "kernelParams": [], "label": "l", "toplevel": "/t"}}"#,
            r#"{"org.nixos.bootspec.v1": {"system": "x", "init": "/i", "kernel": "/k", "kernelParams": [1], "label": "l", "toplevel": "/t"}}"#,
        ] {
            assert!(validate_bootspec(bad).is_err(), "{bad}");
        }
    }
}
