# corpus: read-write
builtins.readFile (builtins.fetchurl { url = "file://${toString ./data/no-newline.txt}"; sha256 = "sha256-qH4UXFZhdOVCYEd3B0qIDZJWXboFGfh4QAK6nf9q7OM="; })
