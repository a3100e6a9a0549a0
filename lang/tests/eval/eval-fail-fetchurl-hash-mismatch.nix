# corpus: read-write
builtins.fetchurl { url = "file://${toString ./data/hello.txt}"; sha256 = "0000000000000000000000000000000000000000000000000000"; }
