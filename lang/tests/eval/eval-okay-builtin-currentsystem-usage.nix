# Typical use: pick per-system values.
let table = { x86_64-linux = "linux64"; aarch64-linux = "arm64"; }; in [ (table.${builtins.currentSystem} or "unknown") (builtins.typeOf builtins.currentSystem) ]
