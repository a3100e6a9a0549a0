//! strata-images: partition tables, FAT, ext4, squashfs/ISO, qcow2 and tar; the layout of
//! each image format.
//!
//! Must not: need root, loop devices or a VM.
//!
//! Status: not yet written; it arrives with its own issue.
