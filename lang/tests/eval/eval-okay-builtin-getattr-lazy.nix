builtins.getAttr "ok" { ok = "value"; bad = throw "unused"; }
