[ (builtins.isAttrs builtins) (builtins.builtins.builtins.length [ 1 ]) (builtins ? map) (builtins ? notABuiltin) ]
