# corpus: json
builtins.zipAttrsWith (name: values: { inherit name values; }) [ { a = 1; b = 2; } { a = 3; } { b = 4; c = 5; } ]
