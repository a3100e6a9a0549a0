# Every builtin is also in scope as __name; a few (fromTOML, derivationStrict,
# scopedImport, fetchTarball, ...) are global without the prefix.
[ (__add 1 2) (__length [ 1 ]) __storeDir (__typeOf __nixPath) (fromTOML "a = 1") (builtins.isFunction derivationStrict) (__typeOf __currentTime) ]
