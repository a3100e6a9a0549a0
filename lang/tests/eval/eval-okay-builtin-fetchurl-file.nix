# corpus: read-write
# fetchurl works offline with a file:// URL (the file is copied into the store).
builtins.fetchurl {
  url = "file://${toString ./data/hello.txt}";
  sha256 = "059ae4bf10f0b85449b71f79af7d8b0c328fdae5a0e2975a3333b048d6937278";
}
