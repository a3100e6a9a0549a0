//! A machine laid out for an image ([`Staged`], made by [`crate::assemble::stage`]) and the
//! identifiers its image takes from the toplevel's hash ([`ImageIds`]): what every format's
//! writer reads.

use std::path::PathBuf;

use strata_activate::manifest::ActivationManifest;
use strata_store::StorePath;

use crate::gpt::{self, Guid};
use crate::grub;

/// Identifiers derived from the toplevel's hash.
#[derive(Debug, Clone)]
pub struct ImageIds {
    seed: Vec<u8>,
}

impl ImageIds {
    pub fn new(toplevel: &StorePath) -> ImageIds {
        ImageIds {
            seed: toplevel.hash_part().as_bytes().to_vec(),
        }
    }

    pub fn guid(&self, what: &str) -> Guid {
        gpt::derive_guid(&self.seed, what)
    }

    /// A UUID in text form (lower case, as file systems print them).
    pub fn uuid(&self, what: &str) -> String {
        self.guid(what).to_string().to_lowercase()
    }

    /// A 32-bit serial number.
    pub fn serial(&self, what: &str) -> u32 {
        let g = self.guid(what).to_text_order();
        u32::from_be_bytes([g[0], g[1], g[2], g[3]])
    }
}

/// A staged machine: see the module documentation.
#[derive(Debug)]
pub struct Staged {
    /// Removed when dropped.
    pub work: tempfile::TempDir,
    pub root: PathBuf,
    pub esp: PathBuf,
    pub manifest: ActivationManifest,
    /// GRUB's BIOS boot code for a disk, when GRUB is the boot loader.
    pub bios: Option<grub::BiosBoot>,
    /// GRUB's BIOS files for a medium, for an ISO.
    pub iso: Option<grub::IsoBoot>,
    /// The root file system's label and the ESP's (for an ISO, both the medium's).
    pub root_label: String,
    pub esp_label: String,
    pub warnings: Vec<String>,
}

/// The label a `/dev/disk/by-label/X` or `LABEL=X` device names.
pub fn label_of(device: &str) -> Option<String> {
    device
        .strip_prefix("/dev/disk/by-label/")
        .or_else(|| device.strip_prefix("LABEL="))
        .map(str::to_owned)
}
