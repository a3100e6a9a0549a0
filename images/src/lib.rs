//! strata-images: partition tables, FAT, ext4, squashfs/ISO, qcow2 and tar; the layout of
//! each image format.
//!
//! Every writer works on a regular file at explicit offsets, so that an image is assembled
//! piece by piece in place: [`gpt`] lays out the disk, [`fat`] fills the EFI system
//! partition, and [`grub`] makes GRUB's EFI program and BIOS core (with `grub-mkimage` over the
//! GRUB modules of the system's own packages) and embeds the BIOS boot code; [`iso`] makes a
//! live system's hybrid ISO (squashfs and `xorriso`).
//!
//! Must not: need root, loop devices or a VM, or produce different bytes from the same
//! inputs (GUIDs, serial numbers and timestamps come from the caller).

#![forbid(unsafe_code)]

pub mod assemble;
pub mod error;
pub mod ext4;
pub mod fat;
pub mod gpt;
pub mod grub;
pub mod iso;
pub mod staged;
pub mod tarball;
pub mod tools;
pub mod vm;
