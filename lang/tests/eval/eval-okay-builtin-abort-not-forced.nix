let unused = abort "never"; in builtins.isAttrs { inherit unused; }
