# corpus: read-write
# Reading the file back needs it to exist: --read-write-mode.
builtins.readFile (builtins.toFile "readback.txt" "contents written to the store\n")
