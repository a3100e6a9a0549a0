# Nix 2.8 from Debian on x86-64: "x86_64-linux".
builtins.currentSystem
