//! strata-bootloader-cfg: turns generations (bootspec documents) into systemd-boot and
//! GRUB files and an install plan for an ESP or /boot.
//!
//! Must not: touch disks itself beyond executing its plan.
//!
//! Status: not yet written; it arrives with its own issue.
