# corpus: json
[ (builtins.fromJSON "0.1") (builtins.fromJSON "1234567.891") (builtins.fromJSON "1e100") (builtins.fromJSON "5e-324") ]
