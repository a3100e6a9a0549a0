# Names are not paths: "a.b" removes only an attribute literally called "a.b".
builtins.removeAttrs { a = { b = 1; }; "a.b" = 2; } [ "a.b" ]
