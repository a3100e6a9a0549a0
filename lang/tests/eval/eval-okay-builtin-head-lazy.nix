builtins.head [ "first" (throw "second") ]
