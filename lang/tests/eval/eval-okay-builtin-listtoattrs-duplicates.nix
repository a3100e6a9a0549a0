# With duplicate names, the FIRST occurrence wins.
builtins.listToAttrs [ { name = "x"; value = "first"; } { name = "y"; value = 1; } { name = "x"; value = "second"; } ]
