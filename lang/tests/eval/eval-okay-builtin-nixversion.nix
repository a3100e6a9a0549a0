# The version string itself is version-specific: only its type is tested.
[ (builtins.isString builtins.nixVersion) (builtins.compareVersions builtins.nixVersion "2.0" > 0) ]
