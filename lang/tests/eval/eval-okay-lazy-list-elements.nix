# List elements are lazy: length does not force them.
builtins.length [ (throw "a") (abort "b") (1 / 0) ]
