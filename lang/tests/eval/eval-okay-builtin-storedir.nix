# Even with --store /tmp/chroot, the logical store directory is /nix/store.
[ builtins.storeDir (builtins.typeOf builtins.storeDir) ]
